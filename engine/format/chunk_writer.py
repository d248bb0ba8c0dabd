"""The compressor and sink stage: rows -> zstd frame -> storage.

Each chunk file is one zstd frame (with zstd's own content checksum) holding
rows in the bulk-load encoding (``rows.py``), one per line. While the bytes pass
through, two sha256 digests are kept: of the decompressed content (what the
rows say) and of the stored bytes (what the disk or S3 holds), so restore and
verify can tell a damaged file from a wrong one. Nothing is visible in storage
until ``finish`` commits the object.

With recipients, the zstd frame passes through age encryption
(``seal.EncryptingStream``) before storage: the stored digest and size are of
the ciphertext, and no plaintext digest is kept (an encrypted dump's manifest
must not let a reader confirm a guess of a chunk's rows).

Memory: zstd's window for the level (8 MiB at most for levels <= 19 with no
long mode) plus whatever the storage writer buffers (S3: one part); encrypted,
plus the age queue (2 MiB) and one pump thread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import zstandard

from ..seal import EncryptingStream, Recipients
from ..storage.base import Storage, WriteStream


@dataclass(frozen=True)
class ChunkStats:
    path: str
    rows: int
    raw_bytes: int
    stored_bytes: int
    sha256: str
    content_sha256: str | None  # None when encrypted
    max_row_bytes: int


class ChunkFile:
    """One chunk being written. ``write`` statements, then ``finish`` or ``abort``."""

    def __init__(
        self, storage: Storage, path: str, *, level: int, recipients: Recipients | None = None
    ):
        self.path = path
        self._stream: WriteStream = storage.open_write(path)
        self._encrypted: EncryptingStream | None = None
        if recipients is not None:
            try:
                self._encrypted = EncryptingStream(self._stream, recipients, name=path)
            except BaseException:
                self._stream.abort()
                raise
            self._stream = self._encrypted
        self._compressor = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
        self._raw_hash = None if recipients is not None else hashlib.sha256()
        self._stored_hash = hashlib.sha256()
        self.rows = 0
        self.raw_bytes = 0
        self.stored_bytes = 0
        self.max_row_bytes = 0

    def write(self, data: bytes, *, rows: int, longest: int) -> None:
        """Append ``rows`` whole rows (``data``), the longest ``longest`` bytes."""
        if self._raw_hash is not None:
            self._raw_hash.update(data)
        self.raw_bytes += len(data)
        self.rows += rows
        if longest > self.max_row_bytes:
            self.max_row_bytes = longest
        out = self._compressor.compress(data)
        if out:
            self._emit(out)

    def _emit(self, out: bytes) -> None:
        if self._encrypted is None:  # encrypted: the stream hashes the ciphertext
            self._stored_hash.update(out)
            self.stored_bytes += len(out)
        self._stream.write(out)

    def finish(self) -> ChunkStats:
        self._emit(self._compressor.flush())
        self._stream.commit()
        sha256 = self._stored_hash.hexdigest()
        if self._encrypted is not None:
            self.stored_bytes = self._encrypted.stored_bytes
            sha256 = self._encrypted.stored_sha256
        return ChunkStats(
            path=self.path,
            rows=self.rows,
            raw_bytes=self.raw_bytes,
            stored_bytes=self.stored_bytes,
            sha256=sha256,
            content_sha256=self._raw_hash.hexdigest() if self._raw_hash is not None else None,
            max_row_bytes=self.max_row_bytes,
        )

    def abort(self) -> None:
        self._stream.abort()
