"""Every consistency mode gives one point-in-time view, or fails closed.

The invariant: a writer moves money between accounts in transactions, so the
total never changes. A dump that mixes two points in time (one worker's
snapshot before a transfer, another's after) shows a different total.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from osidump.engine.config import ConnectionConfig
from osidump.engine.errors import ConsistencyError
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import export, restore, sql

ACCOUNTS = 2000
TOTAL = ACCOUNTS * 1000


def bank(conn: Any, db: str) -> None:
    sql(conn, f"USE `{db}`")
    # Two tables, so that two workers read them in parallel from their own snapshots.
    for t in ("a", "b"):
        sql(conn, f"CREATE TABLE {t} (id INT PRIMARY KEY, bal BIGINT NOT NULL, pad CHAR(200))")
        sql(conn, f"INSERT INTO {t} SELECT seq, 500, 'x' FROM seq_1_to_{ACCOUNTS}")


class Transfers:
    """Moves money from table a to table b in small transactions until stopped
    (bounded to 20000 transfers so it always ends)."""

    def __init__(self, server: Any, db: str):
        self.conn = server.connect()
        sql(self.conn, f"USE `{db}`")
        self.stop = threading.Event()
        self.count = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        i = 0
        while not self.stop.is_set() and i < 20000:
            i += 1
            acct = i % ACCOUNTS + 1
            sql(self.conn, "START TRANSACTION")
            sql(self.conn, "UPDATE a SET bal = bal - 1 WHERE id = %s", (acct,))
            sql(self.conn, "UPDATE b SET bal = bal + 1 WHERE id = %s", (acct,))
            sql(self.conn, "COMMIT")
            self.count = i

    def __enter__(self) -> Transfers:
        self.thread.start()
        while self.count < 50 and self.thread.is_alive():  # writes are flowing before the export starts
            self.thread.join(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.conn.close()


def dumped_total(server: Any, make_database: Any, storage: LocalStorage) -> int:
    dst = make_database(server)
    restore(server.connection_config(), storage, database=dst)
    conn = server.connect()
    return int(sql(conn, f"SELECT (SELECT SUM(bal) FROM `{dst}`.a) + (SELECT SUM(bal) FROM `{dst}`.b)")[0][0])


@pytest.mark.parametrize("mode", ["lock", "snapshot-check", "single"])
def test_parallel_dump_under_writes_is_one_point_in_time(
    second_server: Any, make_database: Any, tmp_path: Path, mode: str
) -> None:
    db = make_database(second_server)
    bank(second_server.connect(), db)
    storage = LocalStorage(str(tmp_path / "dump"))
    with Transfers(second_server, db) as writer:
        manifest = export(second_server.connection_config(), storage, db, threads=2, consistency=mode,
                          batch_bytes=4096)
        moved_during = writer.count
    assert moved_during > 0
    snap = manifest.snapshot
    assert snap.consistency == mode
    assert snap.workers == (1 if mode == "single" else 2)
    # The throwaway server writes a binlog: the snapshot's position is recorded.
    assert snap.binlog_file and snap.binlog_position
    if mode == "lock":
        assert snap.lock_held_ms is not None and snap.lock_held_ms >= 0
    assert dumped_total(second_server, make_database, storage) == TOTAL


def test_auto_without_reload_uses_snapshot_check_and_says_why(
    second_server: Any, make_database: Any, tmp_path: Path
) -> None:
    db = make_database(second_server)
    conn = second_server.connect()
    bank(conn, db)
    user = "osi_ro_" + uuid.uuid4().hex[:6]
    sql(conn, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
    sql(conn, f"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON `{db}`.* TO '{user}'@'%'")
    # (no RELOAD: the global backup lock is not allowed)
    cfg = ConnectionConfig(host=second_server.host, port=second_server.port, user=user, password="pw")
    storage = LocalStorage(str(tmp_path / "dump"))
    with Transfers(second_server, db):
        manifest = export(cfg, storage, db, threads=2, consistency="auto", batch_bytes=4096)
    assert manifest.snapshot.consistency == "snapshot-check"
    assert "RELOAD" in manifest.snapshot.reason
    assert dumped_total(second_server, make_database, storage) == TOTAL
    sql(conn, f"DROP USER '{user}'@'%'")


def test_snapshot_check_without_binlog_fails_closed(tmp_path: Path) -> None:
    from tests.support.servers import ThrowawayServer

    with ThrowawayServer(binlog=False) as srv:
        conn = srv.connect()
        assert int(sql(conn, "SELECT @@log_bin")[0][0]) == 0
        sql(conn, "CREATE DATABASE bank")
        bank(conn, "bank")
        out = tmp_path / "dump"
        with pytest.raises(ConsistencyError, match="binary log"):
            export(srv.connection_config(), LocalStorage(str(out)), "bank", threads=2, consistency="snapshot-check")
    assert not (out / "manifest.json").exists()
