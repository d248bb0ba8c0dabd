"""The replica-setup statements per flavor, version and consistency mode
(MySQL has no server here: its syntax is checked as text)."""

from __future__ import annotations

import pytest
from osidump.engine.errors import ConfigError, ConsistencyError
from osidump.engine.format.manifest import Manifest, SnapshotInfo
from osidump.engine.replica import replica_setup_sql


def manifest(flavor: str, version: str, consistency: str, file: str | None = "binlog.000003",
             pos: int | None = 1234, gtid: str | None = None) -> Manifest:
    return Manifest(
        tool_version="0.1.0", started_at="2026-11-29T00:00:00Z", finished_at="2026-11-29T00:01:00Z",
        server_flavor=flavor, server_version=version,
        snapshot=SnapshotInfo(consistency=consistency, reason="requested", workers=2, binlog_file=file,
                              binlog_position=pos, gtid_executed=gtid),
        session={}, options={}, databases=[],
    )


def statements(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("--")]


def test_mariadb_lock_dump_uses_gtid_and_others_file_position() -> None:
    lock = replica_setup_sql(manifest("mariadb", "10.11.9-MariaDB", "lock", gtid="0-1-42"),
                             source_host="db1", source_port=3307, source_user="repl")
    assert statements(lock) == [
        "SET GLOBAL gtid_slave_pos = '0-1-42';",
        "CHANGE MASTER TO MASTER_HOST='db1', MASTER_PORT=3307, MASTER_USER='repl', "
        "MASTER_PASSWORD='<replication password>', MASTER_USE_GTID=slave_pos;",
        "START SLAVE;",
    ]
    single = replica_setup_sql(manifest("mariadb", "10.11.9-MariaDB", "single", gtid="0-1-42"))
    assert statements(single) == [
        "CHANGE MASTER TO MASTER_HOST='<source host>', MASTER_PORT=<source port>, "
        "MASTER_USER='<replication user>', MASTER_PASSWORD='<replication password>', "
        "MASTER_LOG_FILE='binlog.000003', MASTER_LOG_POS=1234, MASTER_USE_GTID=no;",
        "START SLAVE;",
    ]


def test_mysql_gtid_auto_position_and_file_position_by_version() -> None:
    new = replica_setup_sql(manifest("mysql", "8.4.3", "lock", gtid="3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"),
                            source_host="db1", source_port=3306, source_user="re'pl")
    assert statements(new) == [
        "RESET BINARY LOGS AND GTIDS;",
        "SET GLOBAL gtid_purged = '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5';",
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST='db1', SOURCE_PORT=3306, SOURCE_USER='re\\'pl', "
        "SOURCE_PASSWORD='<replication password>', SOURCE_AUTO_POSITION=1;",
        "START REPLICA;",
    ]
    mid = statements(replica_setup_sql(manifest("mysql", "8.0.30", "snapshot-check", gtid="u:1-5")))
    assert mid[0] == "RESET MASTER;" and mid[2].startswith("CHANGE REPLICATION SOURCE TO SOURCE_HOST=")
    old = statements(replica_setup_sql(manifest("mysql", "8.0.20", "lock")))
    assert old == [
        "CHANGE MASTER TO MASTER_HOST='<source host>', MASTER_PORT=<source port>, "
        "MASTER_USER='<replication user>', MASTER_PASSWORD='<replication password>', "
        "MASTER_LOG_FILE='binlog.000003', MASTER_LOG_POS=1234;",
        "START SLAVE;",
    ]


def test_no_exact_position_no_statement() -> None:
    with pytest.raises(ConsistencyError, match="no exact replication start"):
        replica_setup_sql(manifest("mysql", "8.0.36", "single", gtid="u:1-5"))
    with pytest.raises(ConfigError, match="no binary log position"):
        replica_setup_sql(manifest("mariadb", "10.11.9-MariaDB", "single", file=None, pos=None))
