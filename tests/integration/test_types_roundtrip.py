"""Every column type round-trips exactly through export and restore."""

from __future__ import annotations

from typing import Any

import pytest
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import checksums, export, restore, sql

TYPES_TABLE = """
CREATE TABLE t (
  id INT NOT NULL PRIMARY KEY,
  i8 TINYINT, u8 TINYINT UNSIGNED, i64 BIGINT, u64 BIGINT UNSIGNED,
  dec65 DECIMAL(65,30), f FLOAT, d DOUBLE,
  dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(6), y YEAR,
  b1 BIT(1), b64 BIT(64),
  e ENUM('a','é','€'), s SET('x','y','z'),
  vc VARCHAR(100) CHARACTER SET utf8mb4, txt LONGTEXT CHARACTER SET utf8mb4,
  l1 VARCHAR(50) CHARACTER SET latin1, lt TEXT CHARACTER SET latin1,
  bin BINARY(4), vb VARBINARY(300), bl LONGBLOB,
  j JSON,
  g GEOMETRY, p POINT,
  gen INT AS (id * 2) VIRTUAL, gens VARCHAR(20) AS (CONCAT('x', id)) STORED,
  inv INT INVISIBLE DEFAULT 7
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""

ALL_BYTES = bytes(range(256))

ROWS: list[dict[str, Any]] = [
    {  # extremes
        "id": 1, "i8": -128, "u8": 255, "i64": -(2**63), "u64": 2**64 - 1,
        "dec65": "-99999999999999999999999999999999999.999999999999999999999999999999",
        "f": 3.14159274, "d": 0.30000000000000004,
        "dt": "1000-01-01", "dtm": "9999-12-31 23:59:59.999999", "ts": "2038-01-19 03:14:07.999999",
        "tm": "-838:59:59.000000", "y": 2155, "b1": 1, "b64": 2**64 - 1,
        "e": "€", "s": "x,z", "vc": "😀 four-byte ✓", "txt": "line1\nline2\r\n\t'\"\\\x00\x1a end",
        "l1": "café ÿ", "lt": "naïve £", "bin": b"\x00\x01\x02\x03", "vb": ALL_BYTES, "bl": ALL_BYTES * 100,
        "j": '{"k": [1, 2.5, "é", null, true], "nested": {"a": "\\n"}}', "inv": 42,
    },
    {  # NULLs everywhere nullable
        "id": 2, **{k: None for k in ("i8", "u8", "i64", "u64", "dec65", "f", "d", "dt", "dtm", "ts",
                                      "tm", "y", "b1", "b64", "e", "s", "vc", "txt", "l1", "lt", "bin",
                                      "vb", "bl", "j")},
    },
    {  # empty strings and zeros, distinct from NULL
        "id": 3, "i8": 0, "u8": 0, "i64": 0, "u64": 0, "dec65": "0", "f": -0.0, "d": 1e-300,
        "dt": "2024-02-29", "dtm": "1970-01-01 00:00:00", "ts": "1970-01-01 00:00:01", "tm": "838:59:59",
        "y": 1901, "b1": 0, "b64": 0, "e": "a", "s": "", "vc": "", "txt": "", "l1": "", "lt": "",
        "bin": b"\x00\x00\x00\x00", "vb": b"", "bl": b"", "j": "[]", "inv": 0,
    },
]


def insert_rows(conn: Any, db: str) -> None:
    sql(conn, f"USE `{db}`")
    sql(conn, TYPES_TABLE)
    for row in ROWS:
        cols = list(row)
        placeholders = ",".join(["%s"] * len(cols))
        sql(conn, f"INSERT INTO t ({','.join(cols)}) VALUES ({placeholders})", [row[c] for c in cols])
    sql(conn, "UPDATE t SET g = ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))', 0),"
              " p = POINT(1.5, -2.25) WHERE id = 1")
    sql(conn, "SET SESSION time_zone = '+00:00'")


COMPARE = (
    "SELECT id, i8, u8, i64, u64, dec65, f, CAST(f AS DOUBLE), d, dt, dtm, ts, tm, y, b1+0, b64+0, e, s,"
    " HEX(vc), HEX(txt), HEX(l1), HEX(lt), HEX(bin), HEX(vb), HEX(bl), j, ST_AsText(g), ST_AsText(p),"
    " gen, gens, inv, vc IS NULL, vb IS NULL FROM `{db}`.t ORDER BY id"
)


def test_every_type_round_trips_exactly(server: Any, make_database: Any, tmp_path: Any) -> None:
    src = make_database()
    dst = make_database()
    conn = server.connect()
    insert_rows(conn, src)
    storage = LocalStorage(str(tmp_path / "dump"))
    manifest = export(server.connection_config(), storage, src, threads=2)
    table = manifest.database(src).table("t")
    assert table.rows == len(ROWS)
    assert [c.name for c in table.columns if c.generated] == ["gen", "gens"]
    restore(server.connection_config(), storage, database=dst, threads=2)
    sql(conn, "SET SESSION time_zone = '+00:00'")
    before = sql(conn, COMPARE.format(db=src))
    after = sql(conn, COMPARE.format(db=dst))
    assert after == before
    assert checksums(conn, dst) == checksums(conn, src)
    # FLOAT kept every bit (mariadb-dump would print 3.14159).
    assert sql(conn, f"SELECT f = CAST(3.14159274 AS FLOAT) FROM `{dst}`.t WHERE id = 1")[0][0] == 1
    # The invisible column is kept, generated columns are recomputed.
    assert sql(conn, f"SELECT inv, gen, gens FROM `{dst}`.t WHERE id = 1")[0] == (42, 2, "x1")


@pytest.mark.parametrize("tz", ["+05:30", "-08:00"])
def test_timestamps_do_not_shift_with_the_server_time_zone(
    server: Any, make_database: Any, tmp_path: Any, tz: str
) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    sql(conn, f"SET SESSION time_zone = '{tz}'")
    sql(conn, f"CREATE TABLE `{src}`.ts (id INT PRIMARY KEY, t TIMESTAMP(6) NULL)")
    sql(conn, f"INSERT INTO `{src}`.ts VALUES (1, '2024-03-10 02:30:00.5'), (2, NULL)")
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src, threads=1)
    restore(server.connection_config(), storage, database=dst)
    sql(conn, "SET SESSION time_zone = '+00:00'")
    assert sql(conn, f"SELECT UNIX_TIMESTAMP(t) FROM `{dst}`.ts ORDER BY id") == sql(
        conn, f"SELECT UNIX_TIMESTAMP(t) FROM `{src}`.ts ORDER BY id"
    )


def test_zero_dates_text_only_types_and_odd_charsets_round_trip(
    server: Any, make_database: Any, tmp_path: Any
) -> None:
    """Zero dates (kept as zero, not NULL or an error); MariaDB's UUID and
    INET6, whose values have only a text form (a 16-byte binary string would
    be read as INET6's binary form); SJIS/GBK text whose multi-byte characters
    hold a backslash byte; UTF-16, whose code units hold tab and newline bytes."""
    src, dst = make_database(), make_database()
    conn = server.connect()
    sql(conn, "SET SESSION sql_mode = ''")
    sql(conn, f"USE `{src}`")
    sql(conn, "CREATE TABLE z (id INT PRIMARY KEY, d DATE, dt DATETIME, u UUID, ip INET6,"
              " sj VARCHAR(20) CHARACTER SET sjis, gb VARCHAR(20) CHARACTER SET gbk,"
              " u16 VARCHAR(20) CHARACTER SET utf16)")
    sql(conn, "INSERT INTO z VALUES (1, '0000-00-00', '0000-00-00 00:00:00',"
              " '123e4567-e89b-12d3-a456-426614174000', '11:2:3:4:5:6:7:8',"
              " _sjis X'955C5C945C', _gbk X'5C5C815C', _utf16 X'0A090909005C'),"
              " (2, '2024-02-00', NULL, NULL, '::ffff:192.0.2.1', NULL, NULL, NULL)")
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src)
    restore(server.connection_config(), storage, database=dst)
    query = ("SELECT id, d, dt, CAST(u AS CHAR), CAST(ip AS CHAR), HEX(sj), HEX(gb), HEX(u16)"
             " FROM `{}`.z ORDER BY id")
    assert sql(conn, query.format(dst)) == sql(conn, query.format(src))
    assert sql(conn, f"SELECT CAST(d AS CHAR), CAST(ip AS CHAR) FROM `{dst}`.z WHERE id = 1") == [
        ("0000-00-00", "11:2:3:4:5:6:7:8")
    ]
