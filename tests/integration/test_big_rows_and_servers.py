"""Rows larger than one protocol packet, and restores onto another server."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from osidump.engine.errors import RowTooLarge
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import checksums, export, restore, sql
from tests.support.servers import ThrowawayServer


@pytest.fixture
def big_packet_server() -> Any:
    srv = ThrowawayServer(binlog=False, extra_args=("--max-allowed-packet=64M",))
    srv.start()
    yield srv
    srv.cleanup()


def test_row_spanning_several_packets_round_trips(big_packet_server: Any, tmp_path: Path) -> None:
    """A 12 MB blob is 24 MB of hex: its row arrives in two 16 MB protocol
    packets, and its INSERT is larger than one packet too."""
    srv = big_packet_server
    conn = srv.connect()
    sql(conn, "CREATE DATABASE src")
    sql(conn, "CREATE TABLE src.blobs (id INT PRIMARY KEY, b LONGBLOB, t LONGTEXT)")
    sql(conn, "INSERT INTO src.blobs VALUES (1, RANDOM_BYTES(1024), 'small')")
    sql(conn, "INSERT INTO src.blobs SELECT 2, REPEAT(RANDOM_BYTES(1000), 12000), REPEAT('é', 3000000)")
    sql(conn, "INSERT INTO src.blobs VALUES (3, '', '')")
    storage = LocalStorage(str(tmp_path / "dump"))
    manifest = export(srv.connection_config(), storage, "src", threads=2)
    assert manifest.database("src").table("blobs").rows == 3
    restore(srv.connection_config(), storage, database="dst")
    assert checksums(conn, "dst") == checksums(conn, "src")
    got = sql(conn, "SELECT id, SHA2(b, 256), LENGTH(t) FROM dst.blobs ORDER BY id")
    want = sql(conn, "SELECT id, SHA2(b, 256), LENGTH(t) FROM src.blobs ORDER BY id")
    assert got == want and got[1][2] == 6000000


def test_row_too_large_for_the_servers_packet_limit_is_a_clear_error(server: Any, make_database: Any,
                                                                       tmp_path: Path) -> None:
    db = make_database()
    conn = server.connect()
    limit = int(sql(conn, "SELECT @@max_allowed_packet")[0][0])
    sql(conn, f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, b LONGBLOB)")
    size = limit * 3 // 4
    # Just under the limit, in bytes that need no escaping: dumped as they are.
    sql(conn, f"INSERT INTO `{db}`.t SELECT 1, REPEAT('x', {size})")
    manifest = export(server.connection_config(), LocalStorage(str(tmp_path / "ok")), db)
    assert manifest.database(db).table("t").rows == 1
    # The same size in tabs: escaped, twice the limit. The row is refused
    # loudly, never dumped as NULL or with a field dropped.
    sql(conn, f"UPDATE `{db}`.t SET b = REPEAT(CHAR(9), {size})")
    out = tmp_path / "dump"
    with pytest.raises(RowTooLarge, match="max_allowed_packet"):
        export(server.connection_config(), LocalStorage(str(out)), db)
    assert not (out / "manifest.json").exists()


def test_restore_onto_another_server(server: Any, second_server: Any, make_database: Any, tmp_path: Path) -> None:
    src = make_database()
    conn = server.connect()
    sql(conn, f"CREATE TABLE `{src}`.t (id INT PRIMARY KEY, v VARCHAR(20))")
    sql(conn, f"INSERT INTO `{src}`.t VALUES (1, 'one'), (2, 'two')")
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src)
    restore(second_server.connection_config(), storage)
    other = second_server.connect()
    assert checksums(other, src) == checksums(conn, src)
    digest = hashlib.sha256(repr(sql(other, f"SELECT * FROM `{src}`.t ORDER BY id")).encode()).hexdigest()
    assert digest == hashlib.sha256(repr(sql(conn, f"SELECT * FROM `{src}`.t ORDER BY id")).encode()).hexdigest()


def test_long_values_full_of_escapes_round_trip(server: Any, make_database: Any, tmp_path: Path) -> None:
    """Values past rows.REGEXP_FROM take MariaDB's linear REGEXP_REPLACE (its
    REPLACE is quadratic in the number of matches): text that is mostly tabs,
    newlines and backslashes, and random bytes, come back byte for byte."""
    src, dst = make_database(), make_database()
    conn = server.connect()
    sql(conn, f"CREATE TABLE `{src}`.e (id INT PRIMARY KEY, t LONGTEXT, b LONGBLOB)")
    sql(conn, f"INSERT INTO `{src}`.e VALUES (1, REPEAT('a\\tb\\nc\\\\', 300000), RANDOM_BYTES(1024)),"
              " (2, REPEAT('\\\\', 1023), REPEAT(CHAR(9), 1024)), (3, '', NULL)")
    sql(conn, f"UPDATE `{src}`.e SET b = REPEAT(b, 2048) WHERE id = 1")
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src)
    restore(server.connection_config(), storage, database=dst)
    query = "SELECT id, SHA2(t, 256), SHA2(b, 256), LENGTH(t), LENGTH(b) FROM `{}`.e ORDER BY id"
    assert sql(conn, query.format(dst)) == sql(conn, query.format(src))
    assert sql(conn, f"SELECT LENGTH(b) FROM `{dst}`.e WHERE id = 1")[0][0] == 2 << 20
