"""What osidump does not carry is said, never silently dropped: MariaDB
sequences and the history rows of system-versioned tables are listed in the
manifest's ``left_out``, which export, inspect and verify show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from osidump.cli.main import cli

from tests.integration.helpers import checksums, sql


def test_sequences_and_history_are_reported_as_left_out(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    conn = server.connect()
    db = make_database()
    sql(conn, f"USE `{db}`")
    sql(conn, "CREATE SEQUENCE invoice_no START WITH 1000")
    sql(conn, "CREATE TABLE prices (id INT PRIMARY KEY, amount INT) WITH SYSTEM VERSIONING")
    sql(conn, "INSERT INTO prices VALUES (1, 10), (2, 20)")
    sql(conn, "UPDATE prices SET amount = 11 WHERE id = 1")  # one history row
    sql(conn, "CREATE TABLE plain (id INT PRIMARY KEY)")
    conn_args = ["-h", server.host, "-P", str(server.port), "-u", server.user]
    dump = tmp_path / "dump"
    result = CliRunner().invoke(cli, ["export", db, "-o", str(dump), *conn_args])
    assert result.exit_code == 0, result.output
    assert f"left out of {db}: sequence invoice_no: sequences are not dumped" in result.output
    assert f"left out of {db}: history of prices: a system-versioned table's past rows" in result.output
    left = json.loads((dump / "manifest.json").read_text())["databases"][0]["left_out"]
    assert len(left) == 2
    shown = CliRunner().invoke(cli, ["inspect", str(dump)])
    assert "left out at export: sequence invoice_no" in shown.output

    # A partial export names only what its tables lose: no sequence, and the
    # history only of a versioned table it takes.
    part = tmp_path / "part"
    result = CliRunner().invoke(cli, ["export", db, "--tables", "plain", "-o", str(part), *conn_args])
    assert result.exit_code == 0, result.output
    assert json.loads((part / "manifest.json").read_text())["databases"][0]["left_out"] == []

    # The current rows restore exactly (the history is what was said to be left out).
    dst = make_database()
    result = CliRunner().invoke(cli, ["restore", str(dump), "-d", dst, *conn_args])
    assert result.exit_code == 0, result.output
    assert sql(conn, f"SELECT * FROM `{dst}`.prices ORDER BY id") == [(1, 11), (2, 20)]
    assert checksums(conn, dst)["plain"] == checksums(conn, db)["plain"]
