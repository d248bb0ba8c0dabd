"""A partial dump (the runbook's emergency `--tables` export) restores on its
own; LOCAL INFILE refused by the target is a slower path, never a failure;
to-sql never lets the client commit rows of an unverified chunk."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from osidump.cli.main import cli
from osidump.engine.restore.drill import run_drill
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import checksums, export, restore, sql

SCHEMA = [
    "CREATE TABLE billing_subscriptions (id INT PRIMARY KEY, plan VARCHAR(20))",
    "CREATE TABLE webhook_event_receipts (id INT PRIMARY KEY, sub_id INT, body TEXT)",
    "CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(100))",
    "CREATE VIEW paying AS SELECT id FROM billing_subscriptions WHERE plan <> 'free'",
    "CREATE VIEW paying_count AS SELECT COUNT(*) AS n FROM paying",
    "CREATE VIEW user_subs AS SELECT u.email, b.plan FROM users u JOIN billing_subscriptions b"
    " ON b.id = u.id",
    "CREATE TRIGGER bs_bi BEFORE INSERT ON billing_subscriptions FOR EACH ROW"
    " SET NEW.plan = LOWER(NEW.plan)",
    "CREATE TRIGGER u_bi BEFORE INSERT ON users FOR EACH ROW SET NEW.email = LOWER(NEW.email)",
    "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM users WHERE id < 0",
]


def source(conn: Any, db: str) -> None:
    sql(conn, f"USE `{db}`")
    for stmt in SCHEMA:
        sql(conn, stmt)
    sql(conn, "INSERT INTO billing_subscriptions SELECT seq, ELT(1 + seq MOD 2, 'free', 'pro')"
              " FROM seq_1_to_500")
    sql(conn, "INSERT INTO webhook_event_receipts SELECT seq, seq MOD 500, REPEAT('w', seq MOD 90)"
              " FROM seq_1_to_800")
    sql(conn, "INSERT INTO users SELECT seq, CONCAT('u', seq) FROM seq_1_to_300")


def test_an_emergency_dump_restores_and_drills_on_its_own(
    server: Any, make_database: Any, tmp_path: Path, second_server: Any
) -> None:
    conn = server.connect()
    src = make_database()
    source(conn, src)
    storage = LocalStorage(str(tmp_path / "emergency"))
    manifest = export(server.connection_config(), storage, src,
                      tables=("billing_subscriptions", "webhook_event_receipts"))
    db = manifest.database(src)
    assert [t.name for t in db.tables] == ["billing_subscriptions", "webhook_event_receipts"]
    assert db.views == ["paying", "paying_count"]  # user_subs reads users: left out
    assert db.triggers == ["bs_bi"] and db.routines == [] and db.events == []
    assert any(left.startswith("view user_subs: reads users") for left in db.left_out)
    assert any(left.startswith("function twice") for left in db.left_out)
    assert any(left.startswith("event nightly") for left in db.left_out)
    inspected = CliRunner().invoke(cli, ["inspect", storage.root])
    assert "left out at export: view user_subs" in inspected.output

    # Into an empty server, under the same name and under another.
    restore(second_server.connection_config(), storage)
    other = second_server.connect()
    assert sql(other, f"SELECT n FROM `{src}`.paying_count") == [(250,)]
    restore(second_server.connection_config(), storage, database="emergency_copy")
    assert checksums(other, "emergency_copy") == checksums(other, src)
    report = run_drill(second_server.connection_config(), storage)
    assert report.ok, report.problems

    # Asked for, routines and events come along.
    asked = LocalStorage(str(tmp_path / "asked"))
    db2 = export(server.connection_config(), asked, src, tables=("billing_subscriptions",),
                 routines=True, events=True).database(src)
    assert db2.routines == ["function twice"] and db2.events == ["nightly"]


def test_a_target_without_local_infile_restores_exactly_by_insert(
    server: Any, make_database: Any, tmp_path: Path, second_server: Any
) -> None:
    conn = server.connect()
    src = make_database()
    source(conn, src)
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src, chunk_bytes=8192)
    other = second_server.connect()
    sql(other, "SET GLOBAL local_infile = 0")
    result = restore(second_server.connection_config(), storage)
    assert any("local_infile=OFF" in note and "SET GLOBAL local_infile = 1" in note
               for note in result.notes), result.notes
    assert checksums(other, src) == checksums(conn, src)
    # The same through the CLI: said once.
    run = CliRunner().invoke(cli, ["restore", storage.root, "-d", "again", "-h", second_server.host,
                                   "-P", str(second_server.port), "-u", second_server.user])
    assert run.exit_code == 0, run.output
    assert run.output.count("local_infile=OFF") == 1


def test_to_sql_of_a_damaged_chunk_commits_none_of_its_rows(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    conn = server.connect()
    src, dst = make_database(), make_database()
    sql(conn, f"USE `{src}`")
    sql(conn, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(64))")
    sql(conn, "INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_10000")
    root = tmp_path / "dump"
    manifest = export(server.connection_config(), LocalStorage(str(root)), src)
    chunk = root / manifest.database(src).table("t").chunks[0].path
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])  # truncated
    client = shutil.which("mariadb") or shutil.which("mysql")
    assert client, "install mariadb-client"
    to_sql = subprocess.Popen([sys.executable, "-m", "osidump.cli.main", "to-sql", str(root), "-d", dst],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    load = subprocess.run([client, "-h", server.host, "-P", str(server.port), "-u", server.user,
                           "--binary-mode"], stdin=to_sql.stdout, capture_output=True, check=False)
    assert to_sql.stdout is not None
    to_sql.stdout.close()
    assert to_sql.wait(timeout=120) == 5
    # The script ends with an error the client stops on: without pipefail the
    # pipeline fails too.
    assert load.returncode != 0
    assert b"osidump to-sql stopped: the dump failed verification" in load.stderr
    assert sql(conn, f"SELECT COUNT(*) FROM `{dst}`.t") == [(0,)]
