"""Connection settings against a real server, through the real ``osidump``
process: what works, and that each failure is one line, a hint and its
documented exit code, with no traceback and no password."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import ServerHandle, ThrowawayServer, free_port

SECRET = "Osi-" + uuid.uuid4().hex[:10]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def osidump(*args: str, home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed command line in a clean environment (no ~/.my.cnf, no DB_*)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OSIDUMP_", "DB_"))}
    clean.update(HOME=str(home), **(env or {}))
    return subprocess.run([sys.executable, "-m", "osidump.cli.main", *args], capture_output=True,
                          text=True, env=clean, timeout=60, stdin=subprocess.DEVNULL)


def target(srv: ServerHandle) -> list[str]:
    return ["-h", srv.host, "-P", str(srv.port), "-u", srv.user]


def assert_fails(proc: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    """Exactly one error line naming the problem, one hint line, nothing else."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if "process list" not in line]
    assert len(lines) == 2, proc.stderr
    assert lines[0].startswith("osidump: error: ") and needle in lines[0], proc.stderr
    assert lines[1].startswith("  hint: ")
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert SECRET not in proc.stderr


@pytest.fixture
def user_with_password(server: ServerHandle) -> Iterator[str]:
    """A login that needs SECRET, dropped afterwards."""
    name = "osi_t_" + uuid.uuid4().hex[:8]
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{SECRET}'")
            cur.execute(f"GRANT SELECT ON *.* TO '{name}'@'%'")
        yield name
        with conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")
    finally:
        conn.close()


def test_ping_reports_the_server(server: ServerHandle, home: Path) -> None:
    proc = osidump("ping", *target(server), env={"OSIDUMP_PASSWORD": server.password}, home=home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"connected to {server.user}@{server.host}:{server.port}: ")
    assert ("mariadb" in proc.stdout) or ("mysql" in proc.stdout)


def test_password_from_each_source(server: ServerHandle, user_with_password: str, home: Path,
                                   tmp_path: Path) -> None:
    where = ["-h", server.host, "-P", str(server.port), "-u", user_with_password]
    assert osidump("ping", *where, env={"OSIDUMP_PASSWORD": SECRET}, home=home).returncode == 0
    assert osidump("ping", *where, env={"DB_PASSWORD": SECRET}, home=home).returncode == 0
    (tmp_path / ".env").write_text(f'DB_PASSWORD="{SECRET}"\n')
    assert osidump("ping", *where, "--env-file", str(tmp_path / ".env"), home=home).returncode == 0
    (home / ".my.cnf").write_text(f"[client]\npassword = '{SECRET}'\n")
    proc = osidump("ping", *where, home=home)
    assert proc.returncode == 0, proc.stderr
    proc = osidump("ping", *where, f"--password={SECRET}", home=home)
    assert proc.returncode == 0 and "process list" in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr


def test_wrong_password_exits_3_without_traceback(server: ServerHandle, user_with_password: str,
                                                  home: Path) -> None:
    where = ["-h", server.host, "-P", str(server.port), "-u", user_with_password]
    proc = osidump("ping", *where, env={"OSIDUMP_PASSWORD": SECRET + "-wrong"}, home=home)
    assert_fails(proc, 3, "Access denied")
    assert "hint: check --user and the password" in proc.stderr
    proc = osidump("-v", "ping", *where, env={"OSIDUMP_PASSWORD": SECRET + "-wrong"}, home=home)
    assert proc.returncode == 3 and "Traceback" in proc.stderr  # -v shows it
    assert SECRET not in proc.stderr


def test_unknown_user_exits_3(server: ServerHandle, home: Path) -> None:
    proc = osidump("ping", "-h", server.host, "-P", str(server.port), "-u", "osi_no_such_user", home=home)
    assert_fails(proc, 3, "Access denied")


@pytest.mark.parametrize("where", [["-h", "127.0.0.1", "-P", "port"], ["-h", "no-such-host.invalid"],
                                   ["-S", "/nonexistent/mysqld.sock"]], ids=["port", "host", "socket"])
def test_unreachable_server_exits_3(where: list[str], home: Path) -> None:
    args = [str(free_port()) if a == "port" else a for a in where]
    assert_fails(osidump("ping", *args, home=home), 3, "cannot connect")


def test_unknown_database_exits_4(server: ServerHandle, home: Path) -> None:
    name = "osi_nope_" + uuid.uuid4().hex[:6]
    proc = osidump("ping", name, *target(server), env={"OSIDUMP_PASSWORD": server.password}, home=home)
    assert_fails(proc, 4, name)
    # the same through the default database of a Laravel .env
    proc = osidump("ping", *target(server), env={"OSIDUMP_PASSWORD": server.password, "DB_DATABASE": name},
                   home=home)
    assert_fails(proc, 4, name)


def test_known_database_connects(server: ServerHandle, make_database: Any, home: Path) -> None:
    db = make_database()
    proc = osidump("ping", db, *target(server), env={"OSIDUMP_PASSWORD": server.password}, home=home)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("flag", ["--env-file", "--defaults-file"])
def test_unreadable_settings_files_exit_2(flag: str, tmp_path: Path, home: Path) -> None:
    assert_fails(osidump("ping", flag, str(tmp_path / "missing"), home=home), 2, "missing")
    assert_fails(osidump("ping", flag, str(tmp_path), home=home), 2, str(tmp_path))  # a directory
    (tmp_path / "latin1").write_bytes(b"DB_HOST=caf\xe9\n[client]\n")
    assert_fails(osidump("ping", flag, str(tmp_path / "latin1"), home=home), 2, "UTF-8")


def test_bad_port_and_ssl_mode_exit_2(home: Path) -> None:
    assert_fails(osidump("ping", "-P", "abc", home=home), 2, "not a number")
    assert_fails(osidump("ping", "--ssl-mode", "sometimes", home=home), 2, "ssl mode")
    assert_fails(osidump("ping", "--ssl-ca", "/nonexistent/ca.pem", home=home), 2, "ca.pem")


def test_socket_then_a_killed_server(second_server: ThrowawayServer, home: Path) -> None:
    """Over the Unix socket (which beats a host), then the same server killed: exit 3."""
    assert second_server.socket is not None
    proc = osidump("ping", "-S", second_server.socket, "-u", "root", "-h", "ignored.invalid", home=home)
    assert proc.returncode == 0, proc.stderr
    assert second_server.socket in proc.stdout
    second_server.kill()
    assert_fails(osidump("ping", *target(second_server), home=home), 3, "cannot connect")
    assert_fails(osidump("ping", "-S", second_server.socket, "-u", "root", home=home), 3, "cannot connect")
