"""The source and decompressor stages: one stored chunk -> verified bytes.

``ChunkStream`` reads a chunk from storage, hashes the stored bytes and the
decompressed bytes as they pass, and enforces the manifest's sizes as limits
while it reads: more stored bytes than the manifest says, more decompressed
bytes than it says, or (where rows are measured: verify and every reader of
lines) a row longer than the longest the export recorded stops the read at
once (a 33 KB chunk that inflates to one 1 GiB line costs one block of memory,
not a gigabyte). ``finish()`` after the last block compares
both digests, both sizes and the row count with the manifest; restore commits a
chunk's transaction only after that, so a damaged chunk commits nothing.

An encrypted dump's chunk is one age file around the zstd frame: the stored
bytes (the ciphertext) are hashed and bounded as they leave storage, then
decrypted (``seal.plaintext``, when the storage is an encrypted dump's
``KeyedStorage``), then decompressed. age authenticates every 64 KiB piece
and the end of the file, so ``finish()`` after reading to the end proves the
plaintext too; such a chunk has no plaintext digest in the manifest to compare.

Consumers take the bytes as ``blocks()`` (version-2 chunks streamed into LOAD
DATA: no row is ever held whole) or as ``lines()`` (version-1 statements, and
version-2 rows turned into INSERTs), each line bounded.

Memory: one compressed read (``READ_BYTES``), one decompressed block
(``BLOCK_BYTES``) and, for ``lines()``, one line of at most ``max_line`` bytes;
decrypting, plus the age reader (8 pieces of 256 KiB, a 128 KiB read-ahead) and
one pump thread.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import BinaryIO, cast

import zstandard

from ..errors import IntegrityError, ObjectNotFound, OsidumpError, StorageError
from ..seal import plaintext
from ..storage.base import Storage
from .manifest import ChunkEntry

READ_BYTES = 1 << 17  # compressed bytes per storage read
BLOCK_BYTES = 1 << 20  # decompressed bytes per block
# Lines held whole: a version-1 statement (256 KiB, or one row of up to 16 MiB
# of binary data as hex), a version-2 row turned into an INSERT.
V1_MAX_LINE = 32 << 20
V2_MAX_HELD_ROW = 64 << 20


class _CountedSource:
    """The stored bytes, hashed and counted; refuses to read past ``limit``."""

    def __init__(self, stream: BinaryIO, limit: int, fail: ChunkStream):
        self._stream = stream
        self._limit = limit
        self._fail = fail
        self.hash = hashlib.sha256()
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        want = READ_BYTES if size is None or size < 0 else min(size, READ_BYTES)
        try:
            data = self._stream.read(want)
        except OSError as exc:
            raise StorageError(f"{self._fail.label}: read failed: {exc}") from exc
        if data:
            self.count += len(data)
            if self.count > self._limit:
                raise self._fail.damaged("stored file is larger than the manifest says")
            self.hash.update(data)
        return data

    def close(self) -> None:
        """Nothing: the ChunkStream closes the storage stream itself."""


class ChunkStream:
    """One chunk's decompressed bytes, verified against its manifest entry."""

    def __init__(
        self,
        storage: Storage,
        entry: ChunkEntry,
        *,
        label: str,
        max_row: int | None,
    ):
        self.storage = storage
        self.entry = entry
        self.label = label  # "db.table chunk 3 (data/db/t/000003-0000.tsv.zst)"
        # Longest line allowed, newline included; None: rows are counted, not
        # measured (see _count).
        self.max_row = max_row
        self.rows = 0  # newlines seen
        self.raw_bytes = 0
        self._raw_hash = hashlib.sha256()
        self._source: _CountedSource | None = None
        self._stream: BinaryIO | None = None
        self._plain: BinaryIO | None = None  # the decrypting reader, if encrypted
        self._finished = False
        self._open_line = 0  # bytes since the last newline

    def damaged(self, what: str) -> IntegrityError:
        return IntegrityError(
            f"{self.label}: {what}",
            hint="the dump is damaged or was altered; restore from another backup or re-export",
        )

    def __enter__(self) -> ChunkStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._plain is not None:
            with contextlib.suppress(OSError):
                self._plain.close()  # stops its pump thread first
            self._plain = None
        if self._stream is not None:
            with contextlib.suppress(OSError):
                self._stream.close()
            self._stream = None

    def _open(self) -> _CountedSource:
        try:
            self._stream = self.storage.open_read(self.entry.path)
        except ObjectNotFound as exc:
            raise self.damaged("chunk file is missing") from exc
        except IntegrityError as exc:
            raise self.damaged(exc.message) from exc
        self._source = _CountedSource(self._stream, self.entry.stored_bytes, self)
        return self._source

    def blocks(self) -> Iterator[bytes]:
        """Decompressed blocks of at most BLOCK_BYTES, in order."""
        source = self._open()
        stored = cast(BinaryIO, source)
        plain = plaintext(self.storage, stored, name=self.label)
        decrypting = plain is not stored
        if decrypting:
            self._plain = plain
        reader = zstandard.ZstdDecompressor().stream_reader(
            plain, read_size=READ_BYTES, read_across_frames=False
        )
        limit = self.entry.raw_bytes
        while True:
            try:
                block = reader.read(BLOCK_BYTES)
            except zstandard.ZstdError as exc:
                raise self.damaged(f"not valid zstd data ({exc})") from exc
            if not block:
                break
            self.raw_bytes += len(block)
            if self.raw_bytes > limit:
                raise self.damaged("decompresses to more bytes than the manifest says")
            if self.entry.content_sha256 is not None:  # none recorded when encrypted
                self._raw_hash.update(block)
            self._count(block)
            yield block
        # Hash whatever follows the frame too: the digest covers the whole file
        # (and age authenticates its last piece only at the end).
        if decrypting:
            while plain.read(READ_BYTES):
                pass
        while source.read(READ_BYTES):
            pass
        self._finished = True

    def _count(self, block: bytes) -> None:
        newlines = block.count(b"\n")
        if self.max_row is None:
            # LOAD DATA streams blocks and holds no row, so a row's length
            # bounds no memory of osidump's, and a dump that states a long row
            # honestly is loaded all the same: measuring every line here cost
            # a split per row, half of a restore's own CPU (0.47 of 1.04 s
            # for the benchmark's 2M rows). Readers that hold lines bound them
            # in lines(); verify still measures.
            self.rows += newlines
            return
        if not newlines:
            self._open_line += len(block)
            if self._open_line > self.max_row:
                raise self.damaged(f"holds a row longer than {self.max_row} bytes")
            return
        self.rows += newlines
        first = block.index(b"\n")
        last = block.rindex(b"\n")
        longest = self._open_line + first + 1
        if newlines > 1:
            longest = max(longest, max(map(len, block[first + 1 : last].split(b"\n"))) + 1)
        if longest > self.max_row:
            raise self.damaged(f"holds a row longer than {self.max_row} bytes")
        self._open_line = len(block) - last - 1

    def lines(self, max_line: int) -> Iterator[bytes]:
        """Complete lines without their newline, each at most ``max_line``
        bytes; an incomplete last line is damage."""
        pieces: list[bytes] = []
        held = 0
        for block in self.blocks():
            start = 0
            while True:
                end = block.find(b"\n", start)
                if end < 0:
                    rest = block[start:]
                    if rest:
                        held += len(rest)
                        if held > max_line:
                            raise self.damaged(f"holds a line longer than {max_line} bytes")
                        pieces.append(rest)
                    break
                if held + end - start > max_line:
                    raise self.damaged(f"holds a line longer than {max_line} bytes")
                if pieces:
                    pieces.append(block[start:end])
                    line = b"".join(pieces)
                    pieces, held = [], 0
                else:
                    line = block[start:end]
                yield line
                start = end + 1
        if pieces:
            raise self.damaged("last row is incomplete")

    def finish(self, *, rows: int | None = None) -> None:
        """Compare what was read with the manifest; IntegrityError on any
        difference. ``rows`` overrides the newline count (version-1 lines
        hold many rows each)."""
        e = self.entry
        if not self._finished or self._source is None:
            raise self.damaged("was not read to the end")
        if self._source.count != e.stored_bytes or self._source.hash.hexdigest() != e.sha256:
            raise self.damaged("stored bytes do not match the manifest's sha256")
        if self.raw_bytes != e.raw_bytes or (
            e.content_sha256 is not None and self._raw_hash.hexdigest() != e.content_sha256
        ):
            raise self.damaged("decompressed content does not match the manifest's digest")
        if self._open_line:
            raise self.damaged("last row is incomplete")
        counted = self.rows if rows is None else rows
        if counted != e.rows:
            raise self.damaged(f"holds {counted} rows, the manifest says {e.rows}")


def verify_stream(stream: ChunkStream) -> None:
    """Read a whole chunk and check it (verify, and damage checks after a
    server error)."""
    try:
        for _ in stream.blocks():
            pass
    finally:
        stream.close()
    stream.finish()


__all__ = [
    "BLOCK_BYTES",
    "V1_MAX_LINE",
    "V2_MAX_HELD_ROW",
    "ChunkStream",
    "OsidumpError",
    "verify_stream",
]
