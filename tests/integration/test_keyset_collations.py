"""Keyset chunk boundaries follow the key's collation, so every row lands in
exactly one chunk even where byte order and collation order disagree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import checksums, export, restore, sql


@pytest.mark.parametrize("collation", ["utf8mb4_general_ci", "utf8mb4_unicode_ci", "utf8mb4_bin"])
def test_string_keys_in_any_collation(server: Any, make_database: Any, tmp_path: Path, collation: str) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    sql(conn, f"CREATE TABLE `{src}`.k (name VARCHAR(40) COLLATE {collation} NOT NULL PRIMARY KEY, pad CHAR(200))")
    # Upper case sorts before lower case in bytes but not in *_ci collations;
    # accents and 4-byte characters sort differently again.
    words = [f"{p}{i:05d}" for i in range(800) for p in ("a", "B", "é", "Z", "ö", "😀")]
    sql(conn, f"INSERT INTO `{src}`.k (name, pad) VALUES " + ",".join(["(%s, 'x')"] * len(words)), words)
    sql(conn, f"ANALYZE TABLE `{src}`.k")
    storage = LocalStorage(str(tmp_path / "dump"))
    manifest = export(server.connection_config(), storage, src, threads=2, chunk_bytes=8192)
    table = manifest.database(src).table("k")
    assert len({tuple(c.lower or ()) for c in table.chunks}) > 5  # really split by keyset
    assert table.rows == len(words)
    restore(server.connection_config(), storage, database=dst)
    assert checksums(conn, dst) == checksums(conn, src)


def test_composite_key_of_datetime_and_text(server: Any, make_database: Any, tmp_path: Path) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    sql(conn, f"CREATE TABLE `{src}`.ev (at DATETIME(6) NOT NULL, who VARCHAR(20) NOT NULL, n INT,"
              " PRIMARY KEY (at, who))")
    sql(conn, f"USE `{src}`")
    sql(conn, "INSERT INTO ev SELECT TIMESTAMP('2026-01-01') + INTERVAL (seq DIV 3) SECOND,"
              " ELT(1 + seq MOD 3, 'Ann', 'bob', 'Ávila'), seq FROM seq_1_to_6000")
    sql(conn, f"ANALYZE TABLE `{src}`.ev")
    storage = LocalStorage(str(tmp_path / "dump"))
    manifest = export(server.connection_config(), storage, src, chunk_bytes=8192)
    table = manifest.database(src).table("ev")
    assert len(table.chunks) > 5 and table.rows == 6000
    restore(server.connection_config(), storage, database=dst)
    assert checksums(conn, dst) == checksums(conn, src)
