"""What each consistency mode does on servers that cannot run here (MySQL 8,
Amazon RDS/Aurora, a MariaDB replica), shown on a fake session that records
the SQL and answers server errors by number (tests/support/fake_connection.py).
The same paths on a real MariaDB are in tests/integration/test_lock_wait.py
and test_consistency.py."""

from __future__ import annotations

import pytest
from osidump.engine.config import ConnectionConfig
from osidump.engine.errors import ConnectionLost, ConsistencyError, PrivilegeError
from osidump.engine.export.snapshot import (
    Snapshot,
    SnapshotCoordinator,
    choose_without_lock,
    worker_session_statements,
)

from tests.support.fake_connection import FakeServer

CONFIG = ConnectionConfig(ssl_mode="DISABLED")
BEGIN = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"


def mysql(version: str = "8.0.36", **rules: object) -> FakeServer:
    base: dict[str, object] = {
        "SELECT @@log_bin": [(1,)],
        "SHOW BINARY LOG STATUS": [("binlog.000003", 4711, "", "", "")],
        "SELECT @@GLOBAL.gtid_executed": [("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5",)],
    }
    return FakeServer(version=version, rules={**base, **rules})  # type: ignore[dict-item]


def mariadb(*, log_bin: int = 1, replica: bool = False, **rules: object) -> FakeServer:
    base: dict[str, object] = {
        "SELECT @@log_bin": [(log_bin,)],
        "SELECT @@log_slave_updates": [(0,)],
        "SHOW GLOBAL STATUS LIKE 'Slaves_running'": [("Slaves_running", 1 if replica else 0)],
        "SHOW STATUS LIKE 'binlog_snapshot_%'": [
            ("Binlog_snapshot_file", "binlog.000001"), ("Binlog_snapshot_position", "1234"),
        ],
        "SELECT @@GLOBAL.gtid_binlog_pos": [("0-1-42",)],
    }
    return FakeServer(version="10.11.6-MariaDB-log", rules={**base, **rules})  # type: ignore[dict-item]


def open_snapshot(fake: FakeServer, mode: str, workers: int = 4) -> Snapshot:
    return SnapshotCoordinator(CONFIG, mode=mode, workers=workers, lock_wait_timeout=3,
                               opener=fake.connect).open()


def test_rds_refusing_ftwrl_with_1045_makes_auto_use_one_snapshot_and_say_why() -> None:
    """RDS answers FLUSH TABLES WITH READ LOCK with 1045, a "failed login"
    that used to abort the export."""
    fake = mysql(**{"FLUSH TABLES WITH READ LOCK": 1045})
    snap = open_snapshot(fake, "auto")
    assert snap.info.consistency == "single" and len(snap.workers) == 1
    assert "FLUSH TABLES WITH READ LOCK refused: error 1045" in snap.info.reason
    assert "MySQL has no lock-free proof" in snap.info.reason
    coordinator = fake.connections[0].id
    ran = fake.statements(coordinator)
    assert ran.index("SET SESSION lock_wait_timeout = 3") < ran.index("FLUSH TABLES WITH READ LOCK")
    assert "SET SESSION lock_wait_timeout = DEFAULT" in ran
    assert ran.count(BEGIN) == 1 and BEGIN in ran  # the coordinator is the only worker
    assert all(BEGIN not in fake.statements(c.id) for c in fake.connections[1:])
    assert all(c.closed for c in fake.connections[1:])  # the lock's workers were closed


@pytest.mark.parametrize("code", [1044, 1045, 1227])
def test_explicit_lock_refused_fails_naming_the_managed_database_limit(code: int) -> None:
    fake = mysql(**{"FLUSH TABLES WITH READ LOCK": code})
    with pytest.raises(PrivilegeError) as info:
        open_snapshot(fake, "lock")
    assert f"error {code}" in info.value.message and info.value.code == code
    assert "Access denied" in info.value.message  # the server's words
    assert "RELOAD" in info.value.hint and "RDS" in info.value.hint
    assert "--consistency auto or single" in info.value.hint
    assert all(c.closed for c in fake.connections)


def test_mariadb_without_reload_uses_snapshot_check_and_names_its_limit() -> None:
    fake = mariadb(**{"BACKUP STAGE START": 1227})
    snap = open_snapshot(fake, "auto", workers=3)
    assert snap.info.consistency == "snapshot-check" and len(snap.workers) == 3
    assert "RELOAD" in snap.info.reason and "sql_log_bin=0" in snap.info.reason
    # Nothing was taken, so nothing is released.
    assert "BACKUP STAGE END" not in fake.statements()


def test_mariadb_auto_without_lock_or_binlog_is_single() -> None:
    fake = mariadb(log_bin=0, **{"BACKUP STAGE START": 1044})
    snap = open_snapshot(fake, "auto")
    assert snap.info.consistency == "single"
    assert "binary log is off" in snap.info.reason


def test_a_replica_whose_applier_skips_the_binlog_gets_no_snapshot_check() -> None:
    fake = mariadb(replica=True, **{"BACKUP STAGE START": 1227})
    assert open_snapshot(fake, "auto").info.consistency == "single"
    with pytest.raises(ConsistencyError, match="log_slave_updates"):
        open_snapshot(mariadb(replica=True), "snapshot-check")


