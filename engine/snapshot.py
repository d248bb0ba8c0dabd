"""One consistent view of the data, shared by every export worker.

Modes (``--consistency``):

``single``
    One connection, one ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` under
    REPEATABLE READ. Always consistent; no parallel reads.
``lock``
    A coordinator blocks commits only while the workers open their snapshots,
    then releases the lock (MariaDB >= 10.4: ``BACKUP STAGE BLOCK_COMMIT``,
    which lets running statements finish; older MariaDB and MySQL: FLUSH TABLES
    WITH READ LOCK). Needs RELOAD. DDL is kept out for the whole export by the
    metadata-lock guard below, on every flavour.
``snapshot-check``
    No global lock, for managed servers without RELOAD: every worker opens a
    snapshot and the coordinator proves they are at the same point. MariaDB
    reports each transaction's own binlog position (``binlog_snapshot_file``/
    ``_position``), so equality is exact; MySQL compares ``gtid_executed`` and
    the binlog position before and after all snapshots opened. Retried a
    bounded number of times, then fails closed: never a torn dump.
``auto``
    ``lock`` if the privileges allow, else ``snapshot-check`` if the binlog is
    on, else ``single``; the manifest records which and why.

DDL during the export: worker 0 opens every dumped table inside its
transaction (``SELECT 1 ... LIMIT 0``), which holds a shared metadata lock until
the export ends, so ALTER/DROP/RENAME on those tables waits for the export. A
table changed between the snapshot and that guard makes InnoDB refuse the
consistent read (ER_TABLE_DEF_CHANGED), reported as a ConsistencyError.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pymysql
from pymysql.constants import COMMAND

from .config import ConnectionConfig
from .connection import connect, execute, query_all, quote_ident, server_flavor
from .errors import (
    ConfigError,
    ConsistencyError,
    OsidumpError,
    PrivilegeError,
    from_server_error,
)
from .manifest import SnapshotInfo

log = logging.getLogger("osidump.snapshot")
T = TypeVar("T")

_WORKER_SESSION = (
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    # A slow sink (S3, a busy disk) must not make the server drop the stream.
    "SET SESSION net_write_timeout = 3600",
    "SET SESSION net_read_timeout = 3600",
    "SET SESSION wait_timeout = 86400",
)


@dataclass
class Snapshot:
    """Open worker connections, all inside the same consistent snapshot."""

    workers: list[Any]
    info: SnapshotInfo
    flavor: str
    version: str
    _coordinator: Any = None
    _guarded: set[str] = field(default_factory=set)

    def guard_tables(self, tables: list[tuple[str, str]]) -> None:
        """Hold a shared metadata lock on each table (through worker 0's
        transaction) so DDL on them waits until the export ends."""
        conn = self.workers[0]
        for schema, name in tables:
            qualified = f"{quote_ident(schema)}.{quote_ident(name)}"
            execute(conn, f"SELECT 1 FROM {qualified} LIMIT 0", context=f"opening {schema}.{name}")
            self._guarded.add(qualified)

    def close(self) -> None:
        for conn in self.workers:
            _quiet_close(conn)
        if self._coordinator is not None:
            _quiet_close(self._coordinator)
            self._coordinator = None
        self.workers = []


def _quiet_close(conn: Any) -> None:
    # Closing a dead connection may raise anything; the socket goes either way.
    try:
        conn.close()
    except Exception:
        with contextlib.suppress(Exception):
            conn._force_close()


def _setup_worker(conn: Any, flavor: str) -> None:
    for stmt in _WORKER_SESSION:
        execute(conn, stmt, context="setting up a worker session")
    # A global statement timeout would kill long chunk reads.
    timeout_var = "max_statement_time" if flavor == "mariadb" else "max_execution_time"
    execute(conn, f"SET SESSION {timeout_var} = 0", context="setting up a worker session")


_BEGIN = b"START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"


def _begin(conn: Any) -> None:
    execute(conn, _BEGIN.decode(), context="opening the snapshot")


def _mariadb_position(conn: Any) -> tuple[str, int]:
    rows = query_all(
        conn, "SHOW STATUS LIKE 'binlog_snapshot_%'", context="reading binlog position"
    )
    status = {str(k).lower(): str(v) for k, v in rows}
    return status.get("binlog_snapshot_file", ""), int(status.get("binlog_snapshot_position") or 0)


def _mysql_position(conn: Any) -> tuple[str, int, str]:
    for stmt in ("SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"):
        try:
            rows = query_all(conn, stmt, context="reading binlog position")
        except OsidumpError:
            continue
        gtid = query_all(conn, "SELECT @@GLOBAL.gtid_executed", context="reading GTIDs")
        if rows:
            return str(rows[0][0]), int(rows[0][1]), str(gtid[0][0] or "")
        return "", 0, str(gtid[0][0] or "")
    return "", 0, ""


def lock_statements(flavor: str, version: str) -> tuple[list[str], str]:
    """How to block commits briefly on this server, and how to let go.

    MariaDB 10.4 added BACKUP STAGE; BLOCK_COMMIT waits only for commits in
    flight, where FTWRL also waits for every running statement (a long SELECT
    would stall the whole application behind the lock)."""
    if flavor == "mariadb" and _version_tuple(version) >= (10, 4):
        return ["BACKUP STAGE START", "BACKUP STAGE BLOCK_COMMIT"], "BACKUP STAGE END"
    return ["FLUSH TABLES WITH READ LOCK"], "UNLOCK TABLES"


def _version_tuple(version: str) -> tuple[int, ...]:
    numbers = []
    for part in version.split("-", 1)[0].split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        numbers.append(int(digits) if digits else 0)
    return tuple(numbers)


def _open_together(workers: list[Any], then: Callable[[Any], T]) -> list[T]:
    """Open every worker's snapshot at (nearly) the same instant: the START
    TRANSACTION packets go out on all sockets back to back from one thread, and
    only then are the replies read, so a busy server has microseconds, not a
    thread hand-off, to commit between the first and the last snapshot."""
    try:
        for conn in workers:
            conn._execute_command(COMMAND.COM_QUERY, _BEGIN)
        for conn in workers:
            conn._read_query_result()
    except pymysql.err.MySQLError as exc:
        raise from_server_error(exc, context="opening the snapshots") from exc
    return [then(conn) for conn in workers]


def _binlog_enabled(conn: Any) -> bool:
    rows = query_all(conn, "SELECT @@log_bin", context="checking the binlog")
    return bool(rows and int(rows[0][0] or 0))


class SnapshotCoordinator:
    """Opens ``workers`` connections that share one snapshot, by ``mode``."""

    def __init__(self, config: ConnectionConfig, *, mode: str, workers: int, retries: int = 20):
        if mode not in ("auto", "lock", "snapshot-check", "single"):
            raise ConfigError(f"unknown consistency mode {mode!r}")
        self.config = config
        self.mode = mode
        self.workers = 1 if mode == "single" else workers
        self.retries = retries

    def open(self) -> Snapshot:
        coordinator = connect(self.config)
        try:
            flavor, version = server_flavor(coordinator)
            _setup_worker(coordinator, flavor)
            return self._open(coordinator, flavor, version)
        except BaseException:
            _quiet_close(coordinator)
            raise

    def _open(self, coordinator: Any, flavor: str, version: str) -> Snapshot:
        if self.mode == "single" or (self.mode == "auto" and self.workers == 1):
            reason = "requested" if self.mode == "single" else "one worker needs no coordination"
            return self._single(coordinator, flavor, version, reason)
        if self.mode == "lock":
            return self._lock(coordinator, flavor, version, "requested")
        if self.mode == "snapshot-check":
            return self._check(coordinator, flavor, version, "requested")
        # auto
        try:
            return self._lock(coordinator, flavor, version, "auto: the user may take a backup lock")
        except PrivilegeError as exc:
            log.info("backup lock not allowed (%s); trying snapshot-check", exc.message)
        if _binlog_enabled(coordinator):
            return self._check(
                coordinator, flavor, version, "auto: no RELOAD privilege; binlog positions compared"
            )
        return self._single(
            coordinator,
            flavor,
            version,
            "auto: no RELOAD privilege and no binlog to compare, so one connection",
        )

    def _open_workers(self, flavor: str, n: int) -> list[Any]:
        conns: list[Any] = []
        try:
            for _ in range(n):
                conn = connect(self.config)
                conns.append(conn)
                _setup_worker(conn, flavor)
        except BaseException:
            for c in conns:
                _quiet_close(c)
            raise
        return conns

    def _single(self, coordinator: Any, flavor: str, version: str, reason: str) -> Snapshot:
        conn = coordinator  # the coordinator itself is the only worker
        _begin(conn)
        file, pos, gtid = self._position(conn, flavor)
        info = SnapshotInfo(
            consistency="single",
            reason=reason,
            workers=1,
            binlog_file=file or None,
            binlog_position=pos if file else None,
            gtid_executed=gtid or None,
        )
        return Snapshot(workers=[conn], info=info, flavor=flavor, version=version)

    def _position(self, conn: Any, flavor: str) -> tuple[str, int, str]:
        if flavor == "mariadb":
            file, pos = _mariadb_position(conn)
            gtid = query_all(conn, "SELECT @@GLOBAL.gtid_binlog_pos", context="reading GTIDs")
            return file, pos, str(gtid[0][0] or "")
        return _mysql_position(conn)

    def _lock(self, coordinator: Any, flavor: str, version: str, reason: str) -> Snapshot:
        workers = self._open_workers(flavor, self.workers)
        try:
            started = time.monotonic()
            lock_stmts, unlock = lock_statements(flavor, version)
            locked = False
            try:
                for stmt in lock_stmts:
                    execute(coordinator, stmt, context=f"taking the backup lock ({stmt})")
                    locked = True
                _open_together(workers, lambda conn: None)  # shortest lock hold
                if flavor == "mariadb":
                    file, pos = _mariadb_position(workers[0])
                    gtid_rows = query_all(
                        coordinator, "SELECT @@GLOBAL.gtid_binlog_pos", context="reading GTIDs"
                    )
                    gtid = str(gtid_rows[0][0] or "")
                else:
                    file, pos, gtid = _mysql_position(coordinator)
            finally:
                if locked:
                    try:
                        execute(coordinator, unlock, context="releasing the backup lock")
                    except OsidumpError:
                        _quiet_close(coordinator)  # closing the session releases it too
            held_ms = (time.monotonic() - started) * 1000.0
            log.info(
                "backup lock held for %.1f ms while %d workers opened snapshots",
                held_ms,
                len(workers),
            )
        except BaseException:
            for c in workers:
                _quiet_close(c)
            raise
        info = SnapshotInfo(
            consistency="lock",
            reason=reason,
            workers=len(workers),
            binlog_file=file or None,
            binlog_position=pos if file else None,
            gtid_executed=gtid or None,
            lock_held_ms=round(held_ms, 3),
        )
        return Snapshot(
            workers=workers, info=info, flavor=flavor, version=version, _coordinator=coordinator
        )

    def _check(self, coordinator: Any, flavor: str, version: str, reason: str) -> Snapshot:
        if not _binlog_enabled(coordinator):
            raise ConsistencyError(
                "snapshot-check needs the binary log, which is off on this server",
                hint="use --consistency lock (needs RELOAD) or --consistency single",
            )
        workers = self._open_workers(flavor, self.workers)
        try:
            for attempt in range(1, self.retries + 1):
                if flavor == "mariadb":
                    positions = _open_together(workers, _mariadb_position)
                    consistent = len(set(positions)) == 1 and positions[0][0] != ""
                    file, pos = positions[0]
                    gtid_rows = query_all(
                        coordinator, "SELECT @@GLOBAL.gtid_binlog_pos", context="reading GTIDs"
                    )
                    gtid = str(gtid_rows[0][0] or "")
                else:
                    before = _mysql_position(coordinator)
                    _open_together(workers, lambda conn: None)
                    after = _mysql_position(coordinator)
                    consistent = before == after and (before[0] != "" or before[2] != "")
                    file, pos, gtid = after
                if consistent:
                    info = SnapshotInfo(
                        consistency="snapshot-check",
                        reason=reason,
                        workers=len(workers),
                        binlog_file=file or None,
                        binlog_position=pos if file else None,
                        gtid_executed=gtid or None,
                        attempts=attempt,
                    )
                    return Snapshot(
                        workers=workers,
                        info=info,
                        flavor=flavor,
                        version=version,
                        _coordinator=coordinator,
                    )
                log.info(
                    "snapshots moved apart (attempt %d of %d); retrying", attempt, self.retries
                )
                for conn in workers:
                    execute(conn, "ROLLBACK", context="retrying the snapshot")
            raise ConsistencyError(
                f"could not open {len(workers)} snapshots at the same binlog position "
                f"in {self.retries} attempts (the server is committing too fast)",
                hint="retry at a quieter time, or use --consistency lock or single",
            )
        except BaseException:
            for c in workers:
                _quiet_close(c)
            raise
