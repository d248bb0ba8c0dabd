"""A restore that replaces data never changes a restored row and never
destroys what it replaces before the new data is in (issue: data safety).

Every test starts from a real dump of a small Laravel-like schema restored
once into the target, then changes the target the way a running application
(or an operator) would before the second restore."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from osidump.engine.errors import ConnectionLost, IntegrityError, ServerError
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import export, restore, sql
from tests.support.hostile import first_chunk

SCHEMA = [
    "CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(100) NOT NULL)",
    "CREATE TABLE billing_subscriptions (id INT AUTO_INCREMENT PRIMARY KEY, user_id INT NOT NULL,"
    " plan VARCHAR(20), started_at DATETIME NOT NULL, KEY user_idx (user_id),"
    " CONSTRAINT bs_user FOREIGN KEY (user_id) REFERENCES users (id))",
    "CREATE TABLE audit_log (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(100))",
    "CREATE TABLE failed_jobs (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload TEXT)",
    # The dump's own trigger: created after the data, as on a fresh target.
    "CREATE TRIGGER bs_bu BEFORE UPDATE ON billing_subscriptions FOR EACH ROW"
    " SET NEW.plan = LOWER(NEW.plan)",
]
# What the application's target has that the dump does not: an AFTER INSERT
# trigger writing into another table, a BEFORE INSERT trigger rewriting a column.
TARGET_TRIGGERS = [
    "CREATE TRIGGER bs_ai AFTER INSERT ON billing_subscriptions FOR EACH ROW"
    " INSERT INTO audit_log (what) VALUES (CONCAT('sub ', NEW.id))",
    "CREATE TRIGGER bs_bi BEFORE INSERT ON billing_subscriptions FOR EACH ROW"
    " SET NEW.started_at = NOW()",
]
ROWS = 3000


def build_source(conn: Any, db: str) -> None:
    sql(conn, f"USE `{db}`")
    for stmt in SCHEMA:
        sql(conn, stmt)
    sql(conn, f"INSERT INTO users SELECT seq, CONCAT('u', seq, '@example.com') FROM seq_1_to_{ROWS}")
    sql(conn, "INSERT INTO billing_subscriptions SELECT seq, seq, ELT(1 + seq MOD 3, 'free', 'pro',"
              f" 'team'), '2024-01-01' + INTERVAL seq HOUR FROM seq_1_to_{ROWS}")
    sql(conn, "INSERT INTO audit_log (what) SELECT CONCAT('src ', seq) FROM seq_1_to_50")
    # An empty table whose counter moved on, as after a queue was drained
    # (InnoDB hands INSERT ... SELECT ids in growing batches: it stands past 57).
    sql(conn, "INSERT INTO failed_jobs (payload) SELECT 'x' FROM seq_1_to_56")
    sql(conn, "DELETE FROM failed_jobs")


def rows(conn: Any, db: str, table: str) -> list[tuple[Any, ...]]:
    return sql(conn, f"SELECT * FROM `{db}`.`{table}` ORDER BY 1")


def auto_increment(conn: Any, db: str, table: str) -> int:
    return int(sql(conn, "SELECT AUTO_INCREMENT FROM information_schema.TABLES"
                         " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (db, table))[0][0])


def triggers(conn: Any, db: str) -> set[str]:
    return {r[0] for r in sql(conn, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS"
                                    " WHERE TRIGGER_SCHEMA = %s", (db,))}


def tables(conn: Any, db: str) -> set[str]:
    return {r[0] for r in sql(conn, "SELECT TABLE_NAME FROM information_schema.TABLES"
                                    " WHERE TABLE_SCHEMA = %s", (db,))}


@pytest.fixture
def live(server: Any, make_database: Any, tmp_path: Path) -> tuple[Any, str, str, LocalStorage]:
    """(conn, source, target, dump): the target restored once, then given the
    application's triggers and changes of its own."""
    conn = server.connect()
    src, dst = make_database(), make_database()
    build_source(conn, src)
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src, threads=2, chunk_bytes=16384)
    restore(server.connection_config(), storage, database=dst)
    sql(conn, f"USE `{dst}`")
    for stmt in TARGET_TRIGGERS:
        sql(conn, stmt)
    sql(conn, "UPDATE billing_subscriptions SET plan = 'changed' WHERE id <= 100")
    sql(conn, "INSERT INTO audit_log (what) VALUES ('target only')")
    sql(conn, "INSERT INTO failed_jobs (payload) SELECT 'y' FROM seq_1_to_40")
    return conn, src, dst, storage


