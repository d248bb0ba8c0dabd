"""The backup lock waits a bounded time and names what it waited behind.

A session holds ``LOCK TABLES ... WRITE`` on a table outside the export and
runs a long statement: the backup lock (BACKUP STAGE on MariaDB 10.4+, FTWRL
elsewhere) cannot be granted. With the server's default lock_wait_timeout
(a year) the export would hang while stalling every writer; with
``lock_wait_timeout`` it gives up, names the blocker, and ``auto`` falls back.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from osidump.engine.errors import ConsistencyError
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import export, sql


@pytest.fixture
def blocker(server: Any, make_database: Any) -> Iterator[str]:
    """A session holding a write lock on ``<db>.held`` and running a long
    statement; killed afterwards. Yields the locked table's name."""
    db = make_database()
    conn = server.connect()
    sql(conn, f"CREATE TABLE `{db}`.held (id INT PRIMARY KEY)")
    sql(conn, f"LOCK TABLES `{db}`.held WRITE")
    holder_id = conn.thread_id()
    running = threading.Thread(target=lambda: _quietly(conn, "SELECT SLEEP(600)"), daemon=True)
    running.start()
    admin = server.connect()
    while not sql(admin, "SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %s AND INFO"
                         " LIKE 'SELECT SLEEP%%'", (holder_id,)):
        running.join(0.01)  # wait until the statement is visible in the processlist
    try:
        yield f"{db}.held"
    finally:
        sql(admin, f"KILL {holder_id}")
        running.join()
        admin.close()


def _quietly(conn: Any, statement: str) -> None:
    with contextlib.suppress(pymysql.err.MySQLError):  # killed at the end of the test
        sql(conn, statement)


@pytest.fixture
def bank(server: Any, make_database: Any) -> str:
    db = make_database()
    conn = server.connect()
    sql(conn, f"CREATE TABLE `{db}`.a (id INT PRIMARY KEY, bal INT)")
    sql(conn, f"INSERT INTO `{db}`.a VALUES " + ", ".join(f"({i}, 10)" for i in range(1, 101)))
    return str(db)


def test_auto_gives_up_the_lock_names_the_blocker_and_falls_back(
    server: Any, bank: str, blocker: str, tmp_path: Path
) -> None:
    manifest = export(server.connection_config(), LocalStorage(str(tmp_path / "d")), bank,
                      threads=2, consistency="auto", lock_wait_timeout=1)
    snap = manifest.snapshot
    assert snap.consistency == "snapshot-check"  # binlog on, MariaDB: the lock-free check
    assert "waited 1 s" in snap.reason
    assert "SELECT SLEEP(600)" in snap.reason  # the blocking session's statement
    assert blocker in snap.reason  # and the table it holds


def test_explicit_lock_retries_then_exits_7_naming_the_blocker(
    server: Any, bank: str, blocker: str, tmp_path: Path
) -> None:
    with pytest.raises(ConsistencyError) as info:
        export(server.connection_config(), LocalStorage(str(tmp_path / "d")), bank, threads=2,
               consistency="lock", lock_wait_timeout=1)
    assert "3 attempts" in info.value.message and blocker in info.value.message
    out = tmp_path / "cli"
    proc = subprocess.run(
        [sys.executable, "-m", "osidump.cli.main", "export", bank, "-o", str(out), "-h", server.host,
         "-P", str(server.port), "-u", server.user, "--ssl-mode", "DISABLED", "--threads", "2",
         "--consistency", "lock", "--lock-wait-timeout", "1"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OSIDUMP_PASSWORD": server.password},
    )
    assert proc.returncode == 7, proc.stderr
    assert "SELECT SLEEP(600)" in proc.stderr and "--lock-wait-timeout" in proc.stderr
    assert not (out / "manifest.json").exists()


def test_the_lock_is_taken_once_the_blocker_is_gone(server: Any, bank: str, tmp_path: Path) -> None:
    """The control: no blocker, same timeout, the lock is granted."""
    manifest = export(server.connection_config(), LocalStorage(str(tmp_path / "d")), bank,
                      threads=2, consistency="auto", lock_wait_timeout=1)
    assert manifest.snapshot.consistency == "lock"
