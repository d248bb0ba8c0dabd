"""``inspect``: a readable summary of a dump, from its manifest and schema files.

When a database holds a Laravel ``migrations`` table, its last batch and last
migration are read from the dump itself, so an operator can compare them with
``php artisan migrate:status`` before restoring.
"""

from __future__ import annotations

import json
from typing import Any

from .chunk_reader import ChunkReader
from .errors import OsidumpError
from .manifest import DatabaseEntry, Manifest, TableEntry, load_manifest
from .storage import Storage


def parse_values(statement: bytes) -> list[list[str | bytes | None]]:
    """Decode the tuples of one of osidump's own INSERT statements.

    Values are numbers, NULL, ``X'..'``/``_cs X'..'`` hex literals and quoted
    temporal text, none containing a comma or parenthesis, so splitting is exact
    for this format (and only for it). Hex literals come back as bytes.
    """
    values_at = statement.index(b") VALUES (") + len(b") VALUES (")
    body = statement[values_at:].rstrip(b";\n")
    if body.endswith(b")"):
        body = body[:-1]
    rows: list[list[str | bytes | None]] = []
    for tup in body.split(b"),("):
        row: list[str | bytes | None] = []
        for field in tup.split(b","):
            text = field.decode("utf-8")
            if text == "NULL":
                row.append(None)
            elif text.endswith("'") and ("X'" in text):
                row.append(bytes.fromhex(text[text.index("X'") + 2 : -1]))
            elif text.startswith("'") and text.endswith("'"):
                row.append(text[1:-1])
            else:
                row.append(text)
        rows.append(row)
    return rows


def laravel_migrations(storage: Storage, db: DatabaseEntry) -> dict[str, Any] | None:
    """Last batch and migration of a Laravel ``migrations`` table, if present."""
    try:
        table: TableEntry = db.table("migrations")
    except OsidumpError:
        return None
    names = [c.name for c in table.columns if not c.generated]
    if not {"migration", "batch"} <= set(names):
        return None
    mi, bi = names.index("migration"), names.index("batch")
    best: tuple[int, int, str] | None = None
    count = 0
    for chunk in table.chunks:
        reader = ChunkReader(storage, chunk, table="migrations", label=f"{db.name}.migrations")
        for i, statement in enumerate(reader.statements()):
            if i == 0:
                continue  # the session header
            for row in parse_values(statement):
                count += 1
                raw_name, raw_batch = row[mi], row[bi]
                name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
                batch = int(str(raw_batch)) if raw_batch is not None else 0
                key = (batch, count, name)
                if best is None or key > best:
                    best = key
        reader.check()
    if best is None:
        return {"migrations": 0, "last_batch": None, "last_migration": None}
    return {"migrations": count, "last_batch": best[0], "last_migration": best[2]}


def describe(storage: Storage, manifest: Manifest | None = None) -> dict[str, Any]:
    m = manifest or load_manifest(storage)
    databases = []
    for db in m.databases:
        tables = [
            {
                "name": t.name,
                "rows": t.rows,
                "chunks": len(t.chunks),
                "raw_bytes": t.raw_bytes,
                "stored_bytes": t.stored_bytes,
                "key": t.key,
            }
            for t in db.tables
        ]
        info: dict[str, Any] = {
            "name": db.name,
            "tables": tables,
            "views": db.views,
            "triggers": db.triggers,
            "routines": db.routines,
            "events": db.events,
            "rows": sum(t.rows for t in db.tables),
            "stored_bytes": sum(t.stored_bytes for t in db.tables),
        }
        laravel = laravel_migrations(storage, db)
        if laravel is not None:
            info["laravel"] = laravel
        databases.append(info)
    s = m.snapshot
    return {
        "location": storage.describe(),
        "format_version": m.format_version,
        "tool_version": m.tool_version,
        "started_at": m.started_at,
        "finished_at": m.finished_at,
        "server": {"flavor": m.server_flavor, "version": m.server_version},
        "consistency": {
            "mode": s.consistency,
            "reason": s.reason,
            "workers": s.workers,
            "lock_held_ms": s.lock_held_ms,
        },
        "snapshot_position": {
            "binlog_file": s.binlog_file,
            "binlog_position": s.binlog_position,
            "gtid": s.gtid_executed,
        },
        "options": m.options,
        "databases": databases,
    }


def to_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2)
