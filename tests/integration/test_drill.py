"""The monthly restore drill: restore to scratch, check, clean up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from osidump.cli.main import cli
from osidump.engine.manifest import load_manifest
from osidump.engine.storage import LocalStorage

from tests.integration.helpers import export, sql


def scratch_dbs(conn: Any, source: str) -> list[str]:
    return [r[0] for r in sql(conn, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                                    "WHERE SCHEMA_NAME LIKE %s", (source + "_drill_%",))]


def make_dump(server: Any, make_database: Any, tmp_path: Path) -> tuple[str, str]:
    db = make_database()
    conn = server.connect()
    sql(conn, f"USE `{db}`")
    sql(conn, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    sql(conn, "INSERT INTO t SELECT seq, 'x' FROM seq_1_to_1000")
    sql(conn, "CREATE VIEW v AS SELECT COUNT(*) AS c FROM t")
    out = str(tmp_path / "dump")
    export(server.connection_config(), LocalStorage(out), db)
    return db, out


def conn_args(server: Any) -> list[str]:
    return ["-h", server.host, "-P", str(server.port), "-u", server.user]


def test_drill_passes_and_cleans_up(server: Any, make_database: Any, tmp_path: Path) -> None:
    db, out = make_dump(server, make_database, tmp_path)
    result = CliRunner().invoke(cli, ["drill", out, "--json", *conn_args(server)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] and report["rows"] == 1000 and report["tables"] == 1
    assert scratch_dbs(server.connect(), db) == []


def test_drill_keep_leaves_the_scratch_copy(server: Any, make_database: Any, tmp_path: Path) -> None:
    db, out = make_dump(server, make_database, tmp_path)
    result = CliRunner().invoke(cli, ["drill", out, "--keep", *conn_args(server)])
    assert result.exit_code == 0 and "drill passed" in result.output
    kept = scratch_dbs(server.connect(), db)
    assert len(kept) == 1
    assert sql(server.connect(), f"SELECT c FROM `{kept[0]}`.v") == [(1000,)]
    sql(server.connect(), f"DROP DATABASE `{kept[0]}`")


def test_drill_on_a_damaged_dump_fails_and_leaves_nothing(server: Any, make_database: Any, tmp_path: Path) -> None:
    db, out = make_dump(server, make_database, tmp_path)
    chunk = Path(out) / load_manifest(LocalStorage(out)).database(db).table("t").chunks[0].path
    data = bytearray(chunk.read_bytes())
    data[-30] ^= 0xFF
    chunk.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["drill", out, "--keep", *conn_args(server)])
    assert result.exit_code == 5, result.output
    assert "restore drill failed" in result.output
    assert scratch_dbs(server.connect(), db) == []  # dropped even with --keep