@pytest.mark.parametrize("mode", ["truncate", "drop"])
@pytest.mark.parametrize("selection", ["full", "tables"])
def test_no_trigger_of_the_target_fires_and_counters_end_as_dumped(
    server: Any, live: Any, mode: str, selection: str
) -> None:
    conn, src, dst, storage = live
    audit_before = rows(conn, dst, "audit_log")
    chosen = ("billing_subscriptions",) if selection == "tables" else ()
    restore(server.connection_config(), storage, database=dst, on_existing=mode, tables=chosen)

    # Every restored row is the dumped row: no BEFORE INSERT trigger rewrote
    # started_at, the 'changed' plans are gone.
    assert rows(conn, dst, "billing_subscriptions") == rows(conn, src, "billing_subscriptions")
    # No AFTER INSERT trigger wrote into audit_log: a full restore brings the
    # dump's audit_log, a one-table restore leaves it exactly as it was.
    want_audit = rows(conn, src, "audit_log") if selection == "full" else audit_before
    assert rows(conn, dst, "audit_log") == want_audit
    if selection == "full":
        assert rows(conn, dst, "failed_jobs") == []
        assert auto_increment(conn, dst, "failed_jobs") == auto_increment(conn, src, "failed_jobs")
    # The dump's trigger exists; the target's own ones are kept by truncate
    # (the table's definition stays the target's) and gone with drop.
    kept = {"bs_ai", "bs_bi"} if mode == "truncate" else set()
    assert triggers(conn, dst) == {"bs_bu"} | kept
    # Nothing of the restore's machinery is left behind.
    assert not {t for t in tables(conn, dst) if t.startswith("osidump_")}
    # The foreign key points at the live users table again.
    with pytest.raises(Exception, match="foreign key constraint fails"):
        sql(conn, f"INSERT INTO `{dst}`.billing_subscriptions (user_id, plan, started_at)"
                  " VALUES (999999, 'x', NOW())")


def test_truncate_restores_the_dumped_counter(server: Any, live: Any) -> None:
    conn, src, dst, storage = live
    dumped = auto_increment(conn, src, "failed_jobs")
    assert dumped > 57
    assert auto_increment(conn, dst, "failed_jobs") > dumped  # the target moved on
    restore(server.connection_config(), storage, database=dst, on_existing="truncate",
            tables=("failed_jobs",))
    assert auto_increment(conn, dst, "failed_jobs") == dumped


def test_a_damaged_dump_leaves_the_target_exactly_as_it_was(server: Any, live: Any) -> None:
    conn, _src, dst, storage = live
    before = {t: rows(conn, dst, t) for t in ("users", "billing_subscriptions", "audit_log")}
    chunk = Path(storage.root) / first_chunk(Path(storage.root), "billing_subscriptions")
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x20
    chunk.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as caught:
        restore(server.connection_config(), storage, database=dst, on_existing="drop", threads=1)
    assert "not touched" in caught.value.hint and "--resume" in caught.value.hint
    assert {t: rows(conn, dst, t) for t in before} == before
    assert triggers(conn, dst) == {"bs_ai", "bs_bi", "bs_bu"}


