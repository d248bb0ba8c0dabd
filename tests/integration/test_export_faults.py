"""Export failures: a clear error, no manifest, nothing that looks complete."""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
from osidump.engine.config import ConnectionConfig, ExportConfig
from osidump.engine.connection import connect
from osidump.engine.errors import (
    AuthenticationFailed,
    ConnectionLost,
    DestinationNotEmpty,
    IncompleteDump,
    Interrupted,
    ObjectNotFound,
    StorageError,
)
from osidump.engine.export.run import Export
from osidump.engine.format.manifest import MANIFEST_NAME, load_manifest
from osidump.engine.storage.base import LocalStorage, WriteStream

from tests.integration.helpers import export, sql


def big_table(conn: Any, db: str, rows: int = 20000) -> None:
    sql(conn, f"USE `{db}`")
    sql(conn, f"CREATE TABLE `{db}`.big (id INT PRIMARY KEY, pad VARCHAR(200))")
    sql(conn, f"INSERT INTO `{db}`.big SELECT seq, REPEAT(MD5(seq), 6) FROM seq_1_to_{rows}")


def test_not_empty_destination_is_refused_and_left_alone(server: Any, make_database: Any, tmp_path: Path) -> None:
    db = make_database()
    big_table(server.connect(), db, 10)
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(DestinationNotEmpty, match="not empty"):
        export(server.connection_config(), LocalStorage(str(out)), db)
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]


def test_unknown_database_and_table(server: Any, make_database: Any, tmp_path: Path) -> None:
    db = make_database()
    big_table(server.connect(), db, 10)
    with pytest.raises(ObjectNotFound, match="does not exist"):
        export(server.connection_config(), LocalStorage(str(tmp_path / "a")), "osi_no_such_db_" + uuid.uuid4().hex[:6])
    with pytest.raises(ObjectNotFound, match="nosuch"):
        export(server.connection_config(), LocalStorage(str(tmp_path / "b")), db, tables=("nosuch",))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_wrong_password_is_an_authentication_error_without_the_password(server: Any) -> None:
    conn = server.connect()
    user = "osi_u_" + uuid.uuid4().hex[:8]
    sql(conn, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'right-pass'")
    sql(conn, f"CREATE USER '{user}'@'localhost' IDENTIFIED BY 'right-pass'")
    try:
        cfg = ConnectionConfig(host=server.host, port=server.port, user=user, password="wrong-pass-123")
        with pytest.raises(AuthenticationFailed) as info:
            connect(cfg)
        assert "wrong-pass-123" not in str(info.value) and "wrong-pass-123" not in info.value.hint
        assert "wrong-pass-123" not in repr(cfg)
    finally:
        sql(conn, f"DROP USER '{user}'@'%'")
        sql(conn, f"DROP USER '{user}'@'localhost'")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 192 KiB filesystem (tmpfs): writes past it fail with ENOSPC."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_fails_cleanly(server: Any, make_database: Any, tiny_disk: Path) -> None:
    db = make_database()
    big_table(server.connect(), db, 20000)
    out = tiny_disk / "dump"
    with pytest.raises(StorageError, match="No space left"):
        export(server.connection_config(), LocalStorage(str(out)), db, threads=2, compress_level=1,
               chunk_bytes=65536)
    assert not (out / MANIFEST_NAME).exists()
    # What was written is removed again (the space is needed), and what is
    # left can never pass for a dump.
    leftovers = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert leftovers == []


class _TriggerOnFirstWrite(LocalStorage):
    """A local directory that runs ``action`` once, the first time chunk bytes
    are written (named fake: a hook for fault injection, otherwise real files)."""

    def __init__(self, root: str, action: Any):
        super().__init__(root)
        self._action = action
        self._fired = threading.Event()

    def open_write(self, name: str) -> WriteStream:
        stream = super().open_write(name)
        if not name.startswith("data/") or self._fired.is_set():
            return stream
        outer = self

        class Hooked:
            def write(self, data: bytes) -> None:
                if not outer._fired.is_set():
                    outer._fired.set()
                    outer._action()
                stream.write(data)

            def commit(self) -> None:
                stream.commit()

            def abort(self) -> None:
                stream.abort()

        return Hooked()


def test_cancel_mid_export_leaves_no_manifest(server: Any, make_database: Any, tmp_path: Path) -> None:
    db = make_database()
    big_table(server.connect(), db, 20000)
    holder: dict[str, Export] = {}
    storage = _TriggerOnFirstWrite(str(tmp_path / "dump"), lambda: holder["job"].cancel())
    job = Export(server.connection_config(), ExportConfig(databases=(db,), threads=2, batch_bytes=4096),
                 storage)
    holder["job"] = job
    with pytest.raises(Interrupted):
        job.run()
    assert not storage.exists(MANIFEST_NAME)
    with pytest.raises((IncompleteDump, ObjectNotFound)):
        load_manifest(storage)


def test_server_killed_mid_export(second_server: Any, tmp_path: Path) -> None:
    conn = second_server.connect()
    sql(conn, "CREATE DATABASE victim")
    big_table(conn, "victim", 30000)
    conn.close()
    storage = _TriggerOnFirstWrite(str(tmp_path / "dump"), second_server.kill)
    with pytest.raises(ConnectionLost):
        export(second_server.connection_config(), storage, "victim", threads=2, batch_bytes=4096)
    assert not storage.exists(MANIFEST_NAME)


def test_ddl_waits_for_the_export(server: Any, make_database: Any, tmp_path: Path) -> None:
    """While the export runs, ALTER TABLE on a dumped table cannot proceed
    (the snapshot holds a metadata lock): it times out instead of producing a
    dump that mixes two table definitions."""
    db = make_database()
    big_table(server.connect(), db, 20000)
    outcome: dict[str, Any] = {}

    def try_alter() -> None:
        other = server.connect()
        try:
            sql(other, "SET SESSION lock_wait_timeout = 1")
            sql(other, f"ALTER TABLE `{db}`.big ADD COLUMN extra INT")
            outcome["altered"] = True
        except pymysql.err.OperationalError as exc:
            outcome["error"] = exc.args[0]
        finally:
            other.close()

    storage = _TriggerOnFirstWrite(str(tmp_path / "dump"), try_alter)
    manifest = export(server.connection_config(), storage, db, threads=2, batch_bytes=4096)
    assert outcome == {"error": 1205}  # lock wait timeout: the ALTER was blocked
    assert [c.name for c in manifest.database(db).table("big").columns] == ["id", "pad"]


def test_output_path_that_cannot_be_a_directory(server: Any, make_database: Any, tmp_path: Path) -> None:
    db = make_database()
    big_table(server.connect(), db, 10)
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    with pytest.raises(StorageError, match="cannot write"):
        export(server.connection_config(), LocalStorage(str(blocker / "dump")), db)
    assert blocker.read_text() == "in the way"


def test_export_to_a_missing_s3_bucket(server: Any, make_database: Any, s3_endpoint_url: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from osidump.engine.storage.s3 import S3Config, S3Storage

    from tests.support.s3 import CREDENTIALS

    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    db = make_database()
    big_table(server.connect(), db, 10)
    storage = S3Storage(S3Config(bucket="no-such-bucket-" + uuid.uuid4().hex[:6], endpoint_url=s3_endpoint_url))
    with pytest.raises(StorageError, match="NoSuchBucket") as info:
        export(server.connection_config(), storage, db)
    assert "create the bucket" in info.value.hint
