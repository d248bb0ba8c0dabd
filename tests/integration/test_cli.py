"""The osidump command as a user runs it: exit codes, one-line errors, no
tracebacks, no passwords in output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from osidump.cli.main import cli

from tests.integration.helpers import checksums, sql


def conn_args(server: Any) -> list[str]:
    return ["-h", server.host, "-P", str(server.port), "-u", server.user]


def make_shop(server: Any, db: str) -> None:
    conn = server.connect()
    sql(conn, f"USE `{db}`")
    sql(conn, "CREATE TABLE billing_subscriptions (id INT PRIMARY KEY, plan VARCHAR(20))")
    sql(conn, "CREATE TABLE webhook_event_receipts (id INT PRIMARY KEY, payload JSON)")
    sql(conn, "CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(100))")
    sql(conn, "CREATE TABLE migrations (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"
              " migration VARCHAR(255) NOT NULL, batch INT NOT NULL)")
    sql(conn, "INSERT INTO billing_subscriptions SELECT seq, 'pro' FROM seq_1_to_300")
    sql(conn, "INSERT INTO webhook_event_receipts SELECT seq, JSON_OBJECT('n', seq) FROM seq_1_to_300")
    sql(conn, "INSERT INTO users SELECT seq, CONCAT('u', seq, '@example.com') FROM seq_1_to_300")
    sql(conn, "INSERT INTO migrations (migration, batch) VALUES"
              " ('2014_10_12_000000_create_users_table', 1),"
              " ('2026_01_05_120000_create_billing_subscriptions_table', 2),"
              " ('2026_11_20_090000_add_plan_to_billing', 3)")


def test_export_inspect_verify_restore_through_the_cli(server: Any, make_database: Any, tmp_path: Path) -> None:
    src, dst = make_database(), make_database()
    make_shop(server, src)
    runner = CliRunner()
    out = str(tmp_path / "dump")
    result = runner.invoke(cli, ["export", src, "-o", out, "--threads", "2", *conn_args(server)])
    assert result.exit_code == 0, result.output
    assert "exported 4 tables, 903 rows" in result.output

    result = runner.invoke(cli, ["inspect", out])
    assert result.exit_code == 0, result.output
    assert "laravel migrations: 3 applied, last batch 3: 2026_11_20_090000_add_plan_to_billing" in result.output
    info = json.loads(runner.invoke(cli, ["inspect", out, "--json"]).output)
    assert info["databases"][0]["laravel"]["last_batch"] == 3

    result = runner.invoke(cli, ["verify", out])
    assert result.exit_code == 0 and "every checksum and statement checked" in result.output

    plan = json.loads(runner.invoke(cli, ["restore", out, "-d", dst, "--dry-run", "--json"]).output)
    assert {t["table"] for t in plan["tables"]} == {f"{dst}.{t}" for t in
                                                   ("billing_subscriptions", "webhook_event_receipts", "users", "migrations")}
    assert checksums(server.connect(), dst) == {}  # the dry run touched nothing

    result = runner.invoke(cli, ["restore", out, "-d", dst, *conn_args(server)])
    assert result.exit_code == 0, result.output
    assert checksums(server.connect(), dst) == checksums(server.connect(), src)


def test_runbook_emergency_dump_of_two_tables(server: Any, make_database: Any, tmp_path: Path) -> None:
    src = make_database()
    make_shop(server, src)
    out = str(tmp_path / "emergency")
    result = CliRunner().invoke(cli, ["export", src, "--tables", "billing_subscriptions,webhook_event_receipts",
                                      "-o", out, *conn_args(server)])
    assert result.exit_code == 0, result.output
    assert "exported 2 tables, 600 rows" in result.output


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script's module, in a subprocess: real exit codes and streams."""
    return subprocess.run([sys.executable, "-m", "osidump.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=False, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("osidump: error:")]
    assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_inputs_give_one_line_and_documented_exit_codes(server: Any, make_database: Any, tmp_path: Path) -> None:
    src = make_database()
    make_shop(server, src)
    base = conn_args(server)
    # wrong password -> 3, password not echoed
    proc = run_cli("export", src, "-o", str(tmp_path / "a"), *base, "--password=s3cr3t-wrong")
    assert_one_line_error(proc, 3, "Access denied")
    assert "s3cr3t-wrong" not in proc.stderr + proc.stdout
    assert "process list" in proc.stderr  # the warning about -pSECRET
    # unreachable port -> 3
    from tests.support.servers import free_port

    proc = run_cli("ping", "-h", "127.0.0.1", "-P", str(free_port()), "-u", "root")
    assert_one_line_error(proc, 3, "cannot connect")
    # unknown database -> 4, unknown table -> 4
    assert_one_line_error(run_cli("export", "osi_nope_" + uuid.uuid4().hex[:6], "-o", str(tmp_path / "b"), *base),
                          4, "does not exist")
    assert_one_line_error(run_cli("export", src, "--tables", "nosuch", "-o", str(tmp_path / "c"), *base), 4, "nosuch")
    # unreadable env file -> 2
    assert_one_line_error(run_cli("ping", "--env-file", str(tmp_path / "missing.env")), 2, "env-file")
    # destination not empty -> 6
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert_one_line_error(run_cli("export", src, "-o", str(tmp_path / "full"), *base), 6, "not empty")
    # incomplete dump -> 5; corrupt chunk -> 5 naming the chunk
    out = tmp_path / "dump"
    assert run_cli("export", src, "-o", str(out), *base).returncode == 0
    manifest = out / "manifest.json"
    data = manifest.read_bytes()
    manifest.unlink()
    assert_one_line_error(run_cli("verify", str(out)), 5, "no manifest")
    assert_one_line_error(run_cli("restore", str(out), "-d", "x", *base), 5, "no manifest")
    manifest.write_bytes(data)
    chunk = next((out / "data").rglob("*.tsv.zst"))
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 1
    chunk.write_bytes(bytes(raw))
    proc = run_cli("verify", str(out))
    assert_one_line_error(proc, 5, "problem")
    assert "FAIL" in proc.stdout and chunk.name in proc.stdout
    # restore over existing tables -> 9
    assert_one_line_error(run_cli("restore", str(out), "--tables", "users", *base), 9, "already exist")


def test_a_malformed_option_file_is_exit_2_not_a_login_as_the_os_user(server: Any, tmp_path: Path) -> None:
    """The reviewer's file: `user explore_op` (no '=') and an unterminated
    quote were skipped, and ping connected as the OS user with exit 0. Each
    line is now exit 2 naming the file and line, before any connection."""
    where = ["-h", server.host, "-P", str(server.port)]
    good = tmp_path / "good.cnf"
    good.write_text(f"[client]\nuser={server.user}\nskip-ssl\ncompress\n")
    assert run_cli("ping", "--defaults-file", str(good), *where).returncode == 0  # the control
    for number, line in ((2, "user explore_op"), (3, 'password = "Secret')):
        cnf = tmp_path / f"bad{number}.cnf"
        cnf.write_text(f"[client]\n{'user=x' + chr(10) if number == 3 else ''}{line}\n")
        proc = run_cli("ping", "--defaults-file", str(cnf), *where)
        assert_one_line_error(proc, 2, f"option file {cnf}, line {number}:")
        assert proc.stdout == "" and "Secret" not in proc.stderr


def test_threads_0_is_out_of_range_like_any_other(server: Any, make_database: Any, tmp_path: Path) -> None:
    """`-j 0` was taken as "the default" by export and restore (and verify ran
    with it) while `-j -3` said "use 1-256": 0 is now the same error, before
    anything is written."""
    src, dst = make_database(), make_database()
    make_shop(server, src)
    base = conn_args(server)
    dump = tmp_path / "dump"
    assert run_cli("export", src, "-o", str(dump), *base).returncode == 0
    for threads in ("0", "-3", "257"):
        out = tmp_path / f"out{threads}"
        assert_one_line_error(run_cli("export", src, "-o", str(out), "-j", threads, *base), 2,
                              f"--threads {threads} is out of range")
        assert not out.exists()
        for command in (["restore", str(dump), "-d", dst, *base], ["verify", str(dump)],
                        ["drill", str(dump), *base]):
            proc = run_cli(*command, "--threads", threads)
            assert_one_line_error(proc, 2, f"--threads {threads} is out of range")
            assert "hint: use 1-256" in proc.stderr
    conn = server.connect()
    assert sql(conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s", (dst,)) == [(0,)]


def test_laravel_env_file_supplies_the_connection(server: Any, make_database: Any, tmp_path: Path) -> None:
    db = make_database()
    make_shop(server, db)
    env = tmp_path / ".env"
    env.write_text(f"APP_NAME=osikatu\nDB_CONNECTION=mysql\nDB_HOST={server.host}\nDB_PORT={server.port}\n"
                   f"DB_DATABASE={db}\nDB_USERNAME={server.user}\nDB_PASSWORD=\"{server.password}\"\n")
    clean = {k: "" for k in ("DB_HOST", "DB_PORT", "DB_DATABASE", "DB_USERNAME", "DB_PASSWORD",
                             "OSIDUMP_HOST", "OSIDUMP_PORT", "OSIDUMP_USER", "OSIDUMP_PASSWORD", "OSIDUMP_DATABASE")}
    proc = run_cli("export", "--env-file", str(env), "-o", str(tmp_path / "dump"), env=clean)
    assert proc.returncode == 0, proc.stderr
    assert "exported 4 tables" in proc.stdout


def test_restore_with_the_apps_env_file_onto_a_server_without_the_database(
    server: Any, second_server: Any, make_database: Any, tmp_path: Path
) -> None:
    """The runbook's restore: DB_DATABASE in .env names a database the target
    server does not have yet; the restore creates it."""
    db = make_database()
    make_shop(server, db)
    out = str(tmp_path / "dump")
    assert CliRunner().invoke(cli, ["export", db, "-o", out, *conn_args(server)]).exit_code == 0
    env = tmp_path / ".env"
    env.write_text(f"DB_HOST={second_server.host}\nDB_PORT={second_server.port}\nDB_DATABASE={db}\n"
                   f"DB_USERNAME={second_server.user}\nDB_PASSWORD=\n")
    clean = {k: "" for k in ("DB_HOST", "DB_PORT", "DB_DATABASE", "DB_USERNAME", "DB_PASSWORD",
                             "OSIDUMP_HOST", "OSIDUMP_PORT", "OSIDUMP_USER", "OSIDUMP_PASSWORD", "OSIDUMP_DATABASE")}
    proc = run_cli("restore", out, "--env-file", str(env), env=clean)
    assert proc.returncode == 0, proc.stderr
    assert checksums(second_server.connect(), db) == checksums(server.connect(), db)
