"""Ctrl-C during an export, and machine-readable logs for cron."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.integration.helpers import sql


def osidump(*args: str) -> list[str]:
    return [sys.executable, "-m", "osidump.cli.main", *args]


def test_sigint_mid_export_exits_130_and_leaves_no_dump(server: Any, make_database: Any, tmp_path: Path) -> None:
    db = make_database()
    conn = server.connect()
    sql(conn, f"USE `{db}`")
    sql(conn, "CREATE TABLE t (id INT PRIMARY KEY, pad VARCHAR(255))")
    sql(conn, "INSERT INTO t SELECT seq, REPEAT(MD5(seq), 7) FROM seq_1_to_600000")
    out = tmp_path / "dump"
    proc = subprocess.Popen(
        osidump("export", db, "-o", str(out), "--threads", "2", "-h", server.host, "-P", str(server.port),
                "-u", server.user),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait (bounded) until chunk data is being written, then press Ctrl-C.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and any(p.name.endswith(".partial") for p in out.rglob("*")):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the export finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    assert not (out / "manifest.json").exists()
    leftovers = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert leftovers == []


def test_json_log_format(server: Any, make_database: Any, tmp_path: Path) -> None:
    db = make_database()
    sql(server.connect(), f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")
    proc = subprocess.run(
        osidump("--log-format", "json", "export", db, "-o", str(tmp_path / "d"), "-h", server.host, "-P",
                str(server.port), "-u", server.user),
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    names = [e.get("event") or e.get("message") for e in events]
    assert names[0] == "export.start" and names[-1] == "export.done"
    done = events[-1]
    assert done["tables"] == 1 and done["consistency"] in ("lock", "snapshot-check", "single")
