"""The monthly restore drill: restore to scratch, check, clean up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from osidump.cli.main import cli
from osidump.engine.format.manifest import load_manifest
from osidump.engine.storage.base import LocalStorage

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


def test_no_binlog_keeps_the_restore_out_of_the_binary_log(second_server: Any, tmp_path: Path) -> None:
    """On a primary, --no-binlog restores and drills never reach the replicas:
    the binary log does not move. Without it, it does."""
    conn = second_server.connect()
    sql(conn, "CREATE DATABASE shop")
    sql(conn, "CREATE TABLE shop.t (id INT PRIMARY KEY)")
    sql(conn, "INSERT INTO shop.t VALUES (1), (2)")
    out = str(tmp_path / "dump")
    export(second_server.connection_config(), LocalStorage(out), "shop")

    def position() -> tuple[Any, ...]:
        return tuple(sql(conn, "SHOW MASTER STATUS")[0][:2])

    args = ["-h", second_server.host, "-P", str(second_server.port), "-u", second_server.user]
    before = position()
    result = CliRunner().invoke(cli, ["restore", out, "-d", "shop_copy", "--no-binlog", *args])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["drill", out, "--no-binlog", *args])
    assert result.exit_code == 0, result.output
    assert position() == before
    assert sql(conn, "SELECT COUNT(*) FROM shop_copy.t")[0][0] == 2
    result = CliRunner().invoke(cli, ["restore", out, "-d", "shop_logged", *args])
    assert result.exit_code == 0 and position() != before


def test_no_binlog_without_the_privilege_is_a_clear_error(server: Any, make_database: Any, tmp_path: Path) -> None:
    import uuid

    db, out = make_dump(server, make_database, tmp_path)
    conn = server.connect()
    user = "osi_nb_" + uuid.uuid4().hex[:6]
    target = db + "_nb"
    sql(conn, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
    sql(conn, f"GRANT ALL ON `{target}`.* TO '{user}'@'%'")
    try:
        result = CliRunner().invoke(cli, ["restore", out, "-d", target, "--no-binlog", "-h", server.host,
                                          "-P", str(server.port), "-u", user, "--password=pw"])
        assert result.exit_code == 8, result.output
        assert "--no-binlog" in result.output
        assert not sql(conn, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (target,))
    finally:
        sql(conn, f"DROP USER '{user}'@'%'")
        sql(conn, f"DROP DATABASE IF EXISTS `{target}`")


def test_a_drill_the_target_refuses_blames_the_target_not_the_dump(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    """A user who may not create the scratch database: the drill fails with the
    restore's own error and exit code, and does not call a sound dump
    untrustworthy; the restore's hint says nothing was changed."""
    import uuid

    _db, out = make_dump(server, make_database, tmp_path)
    conn = server.connect()
    user = "osi_dr_" + uuid.uuid4().hex[:6]
    sql(conn, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
    try:
        result = CliRunner().invoke(cli, ["drill", out, "-h", server.host, "-P", str(server.port),
                                          "-u", user, "--password=pw"])
        assert result.exit_code not in (0, 5), result.output
        assert "restore drill failed" in result.output
        assert "cannot be trusted" not in result.output
        assert "nothing was changed on the target" in result.output
    finally:
        sql(conn, f"DROP USER '{user}'@'%'")


def test_a_dump_of_accounts_alone_has_nothing_to_drill(server: Any, tmp_path: Path) -> None:
    out = str(tmp_path / "accounts")
    made = CliRunner().invoke(cli, ["export", "--users", "-o", out, *conn_args(server)], env={"DB_DATABASE": ""})
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(cli, ["drill", out, *conn_args(server)])
    assert result.exit_code == 2, result.output
    assert "this dump holds no database to drill" in result.output
