"""``inspect``: a readable summary of a dump, from its manifest and schema files.

When a database holds a Laravel ``migrations`` table, its last batch and last
migration are read from the dump itself, so an operator can compare them with
``php artisan migrate:status`` before restoring. That peek reads chunks, so in
an encrypted dump it needs the identity; without one it is skipped with a
note, and everything else still comes from the (plaintext) manifest. With
verify keys the signature is checked before anything else is read.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ObjectNotFound, OsidumpError
from ..format.chunk_reader import V1_MAX_LINE, V2_MAX_HELD_ROW, ChunkStream
from ..format.manifest import DatabaseEntry, Manifest, TableEntry, load_manifest
from ..format.sql_chunk import parse_values
from ..format.tsv import LoadColumn, decode_row, load_data_sql
from ..seal import NO_KEYS, ReadKeys
from ..seal.opening import open_dump
from ..storage.base import Storage
from .plan import DATA_SESSION


def _rows(storage: Storage, manifest: Manifest, db: str, table: TableEntry) -> Any:
    """Every row of a (small) table, decoded, each chunk verified."""
    width = len([c for c in table.columns if not c.generated])
    for chunk in table.chunks:
        label = f"{db}.{table.name} chunk {chunk.index}"
        if manifest.encoding == "tsv":
            stream = ChunkStream(storage, chunk, label=label, max_row=int(chunk.max_row_bytes or 0))
            with stream:
                for line in stream.lines(min(int(chunk.max_row_bytes or 0), V2_MAX_HELD_ROW)):
                    yield decode_row(line, width, where=label)
            stream.finish()
        else:
            stream = ChunkStream(storage, chunk, label=label, max_row=V1_MAX_LINE)
            rows = 0
            with stream:
                for i, line in enumerate(stream.lines(V1_MAX_LINE)):
                    if i == 0:
                        continue  # the session header
                    values = parse_values(line)
                    rows += len(values)
                    yield from values
            stream.finish(rows=rows)


def laravel_migrations(
    storage: Storage, db: DatabaseEntry, manifest: Manifest | None = None
) -> dict[str, Any] | None:
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
    for row in _rows(storage, manifest or load_manifest(storage), db.name, table):
        count += 1
        raw_name, raw_batch = row[mi], row[bi]
        name = raw_name.decode("utf-8", "replace") if isinstance(raw_name, bytes) else str(raw_name)
        batch_text = raw_batch.decode() if isinstance(raw_batch, bytes) else str(raw_batch)
        batch = int(batch_text) if raw_batch is not None and batch_text.lstrip("-").isdigit() else 0
        key = (batch, count, name)
        if best is None or key > best:
            best = key
    if best is None:
        return {"migrations": 0, "last_batch": None, "last_migration": None}
    return {"migrations": count, "last_batch": best[0], "last_migration": best[2]}


def _printable(text: str) -> str:
    """Recorded text as one safe line: control characters escaped (a dump is
    untrusted; a terminal must not receive its escape sequences)."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def row_filters(options: dict[str, Any]) -> list[dict[str, str]]:
    """The export's ``--where`` conditions as recorded: text for people, never
    run (restore does not read them)."""
    out: list[dict[str, str]] = []
    if isinstance(options.get("where"), str):
        out.append({"tables": "*", "where": _printable(options["where"])})
    for pair in options.get("table_where") or []:
        if isinstance(pair, list) and len(pair) == 2:
            out.append({"tables": _printable(str(pair[0])), "where": _printable(str(pair[1]))})
    return out


def describe(storage: Storage, *, keys: ReadKeys = NO_KEYS) -> dict[str, Any]:
    opened = open_dump(storage, keys, decrypt=keys.identities is not None)
    m, storage = opened.manifest, opened.storage
    notes: list[str] = []
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
            "left_out": db.left_out,
            "rows": sum(t.rows for t in db.tables),
            "stored_bytes": sum(t.stored_bytes for t in db.tables),
        }
        if not opened.readable:
            if any(t.name == "migrations" for t in db.tables):
                notes.append(
                    f"{db.name}: Laravel migrations not read: the dump is encrypted "
                    "(pass --identity to read them)"
                )
        elif (laravel := laravel_migrations(storage, db, m)) is not None:
            info["laravel"] = laravel
        databases.append(info)
    s = m.snapshot
    return {
        "location": storage.describe(),
        "format_version": m.format_version,
        "encoding": m.encoding,
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
        "seal": opened.seal_summary(),
        "row_filters": row_filters(m.options),
        "no_data": m.options.get("no_data") is True,
        "users": (
            {
                "accounts": m.users.accounts,
                "include": [_printable(str(p)) for p in m.options.get("include_users") or []],
                "exclude": [_printable(str(p)) for p in m.options.get("exclude_users") or []],
            }
            if m.users is not None
            else None
        ),
        "databases": databases,
        "notes": notes,
    }


def to_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2)


def load_data_statement(storage: Storage, name: str, manifest: Manifest | None = None) -> str:
    """The LOAD DATA statement for one table's chunks, for the stock client
    reading a chunk on standard input (docs/FORMAT.md). ``manifest``: one
    already loaded (and its signature checked)."""
    manifest = manifest or load_manifest(storage)
    if manifest.encoding != "tsv":
        raise ObjectNotFound(
            "this is a version-1 dump: its chunks are SQL (zstd -dc CHUNK | mariadb DB)",
            hint="see docs/FORMAT.md",
        )
    db_name, _, table_name = name.rpartition(".")
    candidates = [d for d in manifest.databases if not db_name or d.name == db_name]
    for db in candidates:
        for table in db.tables:
            if table.name == table_name:
                columns = [
                    LoadColumn(c.name, c.kind or "text") for c in table.columns if not c.generated
                ]
                # TIMESTAMP values are in UTC; strict: a value that does not fit fails.
                session = ", ".join(f"{k} = '{v}'" for k, v in DATA_SESSION)
                load = load_data_sql(table.name, columns, file="/dev/stdin")
                return f"SET SESSION {session}; {load}"
    raise ObjectNotFound(f"table {name!r} is not in this dump")
