"""Version-1 dumps (SQL INSERT chunks, written by osidump 0.1) still verify,
restore, drill and turn into SQL exactly, and their lines still cannot carry
anything but rows: tests/fixtures/v1_dump was written by the released code."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from osidump.engine.errors import IntegrityError
from osidump.engine.format.manifest import load_manifest
from osidump.engine.restore.drill import run_drill
from osidump.engine.restore.verify import verify_dump
from osidump.engine.sqlfile.to_sql import write_sql
from osidump.engine.storage.base import LocalStorage

from tests.fixtures.v1_source import build
from tests.integration.helpers import restore, sql
from tests.support.hostile import rewrite_chunk

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "v1_dump"
SOURCE = "osidump_v1_fixture"
COMPARE = [
    "SELECT id, i8, u8, i64, u64, dec65, f, CAST(f AS DOUBLE), d, dt, dtm, ts, tm, y, b1+0, b64+0, e, s,"
    " HEX(vc), HEX(txt), HEX(l1), HEX(lt), HEX(bin), HEX(vb), HEX(bl), j, ST_AsText(g), ST_AsText(p),"
    " gen, gens, inv FROM `{db}`.t ORDER BY id",
    "SELECT * FROM `{db}`.`we``ird ta.ble` ORDER BY 1",
    "SELECT * FROM `{db}`.seqs ORDER BY id",
    "SELECT a, b FROM `{db}`.nokey ORDER BY a, b",
    "SELECT * FROM `{db}`.seq_view ORDER BY id",
]


def same_data(conn: Any, a: str, b: str) -> None:
    sql(conn, "SET SESSION time_zone = '+00:00'")
    for query in COMPARE:
        assert sql(conn, query.format(db=a)) == sql(conn, query.format(db=b)), query


def copy_fixture(tmp_path: Path) -> Path:
    target = tmp_path / "v1"
    shutil.copytree(FIXTURE, target)
    return target


def test_the_fixture_is_a_version_1_dump() -> None:
    manifest = load_manifest(LocalStorage(str(FIXTURE)))
    assert manifest.format_version == 1 and manifest.encoding == "sql"
    assert verify_dump(LocalStorage(str(FIXTURE))).ok


def test_version_1_dump_restores_exactly(server: Any, make_database: Any) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    build(conn, src)
    restore(server.connection_config(), LocalStorage(str(FIXTURE)), database=dst, threads=2)
    same_data(conn, src, dst)
    assert sql(conn, f"SELECT `{dst}`.twice(21)")[0][0] == 42
    assert {r[0] for r in sql(conn, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
                                    " WHERE TRIGGER_SCHEMA = %s", (dst,))} == {"seqs_bi"}


def test_version_1_dump_through_to_sql_and_the_stock_client(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    build(conn, src)
    script = tmp_path / "v1.sql"
    with script.open("wb") as out:
        write_sql(LocalStorage(str(FIXTURE)), out.write, database=dst)
    client = shutil.which("mariadb") or shutil.which("mysql")
    assert client, "install mariadb-client"
    proc = subprocess.run([client, "-h", server.host, "-P", str(server.port), "-u", server.user,
                           "--binary-mode"], stdin=script.open("rb"), capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    same_data(conn, src, dst)


def test_version_1_dump_drills(server: Any) -> None:
    report = run_drill(server.connection_config(), LocalStorage(str(FIXTURE)))
    assert report.ok, report.problems
    assert report.rows == 3 + 3 + 3000 + 3


@pytest.mark.parametrize(
    "edit",
    [
        lambda line: line[:-1] + b"; DROP TABLE `keep`;",
        lambda line: line.replace(b"VALUES (", b"VALUES ((SELECT MAX(id) FROM `keep`) + ", 1),
        lambda line: line.replace(b"INSERT INTO `seqs`", b"INSERT INTO `keep`", 1),
    ],
    ids=["second statement", "subquery", "another table"],
)
def test_hostile_version_1_lines_never_run(
    server: Any, make_database: Any, tmp_path: Path, edit: Any
) -> None:
    """A line edited with the digests recomputed: verify and restore refuse
    the dump (exit 5) before the line reaches the server."""
    root = copy_fixture(tmp_path)
    manifest = load_manifest(LocalStorage(str(root)))
    path = manifest.database(SOURCE).table("seqs").chunks[0].path

    def poison(content: bytes) -> bytes:
        lines = content.split(b"\n")
        lines[1] = edit(lines[1])
        return b"\n".join(lines)

    rewrite_chunk(root, path, poison, rows=manifest.database(SOURCE).table("seqs").chunks[0].rows)
    report = verify_dump(LocalStorage(str(root)))
    assert not report.ok and "is not an INSERT of literals" in report.all_problems()[0]
    dst = make_database()
    conn = server.connect()
    sql(conn, f"CREATE TABLE `{dst}`.keep (id INT PRIMARY KEY)")
    sql(conn, f"INSERT INTO `{dst}`.keep VALUES (1)")
    with pytest.raises(IntegrityError, match="not an INSERT of literals"):
        restore(server.connection_config(), LocalStorage(str(root)), database=dst)
    assert sql(conn, f"SELECT * FROM `{dst}`.keep") == [(1,)]
