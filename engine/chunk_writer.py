"""The compressor and sink stage: rows -> zstd frame -> storage.

Each chunk file is one zstd frame (with zstd's own content checksum) holding
rows in the bulk-load encoding (``rows.py``), one per line. While the bytes pass
through, two sha256 digests are kept: of the decompressed content (what the
rows say) and of the stored bytes (what the disk or S3 holds), so restore and
verify can tell a damaged file from a wrong one. Nothing is visible in storage
until ``finish`` commits the object.

Memory: zstd's window for the level (8 MiB at most for levels <= 19 with no
long mode) plus whatever the storage writer buffers (S3: one part).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import zstandard

from .storage import Storage, WriteStream


@dataclass(frozen=True)
class ChunkStats:
    path: str
    rows: int
    raw_bytes: int
    stored_bytes: int
    sha256: str
    content_sha256: str
    max_row_bytes: int


class ChunkFile:
    """One chunk being written. ``write`` statements, then ``finish`` or ``abort``."""

    def __init__(self, storage: Storage, path: str, *, level: int):
        self.path = path
        self._stream: WriteStream = storage.open_write(path)
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
        self._raw_hash = hashlib.sha256()
        self._stored_hash = hashlib.sha256()
        self.rows = 0
        self.raw_bytes = 0
        self.stored_bytes = 0
        self.max_row_bytes = 0

    def write(self, data: bytes, *, rows: int, longest: int) -> None:
        """Append ``rows`` whole rows (``data``), the longest ``longest`` bytes."""
        self._raw_hash.update(data)
        self.raw_bytes += len(data)
        self.rows += rows
        if longest > self.max_row_bytes:
            self.max_row_bytes = longest
        out = self._compressor.compress(data)
        if out:
            self._emit(out)

    def _emit(self, out: bytes) -> None:
        self._stored_hash.update(out)
        self.stored_bytes += len(out)
        self._stream.write(out)

    def finish(self) -> ChunkStats:
        self._emit(self._compressor.flush())
        self._stream.commit()
        return ChunkStats(
            path=self.path,
            rows=self.rows,
            raw_bytes=self.raw_bytes,
            stored_bytes=self.stored_bytes,
            sha256=self._stored_hash.hexdigest(),
            content_sha256=self._raw_hash.hexdigest(),
            max_row_bytes=self.max_row_bytes,
        )

    def abort(self) -> None:
        self._stream.abort()
