"""What a restore will do, computed before anything is touched.

``plan_restore`` reads only the manifest and the schema files (both verified),
and decides: which databases under which names, which tables, which chunks in
which order, which secondary indexes are built after the data, and which
views/triggers/routines/events follow. ``--dry-run`` prints this plan; the
restore executes exactly it (plan separate from execution, as litestream's
CalcRestorePlan).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .catalog import strip_definer
from .config import RestoreConfig
from .connection import quote_ident
from .errors import ConfigError, IntegrityError, ManifestError, ObjectNotFound
from .manifest import MANIFEST_NAME, ChunkEntry, Manifest, TableEntry
from .storage import Storage

_SECONDARY = re.compile(r"^\s+(?:(?:FULLTEXT|SPATIAL)\s+)?(?:KEY|INDEX)\s+`", re.I)


@dataclass(frozen=True)
class TablePlan:
    source_db: str
    target_db: str
    entry: TableEntry
    create_sql: str  # as dumped, or without the deferred indexes
    deferred_indexes: tuple[str, ...]  # "KEY `a` (`a`)" clauses added after the data

    @property
    def label(self) -> str:
        return f"{self.target_db}.{self.entry.name}"


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
    session: tuple[tuple[str, str], ...] = (("time_zone", "+00:00"),)
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> dict[str, Any]:
        return {
            "dump_id": self.dump_id,
            "partial": self.partial,
            "databases": [{"source": d.source, "target": d.target} for d in self.databases],
            "tables": [
                {
                    "table": t.label,
                    "source": f"{t.source_db}.{t.entry.name}",
                    "rows": t.entry.rows,
                    "chunks": len(t.entry.chunks),
                    "stored_bytes": t.entry.stored_bytes,
                    "deferred_indexes": list(t.deferred_indexes),
                }
                for t in self.tables
            ],
            "objects": [
                {"database": o.target_db, "kind": o.kind, "name": o.name} for o in self.objects
            ],
            "notes": list(self.notes),
        }


def split_secondary_indexes(create_sql: str) -> tuple[str, tuple[str, ...]]:
    """Take plain secondary indexes (KEY/INDEX/FULLTEXT/SPATIAL) out of a
    SHOW CREATE TABLE statement, to be added after the data. Primary and unique
    keys stay (they define identity); tables with foreign keys keep all their
    indexes (InnoDB would otherwise invent its own for the foreign keys)."""
    if "FOREIGN KEY" in create_sql.upper():
        return create_sql, ()
    lines = create_sql.split("\n")
    close = max(i for i, line in enumerate(lines) if line.startswith(")"))
    body = lines[1:close]
    kept: list[str] = []
    deferred: list[str] = []
    for line in body:
        clause = line.rstrip().rstrip(",")
        if _SECONDARY.match(line):
            deferred.append(clause.strip())
        else:
            kept.append(clause)
    if not deferred or not kept:
        return create_sql, ()
    rebuilt = "\n".join([lines[0], ",\n".join(kept), *lines[close:]])
    return rebuilt, tuple(deferred)


def _rename_db(sql: str, source: str, target: str) -> str:
    """Point schema-qualified references at the new database name. SHOW CREATE
    VIEW qualifies every table with its schema, so a view restored under another
    name would otherwise read the original database."""
    if source == target:
        return sql
    return sql.replace(quote_ident(source) + ".", quote_ident(target) + ".")


def _load_schema(storage: Storage, manifest: Manifest, db: str) -> dict[str, Any]:
    entry = manifest.database(db).schema_file
    try:
        data = storage.get(entry.path)
    except ObjectNotFound as exc:
        raise IntegrityError(f"schema file {entry.path} is missing from the dump") from exc
    if hashlib.sha256(data).hexdigest() != entry.sha256 or len(data) != entry.bytes:
        raise IntegrityError(f"schema file {entry.path} does not match the manifest's sha256")
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ManifestError(f"schema file {entry.path} is not valid JSON") from exc
    if not isinstance(doc, dict) or doc.get("format") != "osidump-schema":
        raise ManifestError(f"schema file {entry.path} is not an osidump schema file")
    return doc


_SESSION_VALUE = re.compile(r"^[A-Za-z0-9_,:+-]*$")


def data_session(recorded: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The session settings the data was dumped under (manifest ``session``),
    validated: only the known variables, only plain values."""
    wanted = {"time_zone": "+00:00", "sql_mode": "NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION"}
    out = []
    for name, default in wanted.items():
        value = str(recorded.get(name, default))
        if not _SESSION_VALUE.match(value):
            raise ManifestError(f"manifest session {name} has an unexpected value {value!r}")
        out.append((name, value))
    charset = str(recorded.get("character_set", "utf8mb4"))
    if charset != "utf8mb4":
        raise ManifestError(f"manifest session character set {charset!r} is not supported")
    return tuple(out)


