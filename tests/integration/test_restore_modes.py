"""``restore --schema-only`` and ``restore --data-only [--insert-mode]``:
definitions without rows; rows into the target's existing tables, one
verified transaction per chunk, existing rows kept, skipped or replaced as
asked and counted per table; a target that does not match the dump, or whose
triggers would fire on the loaded rows, is refused before anything changes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from osidump.cli.main import cli
from osidump.engine.errors import ConfigError, ObjectNotFound, TargetExists
from osidump.engine.storage.base import LocalStorage

from tests.fixtures.v1_source import build as build_v1
from tests.integration.helpers import checksums, export, restore, sql

SCHEMA = [
    "CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(100) NOT NULL,"
    " name VARCHAR(50), UNIQUE KEY email_uq (email))",
    "CREATE TABLE orders (id INT PRIMARY KEY, user_id INT NOT NULL, total DECIMAL(10,2),"
    " KEY user_idx (user_id), CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id))",
    "CREATE TABLE notes (body VARCHAR(40))",  # no key: rows are only ever added
    "CREATE VIEW big_orders AS SELECT id FROM orders WHERE total > 100",
    "CREATE TRIGGER orders_bu BEFORE UPDATE ON orders FOR EACH ROW SET NEW.total = ABS(NEW.total)",
    "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
]
USERS, ORDERS, NOTES = 3000, 6000, 500
LIVE = 10  # users 1..10 exist in the target with other names (same keys)


def build(conn: Any, db: str) -> None:
    sql(conn, f"USE `{db}`")
    for stmt in SCHEMA:
        sql(conn, stmt)
    sql(conn, f"INSERT INTO users SELECT seq, CONCAT('u', seq, '@example.com'), CONCAT('name', seq)"
              f" FROM seq_1_to_{USERS}")
    sql(conn, f"INSERT INTO orders SELECT seq, 1 + seq MOD {USERS}, seq / 7 FROM seq_1_to_{ORDERS}")
    sql(conn, f"INSERT INTO notes SELECT CONCAT('note ', seq MOD 50) FROM seq_1_to_{NOTES}")


@pytest.fixture
def dump(server: Any, make_database: Any, tmp_path: Path) -> tuple[Any, str, LocalStorage]:
    conn = server.connect()
    src = make_database()
    build(conn, src)
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src, chunk_bytes=16384)
    return conn, src, storage


def live_target(server: Any, storage: LocalStorage, dst: str) -> None:
    """The application's database: the dump's tables (no triggers), with rows
    of its own, some under keys the dump also has."""
    restore(server.connection_config(), storage, database=dst, schema_only=True, triggers=False)
    conn = server.connect()
    sql(conn, f"USE `{dst}`")
    sql(conn, f"INSERT INTO users SELECT seq, CONCAT('u', seq, '@example.com'), 'live'"
              f" FROM seq_1_to_{LIVE}")
    sql(conn, "INSERT INTO users VALUES (9001, 'only@target', 'target only')")
    sql(conn, "INSERT INTO notes VALUES ('target note')")


def table(conn: Any, db: str, name: str) -> list[tuple[Any, ...]]:
    return sql(conn, f"SELECT * FROM `{db}`.`{name}` ORDER BY 1")


def no_auto_increment(create: str) -> str:
    return re.sub(r" AUTO_INCREMENT=\d+", "", create)


def test_schema_only_creates_every_definition_and_no_row(
    server: Any, dump: Any, make_database: Any
) -> None:
    conn, src, storage = dump
    dst = make_database()
    result = restore(server.connection_config(), storage, database=dst, schema_only=True)
    assert result.rows == 0 and result.chunks_loaded == 0
    for name in ("users", "orders", "notes"):
        assert table(conn, dst, name) == []
        # Indexes, the unique key and the foreign key are all there.
        mine = sql(conn, f"SHOW CREATE TABLE `{dst}`.`{name}`")[0][1]
        theirs = sql(conn, f"SHOW CREATE TABLE `{src}`.`{name}`")[0][1]
        assert no_auto_increment(mine) == no_auto_increment(theirs), name
    assert sql(conn, f"SHOW TRIGGERS FROM `{dst}`")[0][0] == "orders_bu"
    assert sql(conn, f"SELECT `{dst}`.twice(4)") == [(8,)]
    assert sql(conn, f"SELECT COUNT(*) FROM `{dst}`.big_orders") == [(0,)]
    assert not [t for t in checksums(conn, dst) if t.startswith("osidump_")]


@pytest.mark.parametrize("mode", ["ignore", "replace"])
def test_data_only_merges_into_live_tables_and_counts_per_table(
    server: Any, dump: Any, make_database: Any, mode: str
) -> None:
    conn, src, storage = dump
    dst = make_database()
    live_target(server, storage, dst)
    result = restore(server.connection_config(), storage, database=dst, data_only=True,
                     insert_mode=mode, threads=2)
    counts = {r.table.split(".")[1]: (r.inserted, r.replaced, r.skipped) for r in result.table_rows}
    clashing = (0, LIVE, 0) if mode == "replace" else (0, 0, LIVE)
    assert counts == {
        "users": (USERS - LIVE + clashing[0], clashing[1], clashing[2]),
        "orders": (ORDERS, 0, 0),
        "notes": (NOTES, 0, 0),
    }
    users = table(conn, dst, "users")
    dumped = table(conn, src, "users")
    # The live rows under the dump's keys: kept (ignore) or the dump's (replace).
    want_clashing = dumped[:LIVE] if mode == "replace" else [
        (i, f"u{i}@example.com", "live") for i in range(1, LIVE + 1)]
    assert users[:LIVE] == want_clashing
    assert users[LIVE:] == [*dumped[LIVE:], (9001, "only@target", "target only")]
    assert table(conn, dst, "orders") == table(conn, src, "orders")
    assert sorted(table(conn, dst, "notes")) == sorted([*table(conn, src, "notes"), ("target note",)])
    # Definitions untouched, no machinery left, the foreign key still enforced.
    assert not [t for t in checksums(conn, dst) if t.startswith("osidump_")]
    with pytest.raises(Exception, match="foreign key constraint fails"):
        sql(conn, f"INSERT INTO `{dst}`.orders VALUES (999999, 424242, 1)")


def test_data_only_without_insert_mode_refuses_a_clash_keeps_whole_chunks_and_resumes(
    server: Any, dump: Any, make_database: Any
) -> None:
    conn, src, storage = dump
    dst = make_database()
    live_target(server, storage, dst)
    with pytest.raises(TargetExists) as caught:
        restore(server.connection_config(), storage, database=dst, data_only=True, threads=1)
    assert "have keys already in" in caught.value.message and "Duplicate entry" in caught.value.message
    assert "--insert-mode" in caught.value.hint and "--resume" in caught.value.hint
    # The clashing chunk left nothing: the live rows are as they were and no
    # dumped user of that chunk is in.
    users = table(conn, dst, "users")
    assert users[:LIVE] == [(i, f"u{i}@example.com", "live") for i in range(1, LIVE + 1)]
    assert len(users) == LIVE + 1  # users' first chunk failed, the rest never started
    # Resume keeps the chunks committed before and loads the rest once.
    result = restore(server.connection_config(), storage, database=dst, data_only=True,
                     insert_mode="ignore", resume=True)
    assert result.chunks_skipped > 0
    assert table(conn, dst, "orders") == table(conn, src, "orders")  # none twice
    assert table(conn, dst, "users")[LIVE:-1] == table(conn, src, "users")[LIVE:]


def test_data_only_refuses_a_target_that_does_not_match(
    server: Any, dump: Any, make_database: Any
) -> None:
    conn, _src, storage = dump
    dst = make_database()
    live_target(server, storage, dst)
    sql(conn, f"ALTER TABLE `{dst}`.orders MODIFY total DECIMAL(12,2)")
    before = table(conn, dst, "users")
    with pytest.raises(TargetExists, match=r"column total decimal\(1[02],2\) is only in the"):
        restore(server.connection_config(), storage, database=dst, data_only=True)
    sql(conn, f"ALTER TABLE `{dst}`.orders MODIFY total DECIMAL(10,2), ADD COLUMN extra INT")
    with pytest.raises(TargetExists, match="column extra int.* is only in the target"):
        restore(server.connection_config(), storage, database=dst, data_only=True)
    sql(conn, f"DROP TABLE `{dst}`.notes")
    with pytest.raises(ObjectNotFound, match="notes does not exist in the target"):
        restore(server.connection_config(), storage, database=dst, data_only=True,
                tables=("notes",))
    # Nothing was loaded or left behind by any of them.
    assert table(conn, dst, "users") == before and table(conn, dst, "orders") == []
    assert not [t for t in checksums(conn, dst) if t.startswith("osidump_")]


def test_data_only_refuses_tables_with_triggers_unless_allowed(
    server: Any, dump: Any, make_database: Any
) -> None:
    conn, _src, storage = dump
    dst = make_database()
    live_target(server, storage, dst)
    sql(conn, f"CREATE TRIGGER `{dst}`.users_bi BEFORE INSERT ON `{dst}`.users FOR EACH ROW"
              " SET NEW.name = 'from trigger'")
    before = table(conn, dst, "users")
    with pytest.raises(TargetExists, match=r"users \(users_bi\) has a trigger"):
        restore(server.connection_config(), storage, database=dst, data_only=True,
                insert_mode="ignore")
    assert table(conn, dst, "users") == before
    assert not [t for t in checksums(conn, dst) if t.startswith("osidump_")]
    # Asked for, the load goes ahead; the trigger fires and the restore says so.
    result = restore(server.connection_config(), storage, database=dst, data_only=True,
                     insert_mode="ignore", allow_triggers=True)
    assert any("users (users_bi)" in n for n in result.notes), result.notes
    assert sql(conn, f"SELECT COUNT(*) FROM `{dst}`.users WHERE name = 'from trigger'") == [
        (USERS - LIVE,)]


@pytest.mark.parametrize("mode", ["error", "ignore", "replace"])
def test_data_only_by_insert_statements_when_local_infile_is_off(
    server: Any, dump: Any, second_server: Any, mode: str
) -> None:
    """The INSERT fallback counts the same way (multi-row info and single-row
    affected counts), and a clash under --insert-mode error is the same exit 9."""
    conn, src, storage = dump
    other = second_server.connect()
    sql(other, "SET GLOBAL local_infile = 0")
    live_target(second_server, storage, src)
    if mode == "error":
        with pytest.raises(TargetExists, match="have keys already in"):
            restore(second_server.connection_config(), storage, data_only=True)
        return
    result = restore(second_server.connection_config(), storage, data_only=True, insert_mode=mode)
    assert any("local_infile=OFF" in n for n in result.notes)
    counts = {r.table.split(".")[1]: (r.inserted, r.replaced, r.skipped) for r in result.table_rows}
    assert counts["users"] == ((USERS - LIVE, LIVE, 0) if mode == "replace" else
                               (USERS - LIVE, 0, LIVE))
    assert counts["orders"] == (ORDERS, 0, 0)
    assert table(other, src, "orders") == table(conn, src, "orders")
    want = table(conn, src, "users")[LIVE:]
    assert table(other, src, "users")[LIVE:-1] == want


def test_data_only_of_a_version_1_dump(server: Any, make_database: Any) -> None:
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "v1_dump"
    src, dst = make_database(), make_database()
    conn = server.connect()
    build_v1(conn, src)
    storage = LocalStorage(str(fixture))
    restore(server.connection_config(), storage, database=dst, schema_only=True, triggers=False)
    restore(server.connection_config(), storage, database=dst, data_only=True)
    sql(conn, f"UPDATE `{dst}`.seqs SET v = 'changed' WHERE id <= 5")
    result = restore(server.connection_config(), storage, database=dst, data_only=True,
                     insert_mode="replace")
    counts = {r.table.split(".", 1)[1]: (r.inserted, r.replaced, r.skipped)
              for r in result.table_rows}
    # The changed rows were replaced (a row identical to the one under its key
    # counts as inserted: MariaDB updates in place and reports no change); a
    # table without a key has nothing to clash with, so its rows come again.
    seqs = sql(conn, f"SELECT COUNT(*) FROM `{src}`.seqs")[0][0]
    assert counts["seqs"] == (seqs - 5, 5, 0)
    nokey = sql(conn, f"SELECT COUNT(*) FROM `{src}`.nokey")[0][0]
    assert counts["nokey"] == (nokey, 0, 0)
    assert checksums(conn, dst).keys() == checksums(conn, src).keys()
    for name in ("seqs", "we`ird ta.ble"):
        q = "`" + name.replace("`", "``") + "`"
        assert sql(conn, f"SELECT * FROM `{dst}`.{q} ORDER BY 1") == sql(
            conn, f"SELECT * FROM `{src}`.{q} ORDER BY 1")


def test_options_that_do_not_go_together(server: Any, dump: Any, tmp_path: Path) -> None:
    from osidump.engine.config import RestoreConfig

    with pytest.raises(ConfigError):
        RestoreConfig(schema_only=True, data_only=True)
    with pytest.raises(ConfigError, match="--on-existing does not apply"):
        RestoreConfig(data_only=True, on_existing="drop")
    with pytest.raises(ConfigError, match="only with --data-only"):
        RestoreConfig(insert_mode="replace")
    # A --no-data dump has nothing to load.
    _conn, src, _storage = dump
    schema = LocalStorage(str(tmp_path / "schema"))
    export(server.connection_config(), schema, src, no_data=True)
    with pytest.raises(ConfigError, match="holds no rows"):
        restore(server.connection_config(), schema, data_only=True)


def test_cli_reports_rows_per_table_and_exit_9(server: Any, dump: Any, make_database: Any) -> None:
    _conn, _src, storage = dump
    dst = make_database()
    live_target(server, storage, dst)
    args = ["restore", storage.root, "-d", dst, "-h", server.host, "-P", str(server.port),
            "-u", server.user, "--data-only"]
    clash = CliRunner().invoke(cli, args)
    assert clash.exit_code == 9, clash.output
    plan = CliRunner().invoke(cli, [*args, "--insert-mode", "replace", "--resume", "--dry-run"])
    assert "into the existing table (--insert-mode replace)" in plan.output
    done = CliRunner().invoke(cli, [*args, "--insert-mode", "replace", "--resume"])
    assert done.exit_code == 0, done.output
    # The clashing run may have committed chunks of other tables, and chunks of
    # users without a clashing key, before it stopped: --resume skips those, so
    # this run reports only what it loaded itself. Every clashing key is in a
    # chunk the first run could not commit, so all of them are replaced here.
    line = re.search(rf"^  {dst}\.users: ([\d,]+) inserted, (\d+) replaced, 0 skipped$",
                     done.output, re.M)
    assert line, done.output
    assert int(line.group(2)) == LIVE
    assert 0 < int(line.group(1).replace(",", "")) <= USERS - LIVE
    conn = server.connect()
    rows = table(conn, dst, "users")
    assert len(rows) == USERS + 1  # the dump's rows and the target's own 9001
    assert rows[:USERS] == table(conn, _src, "users")
