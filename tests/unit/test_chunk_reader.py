"""A damaged or hostile chunk is caught, named, and never passes finish(),
and no chunk can make the reader hold more than its limits."""

from __future__ import annotations

from dataclasses import replace

import pytest
import zstandard
from osidump.engine.errors import IntegrityError
from osidump.engine.format.chunk_reader import ChunkStream, verify_stream
from osidump.engine.format.chunk_writer import ChunkFile
from osidump.engine.format.manifest import ChunkEntry
from osidump.engine.storage.base import MemoryStorage

PATH = "data/d/t/000000-0000.tsv.zst"


def make_chunk(storage: MemoryStorage, n: int = 400) -> ChunkEntry:
    chunk = ChunkFile(storage, PATH, level=3)
    for i in range(0, n, 2):
        block = f"{i}\tA\n{i + 1}\t\\N\n".encode()
        chunk.write(block, rows=2, longest=len(f"{i + 1}\t\\N\n"))
    s = chunk.finish()
    return ChunkEntry(index=0, path=s.path, rows=s.rows, raw_bytes=s.raw_bytes,
                      stored_bytes=s.stored_bytes, sha256=s.sha256, content_sha256=s.content_sha256,
                      max_row_bytes=s.max_row_bytes)


def read_all(storage: MemoryStorage, entry: ChunkEntry) -> ChunkStream:
    stream = ChunkStream(storage, entry, label="d.t chunk 0", max_row=entry.max_row_bytes or 0)
    verify_stream(stream)
    return stream


def hostile(storage: MemoryStorage, body: bytes, **fields: int) -> ChunkEntry:
    """A chunk whose manifest entry was recomputed to match ``body``."""
    import hashlib

    stored = zstandard.ZstdCompressor().compress(body)
    storage.objects[PATH] = stored
    entry = ChunkEntry(index=0, path=PATH, rows=body.count(b"\n"), raw_bytes=len(body),
                       stored_bytes=len(stored), sha256=hashlib.sha256(stored).hexdigest(),
                       content_sha256=hashlib.sha256(body).hexdigest(),
                       max_row_bytes=max(map(len, body.split(b"\n"))) + 1)
    return replace(entry, **fields)


def test_intact_chunk_passes() -> None:
    storage = MemoryStorage()
    entry = make_chunk(storage)
    assert read_all(storage, entry).rows == 400


@pytest.mark.parametrize("offset", [0, 5, 100, -10, -1])
def test_one_flipped_byte_is_caught(offset: int) -> None:
    storage = MemoryStorage()
    entry = make_chunk(storage)
    data = bytearray(storage.objects[PATH])
    data[offset] ^= 0x01
    storage.objects[PATH] = bytes(data)
    with pytest.raises(IntegrityError, match="d.t chunk 0"):
        read_all(storage, entry)


def test_truncated_chunk_is_caught() -> None:
    storage = MemoryStorage()
    entry = make_chunk(storage)
    storage.objects[PATH] = storage.objects[PATH][:-20]
    with pytest.raises(IntegrityError, match="zstd|sha256|not read"):
        read_all(storage, entry)


def test_missing_chunk_is_named() -> None:
    storage = MemoryStorage()
    entry = make_chunk(storage)
    del storage.objects[PATH]
    with pytest.raises(IntegrityError, match="missing"):
        read_all(storage, entry)


def test_wrong_row_count_in_manifest_is_caught() -> None:
    storage = MemoryStorage()
    entry = make_chunk(storage)
    with pytest.raises(IntegrityError, match="rows"):
        read_all(storage, replace(entry, rows=entry.rows + 1))


def test_inflation_past_the_manifest_stops_at_once() -> None:
    """A zstd bomb: 1 MiB of zeros that the manifest says is 1 KiB. The read
    stops at the first block over the stated size."""
    storage = MemoryStorage()
    body = b"0" * (1 << 20) + b"\n"
    entry = hostile(storage, body, raw_bytes=1024, max_row_bytes=2 << 20)
    stream = ChunkStream(storage, entry, label="d.t chunk 0", max_row=2 << 20)
    seen = 0
    with pytest.raises(IntegrityError, match="more bytes than the manifest"):
        for block in stream.blocks():
            seen += len(block)
    assert seen == 0


def test_stored_bytes_past_the_manifest_stop_at_once() -> None:
    storage = MemoryStorage()
    entry = make_chunk(storage)
    storage.objects[PATH] = storage.objects[PATH] + b"\0" * (1 << 20)
    with pytest.raises(IntegrityError, match="larger than the manifest"):
        read_all(storage, entry)


def test_a_row_longer_than_recorded_is_refused_without_holding_it() -> None:
    storage = MemoryStorage()
    body = b"1\tshort\n" + b"2\t" + b"x" * (4 << 20) + b"\n"
    entry = hostile(storage, body, max_row_bytes=100)
    with pytest.raises(IntegrityError, match="row longer than 100 bytes"):
        read_all(storage, entry)


def test_a_reader_that_holds_no_row_counts_rows_without_measuring_them() -> None:
    """max_row=None (restore's LOAD DATA, which streams blocks): a row longer
    than the manifest states is loaded as the digests say, and every other
    check still holds; the control (max_row given, as verify reads) refuses it."""
    storage = MemoryStorage()
    body = b"1\tshort\n" + b"2\t" + b"x" * (3 << 20) + b"\n"
    entry = hostile(storage, body, max_row_bytes=100)
    with pytest.raises(IntegrityError, match="row longer than 100 bytes"):
        read_all(storage, entry)
    stream = ChunkStream(storage, entry, label="d.t chunk 0", max_row=None)
    verify_stream(stream)
    assert stream.rows == 2
    stream = ChunkStream(storage, replace(entry, rows=3), label="d.t chunk 0", max_row=None)
    with pytest.raises(IntegrityError, match="holds 2 rows"):
        verify_stream(stream)


def test_lines_are_capped_whatever_the_manifest_says() -> None:
    storage = MemoryStorage()
    body = b"y" * (3 << 20) + b"\n"
    entry = hostile(storage, body)
    stream = ChunkStream(storage, entry, label="d.t chunk 0", max_row=entry.max_row_bytes or 0)
    with pytest.raises(IntegrityError, match="line longer than 1048576 bytes"):
        for _ in stream.lines(1 << 20):
            pass


def test_incomplete_last_row_is_caught() -> None:
    storage = MemoryStorage()
    entry = hostile(storage, b"1\ta\n2\tb")
    with pytest.raises(IntegrityError, match="incomplete"):
        read_all(storage, replace(entry, rows=1))
