"""How the restore's loaders share the work: on MariaDB (innodb_autoinc_lock_mode
1) the server runs LOAD DATAs into one AUTO_INCREMENT table one at a time, so a
second loader there would only wait in a lock (and could time out): it takes
another table's chunk instead, and waits only when nothing else is left."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from osidump.engine.restore.apply import Restore
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import checksums, export, q, restore, sql


def test_two_loaders_never_load_one_auto_increment_table_at_once(
    server: Any, make_database: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    assert int(sql(conn, "SELECT @@GLOBAL.innodb_autoinc_lock_mode")[0][0]) == 1
    sql(conn, f"USE {q(src)}")
    # One big AUTO_INCREMENT table (a Laravel app's usual shape) and a small one
    # without: the schedule alone would put both loaders on `posts`.
    sql(conn, "CREATE TABLE posts (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
              " body VARCHAR(200) NOT NULL) AUTO_INCREMENT=90000")
    sql(conn, "CREATE TABLE tags (id INT PRIMARY KEY, name VARCHAR(50))")
    sql(conn, "INSERT INTO posts SELECT seq, REPEAT(CHAR(97 + seq MOD 26), 150) FROM seq_1_to_40000")
    sql(conn, "INSERT INTO tags SELECT seq, CONCAT('tag', seq) FROM seq_1_to_3000")
    sql(conn, "ANALYZE TABLE posts, tags")
    storage = LocalStorage(str(tmp_path / "dump"))
    manifest = export(server.connection_config(), storage, src, threads=2, chunk_bytes=256 * 1024)
    assert len(manifest.database(src).table("posts").chunks) >= 8

    running: Counter[str] = Counter()
    most: Counter[str] = Counter()
    lock = threading.Lock()
    load = Restore._apply_chunk_once

    def observed(self: Restore, conn: Any, job: Any) -> None:
        name = job.table.entry.name
        with lock:
            running[name] += 1
            most[name] = max(most[name], running[name])
        try:
            load(self, conn, job)
        finally:
            with lock:
                running[name] -= 1

    monkeypatch.setattr(Restore, "_apply_chunk_once", observed)
    restore(server.connection_config(), storage, database=dst, threads=2)
    assert most["posts"] == 1
    assert most["tags"] == 1  # one chunk
    assert checksums(conn, dst) == checksums(conn, src)
    assert sql(conn, "SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
                     " AND TABLE_NAME = 'posts'", (dst,))[0][0] == 90000