def test_snapshot_check_on_mysql_is_labelled_best_effort() -> None:
    fake = mysql()
    snap = open_snapshot(fake, "snapshot-check", workers=2)
    assert snap.info.consistency == "snapshot-check"
    assert "best effort" in snap.info.reason
    assert snap.info.binlog_file == "binlog.000003" and snap.info.binlog_position == 4711


def test_snapshot_check_on_mysql_without_a_readable_position_says_which_privilege() -> None:
    fake = mysql(**{"SHOW BINARY LOG STATUS": 1227, "SHOW MASTER STATUS": 1227,
                    "SELECT @@GLOBAL.gtid_executed": [("",)]})
    with pytest.raises(ConsistencyError) as info:
        open_snapshot(fake, "snapshot-check", workers=2)
    assert "REPLICATION CLIENT" in info.value.hint
    assert fake.statements().count(BEGIN) == 0  # failed before any retry loop


def test_a_lock_timeout_releases_the_first_stage_names_the_blocker_and_auto_falls_back() -> None:
    fake = mariadb(**{
        "BACKUP STAGE BLOCK_COMMIT": 1205,
        "SELECT ID, USER, TIME": [(77, "app", 40, "Updating", "UPDATE orders SET status = 'x'")],
        "SHOW OPEN TABLES WHERE In_use > 0": [("shop", "orders", 1, 0)],
    })
    snap = open_snapshot(fake, "auto", workers=2)
    assert snap.info.consistency == "snapshot-check"
    assert "waited 3 s" in snap.info.reason
    assert "session 77 (app, 40 s, Updating): UPDATE orders SET status = 'x'" in snap.info.reason
    assert "shop.orders" in snap.info.reason
    ran = fake.statements(fake.connections[0].id)
    assert ran.index("BACKUP STAGE BLOCK_COMMIT") < ran.index("BACKUP STAGE END")


def test_explicit_lock_retries_a_timeout_then_fails_closed() -> None:
    fake = mysql(**{"FLUSH TABLES WITH READ LOCK": 1205})
    with pytest.raises(ConsistencyError) as info:
        open_snapshot(fake, "lock", workers=2)
    assert "3 attempts" in info.value.message and "--lock-wait-timeout" in info.value.hint
    assert fake.statements().count("FLUSH TABLES WITH READ LOCK") == 3
    assert "UNLOCK TABLES" not in fake.statements()  # FTWRL never held


def test_explicit_lock_succeeds_on_a_later_attempt() -> None:
    answers = iter([1205, []])
    fake = mysql(**{"FLUSH TABLES WITH READ LOCK": lambda conn, sql: next(answers)})
    snap = open_snapshot(fake, "lock", workers=2)
    assert snap.info.consistency == "lock" and len(snap.workers) == 2
    assert fake.statements().count("UNLOCK TABLES") == 1


def test_other_errors_on_the_lock_statement_are_not_a_missing_lock() -> None:
    fake = mysql(**{"FLUSH TABLES WITH READ LOCK": 2013})
    with pytest.raises(ConnectionLost):
        open_snapshot(fake, "auto")


def test_lock_mode_on_mysql_opens_every_worker_under_ftwrl() -> None:
    fake = mysql()
    snap = open_snapshot(fake, "auto", workers=3)
    assert snap.info.consistency == "lock"
    log = fake.log
    lock_at = log.index((fake.connections[0].id, "FLUSH TABLES WITH READ LOCK"))
    unlock_at = log.index((fake.connections[0].id, "UNLOCK TABLES"))
    begins = [i for i, (_, sql) in enumerate(log) if sql == BEGIN]
    assert len(begins) == 3 and all(lock_at < i < unlock_at for i in begins)


@pytest.mark.parametrize(("flavor", "version", "gipk"), [
    ("mysql", "8.0.30", True), ("mysql", "8.4.3", True), ("mysql", "8.0.29", False),
    ("mysql", "5.7.44-log", False), ("mariadb", "10.11.6-MariaDB", False),
])
def test_invisible_primary_keys_are_shown_where_the_server_has_them(flavor: str, version: str,
                                                                     gipk: bool) -> None:
    stmt = "SET SESSION show_gipk_in_create_table_and_information_schema = ON"
    assert (stmt in worker_session_statements(flavor, version)) is gipk


def test_every_export_session_of_mysql_8_0_30_shows_invisible_keys() -> None:
    fake = mysql(version="8.0.34")
    open_snapshot(fake, "auto", workers=2)
    stmt = "SET SESSION show_gipk_in_create_table_and_information_schema = ON"
    assert all(stmt in fake.statements(c.id) for c in fake.connections)


@pytest.mark.parametrize(("flavor", "binlog", "replica", "mode"), [
    ("mysql", True, False, "single"), ("mysql", False, False, "single"),
    ("mariadb", True, False, "snapshot-check"), ("mariadb", False, False, "single"),
    ("mariadb", True, True, "single"),
])
def test_auto_choice_without_a_lock(flavor: str, binlog: bool, replica: bool, mode: str) -> None:
    assert choose_without_lock(flavor, binlog=binlog, unlogged_replica=replica)[0] == mode
