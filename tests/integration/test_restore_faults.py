"""Restore refuses damaged or hostile dumps and commits nothing from a bad chunk."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from osidump.engine.config import ConnectionConfig
from osidump.engine.errors import AuthenticationFailed, IntegrityError, ManifestError
from osidump.engine.format.manifest import MANIFEST_NAME, load_manifest
from osidump.engine.restore.verify import verify_dump
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import export, restore, sql


def dumped(server: Any, make_database: Any, tmp_path: Path, rows: int = 5000) -> tuple[str, LocalStorage]:
    db = make_database()
    conn = server.connect()
    sql(conn, f"USE `{db}`")
    sql(conn, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(100))")
    sql(conn, f"INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_{rows}")
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, db, threads=1)
    return db, storage


def chunk_path(storage: LocalStorage, db: str) -> Path:
    entry = load_manifest(storage).database(db).table("t").chunks[0]
    return Path(storage.root) / entry.path


def count(server: Any, db: str) -> int:
    return int(sql(server.connect(), f"SELECT COUNT(*) FROM `{db}`.t")[0][0])


def test_one_flipped_byte_commits_nothing(server: Any, make_database: Any, tmp_path: Path) -> None:
    src, storage = dumped(server, make_database, tmp_path)
    path = chunk_path(storage, src)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    dst = make_database()
    with pytest.raises(IntegrityError, match=r"chunk 0 \(data/") as caught:
        restore(server.connection_config(), storage, database=dst)
    # The same command again would stop at the same chunk: the hint says so.
    assert "--resume from an intact copy of this dump" in caught.value.hint
    assert "re-run the same command" not in caught.value.hint
    # A database the failed run made itself is named as the way to give up.
    fresh = f"{dst}_new"
    with pytest.raises(IntegrityError) as caught:
        restore(server.connection_config(), storage, database=fresh)
    assert f"DROP DATABASE `{fresh}` (made by this run)" in caught.value.hint
    sql(server.connect(), f"DROP DATABASE `{fresh}`")
    # The target table never appeared, and the shadow it loads into holds
    # nothing: the chunk's transaction was rolled back.
    conn = server.connect()
    tables = [r[0] for r in sql(conn, "SELECT TABLE_NAME FROM information_schema.TABLES"
                                      " WHERE TABLE_SCHEMA = %s", (dst,))]
    assert "t" not in tables
    shadows = [t for t in tables if t.startswith("osidump_new_")]
    assert len(shadows) == 1
    assert sql(conn, f"SELECT COUNT(*) FROM `{dst}`.`{shadows[0]}`")[0][0] == 0
    report = verify_dump(storage)
    assert not report.ok and "chunk 0" in report.all_problems()[0]


def test_missing_chunk_is_named(server: Any, make_database: Any, tmp_path: Path) -> None:
    src, storage = dumped(server, make_database, tmp_path)
    chunk_path(storage, src).unlink()
    with pytest.raises(IntegrityError, match="missing"):
        restore(server.connection_config(), storage, database=make_database())


def test_truncated_manifest_is_refused(server: Any, make_database: Any, tmp_path: Path) -> None:
    _, storage = dumped(server, make_database, tmp_path, rows=10)
    path = Path(storage.root) / MANIFEST_NAME
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ManifestError, match="truncated"):
        restore(server.connection_config(), storage, database=make_database())


def test_newer_manifest_version_is_refused(server: Any, make_database: Any, tmp_path: Path) -> None:
    _, storage = dumped(server, make_database, tmp_path, rows=10)
    path = Path(storage.root) / MANIFEST_NAME
    doc = json.loads(path.read_bytes())
    doc["format_version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="newer"):
        restore(server.connection_config(), storage, database=make_database())


class RecordingStorage(LocalStorage):
    """A local directory that records every name opened for reading."""

    def __init__(self, root: str):
        super().__init__(root)
        self.opened: list[str] = []

    def open_read(self, name: str) -> BinaryIO:
        self.opened.append(name)
        return super().open_read(name)


@pytest.mark.parametrize("hostile", ["../outside.sql.zst", "/etc/passwd"])
def test_manifest_path_leaving_the_dump_opens_nothing(
    server: Any, make_database: Any, tmp_path: Path, hostile: str
) -> None:
    src, storage = dumped(server, make_database, tmp_path, rows=10)
    (tmp_path / "outside.sql.zst").write_bytes(chunk_path(storage, src).read_bytes())
    path = Path(storage.root) / MANIFEST_NAME
    doc = json.loads(path.read_bytes())
    doc["databases"][0]["tables"][0]["chunks"][0]["path"] = hostile
    path.write_text(json.dumps(doc))
    recording = RecordingStorage(storage.root)
    with pytest.raises(ManifestError, match="unsafe path"):
        restore(server.connection_config(), recording, database=make_database())
    assert recording.opened == ["manifest.json"]  # refused before any other file


def test_wrong_credentials(server: Any, make_database: Any, tmp_path: Path) -> None:
    _, storage = dumped(server, make_database, tmp_path, rows=10)
    bad = ConnectionConfig(host=server.host, port=server.port, user="osi_nobody", password="nope")
    with pytest.raises(AuthenticationFailed):
        restore(bad, storage, database=make_database())


def test_a_resumed_restore_ends_with_the_dumped_auto_increment(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    """A damaged chunk's rows are rolled back, but InnoDB keeps the counter
    they moved; the resumed restore (with an intact copy) must still end with
    the counter the dump recorded, not a gap the damage made."""
    import zstandard

    db = make_database()
    conn = server.connect()
    sql(conn, f"USE `{db}`")
    sql(conn, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(100))")
    # Enough rows that the first ones reach the server before the damage shows.
    sql(conn, "INSERT INTO t (v) SELECT MD5(seq) FROM seq_1_to_200000")
    storage = LocalStorage(str(tmp_path / "dump"))
    export(server.connection_config(), storage, db, threads=1)
    path = chunk_path(storage, db)
    good = path.read_bytes()
    rows = zstandard.ZstdDecompressor().decompress(good, max_output_size=1 << 26)
    # A well-formed row with a huge id, and the stored digest left as it was.
    path.write_bytes(zstandard.ZstdCompressor().compress(b"15047932\tdamage\n" + rows))
    dst = make_database()
    with pytest.raises(IntegrityError):
        restore(server.connection_config(), storage, database=dst)
    shadow = sql(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
                       " AND TABLE_NAME LIKE 'osidump_new_%%'", (dst,))[0][0]
    # Control: the rolled-back rows did move the shadow's counter.
    assert "AUTO_INCREMENT=15047933" in sql(conn, f"SHOW CREATE TABLE `{dst}`.`{shadow}`")[0][1]
    path.write_bytes(good)
    restore(server.connection_config(), storage, database=dst, resume=True)

    def counter(name: str) -> str:
        create = sql(conn, f"SHOW CREATE TABLE `{name}`.t")[0][1]
        return re.search(r"AUTO_INCREMENT=(\d+)", create).group(1)  # type: ignore[union-attr]

    assert counter(dst) == counter(db)
    assert sql(conn, f"SELECT COUNT(*), MAX(id) FROM `{dst}`.t")[0] == (200000, 200000)


class CancelOnFirstRead(LocalStorage):
    """Stops the restore (as Ctrl-C or SIGTERM does: ``Restore.cancel``)
    the moment a chunk's first bytes are read, so the stop lands inside a
    chunk's load, deterministically."""

    restore: Any = None

    def open_read(self, name: str) -> BinaryIO:
        stream = super().open_read(name)
        if not name.startswith("data/"):
            return stream
        outer = self
        real_read = stream.read

        def read(size: int = -1) -> bytes:
            outer.restore.cancel()
            return real_read(size)

        stream.read = read  # type: ignore[method-assign]
        return stream


