"""Test tools for sealed dumps, on any storage backend (named tools, not fakes):

- :class:`RecordingStorage` wraps a real storage and records every name opened
  for reading, so a test can prove that a refused dump had no chunk read;
- :func:`forge_chunk` and :func:`drop_chunk_entry` edit a dump as a writer of
  the backup location would (through the storage API, so on S3 too): replace a
  chunk's rows, encrypting them to the dump's *public* recipients when it is
  encrypted, and recompute every digest and size in the manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

import pyrage
import zstandard
from osidump.engine.storage.base import Storage, WriteStream


class RecordingStorage(Storage):
    """Every call goes to ``inner``; ``opened`` lists the names read."""

    def __init__(self, inner: Storage):
        self.inner = inner
        self.opened: list[str] = []

    def chunks_opened(self) -> list[str]:
        return [n for n in self.opened if n.startswith("data/")]

    def describe(self) -> str:
        return self.inner.describe()

    def open_write(self, name: str) -> WriteStream:
        return self.inner.open_write(name)

    def open_read(self, name: str) -> BinaryIO:
        self.opened.append(name)
        return self.inner.open_read(name)

    def exists(self, name: str) -> bool:
        return self.inner.exists(name)

    def delete(self, name: str) -> None:
        self.inner.delete(name)

    def child(self, name: str) -> Storage:
        return self.inner.child(name)

    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)


def manifest_doc(storage: Storage) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(storage.get("manifest.json"))
    return doc


def edit_manifest(storage: Storage, fn: Callable[[dict[str, Any]], None]) -> None:
    doc = manifest_doc(storage)
    fn(doc)
    storage.put("manifest.json", json.dumps(doc, indent=1).encode())


def chunk_entries(doc: dict[str, Any], table: str) -> list[dict[str, Any]]:
    for db in doc["databases"]:
        for t in db["tables"]:
            if t["name"] == table:
                return list(t["chunks"])
    raise KeyError(table)


def forge_chunk(storage: Storage, path: str, rows: Sequence[bytes]) -> None:
    """Replace chunk ``path`` by ``rows`` (tab-separated lines, no newline)
    and reseal the manifest; encrypted to the manifest's recipients if the
    dump is encrypted (an attacker needs only the public keys for that)."""
    doc = manifest_doc(storage)
    plain = b"".join(r + b"\n" for r in rows)
    stored = zstandard.ZstdCompressor().compress(plain)
    encryption = doc.get("encryption")
    if encryption:
        keys = [pyrage.x25519.Recipient.from_str(r) for r in encryption["recipients"]]
        stored = pyrage.encrypt(stored, keys)
    storage.put(path, stored)
    for db in doc["databases"]:
        for table in db["tables"]:
            for chunk in table["chunks"]:
                if chunk["path"] == path:
                    chunk.update(
                        sha256=hashlib.sha256(stored).hexdigest(),
                        stored_bytes=len(stored),
                        raw_bytes=len(plain),
                        rows=len(rows),
                        max_row_bytes=max(len(r) + 1 for r in rows),
                        content_sha256=None if encryption else hashlib.sha256(plain).hexdigest(),
                    )
    storage.put("manifest.json", json.dumps(doc, indent=1).encode())


def drop_chunk_entry(storage: Storage, table: str, index: int) -> None:
    """Remove one chunk from the manifest (the table restores short) and
    renumber the rest, as a careful attacker would."""

    def drop(doc: dict[str, Any]) -> None:
        for db in doc["databases"]:
            for t in db["tables"]:
                if t["name"] == table:
                    del t["chunks"][index]
                    for i, chunk in enumerate(t["chunks"]):
                        chunk["index"] = i

    edit_manifest(storage, drop)


def swap_schema(storage: Storage, database: str, fn: Callable[[dict[str, Any]], None]) -> None:
    """Edit a plaintext dump's schema file and reseal the manifest."""
    doc = manifest_doc(storage)
    for db in doc["databases"]:
        if db["name"] == database:
            path = db["schema_file"]["path"]
            schema = json.loads(storage.get(path))
            fn(schema)
            data = (json.dumps(schema, indent=1) + "\n").encode()
            storage.put(path, data)
            db["schema_file"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    storage.put("manifest.json", json.dumps(doc, indent=1).encode())


def flip_byte(storage: Storage, path: str, offset: int | None = None) -> None:
    data = bytearray(storage.get(path))
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    storage.put(path, bytes(data))
