"""What a restore will do, computed and checked before anything is touched.

``plan_restore`` reads only the manifest, the schema files and, with
``--users``, ``users.json`` (each verified against its digest), and decides:
which databases under which names, which tables, which chunks in which order,
which secondary indexes and foreign keys are added after the data, which
views/triggers/routines/events follow, and which accounts come last.
``--dry-run`` prints this plan; the restore executes exactly it (plan separate
from execution, as litestream's CalcRestorePlan). ``verify`` builds the same
plan, so it refuses what restore would refuse.

A dump is untrusted input, so this is also where it is validated: every
statement a schema file carries is parsed and checked (``ddl.py``) - the
statement kind matches the object, the name matches, nothing after it, no
database outside the restore named, no engine or option that reaches outside
the server's data - and the tables' columns must be the manifest's. Data never
becomes SQL text chosen by the dump: chunks are loaded with statements built
here from validated names (``tsv.py``, ``sql_chunk.py``). Accounts pass
``users.Account.from_dict`` (``format/users_file.py``): one account's own
CREATE USER/ROLE and GRANTs, passwords only as hashes.

Every table is loaded into a shadow table (``osidump_new_<digest>``) created
without its secondary indexes and foreign keys and without any trigger, and
swapped in by one RENAME TABLE at the end (``apply.py``): the target's tables
are not touched until the new data is complete, and no trigger of the target
can fire on a restored row.

Modes: ``--schema-only`` plans no chunks (tables, indexes, foreign keys and
objects as usual). ``--data-only`` plans only chunks, loaded straight into the
target's existing tables (``TablePlan.direct``) under ``--insert-mode``, with
no DDL at all; it has a restore id of its own, so ``--resume`` never mixes its
progress with a full restore's of the same dump.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..config import RestoreConfig
from ..connection import quote_ident
from ..errors import ConfigError, ManifestError, ObjectNotFound
from ..export.catalog import matches, strip_definer
from ..format.ddl import (
    OBJECT_KINDS,
    CreateTable,
    UnsafeStatement,
    check_object,
    database_options,
    foreign_key_tables,
    parse_create_table,
    rename_database,
)
from ..format.dump_files import read_checked
from ..format.manifest import (
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MAX_SCHEMA_BYTES,
    ChunkEntry,
    Manifest,
    TableEntry,
    read_bounded,
)
from ..format.tsv import LoadColumn
from ..format.users_file import read_users
from ..server_compat import SYSTEM_SCHEMAS
from ..storage.base import Storage
from ..users import Account, select_accounts, unmatched_pattern
from .schedule import schedule

SHADOW_PREFIX = "osidump_new_"
OLD_PREFIX = "osidump_old_"
INDEX_KINDS = frozenset({"index", "fulltext", "spatial"})
FOREIGN_KINDS = frozenset({"foreign"})
# The data session of every load: UTC, strict (a value the column cannot hold
# fails the chunk instead of being changed), zero stays zero in AUTO_INCREMENT
# columns, and no storage engine is swapped in silently.
DATA_SESSION = (
    ("time_zone", "+00:00"),
    ("sql_mode", "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"),
)


@dataclass(frozen=True)
class TablePlan:
    source_db: str
    target_db: str
    entry: TableEntry
    create: CreateTable  # the dumped statement, parsed
    shadow: str  # loaded under this name, then swapped in
    old: str  # the target's table moves here at the swap, then is dropped
    encoding: str  # "tsv" (version 2) or "sql" (version 1)
    defer_indexes: bool = True
    direct: bool = False  # --data-only: into the existing table, no shadow
    insert_mode: str = "error"  # --data-only: error | ignore | replace

    @property
    def load_table(self) -> str:
        """The table the chunks load into (in the target database)."""
        return self.entry.name if self.direct else self.shadow

    @property
    def label(self) -> str:
        return f"{self.target_db}.{self.entry.name}"

    @property
    def columns(self) -> tuple[LoadColumn, ...]:
        """The stored columns in chunk order, as LOAD DATA targets them."""
        return tuple(
            LoadColumn(c.name, c.kind or "text") for c in self.entry.columns if not c.generated
        )

    @property
    def deferred(self) -> frozenset[str]:
        return (INDEX_KINDS if self.defer_indexes else frozenset()) | FOREIGN_KINDS

    def shadow_sql(self) -> str:
        """CREATE TABLE of the shadow: the dump's definition without the
        deferred clauses, its AUTO_INCREMENT counter as dumped."""
        return self.create.build(self.shadow, without=self.deferred)

    @property
    def index_clauses(self) -> tuple[str, ...]:
        if not self.defer_indexes:
            return ()
        return tuple(d.text for d in self.create.clauses(INDEX_KINDS))

    @property
    def fulltext_clauses(self) -> tuple[str, ...]:
        return tuple(d.text for d in self.create.clauses(frozenset({"fulltext"})))

    @property
    def foreign_keys(self) -> tuple[str, ...]:
        return tuple(
            rename_database(d.text, self.source_db, self.target_db)
            for d in self.create.clauses(FOREIGN_KINDS)
        )


@dataclass(frozen=True)
class ChunkJob:
    table: TablePlan
    chunk: ChunkEntry

    @property
    def item(self) -> str:
        return f"chunk:{self.chunk.path}"

    @property
    def label(self) -> str:
        return f"{self.table.label} chunk {self.chunk.index} ({self.chunk.path})"


@dataclass(frozen=True)
class ObjectPlan:
    target_db: str
    kind: str
    name: str
    create_sql: str
    sql_mode: str | None
    character_set_client: str | None
    collation_connection: str | None
    time_zone: str | None = None
    table: str | None = None


@dataclass(frozen=True)
class DatabasePlan:
    source: str
    target: str
    create_sql: str


@dataclass(frozen=True)
class RestorePlan:
    dump_id: str
    databases: tuple[DatabasePlan, ...]
    tables: tuple[TablePlan, ...]
    chunks: tuple[ChunkJob, ...]
    objects: tuple[ObjectPlan, ...]
    partial: bool
    encoding: str = "tsv"
    mode: str = "full"  # "full" | "schema" (--schema-only) | "data" (--data-only)
    session: tuple[tuple[str, str], ...] = DATA_SESSION
    notes: tuple[str, ...] = field(default=())
    # --users: the dump's accounts (validated, filtered), applied after the objects.
    accounts: tuple[Account, ...] = ()

    def summary(self) -> dict[str, Any]:
        return {
            "dump_id": self.dump_id,
            "partial": self.partial,
            "encoding": self.encoding,
            "mode": self.mode,
            "databases": [{"source": d.source, "target": d.target} for d in self.databases],
            "tables": [
                {
                    "table": t.label,
                    "source": f"{t.source_db}.{t.entry.name}",
                    "rows": 0 if self.mode == "schema" else t.entry.rows,
                    "chunks": 0 if self.mode == "schema" else len(t.entry.chunks),
                    "stored_bytes": t.entry.stored_bytes,
                    "deferred_indexes": list(t.index_clauses),
                    "foreign_keys": list(t.foreign_keys),
                }
                for t in self.tables
            ],
            "objects": [
                {"database": o.target_db, "kind": o.kind, "name": o.name} for o in self.objects
            ],
            "accounts": [
                {"account": a.label(), "role": a.is_role, "grants": len(a.grants)}
                for a in self.accounts
            ],
            "notes": list(self.notes),
        }


def hidden_name(prefix: str, dump_id: str, db: str, table: str) -> str:
    """A name for a table's shadow (or its retired original) that is the same
    on every run of the same restore, so ``--resume`` finds it."""
    digest = hashlib.sha256(f"{dump_id}\0{db}\0{table}".encode()).hexdigest()[:20]
    return prefix + digest


def _schema_doc(storage: Storage, manifest: Manifest, db: str) -> dict[str, Any]:
    """The schema file of ``db``, checked against its digest and its shape
    (the digest is of the stored bytes; an encrypted one is decrypted after)."""
    entry = manifest.database(db).schema_file
    data = read_checked(storage, manifest, entry, limit=MAX_SCHEMA_BYTES, what="schema file")
    try:
        doc = json.loads(data)
    except RecursionError as exc:
        raise ManifestError(f"schema file {entry.path} is nested too deeply") from exc
    except ValueError as exc:
        raise ManifestError(f"schema file {entry.path} is not valid JSON") from exc
    where = f"schema file {entry.path}"
    if not isinstance(doc, dict) or doc.get("format") != "osidump-schema":
        raise ManifestError(f"{where} is not an osidump schema file")
    if doc.get("database") != db or not isinstance(doc.get("create_database"), str):
        raise ManifestError(f"{where}: database or create_database is missing or wrong")
    tables = doc.get("tables")
    if not isinstance(tables, list) or not all(
        isinstance(t, dict)
        and isinstance(t.get("name"), str)
        and isinstance(t.get("create_sql"), str)
        for t in tables
    ):
        raise ManifestError(f"{where}: tables must be a list of {{name, create_sql}}")
    objects = doc.get("objects", [])
    if not isinstance(objects, list):
        raise ManifestError(f"{where}: objects must be a list")
    for obj in objects:
        if not isinstance(obj, dict) or obj.get("kind") not in OBJECT_KINDS:
            raise ManifestError(f"{where}: an object has no known kind")
        for key in ("name", "create_sql"):
            if not isinstance(obj.get(key), str):
                raise ManifestError(f"{where}: {obj['kind']} without {key}")
        for key in (
            "sql_mode",
            "character_set_client",
            "collation_connection",
            "table",
            "time_zone",
        ):
            if obj.get(key) is not None and not isinstance(obj.get(key), str):
                raise ManifestError(
                    f"{where}: {obj['kind']} {obj['name']!r} field {key} is not text"
                )
    return doc


def select_tables(manifest: Manifest, patterns: tuple[str, ...]) -> dict[str, list[str]]:
    """Tables to restore per source database. A pattern is ``table`` or
    ``db.table``; every pattern must match something in the dump."""
    chosen: dict[str, list[str]] = {}
    for db in manifest.databases:
        names = [t.name for t in db.tables]
        if patterns:
            names = [n for n in names if matches(patterns, db.name, n)]
        if names or not patterns:
            chosen[db.name] = names
    for pattern in patterns:
        if not any(matches((pattern,), db, t) for db, ts in chosen.items() for t in ts):
            raise ObjectNotFound(
                f"table {pattern!r} is not in this dump",
                hint="`osidump inspect` lists the dump's tables",
            )
    return chosen


_SESSION_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_,:+-/")


def _session_value(value: str | None, what: str) -> str | None:
    """A recorded sql_mode, character set or time zone of an object: plain
    words only (they are passed as parameters, never as SQL text)."""
    if value is None:
        return None
    if len(value) > 512 or not set(value) <= _SESSION_NAME:
        raise UnsafeStatement(f"schema file: {what} has an unexpected session value {value[:40]!r}")
    return value


def plan_accounts(
    storage: Storage, manifest: Manifest, config: RestoreConfig
) -> tuple[tuple[Account, ...], list[str]]:
    """``--users``: the dump's accounts, read, validated and filtered; without
    it none, and a note when the dump has some."""
    entry = manifest.users
    if not config.users:
        if entry is None or not entry.accounts:
            return (), []
        n = entry.accounts
        return (), [
            f"the dump holds {n} account{'s' if n != 1 else ''} (export --users), not"
            " restored: restore --users applies them"
        ]
    if entry is None:
        raise ConfigError(
            "this dump holds no accounts (it was exported without --users)",
            hint="restore without --users, or take a new export with --users",
        )
    accounts = read_users(storage, manifest)
    missing = unmatched_pattern(accounts, config.include_users)
    if missing is not None:
        raise ObjectNotFound(
            f"no account of this dump matches --include-users {missing!r}",
            hint="`osidump restore --users --dry-run` lists the dump's accounts",
        )
    chosen = select_accounts(accounts, config.include_users, config.exclude_users)
    notes = []
    if len(chosen) < len(accounts):
        notes.append(
            f"{len(accounts) - len(chosen)} of the dump's {len(accounts)} accounts left out"
            " (--include-users/--exclude-users)"
        )
    return tuple(chosen), notes


def plan_restore(storage: Storage, manifest: Manifest, config: RestoreConfig) -> RestorePlan:
    manifest_bytes = read_bounded(storage, MANIFEST_NAME, MAX_MANIFEST_BYTES)
    mode = "schema" if config.schema_only else "data" if config.data_only else "full"
    # A restore's id keys its progress markers and shadow names: each mode its
    # own, so --resume of one never skips chunks another loaded elsewhere.
    dump_id = hashlib.sha256(manifest_bytes + ("" if mode == "full" else mode).encode()).hexdigest()
    if mode == "data" and manifest.options.get("no_data") is True:
        raise ConfigError(
            "this dump holds no rows (exported with --no-data)",
            hint="restore it without --data-only to create the tables and objects",
        )
    chosen = {} if config.users_only else select_tables(manifest, config.tables)
    if config.source_databases:
        missing = set(config.source_databases) - {d.name for d in manifest.databases}
        if missing:
            raise ObjectNotFound(f"database {sorted(missing)[0]!r} is not in this dump")
        chosen = {db: ts for db, ts in chosen.items() if db in config.source_databases}
    if config.database and len(chosen) > 1:
        raise ConfigError(
            f"--database renames one database, but the selection spans {len(chosen)}: "
            + ", ".join(sorted(chosen)),
            hint="add --tables db.table to pick tables of one database",
        )
    partial = bool(config.tables)
    accounts, account_notes = plan_accounts(storage, manifest, config)
    targets = {source: config.database or source for source in chosen}
    # Dotted names may start with a database being restored (under its own
    # name); every other database of the dump, and the system schemas, are
    # outside the restore.
    restored_as_is = {s for s, t in targets.items() if s == t}
    refused_base = frozenset(
        {s.lower() for s in SYSTEM_SCHEMAS}
        | {d.name.lower() for d in manifest.databases if d.name not in restored_as_is}
    )
    databases: list[DatabasePlan] = []
    tables: list[TablePlan] = []
    objects: list[ObjectPlan] = []
    notes: list[str] = []
    for source, names in chosen.items():
        target = targets[source]
        refused = refused_base - {source.lower(), target.lower()}
        doc = _schema_doc(storage, manifest, source)
        charset, collation = database_options(doc["create_database"], name=source)
        create_db = f"CREATE DATABASE IF NOT EXISTS {quote_ident(target)}"
        if charset:
            create_db += f" CHARACTER SET {charset}"
        if collation:
            create_db += f" COLLATE {collation}"
        databases.append(DatabasePlan(source=source, target=target, create_sql=create_db))
        creates = {str(t["name"]): str(t["create_sql"]) for t in doc["tables"]}
        db_entry = manifest.database(source)
        restoring = set(names)
        for name in names:
            entry = db_entry.table(name)
            if name not in creates:
                raise ManifestError(f"schema file of {source} has no definition for {name}")
            create = parse_create_table(creates[name], name=name, refused=refused)
            if sorted(create.columns) != sorted(c.name for c in entry.columns):
                raise UnsafeStatement(
                    f"schema file: table {name!r} has columns other than the manifest lists"
                )
            for fk in create.clauses(FOREIGN_KINDS):
                for parts in foreign_key_tables(fk):
                    if len(parts) > 1 and parts[0] not in (source, *restored_as_is):
                        raise UnsafeStatement(
                            f"schema file: table {name!r} has a foreign key into database"
                            f" {parts[0]!r}, outside the restore"
                        )
            tables.append(
                TablePlan(
                    source_db=source,
                    target_db=target,
                    entry=entry,
                    create=create,
                    shadow=hidden_name(SHADOW_PREFIX, dump_id, target, name),
                    old=hidden_name(OLD_PREFIX, dump_id, target, name),
                    encoding=manifest.encoding,
                    defer_indexes=config.defer_indexes,
                    direct=config.data_only,
                    insert_mode=config.insert_mode,
                )
            )
        skipped: dict[str, int] = {}
        for obj in doc["objects"]:
            kind = str(obj["kind"])
            oname = str(obj["name"])
            table = obj.get("table")
            check_object(
                kind=kind,
                name=oname,
                sql=str(obj["create_sql"]),
                database=source,
                tables=frozenset(creates),
                table=table,
                refused=refused,
            )
            wanted = {
                "view": config.views and not partial,
                "trigger": config.triggers and (not partial or table in restoring),
                "procedure": config.routines and not partial,
                "function": config.routines and not partial,
                "event": config.events and not partial,
            }[kind]
            if kind == "trigger" and table not in restoring:
                wanted = False
            if config.data_only:
                wanted = False
            if not wanted:
                skipped[kind] = skipped.get(kind, 0) + 1
                continue
            create_sql = rename_database(str(obj["create_sql"]), source, target)
            if config.strip_definers:
                create_sql = strip_definer(create_sql)
            label = f"{kind} {oname!r}"
            objects.append(
                ObjectPlan(
                    target_db=target,
                    kind=kind,
                    name=oname,
                    create_sql=create_sql,
                    sql_mode=_session_value(obj.get("sql_mode"), label),
                    character_set_client=_session_value(obj.get("character_set_client"), label),
                    collation_connection=_session_value(obj.get("collation_connection"), label),
                    time_zone=_session_value(obj.get("time_zone"), label),
                    table=table,
                )
            )
        if skipped:
            what = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in sorted(skipped.items()))
            why = "partial restore or --no-* options" if partial else "--no-* options"
            why = "--data-only" if config.data_only else why
            notes.append(f"{source}: skipped {what} ({why})")
    if manifest.options.get("where") or manifest.options.get("table_where"):
        notes.append("the dump holds only the rows its export's --where selected (see inspect)")
    renamed = sorted(s for s, t in targets.items() if s != t)
    if accounts and renamed:
        notes.append(
            f"the accounts' grants name databases as dumped ({', '.join(renamed)}),"
            " not as restored under --database"
        )
    notes.extend(account_notes)
    # Chunks: in the order that keeps every loader busy to the end (schedule.py).
    chunks: list[ChunkJob] = []
    if mode != "schema":
        jobs = [[ChunkJob(t, c) for c in t.entry.chunks] for t in tables]
        chunks = schedule(jobs, config.threads)
    # Routines first: a view may call a function, and CREATE VIEW checks it exists.
    kinds = {"procedure": 0, "function": 0, "view": 1, "trigger": 2, "event": 3}
    objects.sort(key=lambda o: kinds.get(o.kind, 9))  # stable: views keep dependency order
    return RestorePlan(
        dump_id=dump_id,
        databases=tuple(databases),
        tables=tuple(tables),
        chunks=tuple(chunks),
        objects=tuple(objects),
        partial=partial,
        encoding=manifest.encoding,
        mode=mode,
        notes=tuple(notes),
        accounts=accounts,
    )


def check_server_databases(plan: RestorePlan, existing: set[str]) -> None:
    """Refuse the plan if a statement names a database of the target server
    outside the restore (verify cannot know the target's databases; restore
    checks again against them before it touches anything)."""
    allowed = {d.target.lower() for d in plan.databases}
    refused = frozenset(name.lower() for name in existing) - allowed
    if not refused:
        return
    for t in plan.tables:
        parse_create_table(t.create.build(t.entry.name), name=t.entry.name, refused=refused)
    for o in plan.objects:
        tables = frozenset(t.entry.name for t in plan.tables if t.target_db == o.target_db)
        check_object(
            kind=o.kind,
            name=o.name,
            sql=o.create_sql,
            database=o.target_db,
            tables=tables | ({o.table} if o.table else frozenset()),
            table=o.table,
            refused=refused,
        )
