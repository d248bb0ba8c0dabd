"""A fake server session for decision logic that no server here can show:
MySQL 8, Amazon RDS's answer to FLUSH TABLES WITH READ LOCK, a replica.

``FakeServer`` answers statements by rules and records every statement each
of its connections ran, in order; ``FakeServer.connect`` stands in for
``osidump.engine.connection.connect``. A rule maps a statement prefix to rows,
to a server error number (raised as PyMySQL raises it), or to a callable that
returns either. Real-server tests cover what MariaDB can show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pymysql

Rows = list[tuple[Any, ...]]
Answer = Rows | int | Callable[["FakeConnection", str], "Rows | int"]

MESSAGES = {
    1044: "Access denied for user 'admin'@'%' to database 'mysql'",
    1045: "Access denied for user 'admin'@'10.0.0.1' (using password: YES)",
    1205: "Lock wait timeout exceeded; try restarting transaction",
    1227: "Access denied; you need (at least one of) the RELOAD privilege(s) for this operation",
    2013: "Lost connection to MySQL server during query",
}


@dataclass
class FakeServer:
    version: str  # as the server reports it, e.g. "8.0.36" or "10.11.6-MariaDB"
    rules: dict[str, Answer] = field(default_factory=dict)
    log: list[tuple[int, str]] = field(default_factory=list)  # (connection id, statement)
    connections: list[FakeConnection] = field(default_factory=list)

    def connect(self, config: Any = None) -> FakeConnection:
        conn = FakeConnection(self, len(self.connections) + 100)
        self.connections.append(conn)
        return conn

    def statements(self, connection_id: int | None = None) -> list[str]:
        return [sql for cid, sql in self.log if connection_id in (None, cid)]

    def answer(self, conn: FakeConnection, sql: str) -> Rows:
        self.log.append((conn.id, sql))
        for prefix, rule in self.rules.items():
            if sql.startswith(prefix):
                result = rule(conn, sql) if callable(rule) else rule
                if isinstance(result, int):
                    raise pymysql.err.OperationalError(result, MESSAGES.get(result, "fake error"))
                return list(result)
        return []


class FakeConnection:
    """The slice of PyMySQL's Connection that osidump's snapshot code uses."""

    def __init__(self, server: FakeServer, connection_id: int):
        self.server = server
        self.id = connection_id
        self.closed = False
        self._pending: BaseException | None = None

    def get_server_info(self) -> str:
        return self.server.version

    def thread_id(self) -> int:
        return self.id

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def _execute_command(self, command: int, sql: bytes | str) -> None:
        text = sql.decode() if isinstance(sql, bytes) else sql
        try:
            self.server.answer(self, text)
        except pymysql.err.MySQLError as exc:
            self._pending = exc

    def _read_query_result(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            raise pending

    def close(self) -> None:
        self.closed = True

    def _force_close(self) -> None:
        self.closed = True


class FakeCursor:
    def __init__(self, conn: FakeConnection):
        self.conn = conn
        self.rows: Rows = []

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, args: Sequence[Any] | None = None) -> int:
        self.rows = self.conn.server.answer(self.conn, sql)
        return len(self.rows)

    def fetchall(self) -> Rows:
        return self.rows
