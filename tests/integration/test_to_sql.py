"""to-sql: an osidump dump loads through the stock mysql/mariadb client."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from osidump.cli.to_sql_cmd import to_sql_command
from osidump.engine.format.manifest import load_manifest
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import checksums, export, sql
from tests.integration.test_export_restore import populate

OSIDUMP = [sys.executable, "-m", "osidump.cli.main"]


def client() -> str:
    found = shutil.which("mariadb") or shutil.which("mysql")
    assert found, "this test replays the script with the stock client: install mariadb-client"
    return found


def test_script_loads_with_the_stock_client(server: Any, make_database: Any, tmp_path: Path) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    populate(conn, src, n=400)
    dump = str(tmp_path / "dump")
    export(server.connection_config(), LocalStorage(dump), src, chunk_bytes=16384, batch_bytes=4096)
    script = tmp_path / "all.sql"
    result = CliRunner().invoke(to_sql_command, [dump, "-d", dst, "-o", str(script)])
    assert result.exit_code == 0, result.output
    proc = subprocess.run(
        [client(), "-h", server.host, "-P", str(server.port), "-u", server.user, "--binary-mode"],
        stdin=script.open("rb"), capture_output=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert checksums(conn, dst) == checksums(conn, src)
    assert sql(conn, f"SELECT `{dst}`.twice(4)")[0][0] == 8
    assert sql(conn, f"SELECT COUNT(*) FROM `{dst}`.rich_names") == sql(conn, f"SELECT COUNT(*) FROM `{src}`.rich_names")


def test_damaged_chunk_stops_the_script_and_leaves_no_file(server: Any, make_database: Any, tmp_path: Path) -> None:
    src = make_database()
    populate(server.connect(), src, n=100)
    dump = str(tmp_path / "dump")
    export(server.connection_config(), LocalStorage(dump), src)
    chunk = Path(dump) / load_manifest(LocalStorage(dump)).database(src).table("accounts").chunks[0].path
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x10
    chunk.write_bytes(bytes(data))
    out = tmp_path / "x.sql"
    result = CliRunner().invoke(to_sql_command, [dump, "-o", str(out)])
    assert result.exit_code == 5
    assert not out.exists() and not (tmp_path / "x.sql.partial").exists()
    # Piped into the client without pipefail, the client's own status fails
    # too: the script ends with an error it stops on.
    dst = make_database()
    proc = subprocess.run(
        ["bash", "-c", f"{' '.join(OSIDUMP)} to-sql {dump} -d {dst} | {client()} -h {server.host}"
                       f" -P {server.port} -u {server.user}"],
        capture_output=True, check=False,
    )
    assert proc.returncode != 0
    assert b"osidump to-sql stopped: the dump failed verification" in proc.stderr
    assert sql(server.connect(), f"SELECT COUNT(*) FROM `{dst}`.accounts") == [(0,)]


def test_one_chunk_loads_with_zstd_and_the_stock_client(server: Any, make_database: Any, tmp_path: Path) -> None:
    """docs/FORMAT.md's recipe, run as written: zstd -dc CHUNK | mariadb
    --local-infile=1 DB -e "<osidump inspect --load-data db.t>"."""
    from tests.integration.test_types_roundtrip import COMPARE, TYPES_TABLE, insert_rows

    src, dst = make_database(), make_database()
    conn = server.connect()
    insert_rows(conn, src)
    sql(conn, f"USE `{dst}`")
    sql(conn, TYPES_TABLE)
    dump = tmp_path / "dump"
    export(server.connection_config(), LocalStorage(str(dump)), src, chunk_bytes=4096)
    from osidump.cli.main import cli

    result = CliRunner().invoke(cli, ["inspect", str(dump), "--load-data", f"{src}.t"])
    assert result.exit_code == 0, result.output
    statement = result.output.strip()
    zstd = shutil.which("zstd")
    assert zstd, "install zstd"
    chunks = load_manifest(LocalStorage(str(dump))).database(src).table("t").chunks
    for chunk in chunks:
        pipeline = (
            f"{zstd} -dc {dump / chunk.path} | {client()} --local-infile=1 -h {server.host}"
            f" -P {server.port} -u {server.user} {dst} -e \"$LOAD\""
        )
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], env={"LOAD": statement},
                              capture_output=True, check=False)
        assert proc.returncode == 0, proc.stderr.decode()
    sql(conn, "SET SESSION time_zone = '+00:00'")
    assert sql(conn, COMPARE.format(db=dst)) == sql(conn, COMPARE.format(db=src))


NASTY = [
    b"", b"\\", b"'", b"\\'", b"''", b"\"", b"\x00", b"\x1a", b"\r\n", b"\t", b"abc\\",
    b"\xe0\\'", b"\xe0'", b"\xc3", b"\xf0\x9f\x98", b"\x81\\", b"\x81'", b"\xff\xfe",
    b"'); DROP TABLE keep; -- ", b"\\'); DROP TABLE keep; #", b"_binary'x'", b"X'41'",
    b"\\N", b"NULL", b"\x5c\x5c\x27", b"caf\xc3\xa9 \xf0\x9f\x8d\xa3",
]


def test_any_bytes_stay_data_and_text_stays_readable(server: Any, make_database: Any, tmp_path: Path) -> None:
    """to-sql writes text and binary values as escaped ``_binary'...'``
    strings (readable, greppable): every byte round-trips through the stock
    client run as the README shows it (no --binary-mode), in binary, latin1,
    sjis and utf8mb4 columns, and no value ends its literal early."""
    src, dst = make_database(), make_database()
    conn = server.connect()
    sql(conn, f"USE `{src}`")
    sql(conn, "CREATE TABLE keep (id INT PRIMARY KEY)")
    sql(conn, "CREATE TABLE v (id INT PRIMARY KEY, b VARBINARY(64), l VARCHAR(64) CHARACTER SET latin1,"
              " s VARCHAR(64) CHARACTER SET sjis, u VARCHAR(64) CHARACTER SET utf8mb4)")
    for n, raw in enumerate(NASTY):
        sjis = raw if raw == b"\x81\\" else b"\x83\x5c" if n % 2 else b"x"
        utf8 = raw if _utf8(raw) else b"ok"
        sql(conn, "INSERT INTO v VALUES (%s, %s, _binary %s, _binary %s, _binary %s)",
            (n, raw, raw.replace(b"\x81", b"\xe9"), sjis, utf8))
    dump = str(tmp_path / "dump")
    export(server.connection_config(), LocalStorage(dump), src)
    script = tmp_path / "all.sql"
    result = CliRunner().invoke(to_sql_command, [dump, "-d", dst, "-o", str(script)])
    assert result.exit_code == 0, result.output
    text = script.read_bytes()
    assert b"_binary'" + "café 🍣".encode() + b"'" in text
    proc = subprocess.run(
        [client(), "-h", server.host, "-P", str(server.port), "-u", server.user],
        stdin=script.open("rb"), capture_output=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    compare = "SELECT id, HEX(b), HEX(l), HEX(s), HEX(u) FROM `{}`.v ORDER BY id"
    assert sql(conn, compare.format(dst)) == sql(conn, compare.format(src))
    assert sql(conn, f"SELECT COUNT(*) FROM `{dst}`.keep") == [(0,)]


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return b"\x00" not in raw
    except UnicodeDecodeError:
        return False
