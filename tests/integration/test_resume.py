"""A restore killed part-way resumes to exactly the source: nothing missing,
nothing twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from osidump.engine.errors import TargetExists
from osidump.engine.restore.apply import PROGRESS_TABLE
from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import checksums, export, restore, sql

HERE = Path(__file__).parent


def source(server: Any, make_database: Any, tmp_path: Path) -> tuple[str, LocalStorage]:
    db = make_database()
    conn = server.connect()
    sql(conn, f"USE `{db}`")
    sql(conn, "CREATE TABLE keyed (id INT PRIMARY KEY, v VARCHAR(64), KEY (v))")
    sql(conn, "INSERT INTO keyed SELECT seq, MD5(seq) FROM seq_1_to_40000")
    sql(conn, "CREATE TABLE keyless (v VARCHAR(64), n INT)")  # duplicates would show
    sql(conn, "INSERT INTO keyless SELECT MD5(seq MOD 100), seq MOD 3 FROM seq_1_to_40000")
    sql(conn, "CREATE VIEW vk AS SELECT COUNT(*) AS c FROM keyed")
    storage = LocalStorage(str(tmp_path / "dump"))
    manifest = export(server.connection_config(), storage, db, threads=2, chunk_bytes=200_000)
    assert len(manifest.database(db).table("keyless").chunks) > 3
    return db, storage


@pytest.mark.parametrize("threads", [1, 2])
def test_sigkilled_restore_resumes_to_an_identical_copy(
    server: Any, make_database: Any, tmp_path: Path, threads: int
) -> None:
    src, storage = source(server, make_database, tmp_path)
    dst = make_database()
    proc = subprocess.run(
        [sys.executable, str(HERE / "restore_and_die.py"), storage.root, server.host,
         str(server.port), dst, "5", str(threads)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == -9, proc.stderr  # really killed
    conn = server.connect()
    done = sql(conn, f"SELECT COUNT(*) FROM `{dst}`.{PROGRESS_TABLE} WHERE item LIKE 'chunk:%%'")[0][0]
    assert done >= 1  # some chunks were committed before the kill
    # Without --resume the half-restored target is refused, not overwritten.
    with pytest.raises(TargetExists, match="unfinished restore"):
        restore(server.connection_config(), storage, database=dst)
    result = restore(server.connection_config(), storage, database=dst, resume=True, threads=threads)
    assert result.chunks_skipped == done
    assert checksums(conn, dst) == checksums(conn, src)
    assert sql(conn, f"SELECT c FROM `{dst}`.vk") == sql(conn, f"SELECT c FROM `{src}`.vk")
    assert not sql(conn, "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
                   (dst, PROGRESS_TABLE))


def test_dropped_connection_then_resume(server: Any, make_database: Any, tmp_path: Path) -> None:
    """The server kills the restore's connections mid-chunk; --resume finishes."""
    from osidump.engine.errors import ConnectionLost, ServerError

    src, storage = source(server, make_database, tmp_path)
    dst = make_database()
    killer = server.connect()
    opened = {"n": 0}

    class KillConnectionsOnThirdChunk(LocalStorage):
        """Local files; opening the 3rd chunk kills the restore's server sessions."""

        def open_read(self, name: str) -> Any:
            if name.startswith("data/"):
                opened["n"] += 1
                if opened["n"] == 3:
                    for (pid,) in sql(killer, "SELECT ID FROM information_schema.PROCESSLIST "
                                              "WHERE DB = %s AND ID <> CONNECTION_ID()", (dst,)):
                        sql(killer, f"KILL CONNECTION {int(pid)}")
            return super().open_read(name)

    with pytest.raises((ConnectionLost, ServerError)):
        restore(server.connection_config(), KillConnectionsOnThirdChunk(storage.root), database=dst, threads=1)
    restore(server.connection_config(), storage, database=dst, resume=True)
    assert checksums(killer, dst) == checksums(killer, src)


def test_idle_main_connection_dropped_during_the_load(server: Any, make_database: Any, tmp_path: Path) -> None:
    """The connection that created the schema waits through the whole load;
    if the server drops it (wait_timeout, a proxy), indexes and views still come."""
    src, storage = source(server, make_database, tmp_path)
    dst = make_database()
    killer = server.connect()
    opened = {"n": 0}

    class KillTheIdleConnection(LocalStorage):
        """Local files; opening the 3rd chunk kills the oldest session on the target."""

        def open_read(self, name: str) -> Any:
            if name.startswith("data/"):
                opened["n"] += 1
                if opened["n"] == 3:
                    ids = sql(killer, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s"
                                      " AND ID <> CONNECTION_ID() ORDER BY ID", (dst,))
                    sql(killer, f"KILL CONNECTION {int(ids[0][0])}")
            return super().open_read(name)

    restore(server.connection_config(), KillTheIdleConnection(storage.root), database=dst, threads=1)
    assert checksums(killer, dst) == checksums(killer, src)
    assert sql(killer, f"SELECT c FROM `{dst}`.vk") == sql(killer, f"SELECT c FROM `{src}`.vk")
    assert sql(killer, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA=%s"
                       " AND TABLE_NAME='keyed' AND INDEX_NAME='v'", (dst,))[0][0] == 1
