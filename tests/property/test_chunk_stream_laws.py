"""A chunk written in any pieces reads back statement for statement, verified."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from osidump.engine.chunk_reader import ChunkReader
from osidump.engine.chunk_writer import CHUNK_HEADER, ChunkFile
from osidump.engine.manifest import ChunkEntry
from osidump.engine.storage import MemoryStorage

_value = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1).map(str),
    st.just("NULL"),
    st.binary(max_size=300).map(lambda b: f"X'{b.hex().upper()}'"),
    st.binary(max_size=300).map(lambda b: f"_utf8mb4 X'{b.hex().upper()}'"),
)
_row = st.lists(_value, min_size=1, max_size=4).map(lambda vs: "(" + ",".join(vs) + ")")
_statement = st.lists(_row, min_size=1, max_size=20)


@settings(max_examples=150, deadline=None)
@given(statements=st.lists(_statement, max_size=15), level=st.integers(1, 6))
def test_written_chunks_read_back_exactly(statements: list[list[str]], level: int) -> None:
    storage = MemoryStorage()
    chunk = ChunkFile(storage, "data/d/t/000000-0000.sql.zst", level=level)
    texts = []
    for rows in statements:
        text = ("INSERT INTO `t` (`a`) VALUES " + ",".join(rows) + ";\n").encode()
        texts.append(text)
        chunk.write(text, rows=len(rows))
    stats = chunk.finish()
    entry = ChunkEntry(
        index=0,
        path=stats.path,
        rows=stats.rows,
        raw_bytes=stats.raw_bytes,
        stored_bytes=stats.stored_bytes,
        sha256=stats.sha256,
        content_sha256=stats.content_sha256,
    )
    reader = ChunkReader(storage, entry, table="t", label="t chunk 0")
    got = list(reader.statements())
    reader.check()
    assert got[0] + b"\n" == CHUNK_HEADER
    assert [g + b"\n" for g in got[1:]] == texts
    assert reader.rows == sum(len(r) for r in statements)
