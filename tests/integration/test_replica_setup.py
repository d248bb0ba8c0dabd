"""inspect --replica-setup seeds a replica (issue 13 item 4): a dump of one
private server restored into a second (server id 2), the printed statements
run there with the first as source, and every write made on the source after
the export arrives exactly once: by GTID for a lock-consistency dump, by file
and position for a single-connection one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from osidump.cli.restore_cmd import inspect_command
from osidump.engine.format.manifest import load_manifest
from osidump.engine.replica import replica_setup_sql
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import export, restore, sql
from tests.support.servers import ThrowawayServer


@pytest.fixture
def replica() -> Iterator[ThrowawayServer]:
    """A private server with a server id of its own (the test servers all use 1)."""
    srv = ThrowawayServer(binlog=True, extra_args=("--server-id=2",))
    try:
        srv.start()
        yield srv
    finally:
        srv.cleanup()


def write(conn: Any, first: int, last: int) -> None:
    sql(conn, f"INSERT INTO shop.orders SELECT seq, CONCAT('order ', seq) FROM shop.seq_{first}_to_{last}")


def run_setup(replica_conn: Any, text: str) -> list[str]:
    statements = [line.rstrip(";") for line in text.splitlines() if line and not line.startswith("--")]
    for statement in statements:
        sql(replica_conn, statement)
    return statements


def caught_up(source: Any, replica_conn: Any, *, gtid: bool) -> None:
    """Block (bounded: 120 s) until the replica applied everything the source
    has written so far; MASTER_GTID_WAIT/MASTER_POS_WAIT wait on the server."""
    if gtid:
        pos = sql(source, "SELECT @@gtid_binlog_pos")[0][0]
        assert sql(replica_conn, "SELECT MASTER_GTID_WAIT(%s, 120)", (pos,))[0][0] == 0
    else:
        file, pos = sql(source, "SHOW MASTER STATUS")[0][:2]
        waited = sql(replica_conn, "SELECT MASTER_POS_WAIT(%s, %s, 120)", (file, pos))[0][0]
        assert waited is not None and waited >= 0  # NULL: not replicating; -1: timed out
    with replica_conn.cursor() as cur:
        cur.execute("SHOW SLAVE STATUS")
        names = [d[0] for d in cur.description]
        status = dict(zip(names, cur.fetchone(), strict=True))
    assert (status["Slave_IO_Running"], status["Slave_SQL_Running"], status["Last_Error"]) == ("Yes", "Yes", "")


def same_data(source: Any, replica_conn: Any) -> None:
    query = "SELECT COUNT(*), SUM(CRC32(CONCAT(id, note))) FROM shop.orders"
    assert sql(replica_conn, query) == sql(source, query)


def test_a_restored_dump_replicates_from_its_snapshot(second_server: Any, replica: ThrowawayServer,
                                                      tmp_path: Path) -> None:
    source = second_server.connect()
    sql(source, "CREATE DATABASE shop")
    sql(source, "CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(40))")
    write(source, 1, 100)
    dump = LocalStorage(str(tmp_path / "lock"))
    manifest = export(second_server.connection_config(), dump, "shop", consistency="lock")
    assert manifest.snapshot.consistency == "lock" and manifest.snapshot.gtid_executed
    write(source, 101, 150)  # after the export: only replication can bring these
    sql(source, "UPDATE shop.orders SET note = 'changed' WHERE id = 1")
    restore(replica.connection_config(), dump)
    conn = replica.connect()
    assert sql(conn, "SELECT COUNT(*) FROM shop.orders") == [(100,)]

    printed = CliRunner().invoke(inspect_command, [str(tmp_path / "lock"), "--replica-setup"])
    assert printed.exit_code == 0, printed.output
    assert "MASTER_USE_GTID=slave_pos" in printed.output and "<source host>" in printed.output
    filled = (printed.output.replace("'<source host>'", f"'{second_server.host}'")
              .replace("<source port>", str(second_server.port))
              .replace("'<replication user>'", "'root'").replace("'<replication password>'", "''"))
    ran = run_setup(conn, filled)
    assert ran[0] == f"SET GLOBAL gtid_slave_pos = '{manifest.snapshot.gtid_executed}'"
    write(source, 151, 160)
    caught_up(source, conn, gtid=True)
    same_data(source, conn)
    assert sql(conn, "SELECT note FROM shop.orders WHERE id = 1") == [("changed",)]

    # A single-connection dump: its GTID was read after the snapshot, so the
    # exact binlog file and position are used instead.
    sql(conn, "STOP SLAVE")
    sql(conn, "RESET SLAVE ALL")
    sql(conn, "DROP DATABASE shop")
    dump2 = LocalStorage(str(tmp_path / "single"))
    manifest2 = export(second_server.connection_config(), dump2, "shop", consistency="single")
    write(source, 161, 170)
    restore(replica.connection_config(), dump2)
    text = replica_setup_sql(load_manifest(dump2), source_host=second_server.host,
                             source_port=second_server.port, source_user="root")
    assert f"MASTER_LOG_FILE='{manifest2.snapshot.binlog_file}'" in text
    assert f"MASTER_LOG_POS={manifest2.snapshot.binlog_position}" in text
    run_setup(conn, text.replace("'<replication password>'", "''"))
    write(source, 171, 180)
    caught_up(source, conn, gtid=False)
    same_data(source, conn)
    assert sql(conn, "SELECT COUNT(*) FROM shop.orders") == [(180,)]
