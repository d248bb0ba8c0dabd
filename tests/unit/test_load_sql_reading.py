"""What load-sql reads from a script before it runs anything: statement heads,
compressed streams (whole, multi-part, cut short) and the survey. No server."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator

import pytest
import zstandard
from osidump.engine.errors import IntegrityError
from osidump.engine.sqlfile.load_sql import LoadResult, Truncated, sql_blocks, survey_script
from osidump.engine.sqlfile.sql_script import iter_statements, statement_head


@pytest.mark.parametrize(("statement", "label", "databases"), [
    (b"USE `shop`", "USE `shop`", ["shop"]),
    (b"/*!40000 USE x*/", "USE `x`", ["x"]),
    (b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `bench` /*!40100 DEFAULT CHARACTER SET utf8mb4 */",
     "CREATE DATABASE `bench`", ["bench"]),
    (b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`127.0.0.1`*/ /*!50003 TRIGGER trg BEFORE INSERT "
     b"ON other.t FOR EACH ROW SET NEW.a = 1", "CREATE TRIGGER `trg`", ["other"]),
    (b"/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`root`@`localhost` SQL SECURITY "
     b"DEFINER */ /*!50001 VIEW `v` AS select `o`.`t`.`a` from `o`.`t` */", "CREATE VIEW `v`", []),
    (b"CREATE DEFINER=`root`@`%` PROCEDURE `p`()\nBEGIN INSERT INTO o.t VALUES (1); END",
     "CREATE PROCEDURE `p`", []),
    (b"INSERT INTO `documents` VALUES (1,'USE x; CREATE DATABASE y')", "INSERT INTO `documents`", []),
    (b"insert ignore into o.t values (1)", "INSERT INTO `o`.`t`", ["o"]),
    (b"REPLACE INTO `o`.`t` VALUES (1)", "REPLACE INTO `o`.`t`", ["o"]),
    (b"LOCK TABLES `a` WRITE, `x`.`b` READ", "LOCK TABLES `a`", ["x"]),
    (b"/*!40000 ALTER TABLE `t` DISABLE KEYS */", "ALTER TABLE `t`", []),
    (b"ALTER TABLE t RENAME TO x.t", "ALTER TABLE `t`", ["x"]),
    (b"ALTER TABLE t RENAME COLUMN a TO b", "ALTER TABLE `t`", []),
    (b"ALTER DATABASE CHARACTER SET latin1", "ALTER DATABASE", []),
    (b"ALTER DATABASE `shop` CHARACTER SET latin1", "ALTER DATABASE `shop`", ["shop"]),
    (b"DROP TABLE IF EXISTS a, b.c", "DROP TABLE `a`", ["b"]),
    (b"DROP DATABASE IF EXISTS `old`", "DROP DATABASE `old`", ["old"]),
    (b"RENAME TABLE a TO b, c TO d.e", "RENAME TABLE `a`", ["d"]),
    (b"CREATE TABLE x.y (a int)", "CREATE TABLE `x`.`y`", ["x"]),
    (b"CREATE TABLE y (a int, FOREIGN KEY (a) REFERENCES o.p (a))", "CREATE TABLE `y`", []),
    (b"CREATE INDEX i ON z.t (a)", "CREATE INDEX `i`", ["z"]),
    (b"TRUNCATE TABLE z.t", "TRUNCATE TABLE `z`.`t`", ["z"]),
    (b"UPDATE z.t SET a = 1", "UPDATE `z`.`t`", ["z"]),
    (b"DELETE FROM z.t WHERE a = 1", "DELETE FROM `z`.`t`", ["z"]),
    (b"GRANT SELECT ON shop.* TO 'a'@'%'", "GRANT `shop`.`*`", ["shop"]),
    (b"CALL other.p()", "CALL `other`.`p`", ["other"]),
    (b"-- a comment\n/* another */ SET NAMES utf8mb4", "SET", []),
    (b"SELECT 1.5, a.b FROM t", "SELECT", []),
    (b"'not a statement'", "statement", []),
])
def test_statement_heads(statement: bytes, label: str, databases: list[str]) -> None:
    head = statement_head(statement)
    assert (head.label(), head.databases) == (label, databases)


def test_create_database_options() -> None:
    head = statement_head(b"CREATE DATABASE IF NOT EXISTS `a``b` DEFAULT CHARSET = latin1 "
                          b"COLLATE latin1_german1_ci COMMENT 'x'")
    assert (head.databases, head.charset, head.collation) == (["a`b"], "latin1", "latin1_german1_ci")


def test_comments_inside_a_statement_are_kept_and_leading_ones_dropped() -> None:
    script = (b"-- header; 'x\n/* lead; */\nCREATE PROCEDURE p() BEGIN\n  -- inner; comment\n"
              b"  # hash 'q\n  /* block; */ SELECT 1;\nEND;\n/*!40101 SET x=1 */;")
    body = (b"CREATE PROCEDURE p() BEGIN\n  -- inner; comment\n  # hash 'q\n  /* block; */ SELECT 1")
    assert list(iter_statements([script])) == [body, b"END", b"/*!40101 SET x=1 */"]


def blocks_of(data: bytes, size: int = 7) -> Iterator[bytes]:
    return iter([data[i : i + size] for i in range(0, len(data), size)])


class Reader(io.RawIOBase):
    """A file that returns at most ``size`` bytes per read (as a pipe does)."""

    def __init__(self, data: bytes, size: int = 1000) -> None:
        self.data, self.pos, self.size = data, 0, size

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        n = min(len(b), self.size, len(self.data) - self.pos)
        b[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


SQL = b"".join(b"INSERT INTO t VALUES (%d, 'row %d; with text');\n" % (i, i) for i in range(3000))


def read_all(data: bytes) -> tuple[bytes, str]:
    result = LoadResult()
    return b"".join(sql_blocks(Reader(data), result)), result.compression  # type: ignore[arg-type]


def test_gzip_members_and_zstd_frames_are_read_in_turn() -> None:
    half = len(SQL) // 2
    gz = gzip.compress(SQL[:half]) + gzip.compress(SQL[half:]) + b"\x00" * 512  # padding, as tar leaves
    zst = zstandard.ZstdCompressor().compress(SQL[:half]) + zstandard.ZstdCompressor().compress(SQL[half:])
    assert read_all(gz) == (SQL, "gzip")
    assert read_all(zst) == (SQL, "zstd")
    assert read_all(SQL) == (SQL, "none")


@pytest.mark.parametrize("packer", [gzip.compress, zstandard.ZstdCompressor().compress])
def test_a_cut_compressed_stream_is_truncated_not_short(packer: object) -> None:
    packed = packer(SQL)  # type: ignore[operator]
    for cut in (len(packed) // 2, len(packed) - 1):
        with pytest.raises(Truncated, match="ends early"):
            read_all(packed[:cut])


def test_damaged_gzip_and_zstd_are_integrity_errors() -> None:
    gz = bytearray(gzip.compress(SQL))
    gz[len(gz) // 2] ^= 0xFF
    zst = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(SQL))
    zst[len(zst) // 2] ^= 0xFF
    for data in (gz, zst):
        with pytest.raises(IntegrityError):
            read_all(bytes(data))


def survey(script: bytes, size: int = 7):  # type: ignore[no-untyped-def]
    return survey_script(lambda: blocks_of(script, size))


def test_survey_fast_pass_and_exact_pass() -> None:
    clean = survey(b"CREATE TABLE t (a INT);\nINSERT INTO t VALUES (1);\n")
    assert clean.databases == {} and not clean.exact
    # A name in data makes the fast pass look closer; the exact pass clears it.
    decoy = survey(b"INSERT INTO t VALUES ('a;USE other;');\n")
    assert decoy.databases == {} and decoy.exact
    named = survey(b"SET x=1;\nDELIMITER $$\nCREATE TRIGGER tr BEFORE INSERT ON o.t FOR EACH ROW "
                   b"BEGIN SET NEW.a=1; END $$\nDELIMITER ;\nUSE `shop`;\n"
                   b"CREATE DATABASE `shop` CHARACTER SET latin1;\n")
    assert named.databases == {"o": "statement 2 (CREATE TRIGGER `tr`)",
                               "shop": "statement 3 (USE `shop`)"}
    assert named.charsets == {"shop": ("latin1", None)}


def test_survey_names_the_last_statement_of_a_cut_file() -> None:
    packed = gzip.compress(SQL)
    with pytest.raises(Truncated, match=r"after statement \d+ \(INSERT INTO `t`\); nothing was run"):
        survey_script(lambda: sql_blocks(Reader(packed[: len(packed) // 2]), LoadResult()))  # type: ignore[arg-type]
