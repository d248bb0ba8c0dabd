"""Editing a dump as an attacker who can write the backup location would:
change a chunk or a schema file, then recompute every digest and size in the
manifest so that checksums alone cannot tell (a named test tool, not a fake)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zstandard


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / "manifest.json").read_text())


def _save(root: Path, doc: dict[str, Any]) -> None:
    (root / "manifest.json").write_text(json.dumps(doc, indent=1))


def edit_manifest(root: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    doc = _manifest(root)
    fn(doc)
    _save(root, doc)


def rewrite_chunk(root: Path, path: str, fn: Callable[[bytes], bytes], *, rows: int | None = None) -> None:
    """Replace the content of chunk ``path`` by ``fn(content)`` and reseal."""
    doc = _manifest(root)
    file = root / path
    content = zstandard.ZstdDecompressor().stream_reader(file.read_bytes()).read()
    new = fn(content)
    stored = zstandard.ZstdCompressor().compress(new)
    file.write_bytes(stored)
    for db in doc["databases"]:
        for table in db["tables"]:
            for chunk in table["chunks"]:
                if chunk["path"] != path:
                    continue
                chunk.update(
                    sha256=hashlib.sha256(stored).hexdigest(),
                    stored_bytes=len(stored),
                    content_sha256=hashlib.sha256(new).hexdigest(),
                    raw_bytes=len(new),
                )
                if rows is not None:
                    chunk["rows"] = rows
                elif doc["format_version"] >= 2:
                    chunk["rows"] = new.count(b"\n")
                if doc["format_version"] >= 2:
                    chunk["max_row_bytes"] = max(len(line) + 1 for line in new.split(b"\n"))
    _save(root, doc)


def rewrite_schema(root: Path, database: str, fn: Callable[[dict[str, Any]], None]) -> None:
    """Edit the schema file of ``database`` (as parsed JSON) and reseal."""
    doc = _manifest(root)
    for db in doc["databases"]:
        if db["name"] != database:
            continue
        file = root / db["schema_file"]["path"]
        schema = json.loads(file.read_text())
        fn(schema)
        data = (json.dumps(schema, indent=1) + "\n").encode()
        file.write_bytes(data)
        db["schema_file"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    _save(root, doc)


def first_chunk(root: Path, table: str) -> str:
    for db in _manifest(root)["databases"]:
        for t in db["tables"]:
            if t["name"] == table:
                return str(t["chunks"][0]["path"])
    raise KeyError(table)
