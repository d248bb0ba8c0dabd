"""Whole export/restore cycles: keys of every kind, schema objects, partial
and renamed restores, and what happens when the target already has tables."""

from __future__ import annotations

from typing import Any

import pytest
from osidump.engine.errors import ObjectNotFound, TargetExists
from osidump.engine.format.manifest import load_manifest
from osidump.engine.restore.verify import verify_dump
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import checksums, export, restore, sql

SCHEMA = [
    "CREATE TABLE accounts (id BIGINT UNSIGNED PRIMARY KEY, owner VARCHAR(40) NOT NULL,"
    " balance DECIMAL(12,2) NOT NULL, KEY owner_idx (owner))",
    "CREATE TABLE ledger (acct BIGINT UNSIGNED NOT NULL, seq INT NOT NULL, note VARCHAR(200),"
    " PRIMARY KEY (acct, seq))",
    "CREATE TABLE tags (code VARCHAR(30) NOT NULL PRIMARY KEY, label TEXT)",
    "CREATE TABLE events_log (msg VARCHAR(100), n INT)",  # no key at all
    "CREATE TABLE uniq (u INT NOT NULL, v INT, UNIQUE KEY (u))",  # unique NOT NULL, no PK
    "CREATE TABLE empty_t (id INT PRIMARY KEY)",
    "CREATE TABLE `we``ird ta.ble` (`col``x` INT PRIMARY KEY)",
    "CREATE VIEW rich AS SELECT id, owner FROM accounts WHERE balance > 500",
    "CREATE VIEW rich_names AS SELECT owner FROM rich",  # depends on a view
    "CREATE TRIGGER acc_bi BEFORE INSERT ON accounts FOR EACH ROW SET NEW.owner = TRIM(NEW.owner)",
    "CREATE PROCEDURE bump(IN x INT) BEGIN UPDATE accounts SET balance = balance + x; END",
    "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM events_log",
]


def populate(conn: Any, db: str, n: int = 3000) -> None:
    sql(conn, f"USE `{db}`")
    for stmt in SCHEMA:
        sql(conn, stmt)
    sql(conn, "INSERT INTO accounts SELECT seq, CONCAT('owner', seq MOD 97), seq * 1.5 FROM seq_1_to_%N".replace("%N", str(n)))
    sql(conn, "INSERT INTO ledger SELECT seq DIV 10, seq MOD 10, REPEAT('x', seq MOD 50) FROM seq_1_to_%N".replace("%N", str(n)))
    sql(conn, "INSERT INTO tags SELECT CONCAT('tag-', LPAD(seq, 6, '0')), REPEAT('t', 100) FROM seq_1_to_%N".replace("%N", str(n)))
    sql(conn, "INSERT INTO events_log SELECT CONCAT('m', seq MOD 7), seq MOD 3 FROM seq_1_to_%N".replace("%N", str(n)))
    sql(conn, "INSERT INTO events_log VALUES ('dup', 1), ('dup', 1)")  # identical rows stay two rows
    sql(conn, "INSERT INTO uniq SELECT seq, seq FROM seq_1_to_%N".replace("%N", str(n)))
    sql(conn, "INSERT INTO `we``ird ta.ble` VALUES (1), (2)")
    sql(conn, "ANALYZE TABLE accounts, ledger, tags, events_log, uniq")


