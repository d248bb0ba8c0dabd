"""load-sql replays real mariadb-dump output (plain, gzip, zstd) without the client."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import zstandard

from tests.integration.helpers import checksums, sql
from tests.integration.test_export_restore import populate


def osidump(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "osidump.cli.main", *args], capture_output=True, text=True,
                          check=False, timeout=300)


def objects(conn: Any, db: str) -> list[tuple[Any, ...]]:
    return sql(conn, "SELECT 'trigger', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=%s"
                     " UNION ALL SELECT 'routine', ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA=%s"
                     " UNION ALL SELECT 'view', TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA=%s"
                     " UNION ALL SELECT 'event', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA=%s"
                     " ORDER BY 1, 2", (db, db, db, db))


def test_mariadb_dump_files_load(server: Any, make_database: Any, tmp_path: Path) -> None:
    dumper = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    assert dumper, "this test reads real mysqldump output: install mariadb-client"
    src = make_database()
    conn = server.connect()
    populate(conn, src, n=2000)
    plain = subprocess.run([dumper, "-h", server.host, "-P", str(server.port), "-u", server.user,
                            "--single-transaction", "--routines", "--triggers", "--events", "--hex-blob", src],
                           capture_output=True, check=True).stdout
    files = {
        "dump.sql": plain,
        "dump.sql.gz": gzip.compress(plain),
        "dump.sql.zst": zstandard.ZstdCompressor().compress(plain),
    }
    base = ["-h", server.host, "-P", str(server.port), "-u", server.user]
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        dst = make_database()
        proc = osidump("load-sql", str(path), "-d", dst, *base)
        assert proc.returncode == 0, proc.stderr
        assert ("gzip" in proc.stdout) == name.endswith(".gz")
        assert checksums(conn, dst) == checksums(conn, src), name
        assert objects(conn, dst) == objects(conn, src), name


def test_a_failing_statement_is_named_by_number_only(server: Any, make_database: Any, tmp_path: Path) -> None:
    dst = make_database()
    script = tmp_path / "bad.sql"
    script.write_text("CREATE TABLE t (id INT PRIMARY KEY);\nINSERT INTO t VALUES (1);\n"
                      "INSERT INTO t VALUES ('secret-value', 2);\n")
    proc = osidump("load-sql", str(script), "-d", dst, "-h", server.host, "-P", str(server.port), "-u", server.user)
    assert proc.returncode == 8
    errors = [line for line in proc.stderr.splitlines() if line.startswith("osidump: error:")]
    assert len(errors) == 1 and "statement 3 of the script failed" in errors[0]
    assert "secret-value" not in proc.stderr
    assert sql(server.connect(), f"SELECT COUNT(*) FROM `{dst}`.t")[0][0] == 1
    missing = osidump("load-sql", str(tmp_path / "nope.sql"), "-h", server.host, "-P", str(server.port), "-u", server.user)
    assert missing.returncode == 4


def test_a_statement_on_a_missing_table_is_a_server_error(server: Any, make_database: Any, tmp_path: Path) -> None:
    """README's exit codes: 4 is for what the user named (the file, a dump, a
    table to export); a statement of the script that the server refuses is 8,
    whatever the reason, a table the script names but never created included."""
    dst = make_database()
    login = ["-h", server.host, "-P", str(server.port), "-u", server.user]
    for number, statement in ((2, "INSERT INTO no_such_table VALUES (1)"),
                              (2, "USE osi_no_such_database_x"),
                              (2, "INSERT INTO t VALUES ('not a number')")):
        script = tmp_path / "bad.sql"
        script.write_text(f"CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY);\n{statement};\n")
        proc = osidump("load-sql", str(script), "-d", dst, "--follow-use", *login)
        assert proc.returncode == 8, (statement, proc.stderr)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("osidump: error:")]
        assert len(errors) == 1 and f"statement {number} of the script failed" in errors[0], proc.stderr
