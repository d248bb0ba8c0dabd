"""A damaged chunk is caught, named, and never passes check()."""

from __future__ import annotations

import pytest
import zstandard
from osidump.engine.chunk_reader import ChunkReader
from osidump.engine.chunk_writer import CHUNK_HEADER, ChunkFile
from osidump.engine.errors import IntegrityError
from osidump.engine.manifest import ChunkEntry
from osidump.engine.storage import MemoryStorage

PATH = "data/d/t/000000-0000.sql.zst"


def make_chunk(storage: MemoryStorage, n: int = 200) -> ChunkEntry:
    chunk = ChunkFile(storage, PATH, level=3)
    for i in range(n):
        chunk.write(
            f"INSERT INTO `t` (`a`,`b`) VALUES ({i},_utf8mb4 X'41'),({i + 1000},NULL);\n".encode(),
            rows=2,
        )
    s = chunk.finish()
    return ChunkEntry(
        index=0,
        path=s.path,
        rows=s.rows,
        raw_bytes=s.raw_bytes,
        stored_bytes=s.stored_bytes,
        sha256=s.sha256,
        content_sha256=s.content_sha256,
    )


def read_all(storage: MemoryStorage, entry: ChunkEntry, table: str = "t") -> ChunkReader:
    reader = ChunkReader(storage, entry, table=table, label="d.t chunk 0")
    for _ in reader.statements():
        pass
    reader.check()
    return reader


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
    with pytest.raises(IntegrityError, match="truncated|sha256"):
        read_all(storage, entry)


def test_missing_chunk_is_named() -> None:
    storage = MemoryStorage()
    entry = make_chunk(storage)
    del storage.objects[PATH]
    with pytest.raises(IntegrityError, match="missing"):
        read_all(storage, entry)


def test_statement_for_another_table_is_refused_even_with_matching_digests() -> None:
    storage = MemoryStorage()
    entry = make_chunk(storage)
    with pytest.raises(IntegrityError, match="not an INSERT into its table"):
        read_all(storage, entry, table="other")


def test_injected_ddl_is_refused_before_it_is_returned() -> None:
    storage = MemoryStorage()
    body = CHUNK_HEADER + b"DROP TABLE `t`;\n"
    storage.objects[PATH] = zstandard.ZstdCompressor().compress(body)
    entry = ChunkEntry(
        index=0,
        path=PATH,
        rows=0,
        raw_bytes=len(body),
        stored_bytes=1,
        sha256="0" * 64,
        content_sha256="0" * 64,
    )
    reader = ChunkReader(storage, entry, table="t", label="d.t chunk 0")
    seen = []
    with pytest.raises(IntegrityError, match="not an INSERT"):
        for statement in reader.statements():
            seen.append(statement)
    assert all(not s.startswith(b"DROP") for s in seen)


def test_wrong_row_count_in_manifest_is_caught() -> None:
    storage = MemoryStorage()
    entry = make_chunk(storage)
    from dataclasses import replace

    with pytest.raises(IntegrityError, match="rows"):
        read_all(storage, replace(entry, rows=entry.rows + 1))