def test_full_cycle_with_small_chunks(server: Any, make_database: Any, tmp_path: Any) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    populate(conn, src)
    storage = LocalStorage(str(tmp_path / "dump"))
    # Tiny chunks: every table with a key is cut into many ranges and files.
    manifest = export(server.connection_config(), storage, src, threads=2, chunk_bytes=4096,
                      batch_bytes=1024)
    db = manifest.database(src)
    for name in ("accounts", "ledger", "tags", "events_log", "uniq"):
        assert len(db.table(name).chunks) > 1, name
    assert db.table("uniq").key_kind == "unique"
    assert db.table("events_log").key_kind == "none"
    assert db.table("ledger").key == ["acct", "seq"]
    assert db.views == ["rich", "rich_names"]
    assert db.triggers == ["acc_bi"] and db.events == ["nightly"]
    assert sorted(db.routines) == ["function twice", "procedure bump"]
    # Every row landed in exactly one chunk.
    for name, count in [("accounts", 3000), ("ledger", 3000), ("tags", 3000),
                        ("events_log", 3002), ("uniq", 3000), ("empty_t", 0)]:
        assert db.table(name).rows == count, name
    assert verify_dump(storage).ok

    result = restore(server.connection_config(), storage, database=dst, threads=2)
    assert result.rows == sum(t.rows for t in db.tables)
    assert checksums(conn, dst) == checksums(conn, src)
    # Views point at the new database, in dependency order; routines work.
    assert sql(conn, f"SELECT COUNT(*) FROM `{dst}`.rich_names")[0][0] == sql(
        conn, f"SELECT COUNT(*) FROM `{src}`.rich_names")[0][0]
    view_sql = sql(conn, f"SHOW CREATE VIEW `{dst}`.rich")[0][1]
    assert f"`{src}`" not in view_sql
    assert sql(conn, f"SELECT `{dst}`.twice(21)")[0][0] == 42
    sql(conn, f"INSERT INTO `{dst}`.accounts VALUES (999999, '  padded  ', 1)")
    assert sql(conn, f"SELECT owner FROM `{dst}`.accounts WHERE id = 999999")[0][0] == "padded"
    # The deferred secondary index exists after the load; no progress table left.
    idx = sql(conn, "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=%s"
                    " AND TABLE_NAME='accounts' AND INDEX_NAME='owner_idx'", (dst,))
    assert idx
    assert not sql(conn, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s"
                         " AND TABLE_NAME='osidump_restore_progress'", (dst,))


def test_partial_restore_touches_only_the_named_tables(server: Any, make_database: Any, tmp_path: Any) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    populate(conn, src, n=500)
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src, threads=2)
    sql(conn, f"CREATE TABLE `{dst}`.untouched (id INT PRIMARY KEY)")
    sql(conn, f"INSERT INTO `{dst}`.untouched VALUES (1)")
    restore(server.connection_config(), storage, database=dst, tables=("accounts", "tags"))
    tables = {r[0] for r in sql(conn, "SELECT TABLE_NAME FROM information_schema.TABLES"
                                      " WHERE TABLE_SCHEMA=%s", (dst,))}
    assert tables == {"accounts", "tags", "untouched"}
    assert checksums(conn, dst)["accounts"] == checksums(conn, src)["accounts"]
    assert sql(conn, f"SELECT COUNT(*) FROM `{dst}`.untouched")[0][0] == 1
    # The accounts trigger came along; the views did not.
    assert sql(conn, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=%s",
               (dst,)) == [("acc_bi",)]


def test_partial_export_of_named_tables(server: Any, make_database: Any, tmp_path: Any) -> None:
    src = make_database()
    conn = server.connect()
    populate(conn, src, n=100)
    storage = LocalStorage(str(tmp_path / "dump"))
    manifest = export(server.connection_config(), storage, src, tables=("accounts", "tags"))
    assert [t.name for t in manifest.database(src).tables] == ["accounts", "tags"]
    storage2 = LocalStorage(str(tmp_path / "dump2"))
    manifest2 = export(server.connection_config(), storage2, src, exclude_tables=(f"{src}.ledger", "e*"))
    assert "ledger" not in [t.name for t in manifest2.database(src).tables]
    assert "events_log" not in [t.name for t in manifest2.database(src).tables]
    assert "empty_t" not in [t.name for t in manifest2.database(src).tables]
    # Whole databases minus some tables keep their routines and events.
    assert manifest2.database(src).routines and manifest2.database(src).events
    assert not manifest.database(src).routines and not manifest.database(src).events


def test_unknown_table_in_a_partial_restore_is_an_error(server: Any, make_database: Any, tmp_path: Any) -> None:
    src = make_database()
    populate(server.connect(), src, n=10)
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src)
    with pytest.raises(ObjectNotFound, match="nosuch"):
        restore(server.connection_config(), storage, database=src, tables=("nosuch",))


