"""One consistent view of the data, shared by every export worker.

Modes (``--consistency``; docs/CONSISTENCY.md says what each proves where):

``single``
    One connection, one ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` under
    REPEATABLE READ. Always consistent; no parallel reads.
``lock``
    A coordinator blocks commits only while the workers open their snapshots,
    then releases the lock (MariaDB >= 10.4: ``BACKUP STAGE BLOCK_COMMIT``,
    which lets running statements finish; older MariaDB and MySQL: FLUSH TABLES
    WITH READ LOCK). Needs RELOAD, which managed databases (RDS, Aurora) grant
    to nobody. The lock statement waits at most ``lock_wait_timeout`` seconds
    (it stalls writers while it waits); a timeout names what blocked it.
``snapshot-check``
    No global lock: every worker opens a snapshot and the coordinator compares
    positions. MariaDB reports each transaction's own binlog position
    (``binlog_snapshot_file``/``_position``, taken with the snapshot under the
    commit-order lock), so equal positions prove that no *binlogged* commit
    fell between the snapshots; commits that skip the binary log
    (``sql_log_bin=0``, a replica applying without ``log_slave_updates``) are
    invisible to it. MySQL: ``gtid_executed`` and the binlog position before
    and after all snapshots opened; a transaction reaches the binlog before
    it becomes visible to readers, so this is best effort. Refused without a
    binary log. Retried a bounded number of times, then fails closed.
``auto``
    ``lock`` if the server grants it in time. Otherwise MySQL uses ``single``
    (no sound lock-free check exists there); MariaDB uses ``snapshot-check``
    when its binlog is on and no unlogged replication applies, else
    ``single``. The manifest's reason and a warning say which and why.

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

from ..config import ConnectionConfig
from ..connection import connect, execute, query_all, quote_ident, server_flavor
from ..errors import (
    ConfigError,
    ConsistencyError,
    OsidumpError,
    PrivilegeError,
    from_server_error,
)
from ..format.manifest import SnapshotInfo
from ..server_compat import version_tuple

log = logging.getLogger("osidump.snapshot")
T = TypeVar("T")

_WORKER_SESSION = (
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    # A slow sink (S3, a busy disk) must not make the server drop the stream.
    "SET SESSION net_write_timeout = 3600",
    "SET SESSION net_read_timeout = 3600",
    "SET SESSION wait_timeout = 86400",
)

# The server refused the lock statement itself: no privilege (1227, RELOAD),
# or Amazon RDS/Aurora, which answer FLUSH TABLES WITH READ LOCK with 1045
# "Access denied for user" even for the master user (1044: a database-level
# denial on some managed servers).
LOCK_REFUSED_CODES = frozenset({1044, 1045, 1227})
LOCK_WAIT_TIMEOUT_CODE = 1205
# Attempts of an explicitly requested lock, each bounded by lock_wait_timeout,
# with a pause between them so that stalled writers can catch up.
LOCK_ATTEMPTS = 3
LOCK_RETRY_PAUSE = 1.0
_MANAGED_HINT = (
    "the backup lock needs the RELOAD privilege, which managed databases (Amazon RDS, "
    "Aurora, Cloud SQL, Azure) grant to no user: use --consistency auto or single"
)
_BEST_EFFORT_MYSQL = (
    "best effort on MySQL: a commit reaches the binary log and gtid_executed before "
    "it becomes visible to readers, so equal positions do not prove equal snapshots"
)


def worker_session_statements(flavor: str, version: str) -> list[str]:
    """The SET statements of every export session on this server."""
    statements = list(_WORKER_SESSION)
    # A global statement timeout would kill long chunk reads.
    timeout_var = "max_statement_time" if flavor == "mariadb" else "max_execution_time"
    statements.append(f"SET SESSION {timeout_var} = 0")
    if flavor == "mysql" and version_tuple(version) >= (8, 0, 30):
        # Generated invisible primary keys (sql_generate_invisible_primary_key)
        # are hidden from SHOW CREATE TABLE and information_schema unless this
        # is on: the dump would lose my_row_id and see a keyless table.
        statements.append("SET SESSION show_gipk_in_create_table_and_information_schema = ON")
    return statements


def lock_statements(flavor: str, version: str) -> tuple[list[str], str]:
    """How to block commits briefly on this server, and how to let go.

    MariaDB 10.4 added BACKUP STAGE; BLOCK_COMMIT waits only for commits in
    flight, where FTWRL also waits for every running write statement (a long
    UPDATE would stall the whole application behind the lock)."""
    if flavor == "mariadb" and version_tuple(version) >= (10, 4):
        return ["BACKUP STAGE START", "BACKUP STAGE BLOCK_COMMIT"], "BACKUP STAGE END"
    return ["FLUSH TABLES WITH READ LOCK"], "UNLOCK TABLES"


def choose_without_lock(flavor: str, *, binlog: bool, unlogged_replica: bool) -> tuple[str, str]:
    """``auto``'s mode when no backup lock can be had, and why (for the
    manifest's reason and the warning)."""
    if flavor != "mariadb":
        return "single", (
            "MySQL has no lock-free proof that parallel snapshots match (a commit reaches "
            "the binlog before readers see it), so one connection"
        )
    if not binlog:
        return (
            "single",
            "the binary log is off, so there are no positions to compare; one connection",
        )
    if unlogged_replica:
        return "single", (
            "this replica applies commits without writing them to its binary log "
            "(log_slave_updates=OFF), so positions prove nothing; one connection"
        )
    return "snapshot-check", (
        "binlog snapshot positions compared; commits that skip the binary log "
        "(sessions with sql_log_bin=0) are not covered by that proof"
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


def _unlogged_replica(conn: Any, flavor: str) -> bool:
    """A MariaDB replica whose applier commits skip its own binary log."""
    if flavor != "mariadb":
        return False
    rows = query_all(conn, "SELECT @@log_slave_updates", context="checking replication")
    if rows and int(rows[0][0] or 0):
        return False
    running = query_all(
        conn, "SHOW GLOBAL STATUS LIKE 'Slaves_running'", context="checking replication"
    )
    return bool(running and int(running[0][1] or 0) > 0)


def describe_blockers(conn: Any, *, exclude: set[int]) -> str:
    """What the lock statement waited behind, from the processlist (needs
    PROCESS to see other users' sessions) and the tables in use or locked
    (a LOCK TABLES holder is an idle session there, but its table shows)."""
    found: list[str] = []
    with contextlib.suppress(OsidumpError):
        rows = query_all(
            conn,
            "SELECT ID, USER, TIME, COALESCE(STATE, ''), LEFT(COALESCE(INFO, ''), 200)"
            " FROM information_schema.PROCESSLIST"
            " WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump',"
            " 'Binlog Dump GTID', 'Killed') AND INFO IS NOT NULL ORDER BY TIME DESC LIMIT 3",
            context="reading the processlist",
        )
        for sid, user, seconds, state, info in rows:
            if int(sid) not in exclude:
                found.append(f"session {sid} ({user}, {seconds} s, {state or 'running'}): {info}")
    with contextlib.suppress(OsidumpError):
        tables = query_all(
            conn, "SHOW OPEN TABLES WHERE In_use > 0", context="reading the tables in use"
        )
        if tables:
            names = ", ".join(f"{db}.{name}" for db, name, *_ in tables[:10])
            found.append(f"tables in use or locked (LOCK TABLES?): {names}")
    return "; ".join(found) or "no other statement visible (PROCESS privilege missing?)"


def _setup_worker(conn: Any, flavor: str, version: str) -> None:
    for stmt in worker_session_statements(flavor, version):
        execute(conn, stmt, context="setting up a worker session")


def _error_code(exc: OsidumpError) -> int:
    """The server's error number behind ``exc`` (1045 becomes an
    AuthenticationFailed, which carries no code of its own)."""
    code = getattr(exc, "code", 0)
    if not code and exc.__cause__ is not None:
        args = getattr(exc.__cause__, "args", ())
        code = args[0] if args and isinstance(args[0], int) else 0
    return int(code)


class _NoLock(Exception):
    """The backup lock was refused or timed out; ``reason`` says which."""

    def __init__(self, reason: str, *, refused: bool, error: OsidumpError):
        super().__init__(reason)
        self.reason = reason
        self.refused = refused
        self.error = error


class SnapshotCoordinator:
    """Opens ``workers`` connections that share one snapshot, by ``mode``.

    ``opener`` opens one connection (tests pass a fake that records the SQL)."""

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        mode: str,
        workers: int,
        retries: int = 20,
        lock_wait_timeout: int = 5,
        opener: Callable[[ConnectionConfig], Any] = connect,
    ):
        if mode not in ("auto", "lock", "snapshot-check", "single"):
            raise ConfigError(f"unknown consistency mode {mode!r}")
        self.config = config
        self.mode = mode
        self.workers = 1 if mode == "single" else workers
        self.retries = retries
        self.lock_wait_timeout = lock_wait_timeout
        self._opener = opener

    def open(self) -> Snapshot:
        coordinator = self._opener(self.config)
        try:
            flavor, version = server_flavor(coordinator)
            _setup_worker(coordinator, flavor, version)
            return self._open(coordinator, flavor, version)
        except BaseException:
            _quiet_close(coordinator)
            raise

    def _open(self, coordinator: Any, flavor: str, version: str) -> Snapshot:
        if self.mode == "single" or (self.mode == "auto" and self.workers == 1):
            reason = "requested" if self.mode == "single" else "one worker needs no coordination"
            return self._single(coordinator, flavor, version, reason)
        if self.mode == "lock":
            return self._requested_lock(coordinator, flavor, version)
        if self.mode == "snapshot-check":
            reason = "requested" if flavor == "mariadb" else f"requested; {_BEST_EFFORT_MYSQL}"
            if flavor != "mariadb":
                log.warning("snapshot-check is %s", _BEST_EFFORT_MYSQL)
            return self._check(coordinator, flavor, version, reason)
        try:
            return self._lock(coordinator, flavor, version, "auto: the backup lock was granted")
        except _NoLock as no_lock:
            why_not = no_lock.reason
        mode, why = choose_without_lock(
            flavor,
            binlog=_binlog_enabled(coordinator),
            unlogged_replica=_unlogged_replica(coordinator, flavor),
        )
        reason = f"auto: no backup lock ({why_not}); {why}"
        log.warning("consistency %s: %s", mode, reason)
        if mode == "snapshot-check":
            return self._check(coordinator, flavor, version, reason)
        return self._single(coordinator, flavor, version, reason)

    def _requested_lock(self, coordinator: Any, flavor: str, version: str) -> Snapshot:
        """``--consistency lock``: retry a timed-out lock a few times, never
        fall back; a refusal fails at once with the managed-database hint."""
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            try:
                return self._lock(coordinator, flavor, version, "requested")
            except _NoLock as no_lock:
                if no_lock.refused:
                    raise PrivilegeError(
                        f"the server refused the backup lock: {no_lock.reason}",
                        code=_error_code(no_lock.error),
                        hint=_MANAGED_HINT,
                    ) from no_lock.error
                if attempt == LOCK_ATTEMPTS:
                    raise ConsistencyError(
                        f"could not take the backup lock in {LOCK_ATTEMPTS} attempts: "
                        f"{no_lock.reason}",
                        hint="run the export when that statement is done, raise "
                        "--lock-wait-timeout, or use --consistency auto or single",
                    ) from no_lock.error
                log.warning(
                    "backup lock attempt %d of %d: %s", attempt, LOCK_ATTEMPTS, no_lock.reason
                )
                time.sleep(LOCK_RETRY_PAUSE)  # let the writers it stalled catch up
        raise AssertionError("unreachable")

    def _open_workers(self, flavor: str, version: str, n: int) -> list[Any]:
        conns: list[Any] = []
        try:
            for _ in range(n):
                conn = self._opener(self.config)
                conns.append(conn)
                _setup_worker(conn, flavor, version)
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

    def _take_lock(
        self, coordinator: Any, statements: list[str], unlock: str, workers: list[Any]
    ) -> None:
        """Run the lock statements with a short lock_wait_timeout. On a refusal
        or a timeout, release whatever the earlier statements took (BACKUP
        STAGE START) and raise _NoLock; other errors propagate."""
        execute(
            coordinator,
            f"SET SESSION lock_wait_timeout = {int(self.lock_wait_timeout)}",
            context="bounding the backup lock's wait",
        )
        try:
            for index, stmt in enumerate(statements):
                try:
                    execute(coordinator, stmt, context=f"taking the backup lock ({stmt})")
                except OsidumpError as exc:
                    if index > 0:
                        self._release(coordinator, unlock)
                    no_lock = self._no_lock(coordinator, stmt, exc, workers)
                    if no_lock is None:
                        raise
                    raise no_lock from exc
        finally:
            with contextlib.suppress(OsidumpError):
                execute(
                    coordinator,
                    "SET SESSION lock_wait_timeout = DEFAULT",
                    context="restoring lock_wait_timeout",
                )

    @staticmethod
    def _release(coordinator: Any, unlock: str) -> None:
        try:
            execute(coordinator, unlock, context="releasing the backup lock")
        except OsidumpError:
            _quiet_close(coordinator)  # closing the session releases it too

    def _no_lock(
        self, coordinator: Any, stmt: str, exc: OsidumpError, workers: list[Any]
    ) -> _NoLock | None:
        code = _error_code(exc)
        if code in LOCK_REFUSED_CODES:
            args: tuple[Any, ...] = tuple(getattr(exc.__cause__, "args", ()))
            text = str(args[1]) if len(args) > 1 else exc.message  # the server's own words
            return _NoLock(f"{stmt} refused: error {code}, {text}", refused=True, error=exc)
        if code == LOCK_WAIT_TIMEOUT_CODE:
            own = {int(c.thread_id()) for c in workers}
            blockers = describe_blockers(coordinator, exclude=own)
            return _NoLock(
                f"{stmt} waited {self.lock_wait_timeout} s (--lock-wait-timeout) behind: "
                f"{blockers}",
                refused=False,
                error=exc,
            )
        return None

    def _lock(self, coordinator: Any, flavor: str, version: str, reason: str) -> Snapshot:
        workers = self._open_workers(flavor, version, self.workers)
        try:
            started = time.monotonic()
            lock_stmts, unlock = lock_statements(flavor, version)
            self._take_lock(coordinator, lock_stmts, unlock, workers)
            try:
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
                self._release(coordinator, unlock)
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
                "snapshot-check needs the binary log, which is off on this server: "
                "binlog positions are its only proof",
                hint="use --consistency lock (needs RELOAD) or --consistency single",
            )
        if _unlogged_replica(coordinator, flavor):
            raise ConsistencyError(
                "snapshot-check cannot prove anything on this replica: it applies "
                "commits without writing them to its binary log (log_slave_updates=OFF)",
                hint="use --consistency lock (needs RELOAD) or --consistency single",
            )
        workers = self._open_workers(flavor, version, self.workers)
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
                    if before == ("", 0, ""):
                        raise ConsistencyError(
                            "snapshot-check cannot read the binlog position or GTIDs",
                            hint="grant REPLICATION CLIENT (SHOW BINARY LOG STATUS), or use "
                            "--consistency single",
                        )
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
