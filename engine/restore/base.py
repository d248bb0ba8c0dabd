"""What every part of a restore's run shares: the progress table, the session
of its connections, and the state the mixins of ``apply.Restore`` read
(``target.py`` looks at the target, ``tables.py`` swaps the loaded tables in,
``objects.py`` creates views, triggers, routines and events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pymysql

from ..config import ConnectionConfig, RestoreConfig
from ..connection import execute, quote_ident, server_flavor
from ..errors import (
    PrivilegeError,
    from_server_error,
)
from ..format.ddl import CreateTable
from ..server_compat import (
    binlog_off_privilege,
    no_binlog_hint,
)
from ..storage.base import Storage
from .plan import ObjectPlan, RestorePlan

PROGRESS_TABLE = "osidump_restore_progress"
LOCK_WAIT_SECONDS = 600


@dataclass
class _DatabaseState:
    """What the target database held when the restore looked, and what the
    restore decided for it."""

    name: str
    exists: bool
    tables: dict[str, str]  # name -> TABLE_TYPE
    done: set[str] = field(default_factory=set)  # progress items
    resuming: bool = False


def _session(conn: Any, plan: RestorePlan, *, binlog: bool = True) -> None:
    if not binlog:
        try:
            execute(conn, "SET SESSION sql_log_bin = 0", context="turning off the binary log")
        except PrivilegeError as exc:
            flavor, version = server_flavor(conn)
            raise PrivilegeError(
                f"{exc.message} (--no-binlog needs {binlog_off_privilege(flavor, version)})",
                code=exc.code,
                hint=no_binlog_hint(flavor, version),
            ) from exc
    settings = ", ".join(f"{name} = %s" for name, _ in plan.session)
    execute(
        conn,
        f"SET SESSION {settings}, lock_wait_timeout = {LOCK_WAIT_SECONDS}",
        tuple(v for _, v in plan.session),
        context="setting up the restore session",
    )


def _names(rows: list[tuple[Any, ...]]) -> list[str]:
    return [r[0].decode() if isinstance(r[0], bytes) else str(r[0]) for r in rows]


def _run(conn: Any, sql: str | bytes, *, context: str) -> int:
    try:
        return int(conn.query(sql))
    except pymysql.err.MySQLError as exc:
        raise from_server_error(exc, context=context) from exc
    except OSError as exc:
        raise from_server_error(exc, context=context) from exc


class RestoreBase:
    """The attributes ``apply.Restore`` sets up, for its mixins."""

    connection: ConnectionConfig
    config: RestoreConfig
    storage: Storage
    plan: RestorePlan
    _notes: list[str]
    _phase: str  # what the run is doing, for the error that stops it
    _swapped: bool
    _created: set[str]
    _kept_definitions: dict[str, CreateTable]
    _kept_triggers: list[ObjectPlan]
    _server: tuple[str, str]
    _direct: bool
    _states: dict[str, _DatabaseState]
    _indexed: set[str]  # tables whose indexes this run built

    @staticmethod
    def _item(db: str, item: str) -> str:
        return f"{db}\0{item}"

    def _mark(self, conn: Any, db: str, item: str) -> None:
        execute(
            conn,
            f"INSERT INTO {quote_ident(db)}.{PROGRESS_TABLE} (dump_id, item) VALUES (%s, %s)",
            (self.plan.dump_id, item),
            context="recording restore progress",
        )
