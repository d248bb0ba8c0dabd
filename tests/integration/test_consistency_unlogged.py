"""What each mode proves about commits that skip the binary log.

A session with ``sql_log_bin=0`` (a maintenance script, a replica's applier
without log_slave_updates) commits without moving any binlog position. The
limit, shown deterministically: two snapshots with such a commit between them
report the same ``binlog_snapshot_position`` yet see different data, so
``snapshot-check`` (which compares those positions) cannot catch it; the
control shows a logged commit does move the position. ``lock`` blocks every
commit while the snapshots open, logged or not: with 4 workers and an
unlogged writer moving money, the dumped total never changes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pymysql
import pytest
from osidump.engine.connection import server_flavor
from osidump.engine.export.snapshot import lock_statements
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import export, sql
from tests.integration.test_consistency import TOTAL, Transfers, bank, dumped_total


def snapshot_of(server: Any, db: str) -> tuple[tuple[str, str], int]:
    """Open a consistent snapshot: (its binlog position, the balance of table a)."""
    conn = server.connect()
    sql(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
    status = dict(sql(conn, "SHOW STATUS LIKE 'binlog_snapshot_%'"))
    total = int(sql(conn, f"SELECT SUM(bal) FROM `{db}`.a")[0][0])
    return (status["Binlog_snapshot_file"], status["Binlog_snapshot_position"]), total


def transfer(server: Any, db: str, *, logged: bool) -> None:
    conn = server.connect()
    sql(conn, f"SET SESSION sql_log_bin = {int(logged)}")
    sql(conn, "START TRANSACTION")
    sql(conn, f"UPDATE `{db}`.a SET bal = bal - 7 WHERE id = 1")
    sql(conn, f"UPDATE `{db}`.b SET bal = bal + 7 WHERE id = 1")
    sql(conn, "COMMIT")
    conn.close()


@pytest.mark.parametrize("logged", [False, True])
def test_binlog_positions_do_not_see_commits_that_skip_the_binlog(
    server: Any, make_database: Any, logged: bool
) -> None:
    db = make_database()
    bank(server.connect(), db)
    position_1, total_1 = snapshot_of(server, db)
    transfer(server, db, logged=logged)
    position_2, total_2 = snapshot_of(server, db)
    assert total_2 == total_1 - 7  # the two snapshots really differ
    if logged:  # the control: a logged commit moves the position, snapshot-check retries
        assert position_2 != position_1
    else:  # the limit: same position, different data; snapshot-check would accept it
        assert position_2 == position_1


def test_lock_mode_holds_with_four_workers_and_an_unlogged_writer(
    second_server: Any, make_database: Any, tmp_path: Path
) -> None:
    db = make_database(second_server)
    bank(second_server.connect(), db)
    admin = second_server.connect()
    for run in range(3):
        writer = Transfers(second_server, db)
        sql(writer.conn, "SET SESSION sql_log_bin = 0")
        before = sql(admin, "SHOW MASTER STATUS")[0][:2]
        storage = LocalStorage(str(tmp_path / f"dump{run}"))
        with writer:
            manifest = export(second_server.connection_config(), storage, db, threads=4,
                              consistency="lock", batch_bytes=4096)
            moved = writer.count
        assert moved > 0 and sql(admin, "SHOW MASTER STATUS")[0][:2] == before  # none was logged
        assert manifest.snapshot.consistency == "lock" and manifest.snapshot.workers == 4
        assert dumped_total(second_server, make_database, storage) == TOTAL


def test_auto_without_a_lock_says_what_snapshot_check_does_not_cover(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    db = make_database()
    root = server.connect()
    bank(root, db)
    user = "osi_t_" + uuid.uuid4().hex[:8]
    sql(root, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
    sql(root, f"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON `{db}`.* TO '{user}'@'%'")
    try:
        out = tmp_path / "dump"
        proc = subprocess.run(
            [sys.executable, "-m", "osidump.cli.main", "export", db, "-o", str(out), "-h",
             server.host, "-P", str(server.port), "-u", user, "--ssl-mode", "DISABLED",
             "--threads", "2"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OSIDUMP_PASSWORD": "pw"},
        )
    finally:
        sql(root, f"DROP USER '{user}'@'%'")
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "consistency snapshot-check" in line]
    assert len(warning) == 1 and "RELOAD" in warning[0] and "sql_log_bin=0" in warning[0]
    reason = json.loads((out / "manifest.json").read_text())["snapshot"]["reason"]
    assert "no backup lock" in reason and "sql_log_bin=0" in reason


def test_the_backup_lock_holds_back_unlogged_commits_too(server: Any, make_database: Any) -> None:
    """Why ``lock`` covers them: while the lock statements hold, a commit from
    a session with sql_log_bin=0 waits (here until its lock_wait_timeout)."""
    db = make_database()
    bank(server.connect(), db)
    locker, writer = server.connect(), server.connect()
    lock, unlock = lock_statements(*server_flavor(locker))
    sql(writer, "SET SESSION sql_log_bin = 0")
    sql(writer, "SET SESSION lock_wait_timeout = 1")
    for stmt in lock:
        sql(locker, stmt)
    try:
        with pytest.raises(pymysql.err.OperationalError) as info:
            sql(writer, f"UPDATE `{db}`.a SET bal = bal + 1 WHERE id = 1")
        assert info.value.args[0] == 1205
    finally:
        sql(locker, unlock)
    sql(writer, f"UPDATE `{db}`.a SET bal = bal + 1 WHERE id = 1")  # the control: free again