def test_existing_tables_fail_drop_or_truncate(server: Any, make_database: Any, tmp_path: Any) -> None:
    src = make_database()
    conn = server.connect()
    populate(conn, src, n=200)
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src)
    before = checksums(conn, src)
    # Restoring over the source: refused by default, nothing changed.
    with pytest.raises(TargetExists, match="7 tables already exist in"):
        restore(server.connection_config(), storage)
    with pytest.raises(TargetExists, match="^1 table already exists in"):
        restore(server.connection_config(), storage, tables=("ledger",))
    assert checksums(conn, src) == before
    # After damage, --on-existing drop puts the dumped state back.
    sql(conn, f"DELETE FROM `{src}`.accounts WHERE id < 100")
    sql(conn, f"UPDATE `{src}`.tags SET label = 'changed'")
    restore(server.connection_config(), storage, on_existing="drop")
    assert checksums(conn, src) == before
    # truncate keeps the table definitions and reloads the rows.
    sql(conn, f"DELETE FROM `{src}`.ledger")
    restore(server.connection_config(), storage, on_existing="truncate", tables=("ledger",))
    assert checksums(conn, src) == before
    assert load_manifest(storage).database(src).table("ledger").rows == 200


def test_strip_definers_and_indexes_built_inline(server: Any, make_database: Any, tmp_path: Any) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    populate(conn, src, n=50)
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src, strip_definers=True)
    schema = (tmp_path / "dump" / "schema" / f"{src}.json").read_text()
    assert "DEFINER=" not in schema  # (SQL SECURITY DEFINER stays: it is not a user)
    restore(server.connection_config(), storage, database=dst, defer_indexes=False)
    assert checksums(conn, dst) == checksums(conn, src)
    assert sql(conn, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=%s"
                     " AND INDEX_NAME='owner_idx'", (dst,))[0][0] == 1


def test_all_databases_skips_system_schemas(server: Any, make_database: Any, tmp_path: Any) -> None:
    a, b = make_database(), make_database()
    conn = server.connect()
    sql(conn, f"CREATE TABLE `{a}`.t (id INT PRIMARY KEY)")
    sql(conn, f"CREATE TABLE `{b}`.u (id INT PRIMARY KEY)")
    from osidump.engine.config import ExportConfig
    from osidump.engine.export.run import run_export

    manifest = run_export(server.connection_config(), ExportConfig(all_databases=True),
                          LocalStorage(str(tmp_path / "all")))
    names = {d.name for d in manifest.databases}
    assert {a, b} <= names
    assert not names & {"mysql", "information_schema", "performance_schema", "sys"}


def test_event_keeps_its_schedule_time_zone(server: Any, make_database: Any, tmp_path: Any) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    sql(conn, "SET SESSION time_zone = '+09:00'")
    sql(conn, f"CREATE EVENT `{src}`.tokyo_morning ON SCHEDULE AT '2030-01-01 09:00:00' "
              "ON COMPLETION PRESERVE DISABLE DO SELECT 1")
    sql(conn, "SET SESSION time_zone = '+00:00'")
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src)
    restore(server.connection_config(), storage, database=dst)
    q = "SELECT EXECUTE_AT, TIME_ZONE, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s"
    assert sql(conn, q, (dst,)) == sql(conn, q, (src,))
    assert sql(conn, q, (dst,))[0][1] == "+09:00"


def test_tables_whose_names_differ_only_in_case(server: Any, make_database: Any, tmp_path: Any) -> None:
    """On a case-sensitive server `Users` and `users` are two tables: each
    keeps its rows, and the restore's bookkeeping (progress markers, shadow
    names) never mistakes one for the other."""
    conn = server.connect()
    src = make_database()
    sql(conn, f"USE `{src}`")
    sql(conn, f"CREATE TABLE `{src}`.`Users` (id INT PRIMARY KEY, name VARCHAR(20))")
    sql(conn, f"CREATE TABLE `{src}`.`users` (id INT PRIMARY KEY, name VARCHAR(20))")
    sql(conn, f"INSERT INTO `{src}`.`Users` SELECT seq, CONCAT('upper', seq) FROM seq_1_to_300")
    sql(conn, f"INSERT INTO `{src}`.`users` SELECT seq, CONCAT('lower', seq) FROM seq_1_to_200")
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src)
    dst = make_database()
    restore(server.connection_config(), storage, database=dst)
    assert checksums(conn, dst) == checksums(conn, src)
    # Again over the copy (shadows and old tables of both at once), and resumed.
    sql(conn, f"UPDATE `{dst}`.`users` SET name = 'changed'")
    restore(server.connection_config(), storage, database=dst, on_existing="drop")
    assert checksums(conn, dst) == checksums(conn, src)
