"""``export``: snapshot -> chunk plan -> rows -> compressor -> storage -> manifest.

One :class:`Export` run:

1. refuses a destination that is not empty;
2. resolves databases and tables (names only) on a plain connection;
3. opens the shared snapshot (``snapshot.py``), guards the tables against DDL
   and reads their definitions and chunk boundaries inside it;
4. writes one schema file per database, and with ``--users`` the accounts,
   roles and grants (``users.py``, read once by the coordinator inside the
   snapshot, like the definitions) as ``users.json``;
5. runs one thread per worker connection over the chunk plans, largest tables
   first; each thread streams its ranges (rows formatted by the server for bulk
   load, ``rows.py``) through ``wire.stream_rows`` into ``ChunkFile``s,
   rolling to a new file every ``chunk_bytes``;
6. writes ``manifest.json`` last (with a signing key, its signature
   ``manifest.json.sig`` just before it). On any failure or cancel, workers
   stop at the next statement, the connections are closed, files written so far
   are removed (best effort) and no manifest is written: nothing looks complete.

``--users`` without a database is a dump of the accounts alone: one snapshot
connection, no database, only ``users.json`` and the manifest.

Sealing (``ExportSeal``, docs/SECURITY.md): with recipients, every schema file,
``users.json`` and chunk is one age file and the manifest records the recipients, the
ciphertext's digests and sizes, and no row values (no key bounds, no digest of
the plaintext).

Memory: each worker holds one batch of rows (``batch_bytes``, or one larger
row) and one zstd compressor; the job list holds plans, not rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from ..config import ConnectionConfig, ExportConfig
from ..connection import connect
from ..errors import ConsistencyError, Interrupted, ObjectNotFound, OsidumpError, ServerError
from ..format.chunk_writer import ChunkFile, ChunkStats
from ..format.manifest import (
    CHUNK_SUFFIX,
    FORMAT_VERSION,
    MANIFEST_NAME,
    USERS_NAME,
    ChunkEntry,
    ColumnEntry,
    DatabaseEntry,
    Encryption,
    FileEntry,
    Manifest,
    TableEntry,
    UsersEntry,
    schema_file_name,
    table_dir,
)
from ..format.users_file import users_document
from ..seal import NO_SEAL, SIGNATURE_NAME, EncryptingStream, ExportSeal, sign_manifest
from ..storage.base import Storage, write_whole
from ..users import Account, read_accounts, unmatched_pattern
from ..version import __version__
from ..workers import WorkerPool
from .catalog import (
    DatabaseSchema,
    SchemaObject,
    Table,
    list_databases,
    not_dumped,
    read_database,
    strip_definer,
)
from .catalog import resolve_tables as resolve_table_names
from .chunk_plan import ChunkPlan, plan_table
from .destination import claim_destination, write_start_marker
from .row_filter import conditions_for, probe
from .rows import column_kind, select_sql
from .snapshot import Snapshot, SnapshotCoordinator
from .throttle import RateLimiter, Throttle
from .wire import stream_rows

log = logging.getLogger("osidump.export")

# The session the rows were read in (recorded; restore sets its own strict one).
DATA_SQL_MODE = "NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"


@dataclass
class ExportProgress:
    """Counters the CLI reads to draw progress; updated by worker threads."""

    total_bytes_estimate: int = 0
    total_chunks: int = 0
    rows: int = 0
    raw_bytes: int = 0
    stored_bytes: int = 0
    chunks_done: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, rows: int = 0, raw: int = 0, stored: int = 0, chunks: int = 0) -> None:
        with self._lock:
            self.rows += rows
            self.raw_bytes += raw
            self.stored_bytes += stored
            self.chunks_done += chunks


@dataclass(frozen=True)
class _Written:
    plan: ChunkPlan
    part: int
    stats: ChunkStats


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Export:
    def __init__(
        self,
        connection: ConnectionConfig,
        config: ExportConfig,
        storage: Storage,
        *,
        progress: ExportProgress | None = None,
        seal: ExportSeal = NO_SEAL,
        throttle: Throttle | None = None,
    ):
        self.connection = connection
        self.config = config
        self.storage = storage
        self.progress = progress or ExportProgress()
        self.seal = seal
        self._cancel = threading.Event()
        self._written: list[_Written] = []
        self._left_out: dict[str, list[str]] = {}
        self._flavor = "mariadb"
        self._accounts: list[Account] = []
        self._lock = threading.Lock()
        # --max-rate: one bucket for every worker (throttle.py).
        self._throttle: Throttle | None = throttle
        if throttle is None and config.max_rate is not None:
            self._throttle = RateLimiter(config.max_rate, burst=config.batch_bytes)

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> Manifest:
        started = _now()
        claim_destination(self.storage, self.config)  # refuses a used location
        selection = self._resolve()
        coordinator = SnapshotCoordinator(
            self.connection,
            mode=self.config.consistency,
            workers=1 if self.config.no_data or self.config.users_only else self.config.threads,
            retries=self.config.snapshot_retries,
            lock_wait_timeout=self.config.lock_wait_timeout,
        )
        snapshot = coordinator.open()
        self._flavor = snapshot.flavor
        try:
            # Definitions, chunk plans and --where checks first: a failure
            # there leaves nothing written.
            schemas, plans = self._read_inside(snapshot, selection)
            write_start_marker(self.storage, self.config, started_at=started)
            schema_entries = {s.name: self._write_schema(s) for s in schemas}
            users = self._write_users() if self.config.users else None
            self._run_workers(snapshot, plans)
            manifest = self._manifest(started, snapshot, schemas, schema_entries, users)
            snapshot.close()  # every row is read: release the snapshot and the DDL guard now
            data = manifest.to_json()
            if self.seal.signing_key is not None:
                # Before the manifest, which stays the commit marker: a dump
                # is never complete without its signature.
                self.storage.put(SIGNATURE_NAME, sign_manifest(data, self.seal.signing_key))
            self.storage.put(MANIFEST_NAME, data)
            return manifest
        except BaseException as exc:
            self._cancel.set()
            self._cleanup()
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted("export interrupted; no manifest was written") from exc
            raise
        finally:
            snapshot.close()

    # --- steps ---------------------------------------------------------------

    def _resolve(self) -> dict[str, list[str]]:
        if self.config.users_only:
            return {}
        conn = connect(self.connection)
        try:
            dbs = list(self.config.databases) or list_databases(conn)
            return resolve_table_names(
                conn, dbs, include=self.config.tables, exclude=self.config.exclude_tables
            )
        finally:
            conn.close()

    def _read_inside(
        self, snapshot: Snapshot, selection: dict[str, list[str]]
    ) -> tuple[list[DatabaseSchema], list[ChunkPlan]]:
        snapshot.guard_tables([(db, t) for db, ts in selection.items() for t in ts])
        conn = snapshot.workers[0]
        schemas = [
            self._select_objects(read_database(conn, db, tables), selection)
            for db, tables in selection.items()
        ]
        whole = not self.config.tables and not self.config.exclude_tables
        for db, names in selection.items():
            self._left_out[db].extend(not_dumped(conn, db, names, whole_database=whole))
        plans: list[ChunkPlan] = []
        tables = [t for s in schemas for t in s.tables]
        cfg = self.config
        conditions = conditions_for(tables, where=cfg.where, table_where=cfg.table_where)
        for label, condition in conditions.items():
            probe(conn, next(t for t in tables if t.label == label), condition)
        for table in [] if cfg.no_data else tables:  # --no-data: zero chunks
            plans.extend(
                plan_table(
                    conn, table, chunk_bytes=cfg.chunk_bytes, condition=conditions.get(table.label)
                )
            )
        # Largest tables first, so the last worker is not left with the giant.
        plans.sort(key=lambda p: (-p.table.data_bytes, p.table.label, p.ordinal))
        self.progress.total_chunks = len(plans)
        self.progress.total_bytes_estimate = sum(t.data_bytes for s in schemas for t in s.tables)
        if cfg.users:  # once, in the snapshot's session, before anything is written
            self._accounts = read_accounts(conn, cfg.include_users, cfg.exclude_users)
            missing = unmatched_pattern(self._accounts, cfg.include_users)
            if missing is not None:
                raise ObjectNotFound(
                    f"no account of the server matches --include-users {missing!r}",
                    hint="patterns are user or user@host with * and ?; the server's own"
                    " accounts and root@localhost are never dumped unless named",
                )
        return schemas, plans

    def _select_objects(
        self, schema: DatabaseSchema, selection: dict[str, list[str]]
    ) -> DatabaseSchema:
        """Keep the views whose every table and view is in the dump (others
        would not restore on their own), triggers of dumped tables (read so
        already), routines and events as the config says; record the rest."""
        dumped = set(selection.get(schema.name, ()))
        kept: list[SchemaObject] = []
        kept_views: set[str] = set()
        left_out: list[str] = []
        for o in schema.objects:  # views come in dependency order
            if o.kind == "view":
                missing = sorted(set(o.reads) - dumped) + sorted(set(o.depends_on) - kept_views)
                foreign = sorted(set(o.databases) - set(selection))
                if missing or foreign:
                    why = f"reads {missing[0]}" if missing else f"reads database {foreign[0]}"
                    left_out.append(f"view {o.name}: {why}, which is not in the dump")
                    continue
                kept_views.add(o.name)
            elif o.kind in ("procedure", "function") and not self.config.with_routines:
                left_out.append(f"{o.kind} {o.name}: routines not asked for (--routines)")
                continue
            elif o.kind == "event" and not self.config.with_events:
                left_out.append(f"event {o.name}: events not asked for (--events)")
                continue
            kept.append(o)
        self._left_out[schema.name] = left_out
        return replace(schema, objects=tuple(kept))

    def _write_schema(self, schema: DatabaseSchema) -> FileEntry:
        strip = self.config.strip_definers

        def obj(o: SchemaObject) -> dict[str, Any]:
            d = asdict(o)
            d["create_sql"] = strip_definer(o.create_sql) if strip else o.create_sql
            for key in ("depends_on", "reads", "databases"):
                d[key] = list(d[key])
            return d

        doc = {
            "format": "osidump-schema",
            "database": schema.name,
            "create_database": schema.create_sql,
            "tables": [{"name": t.name, "create_sql": t.create_sql} for t in schema.tables],
            "objects": [obj(o) for o in schema.objects],
        }
        data = (json.dumps(doc, indent=1) + "\n").encode("utf-8")
        return self._write_small(schema_file_name(schema.name), data)

    def _write_users(self) -> UsersEntry:
        file = self._write_small(USERS_NAME, users_document(self._accounts))
        return UsersEntry(file=file, accounts=len(self._accounts))

    def _write_small(self, name: str, data: bytes) -> FileEntry:
        """One whole small file (schema, users), sealed like the chunks."""
        recipients = self.seal.recipients
        if recipients is None:
            self.storage.put(name, data)
            return FileEntry(path=name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
        stream = EncryptingStream(self.storage.open_write(name), recipients, name=name)
        write_whole(stream, data)
        return FileEntry(path=name, sha256=stream.stored_sha256, bytes=stream.stored_bytes)

    def _run_workers(self, snapshot: Snapshot, plans: list[ChunkPlan]) -> None:
        pool: WorkerPool[Any, ChunkPlan] = WorkerPool(
            name="osidump-export",
            count=len(snapshot.workers),
            start=lambda i: snapshot.workers[i],
            work=self._dump_plan,
            cancel=self._cancel,
        )
        # On Ctrl-C, closing the connections unblocks reads stuck in a socket.
        pool.run(plans, on_interrupt=snapshot.close)

    def _dump_plan(self, conn: Any, plan: ChunkPlan) -> None:
        table = plan.table
        sql = select_sql(table, plan.where(), self._flavor)
        context = f"reading {table.label}"
        limit = self.config.chunk_bytes
        part = 0
        current: ChunkFile | None = None
        try:
            for block, rows, longest in stream_rows(
                conn,
                sql,
                batch_bytes=self.config.batch_bytes,
                context=context,
                cancelled=self._cancel.is_set,
            ):
                if current is None:
                    current = self._open_chunk(plan, part)
                current.write(block, rows=rows, longest=longest)
                self.progress.add(rows=rows, raw=len(block))
                if self._throttle is not None:
                    self._throttle.take(len(block), cancelled=self._cancel)
                if current.raw_bytes >= limit:
                    self._finish_chunk(plan, part, current)
                    current = None
                    part += 1
            if self._cancel.is_set():
                raise Interrupted("export cancelled")
            if current is None and part == 0:
                current = self._open_chunk(plan, part)  # an empty range still gets a file
            if current is not None:
                self._finish_chunk(plan, part, current)
                current = None
        except ServerError as exc:
            if exc.code == 1412:
                raise ConsistencyError(
                    f"{table.label} was altered during the export (table definition changed)",
                    hint="run the export again; DDL on dumped tables waits only once guarded",
                ) from exc
            raise
        finally:
            if current is not None:
                current.abort()
        self.progress.add(chunks=1)

    def _open_chunk(self, plan: ChunkPlan, part: int) -> ChunkFile:
        suffix = CHUNK_SUFFIX[FORMAT_VERSION]
        path = (
            f"{table_dir(plan.table.schema, plan.table.name)}/{plan.ordinal:06d}-{part:04d}{suffix}"
        )
        return ChunkFile(
            self.storage, path, level=self.config.compress_level, recipients=self.seal.recipients
        )

    def _finish_chunk(self, plan: ChunkPlan, part: int, chunk: ChunkFile) -> None:
        stats = chunk.finish()
        with self._lock:
            self._written.append(_Written(plan, part, stats))
        self.progress.add(stored=stats.stored_bytes)

    def _manifest(
        self,
        started: str,
        snapshot: Snapshot,
        schemas: list[DatabaseSchema],
        schema_files: dict[str, FileEntry],
        users: UsersEntry | None,
    ) -> Manifest:
        by_table: dict[tuple[str, str], list[_Written]] = {}
        for w in self._written:
            by_table.setdefault((w.plan.table.schema, w.plan.table.name), []).append(w)
        databases = []
        for schema in schemas:
            tables = []
            for table in schema.tables:
                written = sorted(
                    by_table.get((schema.name, table.name), []),
                    key=lambda w: (w.plan.ordinal, w.part),
                )
                tables.append(_table_entry(table, written, bounds=self.seal.recipients is None))
            objs = schema.objects
            databases.append(
                DatabaseEntry(
                    name=schema.name,
                    schema_file=schema_files[schema.name],
                    tables=tables,
                    views=[o.name for o in objs if o.kind == "view"],
                    triggers=[o.name for o in objs if o.kind == "trigger"],
                    routines=[
                        f"{o.kind} {o.name}" for o in objs if o.kind in ("procedure", "function")
                    ],
                    events=[o.name for o in objs if o.kind == "event"],
                    left_out=self._left_out.get(schema.name, []),
                )
            )
        cfg = self.config
        recipients = self.seal.recipients
        return Manifest(
            tool_version=__version__,
            started_at=started,
            finished_at=_now(),
            server_flavor=snapshot.flavor,
            server_version=snapshot.version,
            snapshot=snapshot.info,
            session={"time_zone": "+00:00", "character_set": "utf8mb4", "sql_mode": DATA_SQL_MODE},
            options={
                "databases": list(cfg.databases),
                "all_databases": cfg.all_databases,
                "tables": list(cfg.tables),
                "exclude_tables": list(cfg.exclude_tables),
                "threads": cfg.threads,
                "consistency": cfg.consistency,
                "chunk_bytes": cfg.chunk_bytes,
                "batch_bytes": cfg.batch_bytes,
                "compress_level": cfg.compress_level,
                "strip_definers": cfg.strip_definers,
                "routines": cfg.with_routines,
                "events": cfg.with_events,
                "where": cfg.where,  # the operator's row filters, for people (inspect)
                "table_where": [list(pair) for pair in cfg.table_where],
                "no_data": cfg.no_data,
                "max_rate": cfg.max_rate,
                "storage": self.storage.settings(),  # S3 region/encryption/class; no secrets
                "users": cfg.users,
                "include_users": list(cfg.include_users),
                "exclude_users": list(cfg.exclude_users),
            },
            databases=databases,
            encryption=(
                Encryption(scheme="age", recipients=list(recipients.names))
                if recipients is not None
                else None
            ),
            users=users,
        )

    def _cleanup(self) -> None:
        """Best-effort removal of everything this run wrote. The destination
        was empty when the export began (``ensure_empty``), so whatever it holds
        now is ours: clearing it also catches a file renamed into place just as
        Ctrl-C arrived, and local temp files. Without a manifest the
        files are unusable anyway, and a full disk needs the space back."""
        try:
            self.storage.clear()
        except OsidumpError as exc:
            log.warning("could not clean up %s: %s", self.storage.describe(), exc.message)


def _table_entry(table: Table, written: list[_Written], *, bounds: bool) -> TableEntry:
    """``bounds``: record each chunk's key range (key values: never when encrypted)."""
    chunks = [
        ChunkEntry(
            index=i,
            path=w.stats.path,
            rows=w.stats.rows,
            raw_bytes=w.stats.raw_bytes,
            stored_bytes=w.stats.stored_bytes,
            sha256=w.stats.sha256,
            content_sha256=w.stats.content_sha256,
            lower=list(w.plan.lower) if bounds and w.plan.lower is not None else None,
            upper=list(w.plan.upper) if bounds and w.plan.upper is not None else None,
            max_row_bytes=w.stats.max_row_bytes,
        )
        for i, w in enumerate(written)
    ]
    return TableEntry(
        name=table.name,
        columns=[
            ColumnEntry(
                name=c.name,
                type=c.column_type,
                generated=c.generated,
                kind=None if c.generated else column_kind(c),
            )
            for c in table.columns
        ],
        key=list(table.key),
        key_kind=table.key_kind,
        chunks=chunks,
    )


def run_export(
    connection: ConnectionConfig,
    config: ExportConfig,
    storage: Storage,
    *,
    progress: ExportProgress | None = None,
    on_start: Callable[[Export], None] | None = None,
    seal: ExportSeal = NO_SEAL,
) -> Manifest:
    job = Export(connection, config, storage, progress=progress, seal=seal)
    if on_start is not None:
        on_start(job)
    started = time.monotonic()
    manifest = job.run()
    log.info("export finished in %.1f s", time.monotonic() - started)
    return manifest