def test_a_server_error_halfway_leaves_the_target_then_resume_finishes(
    server: Any, live: Any
) -> None:
    conn, src, dst, storage = live
    before = rows(conn, dst, "billing_subscriptions")
    opened = {"n": 0}
    killer = server.connect()

    class KillOnThirdChunk(LocalStorage):
        def open_read(self, name: str) -> Any:
            if name.startswith("data/"):
                opened["n"] += 1
                if opened["n"] == 3:
                    for (pid,) in sql(killer, "SELECT ID FROM information_schema.PROCESSLIST"
                                              " WHERE DB = %s AND ID <> CONNECTION_ID()", (dst,)):
                        sql(killer, f"KILL CONNECTION {int(pid)}")
            return super().open_read(name)

    with pytest.raises((ConnectionLost, ServerError)) as caught:
        restore(server.connection_config(), KillOnThirdChunk(storage.root), database=dst,
                on_existing="drop", threads=1)
    assert "--resume" in caught.value.hint
    conn = server.connect()  # the kill took every session using the target, this one too
    assert rows(conn, dst, "billing_subscriptions") == before
    restore(server.connection_config(), storage, database=dst, on_existing="drop", resume=True)
    assert rows(conn, dst, "billing_subscriptions") == rows(conn, src, "billing_subscriptions")
    assert not {t for t in tables(conn, dst) if t.startswith("osidump_")}


def test_children_outside_the_restore_keep_their_foreign_keys(server: Any, live: Any) -> None:
    """Replacing users alone: MariaDB's RENAME carries billing_subscriptions'
    foreign key to the retired table; the restore points it back."""
    conn, _src, dst, storage = live
    restore(server.connection_config(), storage, database=dst, on_existing="drop",
            tables=("users",))
    create = sql(conn, f"SHOW CREATE TABLE `{dst}`.billing_subscriptions")[0][1]
    assert "REFERENCES `users`" in create and "osidump_" not in create
    sql(conn, f"INSERT INTO `{dst}`.billing_subscriptions (user_id, plan, started_at)"
              " VALUES (1, 'x', '2024-01-01')")
    with pytest.raises(Exception, match="foreign key constraint fails"):
        sql(conn, f"INSERT INTO `{dst}`.billing_subscriptions (user_id, plan, started_at)"
                  " VALUES (999999, 'x', NOW())")


def test_truncate_refuses_a_table_whose_columns_differ(server: Any, live: Any) -> None:
    from osidump.engine.errors import TargetExists

    conn, _src, dst, storage = live
    sql(conn, f"ALTER TABLE `{dst}`.audit_log ADD COLUMN extra INT")
    before = rows(conn, dst, "audit_log")
    with pytest.raises(TargetExists, match="column extra"):
        restore(server.connection_config(), storage, database=dst, on_existing="truncate")
    assert rows(conn, dst, "audit_log") == before
    assert not {t for t in tables(conn, dst) if t.startswith("osidump_")}


def test_an_open_application_transaction_stops_the_swap_by_name(server: Any, live: Any) -> None:
    """The application left a transaction open on a table being replaced: the
    swap waits at most --lock-wait-timeout, then stops naming that session,
    with the target unchanged; once the transaction ends, --resume finishes."""
    conn, src, dst, storage = live
    before = rows(conn, dst, "users")
    app = server.connect()
    sql(app, "START TRANSACTION")
    sql(app, f"SELECT COUNT(*) FROM `{dst}`.users")  # holds a metadata lock until it ends
    app_id = sql(app, "SELECT CONNECTION_ID()")[0][0]
    with pytest.raises(ServerError) as caught:
        restore(server.connection_config(), storage, database=dst, on_existing="drop",
                lock_wait_timeout=1)
    assert "waited 1 s for sessions using the tables it replaces" in caught.value.message
    assert f"session {app_id} " in caught.value.message
    assert "--resume" in caught.value.hint
    assert rows(conn, dst, "users") == before
    sql(app, "COMMIT")
    restore(server.connection_config(), storage, database=dst, on_existing="drop", resume=True)
    assert rows(conn, dst, "users") == rows(conn, src, "users")


@pytest.mark.parametrize("seconds", [0, -5, 31536001])
def test_a_lock_wait_timeout_out_of_range_is_a_one_line_error(seconds: int, tmp_path: Path) -> None:
    from click.testing import CliRunner
    from osidump.cli.main import cli

    result = CliRunner().invoke(cli, ["restore", str(tmp_path), "--lock-wait-timeout", str(seconds)])
    assert result.exit_code == 2, result.output
    assert f"--lock-wait-timeout {seconds} is out of range" in result.output
    assert "Traceback" not in result.output