def select_tables(manifest: Manifest, patterns: tuple[str, ...]) -> dict[str, list[str]]:
    """Tables to restore per source database. A pattern is ``table`` or
    ``db.table``; every pattern must match something in the dump."""
    from .catalog import matches

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


def plan_restore(storage: Storage, manifest: Manifest, config: RestoreConfig) -> RestorePlan:
    manifest_bytes = storage.get(MANIFEST_NAME)
    dump_id = hashlib.sha256(manifest_bytes).hexdigest()
    chosen = select_tables(manifest, config.tables)
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
    databases: list[DatabasePlan] = []
    tables: list[TablePlan] = []
    objects: list[ObjectPlan] = []
    notes: list[str] = []
    for source, names in chosen.items():
        target = config.database or source
        doc = _load_schema(storage, manifest, source)
        create_db = str(doc.get("create_database", ""))
        create_db = re.sub(
            r"^CREATE DATABASE\s+`(?:[^`]|``)*`",
            f"CREATE DATABASE IF NOT EXISTS {quote_ident(target)}",
            create_db,
            count=1,
        )
        if not create_db.startswith("CREATE DATABASE IF NOT EXISTS"):
            create_db = f"CREATE DATABASE IF NOT EXISTS {quote_ident(target)}"
        databases.append(DatabasePlan(source=source, target=target, create_sql=create_db))
        creates = {str(t["name"]): str(t["create_sql"]) for t in doc.get("tables", [])}
        db_entry = manifest.database(source)
        for name in names:
            entry = db_entry.table(name)
            if name not in creates:
                raise ManifestError(f"schema file of {source} has no definition for {name}")
            create = creates[name]
            deferred: tuple[str, ...] = ()
            if config.defer_indexes:
                create, deferred = split_secondary_indexes(create)
            tables.append(TablePlan(source, target, entry, create, deferred))
        for obj in doc.get("objects", []):
            kind = str(obj["kind"])
            if partial and not (kind == "trigger" and obj.get("table") in names):
                continue
            create = _rename_db(str(obj["create_sql"]), source, target)
            if config.strip_definers:
                create = strip_definer(create)
            objects.append(
                ObjectPlan(
                    target_db=target,
                    kind=kind,
                    name=str(obj["name"]),
                    create_sql=create,
                    sql_mode=obj.get("sql_mode"),
                    character_set_client=obj.get("character_set_client"),
                    collation_connection=obj.get("collation_connection"),
                    time_zone=obj.get("time_zone"),
                )
            )
        if partial:
            notes.append(f"partial restore of {source}: views, routines and events are skipped")
    # Chunks: largest tables first, interleaved round-robin so parallel workers
    # spread over tables instead of queueing on one.
    ordered = sorted(tables, key=lambda t: -t.entry.stored_bytes)
    queues = [[ChunkJob(t, c) for c in t.entry.chunks] for t in ordered]
    chunks: list[ChunkJob] = []
    while any(queues):
        for q in queues:
            if q:
                chunks.append(q.pop(0))
    # Routines first: a view may call a function, and CREATE VIEW checks it exists.
    kinds = {"procedure": 0, "function": 0, "view": 1, "trigger": 2, "event": 3}
    objects.sort(key=lambda o: kinds.get(o.kind, 9))  # stable: views keep dependency order
    return RestorePlan(
        dump_id=dump_id,
        session=data_session(manifest.session),
        databases=tuple(databases),
        tables=tuple(tables),
        chunks=tuple(chunks),
        objects=tuple(objects),
        partial=partial,
        notes=tuple(notes),
    )
