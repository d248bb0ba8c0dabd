"""A dump is untrusted input: every edit here is made as an attacker who can
write the backup location would make it, digests recomputed afterwards, and
each is refused (exit 5) before it can run SQL, read outside the dump, hang,
or take unbounded memory - or, where it is only data, stays data."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zstandard
from click.testing import CliRunner
from osidump.cli.main import cli
from osidump.engine.errors import IntegrityError, ManifestError
from osidump.engine.format.manifest import load_manifest
from osidump.engine.restore.verify import verify_dump
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import export, restore, sql
from tests.support.hostile import edit_manifest, first_chunk, rewrite_chunk, rewrite_schema


@pytest.fixture
def dump(server: Any, make_database: Any, tmp_path: Path) -> tuple[str, Path, str]:
    """(source, dump root, victim database holding `keep`)."""
    conn = server.connect()
    src = make_database()
    sql(conn, f"USE `{src}`")
    sql(conn, "CREATE TABLE t (id INT PRIMARY KEY, note TEXT, b LONGBLOB)")
    sql(conn, "INSERT INTO t SELECT seq, CONCAT('note ', seq), UNHEX(MD5(seq)) FROM seq_1_to_2000")
    sql(conn, "CREATE VIEW v AS SELECT id FROM t")
    sql(conn, "CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW SET NEW.note = TRIM(NEW.note)")
    sql(conn, "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM t WHERE id < 0")
    root = tmp_path / "dump"
    export(server.connection_config(), LocalStorage(str(root)), src)
    victim = make_database()
    sql(conn, f"CREATE TABLE `{victim}`.keep (id INT PRIMARY KEY)")
    sql(conn, f"INSERT INTO `{victim}`.keep VALUES (1), (2)")
    return src, root, victim


def keep_intact(server: Any, victim: str) -> None:
    assert sql(server.connect(), f"SELECT id FROM `{victim}`.keep ORDER BY id") == [(1,), (2,)]


def schema_attacks(victim: str) -> dict[str, Any]:
    drop = f"; DROP TABLE `{victim}`.keep"

    def obj(doc: dict[str, Any], kind: str) -> dict[str, Any]:
        return next(o for o in doc["objects"] if o["kind"] == kind)

    return {
        "create_database appended": lambda d: d.update(create_database=d["create_database"] + drop),
        "create_sql appended": lambda d: d["tables"][0].update(create_sql=d["tables"][0]["create_sql"] + drop),
        "view is a DROP": lambda d: obj(d, "view").update(create_sql=f"DROP TABLE `{victim}`.keep"),
        "table in another database": lambda d: d["tables"][0].update(
            create_sql=d["tables"][0]["create_sql"].replace("CREATE TABLE `t`", f"CREATE TABLE `{victim}`.`t`")),
        "trigger on another database": lambda d: obj(d, "trigger").update(
            create_sql=obj(d, "trigger")["create_sql"].replace(" ON `t`", f" ON `{victim}`.`keep`")
            .replace(" ON t ", f" ON `{victim}`.`keep` ")),
        "event drops a database": lambda d: obj(d, "event").update(
            create_sql=obj(d, "event")["create_sql"].split(" DO ")[0] + f" DO DROP DATABASE `{victim}`"),
        "object without kind": lambda d: obj(d, "view").pop("kind"),
        "objects not a list": lambda d: d.update(objects={"a": 1}),
        "engine reads files": lambda d: d["tables"][0].update(
            create_sql=d["tables"][0]["create_sql"].replace("ENGINE=InnoDB", "ENGINE=CONNECT")),
    }


@pytest.mark.parametrize("attack", list(schema_attacks("x")))
def test_schema_attacks_are_refused_before_anything_runs(
    server: Any, make_database: Any, dump: Any, attack: str
) -> None:
    src, root, victim = dump
    rewrite_schema(root, src, schema_attacks(victim)[attack])
    report = verify_dump(LocalStorage(str(root)))
    assert not report.ok, attack
    target = f"{victim}_restored"
    with pytest.raises(ManifestError):
        restore(server.connection_config(), LocalStorage(str(root)), database=target)
    conn = server.connect()
    assert not sql(conn, "SHOW DATABASES LIKE %s", (target,))  # nothing was created
    keep_intact(server, victim)
    result = CliRunner().invoke(cli, ["verify", str(root)])
    assert result.exit_code == 5, result.output


def test_a_chunk_is_only_ever_data(server: Any, make_database: Any, dump: Any) -> None:
    """SQL written into a version-2 chunk arrives as the column's text."""
    _src, root, victim = dump
    payload = f"'); DROP TABLE `{victim}`.keep; -- LOAD_FILE('/etc/hostname')".encode()
    path = first_chunk(root, "t")

    def poison(content: bytes) -> bytes:
        lines = content.split(b"\n")
        fields = lines[0].split(b"\t")
        fields[1] = payload
        lines[0] = b"\t".join(fields)
        return b"\n".join(lines)

    rewrite_chunk(root, path, poison)
    assert verify_dump(LocalStorage(str(root))).ok  # intact and well-formed: it is data
    dst = make_database()
    restore(server.connection_config(), LocalStorage(str(root)), database=dst, on_existing="drop")
    notes = sql(server.connect(), f"SELECT note FROM `{dst}`.t WHERE note LIKE '%%DROP%%'")
    assert notes == [(payload.decode(),)]
    keep_intact(server, victim)