def test_a_stop_inside_a_chunk_commits_nothing_of_it(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    """A stop does not wait for the chunk being loaded to finish and commit:
    the load ends at its next block and the chunk's transaction is rolled
    back (a resumed restore loads it again)."""
    from osidump.engine.config import RestoreConfig
    from osidump.engine.errors import Interrupted
    from osidump.engine.restore.apply import PROGRESS_TABLE, run_restore
    from osidump.engine.restore.plan import plan_restore

    _src, storage = dumped(server, make_database, tmp_path, rows=200_000)
    cancelling = CancelOnFirstRead(storage.root)
    config = RestoreConfig(database=make_database(), threads=1)
    plan = plan_restore(cancelling, load_manifest(cancelling), config)

    def started(job: Any) -> None:
        cancelling.restore = job

    with pytest.raises(Interrupted):
        run_restore(server.connection_config(), config, cancelling, plan, on_start=started)
    conn = server.connect()
    dst = config.database
    assert sql(conn, f"SELECT COUNT(*) FROM `{dst}`.{PROGRESS_TABLE} WHERE item LIKE 'chunk:%%'")[0][0] == 0
    shadow = sql(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
                       " AND TABLE_NAME LIKE 'osidump_new_%%'", (dst,))[0][0]
    assert sql(conn, f"SELECT COUNT(*) FROM `{dst}`.`{shadow}`")[0][0] == 0
    restore(server.connection_config(), storage, database=dst, resume=True)
    assert count(server, dst) == 200_000
