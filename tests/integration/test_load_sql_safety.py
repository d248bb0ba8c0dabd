"""load-sql -d NAME never writes elsewhere; damaged files are damage; comments
in routine bodies survive (issue 8 item 6). Real mariadb-dump output, a real
server, the CLI in a subprocess."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import zstandard

from tests.integration.helpers import checksums, sql
from tests.integration.test_export_restore import populate


def osidump(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "osidump.cli.main", *args], capture_output=True,
                          input=stdin, check=False, timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(),
                                       proc.stderr.decode())


def dump(server: Any, *args: str) -> bytes:
    dumper = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    assert dumper, "these tests read real mysqldump output: install mariadb-client"
    return subprocess.run([dumper, "-h", server.host, "-P", str(server.port), "-u", server.user,
                           "--single-transaction", "--routines", "--triggers", "--events", *args],
                          capture_output=True, check=True).stdout


def base(server: Any) -> list[str]:
    return ["-h", server.host, "-P", str(server.port), "-u", server.user]


def exists(conn: Any, db: str) -> bool:
    return bool(sql(conn, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (db,)))


def fresh_name(conn: Any, make_database: Any) -> str:
    """A unique database name that does not exist yet (dropped after the test)."""
    name = make_database()
    sql(conn, f"DROP DATABASE `{name}`")
    return name


def test_a_databases_dump_is_refused_with_d_until_follow_use(server: Any, make_database: Any,
                                                              tmp_path: Path) -> None:
    """The issue's case: `load-sql old.sql.gz -d shop_old` on a --databases dump
    of `shop` must not touch `shop`. Refused before anything runs (neither
    database exists afterwards); --follow-use runs it as written."""
    conn = server.connect()
    src = make_database()
    populate(conn, src, n=300)
    want = checksums(conn, src)
    path = tmp_path / "old.sql.gz"
    path.write_bytes(gzip.compress(dump(server, "--databases", src)))
    sql(conn, f"DROP DATABASE `{src}`")
    target = fresh_name(conn, make_database)

    refused = osidump("load-sql", str(path), "-d", target, *base(server))
    assert refused.returncode == 2, refused.stderr
    assert f"`{src}`" in refused.stderr and "nothing was run" in refused.stderr
    assert "--follow-use" in refused.stderr
    assert not exists(conn, src) and not exists(conn, target)
    # The hint must not promise that --follow-use loads into -d: it obeys the
    # script's USE (below, -d stays empty), and no flag renames the script's database.
    (hint,) = [line for line in refused.stderr.splitlines() if line.startswith("  hint:")]
    assert "start in the -d database" not in hint
    assert "nothing goes into -d after the first USE" in hint
    assert "cannot load it under another name" in hint

    followed = osidump("load-sql", str(path), "-d", target, "--follow-use", *base(server))
    assert followed.returncode == 0, followed.stderr
    assert checksums(conn, src) == want
    assert exists(conn, target) and checksums(conn, target) == {}
    assert f"following USE into {src}" in followed.stdout


def test_qualified_names_are_refused_and_decoys_are_not(server: Any, make_database: Any,
                                                         tmp_path: Path) -> None:
    conn = server.connect()
    target = fresh_name(conn, make_database)
    script = tmp_path / "s.sql"
    # Database names inside strings and comments name nothing: they must load.
    decoys = (
        "CREATE TABLE t (a INT, note TEXT);\n"
        "-- USE elsewhere;\n"
        "/* CREATE DATABASE elsewhere; */\n"
        "INSERT INTO t VALUES (1, 'x; USE elsewhere; CREATE TABLE elsewhere.t (a INT);');\n"
        f"USE `{target}`;\n"
    )
    script.write_text(decoys)
    ok = osidump("load-sql", str(script), "-d", target, *base(server))
    assert ok.returncode == 0, ok.stderr
    assert sql(conn, f"SELECT COUNT(*) FROM `{target}`.t")[0][0] == 1

    for bad, label in [
        ("CREATE TABLE `elsewhere`.`t2` (a INT)", "CREATE TABLE `elsewhere`.`t2`"),
        ("INSERT INTO elsewhere.t VALUES (2, 'y')", "INSERT INTO `elsewhere`.`t`"),
        ("/*!40000 USE elsewhere*/", "USE `elsewhere`"),
    ]:
        script.write_text(f"INSERT INTO t VALUES (2, 'z');\n{bad};\n")
        refused = osidump("load-sql", str(script), "-d", target, *base(server))
        assert refused.returncode == 2, refused.stderr
        assert f"`elsewhere` (statement 2 ({label}))" in refused.stderr
        assert sql(conn, f"SELECT COUNT(*) FROM `{target}`.t")[0][0] == 1  # nothing ran


def test_the_created_database_takes_the_scripts_charset(server: Any, make_database: Any) -> None:
    """Through standard input (spooled for the survey): the database comes
    back latin1/latin1_german1_ci, not the server's utf8mb4 default."""
    conn = server.connect()
    src = make_database()
    sql(conn, f"ALTER DATABASE `{src}` CHARACTER SET latin1 COLLATE latin1_german1_ci")
    sql(conn, f"CREATE TABLE `{src}`.t (name VARCHAR(20))")
    sql(conn, f"INSERT INTO `{src}`.t VALUES ('Müller')")
    script = dump(server, "--databases", src)
    assert b"latin1_german1_ci" in script
    sql(conn, f"DROP DATABASE `{src}`")
    done = osidump("load-sql", "-", "-d", src, *base(server), stdin=script)
    assert done.returncode == 0, done.stderr
    assert sql(conn, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM "
                     "information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (src,)) == [
        ("latin1", "latin1_german1_ci")]
    assert "latin1 latin1_german1_ci, as the script states" in done.stdout
    assert sql(conn, f"SELECT name FROM `{src}`.t") == [("Müller",)]
    default = sql(conn, "SELECT @@character_set_server")[0][0]
    assert default != "latin1"  # control: the charset came from the script


