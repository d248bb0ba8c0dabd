"""The apply stage: execute a RestorePlan on the target server.

Order: databases, the progress table, tables (without deferred indexes), the
chunks with ``threads`` parallel connections, deferred indexes, then views,
triggers, routines and events.

Each chunk is one transaction: its statements run as they stream out of
``ChunkReader``; the progress marker is inserted in the same transaction; it
commits only if the reader's checksums, sizes and row count match the
manifest and the server inserted exactly that many rows. Otherwise it rolls
back and the restore stops, naming the chunk.

Resume: the markers live in ``osidump_restore_progress`` in each target
database, keyed by the dump's id (sha256 of its manifest), and commit
atomically with the data they describe, so after a kill or a dropped
connection ``--resume`` skips exactly the chunks that are in, and no row is
loaded twice. The table is dropped when the restore completes.

Memory: per worker one compressed block and one statement.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymysql

from .chunk_reader import ChunkReader
from .config import ConnectionConfig, RestoreConfig
from .connection import connect, execute, query_all, quote_ident
from .errors import (
    ConnectionLost,
    IntegrityError,
    Interrupted,
    OsidumpError,
    PrivilegeError,
    ServerError,
    TargetExists,
    from_server_error,
)
from .restore_plan import ChunkJob, ObjectPlan, RestorePlan, TablePlan
from .storage import Storage
from .workers import WorkerPool

log = logging.getLogger("osidump.restore")

PROGRESS_TABLE = "osidump_restore_progress"
CHUNK_ATTEMPTS = 5  # per chunk, for deadlocks and lock wait timeouts
# Checks off for the load (chunks arrive in any order; keys were valid at the
# source). time_zone and sql_mode come from the manifest (RestorePlan.session).
DATA_CHECKS = "SET SESSION foreign_key_checks = 0, unique_checks = 0"


@dataclass
class RestoreProgress:
    total_chunks: int = 0
    total_bytes: int = 0
    total_rows: int = 0
    chunks_done: int = 0
    chunks_skipped: int = 0
    rows: int = 0
    stored_bytes: int = 0
    phase: str = "starting"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, rows: int = 0, stored: int = 0, chunks: int = 0, skipped: int = 0) -> None:
        with self._lock:
            self.rows += rows
            self.stored_bytes += stored
            self.chunks_done += chunks
            self.chunks_skipped += skipped


@dataclass(frozen=True)
class RestoreResult:
    tables: int
    rows: int
    chunks_loaded: int
    chunks_skipped: int
    objects: int


def _session(conn: Any, plan: RestorePlan, *, binlog: bool = True) -> None:
    execute(conn, DATA_CHECKS, context="setting up the restore session")
    if not binlog:
        try:
            execute(conn, "SET SESSION sql_log_bin = 0", context="turning off the binary log")
        except PrivilegeError as exc:
            raise PrivilegeError(
                f"{exc.message} (--no-binlog needs SUPER or BINLOG ADMIN)",
                code=exc.code,
                hint="drop --no-binlog, or restore as a user with that privilege",
            ) from exc
    settings = ", ".join(f"{name} = %s" for name, _ in plan.session)
    execute(
        conn,
        f"SET SESSION {settings}",
        tuple(v for _, v in plan.session),
        context="setting up the restore session",
    )


def _run(conn: Any, sql: str | bytes, *, context: str) -> int:
    try:
        return int(conn.query(sql))
    except pymysql.err.MySQLError as exc:
        raise from_server_error(exc, context=context) from exc
    except OSError as exc:
        raise from_server_error(exc, context=context) from exc


class Restore:
    def __init__(
        self,
        connection: ConnectionConfig,
        config: RestoreConfig,
        storage: Storage,
        plan: RestorePlan,
        *,
        progress: RestoreProgress | None = None,
    ):
        self.connection = connection
        self.config = config
        self.storage = storage
        self.plan = plan
        self.progress = progress or RestoreProgress()
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> RestoreResult:
        p = self.plan
        self.progress.total_chunks = len(p.chunks)
        self.progress.total_bytes = sum(j.chunk.stored_bytes for j in p.chunks)
        self.progress.total_rows = sum(j.chunk.rows for j in p.chunks)
        conn = connect(self.connection)
        try:
            _session(conn, self.plan, binlog=self.config.binlog)
            self.progress.phase = "schema"
            done = self._prepare(conn)
            self.progress.phase = "data"
            jobs = [j for j in p.chunks if j.item not in done[j.table.target_db]]
            skipped = len(p.chunks) - len(jobs)
            self.progress.add(skipped=skipped)
            self._load(jobs)
            # This connection sat idle through the load, which can outlast the
            # server's wait_timeout: open a new one with the same session if so.
            conn = self._alive(conn)
            self.progress.phase = "indexes"
            self._indexes(conn, done)
            self.progress.phase = "objects"
            objects = self._objects(conn, done)
            for db in p.databases:
                execute(
                    conn,
                    f"DROP TABLE IF EXISTS {quote_ident(db.target)}.{PROGRESS_TABLE}",
                    context="removing the restore progress table",
                )
            self.progress.phase = "done"
            return RestoreResult(
                tables=len(p.tables),
                rows=sum(j.chunk.rows for j in p.chunks),
                chunks_loaded=len(jobs),
                chunks_skipped=skipped,
                objects=objects,
            )
        except KeyboardInterrupt as exc:
            self._cancel.set()
            raise Interrupted(
                "restore interrupted; committed chunks are kept",
                hint="run the same restore again with --resume to continue",
            ) from exc
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _alive(self, conn: Any) -> Any:
        try:
            conn.ping(reconnect=False)
            return conn
        except pymysql.err.MySQLError:
            with contextlib.suppress(Exception):
                conn.close()
        fresh = connect(self.connection)
        _session(fresh, self.plan, binlog=self.config.binlog)
        return fresh

    # --- schema ----------------------------------------------------------------

    def _existing_tables(self, conn: Any, db: str) -> set[str]:
        rows = query_all(
            conn,
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
            (db,),
            context=f"listing tables of {db}",
        )
        return {r[0].decode() if isinstance(r[0], bytes) else str(r[0]) for r in rows}

    def _prepare(self, conn: Any) -> dict[str, set[str]]:
        """Create databases and tables as the options say; return the progress
        items already done per target database (empty unless resuming).

        Every target is checked before anything is created, so a refused
        restore leaves all targets exactly as they were."""
        p = self.plan
        states = []
        for db in p.databases:
            existing = (
                self._existing_tables(conn, db.target)
                if self._db_exists(conn, db.target)
                else set()
            )
            items: set[str] = set()
            q = quote_ident(db.target)
            if PROGRESS_TABLE in existing:
                rows = query_all(
                    conn,
                    f"SELECT dump_id, item FROM {q}.{PROGRESS_TABLE}",
                    context="reading restore progress",
                )
                ids = {str(r[0]) for r in rows}
                if not self.config.resume and self.config.on_existing != "drop":
                    raise TargetExists(
                        f"{db.target} holds an unfinished restore ({PROGRESS_TABLE})",
                        hint="re-run with --resume to continue it, or --on-existing drop"
                        " to start over",
                    )
                if self.config.resume and ids and ids != {p.dump_id}:
                    raise TargetExists(
                        f"{db.target} holds an unfinished restore of a different dump",
                        hint="resume it with its own dump, or --on-existing drop to start over",
                    )
                if self.config.resume:
                    items = {str(r[1]) for r in rows}
            resuming = self.config.resume and PROGRESS_TABLE in existing
            tables = [t for t in p.tables if t.target_db == db.target]
            clash = [t.entry.name for t in tables if t.entry.name in existing]
            if clash and not resuming and self.config.on_existing == "fail":
                raise TargetExists(
                    f"{len(clash)} table(s) already exist in {db.target}: "
                    f"{', '.join(sorted(clash)[:5])}",
                )
            states.append((db, existing, items, resuming, tables))
        done: dict[str, set[str]] = {}
        for db, existing, items, resuming, tables in states:
            execute(conn, db.create_sql, context=f"creating database {db.target}")
            q = quote_ident(db.target)
            if PROGRESS_TABLE in existing and not resuming:
                execute(conn, f"DROP TABLE {q}.{PROGRESS_TABLE}", context="starting over")
            execute(
                conn,
                f"CREATE TABLE IF NOT EXISTS {q}.{PROGRESS_TABLE} ("
                " dump_id CHAR(64) NOT NULL, item VARCHAR(700) NOT NULL,"
                " done_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
                " PRIMARY KEY (dump_id, item)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                context="creating the restore progress table",
            )
            self._create_tables(conn, db.target, tables, existing, items, resuming)
            done[db.target] = items
        return done

    def _db_exists(self, conn: Any, db: str) -> bool:
        return bool(
            query_all(
                conn,
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                (db,),
                context=f"looking for database {db}",
            )
        )

    def _create_tables(
        self,
        conn: Any,
        db: str,
        tables: list[TablePlan],
        existing: set[str],
        items: set[str],
        resuming: bool,
    ) -> None:
        q = quote_ident(db)
        conn.select_db(db)
        for t in tables:
            name = t.entry.name
            qt = f"{q}.{quote_ident(name)}"
            if resuming and f"table:{name}" in items:
                continue
            if name in existing:
                if resuming:
                    # Created by the interrupted run but not yet marked: empty
                    # or holding only uncommitted (rolled back) chunks.
                    execute(conn, f"DROP TABLE {qt}", context=f"recreating {t.label}")
                elif self.config.on_existing == "drop":
                    execute(conn, f"DROP TABLE {qt}", context=f"dropping {t.label}")
                elif self.config.on_existing == "truncate":
                    execute(conn, f"TRUNCATE TABLE {qt}", context=f"truncating {t.label}")
                    self._mark(conn, db, f"table:{name}")
                    continue
            execute(conn, t.create_sql, context=f"creating {t.label}")
            self._mark(conn, db, f"table:{name}")

    def _mark(self, conn: Any, db: str, item: str) -> None:
        execute(
            conn,
            f"INSERT INTO {quote_ident(db)}.{PROGRESS_TABLE} (dump_id, item) VALUES (%s, %s)",
            (self.plan.dump_id, item),
            context="recording restore progress",
        )

    # --- data ------------------------------------------------------------------

    def _load(self, jobs: list[ChunkJob]) -> None:
        def start(_index: int) -> Any:
            conn = connect(self.connection, autocommit=True)
            _session(conn, self.plan, binlog=self.config.binlog)
            return conn

        def stop(conn: Any) -> None:
            with contextlib.suppress(Exception):
                conn.close()

        pool: WorkerPool[Any, ChunkJob] = WorkerPool(
            name="osidump-restore",
            count=self.config.threads,
            start=start,
            work=self._apply_chunk,
            stop=stop,
            cancel=self._cancel,
        )
        pool.run(jobs)

    def _apply_chunk(self, conn: Any, job: ChunkJob) -> None:
        """Load one chunk in one transaction, retrying the whole chunk after a
        deadlock or lock wait timeout (the server rolled it back entirely, so a
        replay from the first statement is exact)."""
        for attempt in range(1, CHUNK_ATTEMPTS + 1):
            try:
                self._apply_chunk_once(conn, job)
                return
            except ServerError as exc:
                if (
                    not exc.retryable
                    or isinstance(exc, ConnectionLost)
                    or attempt == CHUNK_ATTEMPTS
                ):
                    raise
                log.info(
                    "%s: %s; retrying the chunk (attempt %d)", job.label, exc.message, attempt + 1
                )

    def _apply_chunk_once(self, conn: Any, job: ChunkJob) -> None:
        db = job.table.target_db
        if conn.db != db.encode() and conn.db != db:
            conn.select_db(db)
        reader = ChunkReader(self.storage, job.chunk, table=job.table.entry.name, label=job.label)
        inserted = 0
        _run(conn, "START TRANSACTION", context=job.label)
        try:
            for statement in reader.statements():
                if self._cancel.is_set():
                    raise Interrupted("restore cancelled")
                inserted += _run(conn, statement, context=f"loading {job.label}")
            reader.check()
            if inserted != job.chunk.rows:
                raise IntegrityError(
                    f"{job.label}: the server inserted {inserted} rows, the chunk holds "
                    f"{job.chunk.rows}",
                    hint="the target table is not empty or has different keys; "
                    "use --on-existing drop",
                )
            self._mark(conn, db, job.item)
            _run(conn, "COMMIT", context=f"committing {job.label}")
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        self.progress.add(rows=job.chunk.rows, stored=job.chunk.stored_bytes, chunks=1)

    # --- after the data ------------------------------------------------------------

    def _indexes(self, conn: Any, done: dict[str, set[str]]) -> None:
        for t in self.plan.tables:
            if not t.deferred_indexes or f"indexes:{t.entry.name}" in done[t.target_db]:
                continue
            present = {
                str(r[0].decode() if isinstance(r[0], bytes) else r[0])
                for r in query_all(
                    conn,
                    "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS"
                    " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    (t.target_db, t.entry.name),
                    context=f"reading indexes of {t.label}",
                )
            }
            adds = [
                f"ADD {clause}"
                for clause in t.deferred_indexes
                if _index_name(clause) not in present
            ]
            if adds:
                qt = f"{quote_ident(t.target_db)}.{quote_ident(t.entry.name)}"
                execute(
                    conn,
                    f"ALTER TABLE {qt} {', '.join(adds)}",
                    context=f"building indexes of {t.label}",
                )
            self._mark(conn, t.target_db, f"indexes:{t.entry.name}")

    def _objects(self, conn: Any, done: dict[str, set[str]]) -> int:
        count = 0
        for obj in self.plan.objects:
            item = f"{obj.kind}:{obj.name}"
            if item in done[obj.target_db]:
                continue
            self._create_object(conn, obj)
            self._mark(conn, obj.target_db, item)
            count += 1
        return count

    def _create_object(self, conn: Any, obj: ObjectPlan) -> None:
        conn.select_db(obj.target_db)
        q = quote_ident(obj.name)
        drop = {
            "view": f"DROP VIEW IF EXISTS {q}",
            "trigger": f"DROP TRIGGER IF EXISTS {q}",
            "procedure": f"DROP PROCEDURE IF EXISTS {q}",
            "function": f"DROP FUNCTION IF EXISTS {q}",
            "event": f"DROP EVENT IF EXISTS {q}",
        }[obj.kind]
        pairs = [
            ("sql_mode", obj.sql_mode),  # "" is a real sql_mode and is kept
            ("character_set_client", obj.character_set_client or None),
            ("collation_connection", obj.collation_connection or None),
            ("time_zone", obj.time_zone or None),  # events: STARTS/ENDS are in this zone
        ]
        pairs = [(k, v) for k, v in pairs if v is not None]
        settings = [f"{k} = %s" for k, _ in pairs]
        args = tuple(v for _, v in pairs)
        label = f"{obj.kind} {obj.target_db}.{obj.name}"
        if self.config.on_existing != "fail" or self.config.resume:
            execute(conn, drop, context=f"replacing {label}")
        try:
            if settings:
                execute(
                    conn,
                    "SET SESSION " + ", ".join(settings),
                    tuple(args),
                    context=f"preparing {label}",
                )
            execute(conn, obj.create_sql, context=f"creating {label}")
        except OsidumpError as exc:
            if getattr(exc, "code", 0) in (1050, 1304, 1359, 1537):
                raise TargetExists(f"{label} already exists in the target") from exc
            raise
        finally:
            _session(conn, self.plan, binlog=self.config.binlog)
            execute(conn, "SET NAMES utf8mb4", context="resetting the session")


def _index_name(clause: str) -> str:
    start = clause.index("`") + 1
    name = []
    i = start
    while i < len(clause):
        ch = clause[i]
        if ch == "`":
            if clause[i + 1 : i + 2] == "`":
                name.append("`")
                i += 2
                continue
            break
        name.append(ch)
        i += 1
    return "".join(name)


def run_restore(
    connection: ConnectionConfig,
    config: RestoreConfig,
    storage: Storage,
    plan: RestorePlan,
    *,
    progress: RestoreProgress | None = None,
    on_start: Callable[[Restore], None] | None = None,
) -> RestoreResult:
    job = Restore(connection, config, storage, plan, progress=progress)
    if on_start is not None:
        on_start(job)
    return job.run()
