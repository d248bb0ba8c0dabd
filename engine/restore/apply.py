"""The apply stage: execute a RestorePlan on the target server.

Order, per restore:

1. look at the target (nothing changes yet): which tables exist, whether an
   unfinished restore of this dump waits there (``--resume``), whether the
   options allow replacing what exists; refuse before touching anything;
2. create the databases and one shadow table per restored table
   (``osidump_new_<digest>``): the dump's definition without secondary
   indexes, foreign keys or triggers, AUTO_INCREMENT as dumped (for
   ``--on-existing truncate``, the target's own definition);
3. load the chunks into the shadows with ``threads`` connections
   (``bulk_load.py``), one verified transaction per chunk;
4. build the secondary indexes on the shadows (each FULLTEXT index alone);
5. swap: one ``RENAME TABLE`` moves every existing table aside
   (``osidump_old_<digest>``) and every shadow into its place, atomically;
6. point foreign keys of tables outside the restore that followed the old
   tables (MariaDB's RENAME carries them along) back at the new ones, drop the
   old tables, add the restored tables' foreign keys;
7. create views, triggers, routines and events (for ``truncate``, also the
   target's own triggers of those tables that the dump does not replace);
8. with ``--users``, create the dump's accounts, roles and grants
   (``users.apply_accounts``: an account the target has is left as it is),
   last, because a table or routine grant needs its object. Their syntax
   must be the target's flavor: checked in step 1.

This module runs the steps and does 2 and 3; the others are mixins of
``Restore``: ``target.py`` (1), ``tables.py`` (4 to 6), ``objects.py`` (7, 8),
over the shared state in ``base.py``.

So a failed or interrupted restore never leaves a target table emptied or half
loaded: until step 5 the target's tables are untouched, and the error says
what was left and how to continue. No trigger can fire on a restored row:
the shadows have none while they load.

``--schema-only`` runs the same steps with no chunks. ``--data-only`` runs only
step 3, straight into the target's existing tables (no shadow, no swap, no
DDL but the progress table): each table must exist with the dump's columns
(names and types; else exit 9 naming the first difference) and have no
trigger (else exit 9, unless ``--allow-triggers``: a trigger would fire on
every loaded row and could change it). Existing rows stay; a loaded row whose
key exists fails its chunk (``--insert-mode error``), is skipped (``ignore``)
or replaces the existing row (``replace``). Each chunk is still one verified
transaction with its progress marker, so a stop keeps the chunks committed
so far and ``--resume`` loads exactly the rest. These loads run with
foreign_key_checks off (chunks load in any order, and REPLACE must not
cascade a delete into child tables) and unique_checks on (the target's own
rows are not known to be unique against the dump's).

Resume: progress markers live in ``osidump_restore_progress`` in each target
database, keyed by the dump's id (sha256 of its manifest); each chunk's
marker commits in the chunk's own transaction, so ``--resume`` skips exactly
the chunks that are in and no row is loaded twice. The table is dropped when
the restore completes.

Memory: per worker one chunk stream (``bulk_load.py``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pymysql

from ..config import ConnectionConfig, RestoreConfig
from ..connection import connect, execute, query_all, quote_ident, server_flavor
from ..errors import (
    ConnectionLost,
    IntegrityError,
    Interrupted,
    ManifestError,
    OsidumpError,
    ServerError,
    TargetExists,
)
from ..format.ddl import CreateTable
from ..storage.base import Storage
from ..users import AccountsReport, check_flavor
from ..workers import WorkerPool
from .base import (
    PROGRESS_TABLE,
    _DatabaseState,
    _run,
    _session,
)
from .bulk_load import LOCAL_INFILE_REFUSED, ChunkLoader, Loaded, first_warning
from .objects import ObjectCreation
from .plan import ChunkJob, ObjectPlan, RestorePlan
from .tables import TableFinishing, has_auto_increment
from .target import TargetInspection

log = logging.getLogger("osidump.restore")

CHUNK_ATTEMPTS = 5  # per chunk, for deadlocks and lock wait timeouts
# Loads run with unique_checks off (keys were unique at the source) and
# foreign_key_checks on: the shadows have no foreign keys yet, and MariaDB
# 10.11's empty-table bulk path (taken only with both off) failed large LOAD
# DATA commits with "Got error 1" (docs/FORMAT.md).
LOAD_CHECKS = "SET SESSION unique_checks = 0, foreign_key_checks = 1"
DIRECT_LOAD_CHECKS = "SET SESSION unique_checks = 1, foreign_key_checks = 0"
# A slow storage read must not make the server give up on a LOCAL INFILE
# transfer; a swap may wait behind the application's transactions, but not
# for a year (the server's default).
LOAD_TIMEOUTS = "SET SESSION net_read_timeout = 3600, net_write_timeout = 3600"


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


@dataclass
class TableRows:
    """``--data-only``: what the chunks loaded in this run did to one table."""

    table: str
    inserted: int = 0
    replaced: int = 0  # existing rows REPLACE deleted for a dumped row
    skipped: int = 0  # dumped rows IGNOREd because their key exists


@dataclass(frozen=True)
class RestoreResult:
    tables: int
    rows: int
    chunks_loaded: int
    chunks_skipped: int
    objects: int
    notes: tuple[str, ...] = ()
    table_rows: tuple[TableRows, ...] = ()  # --data-only, per table
    accounts: AccountsReport | None = None  # --users: created and skipped accounts


class Restore(TargetInspection, TableFinishing, ObjectCreation):
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
        self._notes: list[str] = list(plan.notes)
        self._phase = "checking the target"
        self._swapped = False
        self._created: set[str] = set()  # databases this run created
        self._changed = False  # anything created on the target yet (else a stop left nothing)
        self._loader = ChunkLoader(storage, local_infile=True, cancel=self._cancel)
        self._loader_lock = threading.Lock()
        # --on-existing truncate: the target's own definitions, and its own
        # triggers of those tables that the dump does not replace.
        self._kept_definitions: dict[str, CreateTable] = {}
        self._kept_triggers: list[ObjectPlan] = []
        self._server: tuple[str, str] = ("mariadb", "")
        self._direct = plan.mode == "data"
        self._states: dict[str, _DatabaseState] = {}
        self._table_rows = {t.label: TableRows(t.label) for t in plan.tables}
        self._indexed: set[str] = set()
        self._chunks_left: dict[str, int] = {}  # per table, chunks this run still loads
        self._chunks_lock = threading.Lock()

    def cancel(self) -> None:
        self._cancel.set()

    # --- the whole run ---------------------------------------------------------

    def run(self) -> RestoreResult:
        p = self.plan
        self.progress.total_chunks = len(p.chunks)
        self.progress.total_bytes = sum(j.chunk.stored_bytes for j in p.chunks)
        self.progress.total_rows = sum(j.chunk.rows for j in p.chunks)
        conn = connect(self.connection)
        states: dict[str, _DatabaseState] = {}
        try:
            self._server = server_flavor(conn)
            check_flavor(p.accounts, self._server[0])  # before anything changes
            _session(conn, p, binlog=self.config.binlog)
            self.progress.phase = "schema"
            states = self._look(conn)
            self._states = states
            self._phase = "creating the shadow tables"
            self._prepare(conn, states)
            self._phase = "loading the data"
            self.progress.phase = "data"
            done = set().union(*(s.done for s in states.values())) if states else set()
            jobs = [j for j in p.chunks if self._item(j.table.target_db, j.item) not in done]
            skipped = len(p.chunks) - len(jobs)
            self.progress.add(skipped=skipped)
            self._probe_local_infile(conn)
            self._load(jobs, one_loader=self._one_loader_tables(conn))
            # This connection sat idle through the load, which can outlast the
            # server's wait_timeout: open a new one with the same session if so.
            conn = self._alive(conn)
            if self._direct:
                return self._finish_direct(conn, jobs, skipped)
            self._phase = "building indexes"
            self.progress.phase = "indexes"
            self._indexes(conn, states)
            self._phase = "swapping the tables in"
            self._swap(conn, states)
            self._phase = "re-creating foreign keys"
            self._finish_tables(conn, states)
            self._phase = "creating views, triggers, routines and events"
            self.progress.phase = "objects"
            objects = self._objects(conn, states)
            accounts = self._accounts(conn)
            self._drop_progress_tables(conn)
            return RestoreResult(
                tables=len(p.tables),
                rows=sum(j.chunk.rows for j in p.chunks),
                chunks_loaded=len(jobs),
                chunks_skipped=skipped,
                objects=objects,
                notes=tuple(self._notes),
                accounts=accounts,
            )
        except KeyboardInterrupt as exc:
            self._cancel.set()
            raise Interrupted(
                f"restore interrupted while {self._phase}; committed chunks are kept",
                hint=self._how_to_continue(states),
            ) from exc
        except OsidumpError as exc:
            if states and not isinstance(exc, TargetExists):
                exc.message = f"{exc.message} (restore stopped while {self._phase})"
                damaged = isinstance(exc, (IntegrityError, ManifestError))
                exc.hint = f"{exc.hint}; {self._how_to_continue(states, damaged=damaged)}"
            raise
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _drop_progress_tables(self, conn: Any) -> None:
        """The restore is complete: its progress markers go, and with them any
        way to mistake the target for an unfinished restore."""
        for db in self.plan.databases:
            execute(
                conn,
                f"DROP TABLE IF EXISTS {quote_ident(db.target)}.{PROGRESS_TABLE}",
                context="removing the restore progress table",
            )
        self.progress.phase = "done"

    def _finish_direct(self, conn: Any, jobs: list[ChunkJob], skipped: int) -> RestoreResult:
        accounts = self._accounts(conn)
        self._drop_progress_tables(conn)
        return RestoreResult(
            tables=len(self.plan.tables),
            rows=sum(j.chunk.rows for j in jobs),
            chunks_loaded=len(jobs),
            chunks_skipped=skipped,
            objects=0,
            notes=tuple(self._notes),
            table_rows=tuple(self._table_rows.values()),
            accounts=accounts,
        )

    def _how_to_continue(self, states: dict[str, _DatabaseState], *, damaged: bool = False) -> str:
        """What the stop left and how to go on. ``damaged``: the dump itself
        failed, so a plain re-run would stop at the same chunk again."""
        dbs = ", ".join(sorted(states)) or "the target"
        if not self._changed and not any(s.resuming for s in states.values()):
            return "nothing was changed on the target"
        if damaged:
            again = "re-run with --resume from an intact copy of this dump to continue"
        else:
            again = "re-run the same command with --resume to continue"
        created = sorted(self._created)
        if self._direct:
            return (
                f"the chunks committed so far are in the tables of {dbs} (each whole, none"
                " twice): re-run the same command with --resume to load the rest, or drop"
                f" {PROGRESS_TABLE} there to give up (the loaded rows stay)"
            )
        if not self._swapped:
            give_up = (
                f"DROP DATABASE {', '.join(quote_ident(d) for d in created)} (made by this run)"
                if created and set(created) == set(states)
                else f"drop those and {PROGRESS_TABLE}"
            )
            return (
                f"the target's tables were not touched; the rows loaded so far wait in"
                f" osidump_new_* tables of {dbs}: {again}, or {give_up} to give up"
            )
        return (
            f"the restored tables are in place in {dbs}, the rest is not: re-run the same"
            " command with --resume to finish"
        )

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

    def _prepare(self, conn: Any, states: dict[str, _DatabaseState]) -> None:
        for db in self.plan.databases:
            state = states[db.target]
            q = quote_ident(db.target)
            if not self._direct:  # --data-only: the database exists (checked), no DDL
                execute(conn, db.create_sql, context=f"creating database {db.target}")
            if not state.exists:
                self._created.add(db.target)
                self._changed = True
            if PROGRESS_TABLE in state.tables and not state.resuming:
                execute(conn, f"DROP TABLE {q}.{PROGRESS_TABLE}", context="starting over")
            execute(
                conn,
                f"CREATE TABLE IF NOT EXISTS {q}.{PROGRESS_TABLE} ("
                " dump_id CHAR(64) NOT NULL, item VARCHAR(700) NOT NULL,"
                " done_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
                " PRIMARY KEY (dump_id, item)) ENGINE=InnoDB"
                # Binary: tables whose names differ only in case are two tables.
                " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
                context="creating the restore progress table",
            )
            self._changed = True
            conn.select_db(db.target)
            for t in self.plan.tables:
                if t.target_db != db.target or t.direct:
                    continue
                if self._item(db.target, f"table:{t.entry.name}") in state.done:
                    continue
                if self._item(db.target, "swap") in state.done:
                    continue
                qs = f"{q}.{quote_ident(t.shadow)}"
                execute(conn, f"DROP TABLE IF EXISTS {qs}", context=f"preparing {t.label}")
                execute(conn, self._shadow_sql(t), context=f"creating {t.label}")
                self._mark(conn, db.target, f"table:{t.entry.name}")

    def _probe_local_infile(self, conn: Any) -> None:
        if self.plan.encoding != "tsv":
            return
        rows = query_all(conn, "SELECT @@GLOBAL.local_infile", context="checking local_infile")
        if rows and not int(rows[0][0] or 0):
            self._use_inserts("the target has local_infile=OFF")

    def _use_inserts(self, why: str) -> None:
        with self._loader_lock:
            if not self._loader.local_infile:
                return
            self._loader.local_infile = False
        note = (
            f"{why}: loading with INSERT statements instead of LOAD DATA LOCAL INFILE"
            " (several times slower; SET GLOBAL local_infile = 1 on the target makes"
            " restores faster)"
        )
        self._notes.append(note)

    def _one_loader_tables(self, conn: Any) -> frozenset[str]:
        """Tables the target loads one LOAD DATA at a time anyway: with
        innodb_autoinc_lock_mode below 2 (MariaDB's default is 1, MySQL 8's 2),
        a LOAD DATA into a table with an AUTO_INCREMENT column holds the
        table's AUTO-INC lock to its end, even when it gives every value.
        Measured on MariaDB 10.11, two loads of 1.5M rows into one such table:
        7.6 s together, the second in LOCK WAIT, against 4.5 s without the
        column. A second loader there would only wait (and could reach
        innodb_lock_wait_timeout), so it takes another table's chunk instead."""
        try:
            rows = query_all(
                conn, "SELECT @@GLOBAL.innodb_autoinc_lock_mode", context="checking the target"
            )
            mode = int(rows[0][0]) if rows and rows[0][0] is not None else 1
        except OsidumpError:  # no such variable: assume the table lock
            mode = 1
        if mode >= 2:
            return frozenset()
        return frozenset(
            t.label for t in self.plan.tables if has_auto_increment(self._definition(t))
        )

    def _load(self, jobs: list[ChunkJob], *, one_loader: frozenset[str] = frozenset()) -> None:
        def start(_index: int) -> Any:
            conn = connect(self.connection, autocommit=True, local_infile=True)
            _session(conn, self.plan, binlog=self.config.binlog)
            checks = DIRECT_LOAD_CHECKS if self._direct else LOAD_CHECKS
            execute(conn, checks, context="setting up the restore session")
            execute(conn, LOAD_TIMEOUTS, context="setting up the restore session")
            return conn

        def stop(conn: Any) -> None:
            with contextlib.suppress(Exception):
                conn.close()

        for job in jobs:
            label = job.table.label
            self._chunks_left[label] = self._chunks_left.get(label, 0) + 1
        pool: WorkerPool[Any, ChunkJob] = WorkerPool(
            name="osidump-restore",
            count=self.config.threads,
            start=start,
            work=self._apply_chunk,
            stop=stop,
            cancel=self._cancel,
        )

        def key(job: ChunkJob) -> str | None:
            return job.table.label if job.table.label in one_loader else None

        pool.run(jobs, exclusive=key)

    def _apply_chunk(self, conn: Any, job: ChunkJob) -> None:
        """Load one chunk in one transaction, retrying the whole chunk after a
        deadlock or lock wait timeout (the server rolled it back entirely, so a
        replay from the first row is exact)."""
        for attempt in range(1, CHUNK_ATTEMPTS + 1):
            try:
                self._apply_chunk_once(conn, job)
                break
            except ServerError as exc:
                if exc.code in LOCAL_INFILE_REFUSED and self._loader.local_infile:
                    self._use_inserts("the target refused LOAD DATA LOCAL INFILE")
                    continue
                if (
                    not exc.retryable
                    or isinstance(exc, ConnectionLost)
                    or attempt == CHUNK_ATTEMPTS
                ):
                    raise
                log.info(
                    "%s: %s; retrying the chunk (attempt %d)", job.label, exc.message, attempt + 1
                )
        else:
            raise ServerError(f"{job.label}: not loaded after {CHUNK_ATTEMPTS} attempts")
        self._after_chunk(conn, job)

    def _after_chunk(self, conn: Any, job: ChunkJob) -> None:
        """After a table's last chunk: its indexes, on this loader's
        connection, while the other loaders go on with other tables."""
        t = job.table
        with self._chunks_lock:
            self._chunks_left[t.label] -= 1
            last = self._chunks_left[t.label] == 0
        if last and not t.direct and not self._cancel.is_set():
            self._build_indexes(conn, t)

    def _apply_chunk_once(self, conn: Any, job: ChunkJob) -> None:
        db = job.table.target_db
        if conn.db != db.encode() and conn.db != db:
            conn.select_db(db)
        _run(conn, "START TRANSACTION", context=job.label)
        try:
            if self._cancel.is_set():
                raise Interrupted("restore cancelled")
            try:
                loaded = self._loader.load(conn, job)
            except ServerError as exc:
                if job.table.direct and exc.code == 1062:  # INSERT fallback, --insert-mode error
                    raise self._clash(job, "rows", exc.message) from exc
                raise
            if job.table.direct:
                self._check_direct(conn, job, loaded)
            elif loaded.warnings:
                self._changed_values(conn, job, loaded.warnings)
            elif loaded.rows != job.chunk.rows:
                raise IntegrityError(
                    f"{job.label}: the server took {loaded.rows} rows, the chunk holds"
                    f" {job.chunk.rows} (duplicate keys in the chunk?)",
                    hint="the dump is damaged or was altered; restore from another backup",
                )
            self._mark(conn, db, job.item)
            if self._cancel.is_set():  # stopped while this chunk loaded: keep nothing of it
                raise Interrupted("restore cancelled")
            _run(conn, "COMMIT", context=f"committing {job.label}")
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        if job.table.direct:
            with self._loader_lock:
                counts = self._table_rows[job.table.label]
                counts.skipped += loaded.skipped
                counts.replaced += loaded.deleted
                counts.inserted += max(job.chunk.rows - loaded.skipped - loaded.deleted, 0)
        self.progress.add(rows=job.chunk.rows, stored=job.chunk.stored_bytes, chunks=1)

    def _clash(self, job: ChunkJob, what: str, first: str) -> TargetExists:
        return TargetExists(
            f"{job.label}: {what} have keys already in {job.table.label} (first: {first});"
            " nothing of the chunk was kept",
            hint="--insert-mode ignore keeps the existing rows, replace overwrites them; "
            + self._how_to_continue(self._states),
        )

    @staticmethod
    def _changed_values(conn: Any, job: ChunkJob, warnings: int) -> None:
        raise ServerError(
            f"{job.label}: the server changed values while loading"
            f" ({warnings} warning{'s' if warnings != 1 else ''}, first:"
            f" {first_warning(conn)}); nothing of the chunk was kept",
            hint="the target's column types or character sets differ from the"
            " source's; restore into a new database to compare",
        )

    def _check_direct(self, conn: Any, job: ChunkJob, loaded: Loaded) -> None:
        """``--data-only``: the server's counts account for every row of the
        chunk: read (records), skipped (ignore; each with its duplicate-key
        warning) and inserted, plus the rows REPLACE deleted. Any other
        warning means a changed value: the chunk fails."""
        mode = job.table.insert_mode
        rows = job.chunk.rows
        if loaded.skipped and mode == "error":
            raise self._clash(job, f"{loaded.skipped} of its rows", first_warning(conn))
        if loaded.warnings > loaded.skipped:
            self._changed_values(conn, job, loaded.warnings - loaded.skipped)
        expected = loaded.records - loaded.skipped + loaded.deleted
        if (
            loaded.records != rows
            or loaded.rows != expected
            or (mode != "replace" and loaded.deleted)
        ):
            raise IntegrityError(
                f"{job.label}: the server read {loaded.records} rows of {rows}, affected"
                f" {loaded.rows} (skipped {loaded.skipped}, replaced {loaded.deleted})",
                hint="the dump is damaged or was altered; nothing of the chunk was kept",
            )


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


__all__ = [
    "PROGRESS_TABLE",
    "Restore",
    "RestoreProgress",
    "RestoreResult",
    "replace",
    "run_restore",
]