BODIES = {
    "trigger": (
        "CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN\n"
        "  -- dash comment; with a delimiter\n  # hash comment 'quoted'\n"
        "  /* block comment; */\n  SET NEW.a = NEW.a + 1; /* trailing */\nEND"
    ),
    "procedure": "CREATE PROCEDURE p() BEGIN\n  -- proc comment\n  SELECT 1; /* block in proc */\nEND",
    "function": "CREATE FUNCTION f(x INT) RETURNS INT DETERMINISTIC\n  RETURN x * 2 -- doubled\n",
    "event": ("CREATE EVENT ev ON SCHEDULE EVERY 1 DAY DISABLE DO BEGIN\n"
              "  # event comment\n  DELETE FROM t WHERE a < 0;\nEND"),
}


def definitions(conn: Any, db: str) -> list[tuple[Any, ...]]:
    return sql(conn, "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA=%s"
                     " UNION ALL SELECT ROUTINE_DEFINITION FROM information_schema.ROUTINES"
                     " WHERE ROUTINE_SCHEMA=%s UNION ALL SELECT EVENT_DEFINITION FROM"
                     " information_schema.EVENTS WHERE EVENT_SCHEMA=%s ORDER BY 1", (db, db, db))


def test_comments_in_routine_trigger_and_event_bodies_are_kept(server: Any, make_database: Any,
                                                                tmp_path: Path) -> None:
    conn = server.connect()
    src, dst = make_database(), make_database()
    sql(conn, f"USE `{src}`")
    sql(conn, "CREATE TABLE t (a INT)")
    for body in BODIES.values():
        sql(conn, body)
    want = definitions(conn, src)
    assert len(want) == 4 and any("dash comment; with a delimiter" in d[0] for d in want)
    path = tmp_path / "c.sql"
    path.write_bytes(dump(server, src))
    done = osidump("load-sql", str(path), "-d", dst, *base(server))
    assert done.returncode == 0, done.stderr
    assert definitions(conn, dst) == want


def _cut(data: bytes) -> bytes:
    return data[: len(data) * 3 // 5]


def test_truncated_compressed_files_are_damage_before_anything_runs(server: Any, make_database: Any,
                                                                     tmp_path: Path) -> None:
    """With -d the survey reads the whole file first: a truncated gzip or zstd
    file is exit 5 naming the last complete statement, and nothing ran."""
    conn = server.connect()
    src = make_database()
    populate(conn, src, n=3000)
    plain = dump(server, src)
    for name, packed in [("gz", gzip.compress(plain)),
                         ("zst", zstandard.ZstdCompressor().compress(plain))]:
        path = tmp_path / f"cut.sql.{name}"
        path.write_bytes(_cut(packed))
        target = fresh_name(conn, make_database)
        proc = osidump("load-sql", str(path), "-d", target, *base(server))
        assert proc.returncode == 5, proc.stderr
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
        assert "ends early: the file is truncated after statement" in proc.stderr, proc.stderr
        assert "nothing was run" in proc.stderr
        assert not exists(conn, target)


def test_a_truncated_stream_loads_up_to_the_cut_and_says_so(server: Any, make_database: Any,
                                                             tmp_path: Path) -> None:
    """Without -d (a --databases dump, streamed): the statements before the cut
    run, as with `zcat | mysql`, and the error says how many."""
    conn = server.connect()
    src = make_database()
    populate(conn, src, n=3000)
    plain = dump(server, "--databases", src, "--skip-extended-insert")
    sql(conn, f"DROP DATABASE `{src}`")
    path = tmp_path / "cut.sql.zst"
    cut = _cut(zstandard.ZstdCompressor().compress(plain))
    path.write_bytes(cut)
    proc = osidump("load-sql", str(path), *base(server))
    assert proc.returncode == 5, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("osidump: error:"))
    # "... after statement N (INSERT INTO `t`); statements 1-N ran before it ..."
    number = int(line.split("after statement ")[1].split(" ")[0])
    assert f"statements 1-{number} ran before it" in line and "(INSERT INTO `" in line
    tables = [r[0] for r in sql(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                                      "TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE'", (src,))]
    loaded = sum(sql(conn, f"SELECT COUNT(*) FROM `{src}`.`{t}`")[0][0]
                 for t in tables if not t.startswith("we"))
    # --skip-extended-insert: one row per INSERT line. Every complete INSERT
    # line of what the cut file still holds ran; nothing else did.
    prefix = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(cut)).read()
    complete = [x for x in prefix.split(b"\n")[:-1]
                if x.startswith(b"INSERT INTO `") and x.endswith(b");")
                and not x.startswith(b"INSERT INTO `we")]
    assert 0 < loaded == len(complete) < 15002


def test_a_plain_file_cut_inside_a_string_is_damage(server: Any, make_database: Any,
                                                    tmp_path: Path) -> None:
    """A plain file has no end marker: the cut is found when the load reaches
    it (the fast survey does not split), and reported with what ran."""
    conn = server.connect()
    target = fresh_name(conn, make_database)
    path = tmp_path / "cut.sql"
    path.write_text("CREATE TABLE t (a TEXT);\nINSERT INTO t VALUES ('complete');\n"
                    "INSERT INTO t VALUES ('cut sho")
    proc = osidump("load-sql", str(path), "-d", target, *base(server))
    assert proc.returncode == 5, proc.stderr
    assert ("ends inside a quoted string after statement 2 (INSERT INTO `t`); "
            "statements 1-2 ran before it") in proc.stderr
    assert sql(conn, f"SELECT a FROM `{target}`.t") == [("complete",)]
