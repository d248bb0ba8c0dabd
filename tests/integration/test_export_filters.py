"""Row filters (``export --where``) and schema-only exports (``--no-data``):
the dump holds exactly the rows the conditions select, still chunked; a
condition the server refuses writes nothing; a recorded condition is never
run at restore time."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from osidump.cli.main import cli
from osidump.engine.errors import ObjectNotFound
from osidump.engine.restore.verify import verify_dump
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import checksums, export, restore, sql

SCHEMA = [
    "CREATE TABLE ints (id INT PRIMARY KEY, n INT NOT NULL, pad VARCHAR(200))",
    "CREATE TABLE comp (a INT NOT NULL, b INT NOT NULL, n INT NOT NULL, PRIMARY KEY (a, b))",
    "CREATE TABLE strs (code VARCHAR(20) PRIMARY KEY, n INT NOT NULL, pad VARCHAR(200))",
    "CREATE TABLE nokey (n INT NOT NULL, msg VARCHAR(20))",
    "CREATE VIEW big_ints AS SELECT id FROM ints WHERE n > 10",
    "CREATE TRIGGER ints_bi BEFORE INSERT ON ints FOR EACH ROW SET NEW.n = NEW.n",
]
ROWS = 6000


def build(conn: Any, db: str) -> None:
    sql(conn, f"USE `{db}`")
    for stmt in SCHEMA:
        sql(conn, stmt)
    sql(conn, f"INSERT INTO ints SELECT seq, seq MOD 7, REPEAT('p', 100) FROM seq_1_to_{ROWS}")
    sql(conn, f"INSERT INTO comp SELECT seq DIV 10, seq MOD 10, seq MOD 7 FROM seq_1_to_{ROWS}")
    sql(conn, "INSERT INTO strs SELECT CONCAT('tag-', LPAD(seq, 6, '0')), seq MOD 7,"
              f" REPEAT('s', 100) FROM seq_1_to_{ROWS}")
    sql(conn, f"INSERT INTO nokey SELECT seq MOD 7, CONCAT('m', seq) FROM seq_1_to_{ROWS}")
    sql(conn, "ANALYZE TABLE ints, comp, strs, nokey")


def sorted_rows(conn: Any, db: str, table: str, where: str = "1") -> list[tuple[Any, ...]]:
    return sorted(sql(conn, f"SELECT * FROM `{db}`.`{table}` WHERE {where}"))


def test_where_selects_exactly_the_matching_rows_and_chunking_still_applies(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    conn = server.connect()
    src, dst = make_database(), make_database()
    build(conn, src)
    storage = LocalStorage(str(tmp_path / "dump"))
    every = "n <> 3"  # valid on every table, ANDed with the per-table ones
    per_table = (
        (f"{src}.ints", "id > 4500"),  # the planner's MIN/MAX must see it
        (f"{src}.strs", "code >= 'tag-004500'"),  # and the keyset walk
        (f"{src}.co*", "a % 2 = 0 -- a comment the operator wrote"),
    )
    manifest = export(server.connection_config(), storage, src, threads=2, chunk_bytes=32768,
                      where=every, table_where=per_table)
    wanted = {
        "ints": f"{every} AND id > 4500",
        "strs": f"{every} AND code >= 'tag-004500'",
        "comp": f"{every} AND a % 2 = 0",
        "nokey": every,
    }
    db = manifest.database(src)
    for table, condition in wanted.items():
        assert db.table(table).rows == len(sorted_rows(conn, src, table, condition)), table
    # Ranges were cut over the filtered rows: with MIN/MAX or the keyset walk
    # over the whole table most of them would be empty.
    for table in ("ints", "strs"):
        chunks = db.table(table).chunks
        assert len(chunks) > 1 and all(c.rows > 0 for c in chunks), (table, [c.rows for c in chunks])
    assert manifest.options["where"] == every
    assert manifest.options["table_where"] == [list(p) for p in per_table]
    assert verify_dump(storage).ok

    restore(server.connection_config(), storage, database=dst)
    for table, condition in wanted.items():
        assert sorted_rows(conn, dst, table) == sorted_rows(conn, src, table, condition), table

    shown = CliRunner().invoke(cli, ["inspect", storage.root])
    assert shown.exit_code == 0, shown.output
    assert f"rows:        only where {every} (every table; export --where)" in shown.output
    assert f"only where id > 4500 ({src}.ints; export --where)" in shown.output


@pytest.mark.parametrize(
    "where, named",
    [
        (["no_such_column = 1"], "Unknown column 'no_such_column'"),
        (["pad LIKE 'p%'"], "comp"),  # a column only some tables have
        (["{db}.strs:code >>= 'x'"], "strs"),  # a syntax error in one table's condition
        (["{db}.missing:1 = 1"], "matches no exported table"),
    ],
)
def test_a_condition_the_server_refuses_is_exit_4_and_nothing_is_written(
    server: Any, make_database: Any, tmp_path: Path, where: list[str], named: str
) -> None:
    src = make_database()
    build(server.connect(), src)
    out = tmp_path / "dump"
    args = ["export", src, "-o", str(out), "-h", server.host, "-P", str(server.port),
            "-u", server.user]
    for w in where:
        args += ["--where", w.format(db=src)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 4, result.output
    assert named in result.output
    assert not out.exists() or os.listdir(out) == []


def test_a_recorded_condition_is_never_run_at_restore(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    """A dump is untrusted: its recorded --where is text for people. Conditions
    that cannot run (and one that would drop a table) in the manifest change
    nothing: the restore loads the chunks as they are."""
    conn = server.connect()
    src, dst = make_database(), make_database()
    build(conn, src)
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, src, where="n = 1")
    path = tmp_path / "dump" / "manifest.json"
    doc = json.loads(path.read_text())
    doc["options"]["where"] = "no_such_column = 1"
    doc["options"]["table_where"] = [[f"{src}.ints", "1); DROP TABLE ints; SELECT (1"]]
    path.write_text(json.dumps(doc))
    restore(server.connection_config(), storage, database=dst)
    assert sorted_rows(conn, dst, "ints") == sorted_rows(conn, src, "ints", "n = 1")
    assert sorted_rows(conn, src, "ints")  # the source's table is still there


def test_no_data_exports_schema_and_objects_only(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    conn = server.connect()
    src, dst = make_database(), make_database()
    build(conn, src)
    out = tmp_path / "dump"
    result = CliRunner().invoke(cli, ["export", src, "-o", str(out), "--no-data", "-h",
                                      server.host, "-P", str(server.port), "-u", server.user])
    assert result.exit_code == 0, result.output
    storage = LocalStorage(str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["no_data"] is True
    tables = manifest["databases"][0]["tables"]
    assert {t["name"] for t in tables} == {"ints", "comp", "strs", "nokey"}
    assert all(t["chunks"] == [] for t in tables)
    assert not (out / "data").exists()
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    assert size < 16384, size  # a few KB, whatever the data
    assert verify_dump(storage).ok
    shown = CliRunner().invoke(cli, ["inspect", str(out)])
    assert "schema and objects only (export --no-data)" in shown.output

    restore(server.connection_config(), storage, database=dst)
    assert set(checksums(conn, dst)) == {"ints", "comp", "strs", "nokey"}
    assert all(sql(conn, f"SELECT COUNT(*) FROM `{dst}`.`{t}`")[0][0] == 0
               for t in ("ints", "comp", "strs", "nokey"))
    assert sql(conn, f"SHOW CREATE VIEW `{dst}`.big_ints")
    assert sql(conn, f"SHOW TRIGGERS FROM `{dst}`")[0][0] == "ints_bi"


def test_where_and_no_data_exclude_each_other() -> None:
    from osidump.engine.config import ExportConfig
    from osidump.engine.errors import ConfigError

    with pytest.raises(ConfigError, match="--no-data"):
        ExportConfig(databases=("x",), where="n = 1", no_data=True)
    with pytest.raises(ConfigError, match="db.table"):
        ExportConfig(databases=("x",), table_where=(("t", "n = 1"),))


def test_engine_raises_object_not_found(server: Any, make_database: Any, tmp_path: Path) -> None:
    src = make_database()
    build(server.connect(), src)
    storage = LocalStorage(str(tmp_path / "dump"))
    with pytest.raises(ObjectNotFound, match="does not run on"):
        export(server.connection_config(), storage, src, where="(")
    assert storage.list() == []


class FakeTimeLimiter:
    """A fake clock for the real RateLimiter: a taker 'waits' by moving the
    clock forward, so the test checks the accounting without timing anything."""

    def __init__(self, rate: int) -> None:
        from osidump.engine.export.throttle import RateLimiter

        self.now = 0.0
        self.lock = threading.Lock()
        self.limiter = RateLimiter(rate, burst=65536, clock=lambda: self.now)
        self.threads: set[str] = set()

    def take(self, n: int, *, cancelled: Any = None) -> None:
        with self.lock:
            self.threads.add(threading.current_thread().name)
            self.now += self.limiter.reserve(n)


def test_max_rate_meters_every_row_byte_of_every_worker(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    from osidump.engine.config import ExportConfig
    from osidump.engine.export.run import Export

    src = make_database()
    build(server.connect(), src)
    rate = 1 << 20
    fake = FakeTimeLimiter(rate)
    storage = LocalStorage(str(tmp_path / "dump"))
    config = ExportConfig(databases=(src,), threads=2, chunk_bytes=32768, batch_bytes=4096,
                          max_rate=rate)
    manifest = Export(server.connection_config(), config, storage, throttle=fake).run()
    raw = sum(t.raw_bytes for d in manifest.databases for t in d.tables)
    assert fake.limiter.taken == raw  # every block read from the server went through the bucket
    assert len(fake.threads) == 2  # one bucket shared by both workers
    assert fake.now >= (raw - 65536) / rate  # the export was held to the rate
    assert manifest.options["max_rate"] == rate


def test_max_rate_through_the_cli(server: Any, make_database: Any, tmp_path: Path) -> None:
    src = make_database()
    build(server.connect(), src)
    base = ["-h", server.host, "-P", str(server.port), "-u", server.user]
    out = tmp_path / "dump"
    result = CliRunner().invoke(cli, ["export", src, "-o", str(out), "--max-rate", "50M", *base])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["options"]["max_rate"] == 50 << 20
    low = CliRunner().invoke(cli, ["export", src, "-o", str(tmp_path / "x"), "--max-rate", "1K",
                                   *base])
    assert low.exit_code == 2 and "too low" in low.output