def test_a_chunk_with_an_extra_field_commits_nothing(server: Any, make_database: Any, dump: Any) -> None:
    _src, root, _victim = dump
    rewrite_chunk(root, first_chunk(root, "t"), lambda c: c.replace(b"\n", b"\tx\n", 1))
    dst = make_database()
    with pytest.raises(Exception, match="warning|changed values"):
        restore(server.connection_config(), LocalStorage(str(root)), database=dst)
    tables = {r[0] for r in sql(server.connect(), "SELECT TABLE_NAME FROM information_schema.TABLES"
                                                  " WHERE TABLE_SCHEMA = %s", (dst,))}
    assert "t" not in tables


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("snapshot.attempts", "abc"),
        ("finished_at", "yesterday"),
        ("databases", {"not": "a list"}),
        ("options.databases", "shop"),
        ("chunk.rows", -1),
        ("chunk.path", "data/../../etc/passwd"),
        # Printed by to-sql and inspect --replica-setup next to SQL: a line
        # break would end a comment and run the rest.
        ("server_version", "10.11.19\nDROP TABLE keep;"),
        ("server_flavor", "mysql\nDROP TABLE keep;"),
        ("snapshot.consistency", "lock\nDROP TABLE keep;"),
        ("snapshot.binlog_file", "bin.000001', MASTER_HOST='evil"),
        ("snapshot.gtid_executed", "0-1-5 was read);\nDROP TABLE keep;"),
    ],
)
@pytest.mark.parametrize("command", ["verify", "inspect", "to-sql", "restore", "drill"])
def test_malformed_manifests_are_exit_5_naming_the_field(
    server: Any, dump: Any, field: str, value: Any, command: str
) -> None:
    _src, root, victim = dump

    def edit(doc: dict[str, Any]) -> None:
        if field.startswith("snapshot."):
            doc["snapshot"][field[9:]] = value
        elif field == "options.databases":
            doc["options"]["databases"] = value
        elif field.startswith("chunk."):
            doc["databases"][0]["tables"][0]["chunks"][0][field[6:]] = value
        else:
            doc[field] = value

    edit_manifest(root, edit)
    args = [command, str(root)]
    if command in ("restore", "drill"):
        args += ["-h", server.host, "-P", str(server.port), "-u", server.user]
    if command == "restore":
        args += ["-d", f"{victim}_x"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 5, result.output
    name = field.split(".")[-1]
    assert name in result.output or "unsafe path" in result.output, result.output
    assert "Traceback" not in result.output


def test_links_and_fifos_inside_the_dump_are_refused(dump: Any, tmp_path: Path) -> None:
    _src, root, _victim = dump
    chunk = root / first_chunk(root, "t")
    outside = tmp_path / "outside.tsv.zst"
    shutil.copy(chunk, outside)  # same bytes: the digests still match
    chunk.unlink()
    chunk.symlink_to(outside)
    with pytest.raises(IntegrityError, match="symbolic link"):
        LocalStorage(str(root)).open_read(first_chunk(root, "t"))
    report = verify_dump(LocalStorage(str(root)))
    assert not report.ok and "symbolic link" in report.all_problems()[0]

    # The whole data/ folder replaced by a link to a copy outside the dump.
    chunk.unlink()
    shutil.copy(outside, chunk)
    elsewhere = tmp_path / "data-copy"
    shutil.copytree(root / "data", elsewhere)
    shutil.rmtree(root / "data")
    (root / "data").symlink_to(elsewhere)
    assert not verify_dump(LocalStorage(str(root))).ok

    # A FIFO in place of a chunk: refused at once, never read (which would hang).
    (root / "data").unlink()
    shutil.copytree(elsewhere, root / "data")
    chunk.unlink()
    os.mkfifo(chunk)
    proc = subprocess.run([sys.executable, "-m", "osidump.cli.main", "verify", str(root)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 5 and "FIFO" in proc.stdout + proc.stderr


def _bomb(root: Path, path: str, line_bytes: int, *, honest: bool) -> None:
    """Replace a chunk by one row of ``line_bytes`` that compresses to a few
    KB; ``honest``: the manifest states the true sizes and digests."""
    raw_hash = hashlib.sha256()
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    out = bytearray()
    block = b"a" * (1 << 20)
    for _ in range(line_bytes // len(block)):
        raw_hash.update(block)
        out += compressor.compress(block)
    raw_hash.update(b"\n")
    out += compressor.compress(b"\n") + compressor.flush()
    (root / path).write_bytes(bytes(out))
    doc = json.loads((root / "manifest.json").read_text())
    for t in doc["databases"][0]["tables"]:
        for c in t["chunks"]:
            if c["path"] == path:
                c.update(sha256=hashlib.sha256(out).hexdigest(), stored_bytes=len(out), rows=1,
                         raw_bytes=line_bytes + 1 if honest else 40,
                         content_sha256=raw_hash.hexdigest(),
                         max_row_bytes=line_bytes + 1 if honest else 40)
    (root / "manifest.json").write_text(json.dumps(doc))


def _peak_rss_mb(args: list[str]) -> tuple[int, float, str]:
    """Run osidump in a child; (exit code, the child's peak RSS in MB, output)."""
    probe = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(p.stdout[-2000:], p.stderr[-2000:])\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "osidump.cli.main", *args],
                          capture_output=True, text=True, timeout=900, check=True)
    first, _, rest = proc.stdout.partition("\n")
    code, rss_kb = first.split()
    return int(code), int(rss_kb) / 1024, rest


def test_a_one_gib_line_costs_no_memory(server: Any, make_database: Any, dump: Any) -> None:
    """A 33 KB chunk that inflates to one 1 GiB row: verify reads it (it is
    intact) and a restore that refuses it stay far under 150 MB."""
    _src, root, _victim = dump
    path = first_chunk(root, "t")
    _bomb(root, path, 1 << 30, honest=True)
    assert (root / path).stat().st_size < 200_000
    code, rss, out = _peak_rss_mb(["verify", str(root)])
    assert rss < 150, (rss, out)
    conn_args = ["-h", server.host, "-P", str(server.port), "-u", server.user]
    _bomb(root, path, 1 << 30, honest=False)
    code, rss, out = _peak_rss_mb(["restore", str(root), "-d", make_database(), "--on-existing", "drop",
                                   *conn_args])
    assert code == 5 and rss < 150, (code, rss, out)


def test_dumps_are_private_whatever_the_umask(server: Any, make_database: Any, tmp_path: Path) -> None:
    src = make_database()
    sql(server.connect(), f"CREATE TABLE `{src}`.t (id INT PRIMARY KEY)")
    old = os.umask(0)
    try:
        root = tmp_path / "dump"
        export(server.connection_config(), LocalStorage(str(root)), src)
    finally:
        os.umask(old)
    modes = {p.relative_to(root).as_posix(): p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")]}
    assert modes["."] == 0o700 if "." in modes else True
    assert all(m == (0o700 if (root / name).is_dir() else 0o600) for name, m in modes.items()), modes
    assert load_manifest(LocalStorage(str(root))).database(src)
