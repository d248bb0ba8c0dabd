"""A chunk written in any pieces reads back row for row, verified, and the
escaped-text encoding round-trips any bytes."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from osidump.engine.format.chunk_reader import ChunkStream
from osidump.engine.format.chunk_writer import ChunkFile
from osidump.engine.format.manifest import ChunkEntry
from osidump.engine.format.tsv import NULL_FIELD, decode_row
from osidump.engine.storage.base import MemoryStorage


def escape(value: bytes) -> bytes:
    """What the server's REPLACE chain in rows.py produces."""
    return value.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")


# Values full of the bytes the encoding must get right: the delimiter, the
# escape, newline, NUL, 0xFF, and the text "\N" that is not NULL.
_tricky = st.sampled_from([b"\t", b"\n", b"\\", b"\\N", b"N", b"\x00", b"\xff", b"'", b"a"])
_value = st.one_of(st.none(), st.binary(max_size=40), st.lists(_tricky, max_size=8).map(b"".join))


def encode_row(values: list[bytes | None]) -> bytes:
    return b"\t".join(NULL_FIELD if v is None else escape(v) for v in values) + b"\n"


def entry_of(stats: object) -> ChunkEntry:
    s = stats
    return ChunkEntry(
        index=0, path=s.path, rows=s.rows, raw_bytes=s.raw_bytes,  # type: ignore[attr-defined]
        stored_bytes=s.stored_bytes, sha256=s.sha256,  # type: ignore[attr-defined]
        content_sha256=s.content_sha256, max_row_bytes=s.max_row_bytes,  # type: ignore[attr-defined]
    )


@settings(max_examples=150)
@given(
    rows=st.lists(st.lists(_value, min_size=3, max_size=3), max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=10),
    level=st.integers(1, 6),
)
def test_written_chunks_read_back_exactly(rows: list[list[bytes | None]], cuts: list[int], level: int) -> None:
    storage = MemoryStorage()
    chunk = ChunkFile(storage, "data/d/t/000000-0000.tsv.zst", level=level)
    lines = [encode_row(r) for r in rows]
    # Write the rows in batches cut at arbitrary row boundaries.
    bounds = sorted({0, len(lines), *(min(c, len(lines)) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        batch = lines[a:b]
        if batch:
            chunk.write(b"".join(batch), rows=len(batch), longest=max(map(len, batch)))
    entry = entry_of(chunk.finish())
    assert entry.rows == len(rows)

    stream = ChunkStream(storage, entry, label="t chunk 0", max_row=entry.max_row_bytes or 0)
    with stream:
        got = [decode_row(line, 3, where="t") for line in stream.lines(1 << 20)]
    stream.finish()
    assert got == rows
