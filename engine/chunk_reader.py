"""The source, decompressor and decoder stages: a stored chunk -> statements.

Reading hashes the stored bytes and the decompressed bytes as they stream, and
``check()`` (after the last statement) compares both digests, the sizes and the
row count with the manifest. Restore executes statements inside a transaction
and commits only after ``check()`` passes, so a damaged chunk commits nothing.

Every statement is checked before it is handed on: it must be the chunk
header or an ``INSERT INTO `<its table>` (...)`` line. A hostile or corrupt
dump therefore cannot run DDL or write to another table through a chunk.

Rows are counted without parsing values: values are numbers, NULL, hex
literals or quoted temporal/text forms without parentheses, so tuples in a
statement are separated by exactly ``),(``.

Memory: one compressed block (``BLOCK``) and one decompressed statement.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

import zstandard

from .chunk_writer import CHUNK_HEADER
from .errors import IntegrityError, ObjectNotFound, StorageError
from .manifest import ChunkEntry
from .storage import Storage

BLOCK = 1 << 17  # compressed; expands to ~4-8x when decompressed


class ChunkReader:
    """Statements of one chunk, verified against its manifest entry."""

    def __init__(self, storage: Storage, entry: ChunkEntry, *, table: str, label: str):
        self.storage = storage
        self.entry = entry
        self.label = label  # "db.table chunk 3 (data/db/t/000003-0000.sql.zst)"
        self._prefix = b"INSERT INTO `" + table.replace("`", "``").encode("utf-8") + b"` ("
        self.rows = 0
        self.raw_bytes = 0
        self.stored_bytes = 0
        self._stored_hash = hashlib.sha256()
        self._raw_hash = hashlib.sha256()
        self._finished = False

    def _fail(self, what: str) -> IntegrityError:
        return IntegrityError(
            f"{self.label}: {what}",
            hint="the dump is damaged; restore from another backup or re-export",
        )

    def statements(self) -> Iterator[bytes]:
        try:
            stream = self.storage.open_read(self.entry.path)
        except ObjectNotFound as exc:
            raise self._fail("chunk file is missing") from exc
        with stream:
            yield from self._statements(stream)
        self._finished = True

    def _statements(self, stream: BinaryIO) -> Iterator[bytes]:
        dobj = zstandard.ZstdDecompressor().decompressobj()
        pending = b""
        first = True
        while True:
            try:
                block = stream.read(BLOCK)
            except OSError as exc:
                raise StorageError(f"{self.label}: read failed: {exc}") from exc
            if not block:
                break
            self.stored_bytes += len(block)
            self._stored_hash.update(block)
            if dobj.eof:
                raise self._fail("trailing bytes after the compressed data")
            try:
                data = dobj.decompress(block)
            except zstandard.ZstdError as exc:
                raise self._fail(f"not valid zstd data ({exc})") from exc
            if not data:
                continue
            self._raw_hash.update(data)
            self.raw_bytes += len(data)
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if first:
                    first = False
                    if line + b"\n" != CHUNK_HEADER:
                        raise self._fail("does not start with the chunk header")
                    yield line
                    continue
                if not line.startswith(self._prefix):
                    raise self._fail("contains a statement that is not an INSERT into its table")
                self.rows += line.count(b"),(") + 1
                yield line
        if not dobj.eof:
            raise self._fail("compressed data is truncated")
        if pending:
            raise self._fail("last statement is incomplete")

    def check(self) -> None:
        """Compare what was read with the manifest; raise IntegrityError on any
        difference. Call after ``statements()`` is exhausted."""
        e = self.entry
        if not self._finished:
            raise self._fail("was not read to the end")
        if self.stored_bytes != e.stored_bytes or self._stored_hash.hexdigest() != e.sha256:
            raise self._fail("stored bytes do not match the manifest's sha256")
        if self.raw_bytes != e.raw_bytes or self._raw_hash.hexdigest() != e.content_sha256:
            raise self._fail("decompressed content does not match the manifest's digest")
        if self.rows != e.rows:
            raise self._fail(f"holds {self.rows} rows, the manifest says {e.rows}")
