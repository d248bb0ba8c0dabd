"""``to-sql --per-table DIR``: one plain SQL file per table (schema and rows),
the objects in a file of their own, and load.sql that the stock client runs
to load them all; every chunk verified, none of a damaged one in any file."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from osidump.cli.main import cli
from osidump.engine.format.manifest import encode_name, load_manifest
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import checksums, export, sql
from tests.integration.test_export_restore import populate
from tests.integration.test_to_sql import client

TABLES = ("accounts", "ledger", "tags", "events_log", "uniq", "empty_t", "we`ird ta.ble")


def mysql(server: Any, *, cwd: Path, stdin: Any) -> subprocess.CompletedProcess[bytes]:
    """The stock client as the docs say (no --binary-mode: it turns off
    ``source``)."""
    return subprocess.run(
        [client(), "-h", server.host, "-P", str(server.port), "-u", server.user],
        stdin=stdin, cwd=cwd, capture_output=True, check=False,
    )


def test_per_table_files_load_with_the_stock_client(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    src, dst, one = make_database(), make_database(), make_database()
    conn = server.connect()
    populate(conn, src, n=400)
    dump = str(tmp_path / "dump")
    manifest = export(server.connection_config(), LocalStorage(dump), src, chunk_bytes=8192,
                      batch_bytes=2048)
    out = tmp_path / "sql"
    result = CliRunner().invoke(cli, ["to-sql", dump, "-d", dst, "--per-table", str(out)])
    assert result.exit_code == 0, result.output
    assert f"cd {out} && mysql < load.sql" in result.output

    prefix = encode_name(dst)
    table_files = {t: f"{prefix}.{encode_name(t)}.sql" for t in TABLES}
    assert sorted(os.listdir(out)) == sorted([*table_files.values(), f"{prefix}-objects.sql",
                                              "load.sql"])
    for name in os.listdir(out):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    # Each table's file holds its own table only, every chunk in a transaction.
    for table, name in table_files.items():
        text = (out / name).read_text()
        q = "`" + table.replace("`", "``") + "`"
        assert f"CREATE TABLE {q}" in text and text.count("CREATE TABLE") == 1
        assert text.count("START TRANSACTION;") == text.count("COMMIT;") == len(
            manifest.database(src).table(table).chunks)
        assert text.endswith("-- osidump: end of file\n")
        others = [f"INSERT INTO `{t}`" for t in TABLES if t != table and t != "we`ird ta.ble"]
        assert not any(o in text for o in others), table
    objects = (out / f"{prefix}-objects.sql").read_text()
    assert "CREATE TABLE" not in objects and "DELIMITER ;;" in objects
    lines = (out / "load.sql").read_text().splitlines()
    assert lines[-1] == f"source {prefix}-objects.sql"  # objects after every table

    loaded = mysql(server, cwd=out, stdin=(out / "load.sql").open("rb"))
    assert loaded.returncode == 0, loaded.stderr.decode()
    assert checksums(conn, dst) == checksums(conn, src)
    assert sql(conn, f"SELECT `{dst}`.twice(4)")[0][0] == 8
    assert sql(conn, f"SELECT COUNT(*) FROM `{dst}`.rich_names") == sql(
        conn, f"SELECT COUNT(*) FROM `{src}`.rich_names")

    # One table's file alone restores that table.
    single = tmp_path / "one"
    result = CliRunner().invoke(cli, ["to-sql", dump, "-d", one, "--tables", "tags",
                                      "--per-table", str(single)])
    assert result.exit_code == 0, result.output
    name = f"{encode_name(one)}.tags.sql"
    alone = mysql(server, cwd=single, stdin=(single / name).open("rb"))
    assert alone.returncode == 0, alone.stderr.decode()
    assert checksums(conn, one) == {"tags": checksums(conn, src)["tags"]}


def test_a_damaged_chunk_leaves_no_file_with_its_rows_and_no_load_sql(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    src = make_database()
    populate(server.connect(), src, n=400)
    dump = str(tmp_path / "dump")
    manifest = export(server.connection_config(), LocalStorage(dump), src, chunk_bytes=8192)
    chunk = Path(dump) / load_manifest(LocalStorage(dump)).database(src).table("tags").chunks[1].path
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x10
    chunk.write_bytes(bytes(data))
    out = tmp_path / "sql"
    result = CliRunner().invoke(cli, ["to-sql", dump, "--per-table", str(out)])
    assert result.exit_code == 5, result.output
    assert "no load.sql" in result.output
    written = os.listdir(out)
    assert "load.sql" not in written
    assert f"{encode_name(src)}.tags.sql" not in written
    assert not [n for n in written if "partial" in n]
    # What is there is complete and verified: every file ends as written.
    for name in written:
        assert (out / name).read_text().endswith("-- osidump: end of file\n"), name
    assert manifest.database(src).table("tags").rows > 0


def test_per_table_needs_an_empty_directory(server: Any, make_database: Any, tmp_path: Path) -> None:
    src = make_database()
    populate(server.connect(), src, n=10)
    dump = str(tmp_path / "dump")
    export(server.connection_config(), LocalStorage(dump), src)
    out = tmp_path / "sql"
    out.mkdir()
    (out / "mine.sql").write_text("keep me")
    result = CliRunner().invoke(cli, ["to-sql", dump, "--per-table", str(out)])
    assert result.exit_code == 6, result.output
    assert os.listdir(out) == ["mine.sql"]
    both = CliRunner().invoke(cli, ["to-sql", dump, "--per-table", str(tmp_path / "x"), "-o", "y"])
    assert both.exit_code == 2
