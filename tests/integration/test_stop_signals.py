"""SIGINT, SIGTERM and SIGHUP stop an export cleanly, locally and on S3: the
documented exit code, nothing left under the destination (no object, no open
multipart upload), and the same command works again right after. An export
killed outright (SIGKILL) leaves an unfinished dump that --replace-incomplete
clears, and only that."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import sql
from tests.support.faults import SlowPartRelay
from tests.support.s3 import CREDENTIALS, new_bucket

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def osidump(*args: str) -> list[str]:
    return [sys.executable, "-m", "osidump.cli.main", *args]


def conn_args(server: Any) -> list[str]:
    return ["-h", server.host, "-P", str(server.port), "-u", server.user]


def wait_for(proc: subprocess.Popen[str], seen: Callable[[], bool], what: str) -> None:
    """Poll (bounded) until ``seen()``; the export must still be running then."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not seen():
        time.sleep(0.005)
    assert proc.poll() is None, f"the export ended before {what}: {proc.communicate()}"
    assert seen(), f"timed out waiting for {what}"


def big_table(server: Any, db: str, rows: int, row_sql: str) -> None:
    conn = server.connect()
    sql(conn, f"USE `{db}`")  # the seq_1_to_N tables live in every database
    sql(conn, "CREATE TABLE t (id INT PRIMARY KEY, pad BLOB)")
    sql(conn, f"INSERT INTO t SELECT seq, {row_sql} FROM seq_1_to_{rows}")


def local_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.is_file()] if out.exists() else []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up_like_ctrl_c(
    server: Any, make_database: Any, tmp_path: Path, signum: signal.Signals
) -> None:
    db = make_database()
    big_table(server, db, 600_000, "REPEAT(MD5(seq), 7)")
    out = tmp_path / "dump"
    args = osidump("export", db, "-o", str(out), "--threads", "2", "--chunk-size", "8M", *conn_args(server))
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Chunk data is being written (a chunk's temp file), not only the schema.
    wait_for(proc, lambda: any(p.suffix == ".partial" for p in (out / "data").rglob("*")) if (out / "data").exists() else False,
             "chunk data was written")
    os.kill(proc.pid, signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == EXIT[signum], (stdout, stderr)
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert local_files(out) == []
    again = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert (out / "manifest.json").exists()


def test_sigint_is_handled_even_when_inherited_as_ignored(server: Any, make_database: Any, tmp_path: Path) -> None:
    """A non-interactive shell starts `osidump export ... &` with SIGINT
    ignored; Python then keeps it ignored and the export ran to the end (exit 0)
    despite `kill -INT`. The control run shows the export would have finished."""
    db = make_database()
    big_table(server, db, 300_000, "REPEAT(MD5(seq), 7)")
    out = tmp_path / "dump"
    args = osidump("export", db, "-o", str(out), "--threads", "2", "--chunk-size", "8M", *conn_args(server))
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    wait_for(proc, lambda: (out / "export-started.json").exists(), "the export started writing")
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert local_files(out) == []


@pytest.mark.parametrize(
    ("store", "signum"), [("moto_s3", signal.SIGINT), ("moto_s3", signal.SIGTERM), ("s3rver", signal.SIGINT)]
)
def test_stop_while_an_s3_part_upload_is_in_flight_leaves_nothing(
    server: Any, make_database: Any, store: str, signum: signal.Signals, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The relay holds the first part upload for a while, as a slow uplink
    would; the signal lands while it is in flight. Before the fix, Python
    3.10-3.12 reported the uploading worker dead, the cleanup ran at once and
    the process exited with the multipart upload still open (moto) or the
    chunk completed after the cleanup (s3rver)."""
    s3 = request.getfixturevalue(store)
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    bucket = new_bucket(s3)
    db = make_database()
    # Random bytes hardly compress: the one chunk exceeds a 16 MiB part.
    big_table(server, db, 25_000, "RANDOM_BYTES(1024)")
    relay = SlowPartRelay(s3.port, hold_seconds=1.5)
    prefix = "nightly/2026-11-28"
    try:
        args = osidump("export", db, "-o", f"s3://{bucket}/{prefix}", "--threads", "2",
                       "--s3-endpoint-url", relay.endpoint_url, *conn_args(server))
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(proc, relay.holding.is_set, "a part upload was in flight")
        os.kill(proc.pid, signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        relay.close()
    assert proc.returncode == EXIT[signum], (stdout, stderr)
    assert "Traceback" not in stderr
    client = s3.client()
    objects = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    assert objects == []
    if store == "moto_s3":  # s3rver can neither list (501) nor abort (405) uploads: docs/S3.md
        assert client.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []) == []
    again = subprocess.run(
        osidump("export", db, "-o", f"s3://{bucket}/{prefix}", "--s3-endpoint-url", s3.endpoint_url,
                *conn_args(server)),
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert again.returncode == 0, again.stderr


def test_replace_incomplete_clears_only_an_unfinished_export_of_the_same_selection(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    db = make_database()
    big_table(server, db, 300_000, "REPEAT(MD5(seq), 7)")
    sql(server.connect(), f"CREATE TABLE `{db}`.small (id INT PRIMARY KEY)")
    out = tmp_path / "dump"
    args = osidump("export", db, "-o", str(out), "--chunk-size", "8M", *conn_args(server))
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(proc, lambda: len(list((out / "data").rglob("*.tsv.zst"))) >= 1 if (out / "data").exists() else False,
             "a chunk was committed")
    proc.kill()  # SIGKILL: nothing can clean up
    proc.communicate(timeout=60)
    left = local_files(out)
    assert left and not (out / "manifest.json").exists()

    plain = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert plain.returncode == 6 and "not empty" in plain.stderr and "--replace-incomplete" in plain.stderr
    other = subprocess.run([*args, "--tables", "small", "--replace-incomplete"], capture_output=True, text=True,
                           timeout=300, check=False)
    assert other.returncode == 6 and "another selection" in other.stderr
    assert local_files(out) == left  # refused: nothing touched

    replaced = subprocess.run([*args, "--replace-incomplete"], capture_output=True, text=True, timeout=300,
                              check=False)
    assert replaced.returncode == 0, replaced.stderr
    assert (out / "manifest.json").exists()
    # A complete dump is never replaced.
    again = subprocess.run([*args, "--replace-incomplete"], capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 6 and "complete dump" in again.stderr
