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
   target's own triggers of those tables that the dump does not replace).

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
    ObjectNotFound,
    OsidumpError,
    PrivilegeError,
    ServerError,
    TargetExists,
    from_server_error,
)
from ..export.catalog import SchemaObject, read_table, show_create_object
from ..format.ddl import CreateTable, parse_create_table
from ..server_compat import (
    binlog_off_privilege,
    compatible_sql_mode,
    fulltext_separately,
    no_binlog_hint,
)
from ..storage.base import Storage
from ..workers import WorkerPool
from .bulk_load import LOCAL_INFILE_REFUSED, ChunkLoader, Loaded, first_warning
from .plan import ChunkJob, ObjectPlan, RestorePlan, TablePlan, check_server_databases

log = logging.getLogger("osidump.restore")

PROGRESS_TABLE = "osidump_restore_progress"
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
LOCK_WAIT_SECONDS = 600


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
        self._notes: list[str] = list(plan.notes)
        self._phase = "checking the target"
        self._swapped = False
        self._created: set[str] = set()  # databases this run created
        self._loader = ChunkLoader(storage, local_infile=True)
        self._loader_lock = threading.Lock()
        # --on-existing truncate: the target's own definitions, and its own
        # triggers of those tables that the dump does not replace.
        self._kept_definitions: dict[str, CreateTable] = {}
        self._kept_triggers: list[ObjectPlan] = []
        self._server: tuple[str, str] = ("mariadb", "")
        self._direct = plan.mode == "data"
        self._states: dict[str, _DatabaseState] = {}
        self._table_rows = {t.label: TableRows(t.label) for t in plan.tables}

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
            self._load(jobs)
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
                notes=tuple(self._notes),
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
                exc.hint = f"{exc.hint}; {self._how_to_continue(states)}"
            raise
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _finish_direct(self, conn: Any, jobs: list[ChunkJob], skipped: int) -> RestoreResult:
        for db in self.plan.databases:
            execute(
                conn,
                f"DROP TABLE IF EXISTS {quote_ident(db.target)}.{PROGRESS_TABLE}",
                context="removing the restore progress table",
            )
        self.progress.phase = "done"
        return RestoreResult(
            tables=len(self.plan.tables),
            rows=sum(j.chunk.rows for j in jobs),
            chunks_loaded=len(jobs),
            chunks_skipped=skipped,
            objects=0,
            notes=tuple(self._notes),
            table_rows=tuple(self._table_rows.values()),
        )

    def _how_to_continue(self, states: dict[str, _DatabaseState]) -> str:
        dbs = ", ".join(sorted(states)) or "the target"
        if self._direct:
            return (
                f"the chunks committed so far are in the tables of {dbs} (each whole, none"
                " twice): re-run the same command with --resume to load the rest, or drop"
                f" {PROGRESS_TABLE} there to give up (the loaded rows stay)"
            )
        if not self._swapped:
            return (
                f"the target's tables were not touched; the rows loaded so far wait in"
                f" osidump_new_* tables of {dbs}: re-run the same command with --resume to"
                f" continue, or drop those and {PROGRESS_TABLE} to give up"
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

    # --- 1. look at the target ----------------------------------------------------

    def _look(self, conn: Any) -> dict[str, _DatabaseState]:
        """Read the target's state and refuse what the options do not allow,
        before anything is created or changed."""
        p = self.plan
        server_dbs = set(_names(query_all(conn, "SHOW DATABASES", context="listing databases")))
        check_server_databases(p, server_dbs)
        states: dict[str, _DatabaseState] = {}
        for db in p.databases:
            exists = db.target in server_dbs
            tables: dict[str, str] = {}
            if exists:
                for name, kind in query_all(
                    conn,
                    "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES"
                    " WHERE TABLE_SCHEMA = %s",
                    (db.target,),
                    context=f"listing tables of {db.target}",
                ):
                    tables[_names([(name,)])[0]] = _names([(kind,)])[0]
            state = _DatabaseState(db.target, exists, tables)
            if PROGRESS_TABLE in tables:
                rows = query_all(
                    conn,
                    f"SELECT dump_id, item FROM {quote_ident(db.target)}.{PROGRESS_TABLE}",
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
                        f"{db.target} holds an unfinished restore of a different dump (or of"
                        " this one with or without --schema-only/--data-only)",
                        hint="resume it with its own dump, or --on-existing drop to start over",
                    )
                if self.config.resume:
                    state.resuming = True
                    state.done = {self._item(db.target, str(r[1])) for r in rows}
            states[db.target] = state
            mine = [t for t in p.tables if t.target_db == db.target]
            if self._direct:
                self._check_direct_target(conn, db.target, exists, tables, mine)
                continue
            swapped = self._item(db.target, "swap") in state.done
            if self.config.on_existing == "truncate" and not swapped:
                for t in mine:
                    if tables.get(t.entry.name) == "BASE TABLE":
                        self._keep_definition(conn, t)
            if state.resuming:
                continue
            clash = sorted(t.entry.name for t in mine if t.entry.name in tables)
            if clash and self.config.on_existing == "fail":
                raise TargetExists(
                    f"{len(clash)} table{'s' if len(clash) != 1 else ''} already exist in"
                    f" {db.target}: {', '.join(clash[:5])}",
                )
            for t in mine:
                if t.entry.name in tables and tables[t.entry.name] not in ("BASE TABLE", "VIEW"):
                    raise TargetExists(f"{t.label} exists and is not a table or view")
            objects = [o for o in p.objects if o.target_db == db.target]
            if self.config.on_existing == "fail" and objects:
                self._refuse_existing_objects(conn, db.target, objects)
        return states

    def _check_direct_target(
        self,
        conn: Any,
        db: str,
        exists: bool,
        tables: dict[str, str],
        mine: list[TablePlan],
    ) -> None:
        """``--data-only``: every table exists, matches the dump's columns and
        has no trigger that would fire on the loaded rows."""
        for t in mine:
            if not exists or t.entry.name not in tables:
                raise ObjectNotFound(
                    f"{t.label} does not exist in the target (--data-only loads into existing"
                    " tables)",
                    hint="restore without --data-only to create it, or --schema-only first",
                )
            if tables[t.entry.name] != "BASE TABLE":
                raise TargetExists(f"{t.label} exists and is not a table")
            self._same_columns(
                conn, t, hint="--data-only needs the dump's columns; restore with --on-existing"
                " drop to replace the table instead"
            )
        names = [t.entry.name for t in mine]
        if not names:
            return
        marks = ", ".join(["%s"] * len(names))
        found = query_all(
            conn,
            "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS"
            f" WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE IN ({marks})"
            " ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME",
            (db, *names),
            context=f"reading triggers of {db}",
        )
        fired = [f"{db}.{_names([(r[0],)])[0]} ({_names([(r[1],)])[0]})" for r in found]
        if fired and not self.config.allow_triggers:
            raise TargetExists(
                f"{fired[0]} has a trigger, which would fire on every loaded row"
                f"{f' ({len(fired)} triggers in all)' if len(fired) > 1 else ''}",
                hint="restore into a copy without triggers, drop them for the load, or pass"
                " --allow-triggers to let them fire (rows may then differ from the dump)",
            )
        if fired:
            self._notes.append(
                "--allow-triggers: these triggers fired on the loaded rows: " + ", ".join(fired)
            )

    def _same_columns(self, conn: Any, t: TablePlan, *, hint: str) -> Any:
        """The target's table, if its stored columns are the dump's (names and
        types); else TargetExists naming the first difference."""
        current = read_table(conn, t.target_db, t.entry.name)
        have = {c.name: c.column_type for c in current.columns if not c.generated}
        want = {c.name: c.type for c in t.entry.columns if not c.generated}
        if have != want:
            diff = sorted(set(have.items()) ^ set(want.items()))
            name, ctype = diff[0]
            where = "target" if have.get(name) == ctype else "dump"
            raise TargetExists(
                f"{t.label} does not match the dump: column {name} {ctype} is only in the {where}",
                hint=hint,
            )
        return current

    def _keep_definition(self, conn: Any, t: TablePlan) -> None:
        """``truncate``: the target's definition is kept; its columns must be
        the dump's, or rows would land in the wrong columns or be converted."""
        current = self._same_columns(
            conn, t, hint="use --on-existing drop to replace the table's definition too"
        )
        create = parse_create_table(current.create_sql, name=t.entry.name, refused=frozenset())
        self._kept_definitions[t.label] = create
        dumped = {
            o.name for o in self.plan.objects if o.kind == "trigger" and o.target_db == t.target_db
        }
        for trig in query_all(
            conn,
            f"SHOW TRIGGERS FROM {quote_ident(t.target_db)} WHERE `Table` = %s",
            (t.entry.name,),
            context=f"reading triggers of {t.label}",
        ):
            name = _names([(trig[0],)])[0]
            if name in dumped:
                continue
            obj: SchemaObject = show_create_object(
                conn, "trigger", t.target_db, name, table=t.entry.name
            )
            self._kept_triggers.append(
                ObjectPlan(
                    target_db=t.target_db,
                    kind="trigger",
                    name=name,
                    create_sql=obj.create_sql,
                    sql_mode=obj.sql_mode,
                    character_set_client=obj.character_set_client,
                    collation_connection=obj.collation_connection,
                    table=t.entry.name,
                )
            )

    def _refuse_existing_objects(self, conn: Any, db: str, objects: list[ObjectPlan]) -> None:
        listings = {
            "view": ("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s"),
            "trigger": "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
            " WHERE TRIGGER_SCHEMA = %s",
            "procedure": "SELECT ROUTINE_NAME FROM information_schema.ROUTINES"
            " WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE = 'PROCEDURE'",
            "function": "SELECT ROUTINE_NAME FROM information_schema.ROUTINES"
            " WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE = 'FUNCTION'",
            "event": "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
        }
        for kind, sql in listings.items():
            wanted = {o.name for o in objects if o.kind == kind}
            if not wanted:
                continue
            present = set(_names(query_all(conn, sql, (db,), context=f"listing {kind}s of {db}")))
            clash = sorted(wanted & present)
            if clash:
                raise TargetExists(f"{kind} {db}.{clash[0]} already exists in the target")

    # --- 2. databases and shadow tables ---------------------------------------------

    def _prepare(self, conn: Any, states: dict[str, _DatabaseState]) -> None:
        for db in self.plan.databases:
            state = states[db.target]
            q = quote_ident(db.target)
            if not state.exists:
                self._created.add(db.target)
            if not self._direct:  # --data-only: the database exists (checked), no DDL
                execute(conn, db.create_sql, context=f"creating database {db.target}")
            if PROGRESS_TABLE in state.tables and not state.resuming:
                execute(conn, f"DROP TABLE {q}.{PROGRESS_TABLE}", context="starting over")
            execute(
                conn,
                f"CREATE TABLE IF NOT EXISTS {q}.{PROGRESS_TABLE} ("
                " dump_id CHAR(64) NOT NULL, item VARCHAR(700) NOT NULL,"
                " done_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
                " PRIMARY KEY (dump_id, item)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                context="creating the restore progress table",
            )
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

    def _definition(self, t: TablePlan) -> CreateTable:
        return self._kept_definitions.get(t.label, t.create)

    def _shadow_sql(self, t: TablePlan) -> str:
        kept = self._kept_definitions.get(t.label)
        if kept is None:
            return t.shadow_sql()
        # truncate: the target's definition, the dump's AUTO_INCREMENT counter.
        return kept.build(t.shadow, without=t.deferred, auto_increment=t.create.auto_increment)

    # --- 3. data -------------------------------------------------------------------

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

    def _load(self, jobs: list[ChunkJob]) -> None:
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
        replay from the first row is exact)."""
        for attempt in range(1, CHUNK_ATTEMPTS + 1):
            try:
                self._apply_chunk_once(conn, job)
                return
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
        if loaded.records != rows or loaded.rows != expected or (
            mode != "replace" and loaded.deleted
        ):
            raise IntegrityError(
                f"{job.label}: the server read {loaded.records} rows of {rows}, affected"
                f" {loaded.rows} (skipped {loaded.skipped}, replaced {loaded.deleted})",
                hint="the dump is damaged or was altered; nothing of the chunk was kept",
            )

    # --- 4. indexes ------------------------------------------------------------------

    def _index_names(self, conn: Any, db: str, table: str) -> set[str]:
        return set(
            _names(
                query_all(
                    conn,
                    "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS"
                    " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    (db, table),
                    context=f"reading indexes of {db}.{table}",
                )
            )
        )

    def _indexes(self, conn: Any, states: dict[str, _DatabaseState]) -> None:
        for t in self.plan.tables:
            done = states[t.target_db].done
            if (
                self._item(t.target_db, "swap") in done
                or self._item(t.target_db, f"indexes:{t.entry.name}") in done
            ):
                continue
            definition = self._definition(t)
            clauses = [d for d in definition.clauses(t.deferred) if d.kind != "foreign"]
            if clauses:
                present = self._index_names(conn, t.target_db, t.shadow)
                qt = f"{quote_ident(t.target_db)}.{quote_ident(t.shadow)}"
                missing = [d.text for d in clauses if d.name is None or d.name not in present]
                # Each FULLTEXT index alone, first (server_compat).
                for group in fulltext_separately(missing):
                    adds = ", ".join(f"ADD {clause}" for clause in group)
                    execute(
                        conn, f"ALTER TABLE {qt} {adds}", context=f"building indexes of {t.label}"
                    )
            self._mark(conn, t.target_db, f"indexes:{t.entry.name}")

    # --- 5. swap -------------------------------------------------------------------

    def _swap(self, conn: Any, states: dict[str, _DatabaseState]) -> None:
        """One RENAME TABLE: every existing table aside, every shadow in."""
        renames: list[str] = []
        views: list[str] = []
        for t in self.plan.tables:
            db = t.target_db
            if self._item(db, "swap") in states[db].done:
                continue
            q = quote_ident(db)
            existing = set(
                _names(
                    query_all(
                        conn,
                        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
                        " AND TABLE_NAME IN (%s, %s)",
                        (db, t.shadow, t.entry.name),
                        context=f"checking {t.label}",
                    )
                )
            )
            if t.shadow not in existing:
                continue  # swapped by an earlier run that stopped before marking it
            kind = states[db].tables.get(t.entry.name)
            if t.entry.name in existing and kind == "VIEW":
                views.append(f"{q}.{quote_ident(t.entry.name)}")
            elif t.entry.name in existing:
                renames.append(f"{q}.{quote_ident(t.entry.name)} TO {q}.{quote_ident(t.old)}")
            renames.append(f"{q}.{quote_ident(t.shadow)} TO {q}.{quote_ident(t.entry.name)}")
        for view in views:
            execute(conn, f"DROP VIEW IF EXISTS {view}", context="replacing a view by a table")
        if renames:
            execute(
                conn,
                "RENAME TABLE " + ", ".join(renames),
                context="swapping the restored tables in",
            )
        self._swapped = True
        for target in self.plan.databases:
            if self._item(target.target, "swap") not in states[target.target].done:
                self._mark(conn, target.target, "swap")
                states[target.target].done.add(self._item(target.target, "swap"))

    # --- 6. old tables and foreign keys ----------------------------------------------

    def _finish_tables(self, conn: Any, states: dict[str, _DatabaseState]) -> None:
        execute(conn, "SET SESSION foreign_key_checks = 0", context="re-creating foreign keys")
        try:
            for db in self.plan.databases:
                mine = [t for t in self.plan.tables if t.target_db == db.target]
                olds = {t.old: t.entry.name for t in mine}
                if not olds:
                    continue
                self._repoint(conn, db.target, olds)
                present = set(
                    _names(
                        query_all(
                            conn,
                            "SELECT TABLE_NAME FROM information_schema.TABLES"
                            " WHERE TABLE_SCHEMA = %s",
                            (db.target,),
                            context=f"listing tables of {db.target}",
                        )
                    )
                )
                drop = [f"{quote_ident(db.target)}.{quote_ident(o)}" for o in olds if o in present]
                if drop:
                    execute(
                        conn,
                        "DROP TABLE " + ", ".join(drop),
                        context="dropping the replaced tables",
                    )
                for t in mine:
                    item = f"fks:{t.entry.name}"
                    if self._item(db.target, item) in states[db.target].done:
                        continue
                    self._add_foreign_keys(conn, t)
                    self._mark(conn, db.target, item)
        finally:
            execute(conn, "SET SESSION foreign_key_checks = 1", context="re-creating foreign keys")

    def _repoint(self, conn: Any, db: str, olds: dict[str, str]) -> None:
        """Foreign keys of other tables that followed a replaced table to its
        retired name (MariaDB's RENAME carries them) point at the new table."""
        marks = ", ".join(["%s"] * len(olds))
        rows = query_all(
            conn,
            "SELECT DISTINCT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME"
            " FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_SCHEMA = %s"
            f" AND REFERENCED_TABLE_NAME IN ({marks})",
            (db, *olds),
            context=f"finding foreign keys into {db}",
        )
        for schema, table, constraint, referenced in rows:
            schema, table, constraint, referenced = _names(
                [(schema,), (table,), (constraint,), (referenced,)]
            )
            if schema == db and table in olds:
                continue  # an old table itself: it is dropped
            create = query_all(
                conn,
                f"SHOW CREATE TABLE {quote_ident(schema)}.{quote_ident(table)}",
                context=f"reading {schema}.{table}",
            )[0][1]
            text = create.decode() if isinstance(create, bytes) else str(create)
            child = parse_create_table(text, name=table, refused=frozenset())
            for d in child.clauses(frozenset({"foreign"})):
                if d.name != constraint:
                    continue
                fixed = d.text.replace(quote_ident(referenced), quote_ident(olds[referenced]))
                qt = f"{quote_ident(schema)}.{quote_ident(table)}"
                execute(
                    conn,
                    f"ALTER TABLE {qt} DROP FOREIGN KEY {quote_ident(constraint)}",
                    context=f"re-pointing {schema}.{table}'s foreign key",
                )
                execute(
                    conn,
                    f"ALTER TABLE {qt} ADD {fixed}",
                    context=f"re-pointing {schema}.{table}'s foreign key",
                )

    def _add_foreign_keys(self, conn: Any, t: TablePlan) -> None:
        definition = self._definition(t)
        clauses = [d for d in definition.clauses(frozenset({"foreign"}))]
        if not clauses:
            return
        present = set(
            _names(
                query_all(
                    conn,
                    "SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS"
                    " WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s",
                    (t.target_db, t.entry.name),
                    context=f"reading foreign keys of {t.label}",
                )
            )
        )
        kept = t.label in self._kept_definitions
        adds = [
            "ADD " + (d.text if kept else t.foreign_keys[i])
            for i, d in enumerate(clauses)
            if d.name is None or d.name not in present
        ]
        if adds:
            qt = f"{quote_ident(t.target_db)}.{quote_ident(t.entry.name)}"
            execute(
                conn,
                f"ALTER TABLE {qt} {', '.join(adds)}",
                context=f"adding foreign keys of {t.label}",
            )

    # --- 7. objects ----------------------------------------------------------------

    def _objects(self, conn: Any, states: dict[str, _DatabaseState]) -> int:
        count = 0
        for obj in [*self.plan.objects, *self._kept_triggers]:
            item = f"{obj.kind}:{obj.name}"
            if self._item(obj.target_db, item) in states[obj.target_db].done:
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
        sql_mode = obj.sql_mode
        if sql_mode:
            sql_mode, dropped = compatible_sql_mode(sql_mode, *self._server)
            for flag in dropped:
                self._notes.append(
                    f"{obj.kind} {obj.target_db}.{obj.name}: sql_mode flag {flag} dropped"
                    f" (unknown to {self._server[0]} {self._server[1]})"
                )
        pairs = [
            ("sql_mode", sql_mode),  # "" is a real sql_mode and is kept
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
            if obj.kind == "event" and not self.config.events_enabled:
                execute(conn, f"ALTER EVENT {q} DISABLE", context=f"disabling {label}")
        except OsidumpError as exc:
            if getattr(exc, "code", 0) in (1050, 1304, 1359, 1537):
                raise TargetExists(f"{label} already exists in the target") from exc
            raise
        finally:
            _session(conn, self.plan, binlog=self.config.binlog)
            execute(conn, "SET NAMES utf8mb4", context="resetting the session")


def _run(conn: Any, sql: str | bytes, *, context: str) -> int:
    try:
        return int(conn.query(sql))
    except pymysql.err.MySQLError as exc:
        raise from_server_error(exc, context=context) from exc
    except OSError as exc:
        raise from_server_error(exc, context=context) from exc


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
