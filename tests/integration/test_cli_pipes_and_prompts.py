"""Small CLI behaviours seen from a shell (issue 8 item 8): `to-sql DUMP | head`
ends quietly, and `-p` without a terminal is a one-line error, not a Python
warning followed by a password read from standard input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from osidump.engine.storage.base import LocalStorage

from tests.integration.helpers import export
from tests.integration.test_export_restore import populate

OSIDUMP = [sys.executable, "-m", "osidump.cli.main"]


def test_to_sql_into_a_closed_pipe_ends_quietly(server: Any, make_database: Any, tmp_path: Path) -> None:
    src = make_database()
    populate(server.connect(), src, n=3000)
    dump = str(tmp_path / "dump")
    export(server.connection_config(), LocalStorage(dump), src)
    # What `| head -c 100` does: read a little, then close the pipe. The script
    # is far larger than a pipe buffer, so to-sql is still writing then.
    proc = subprocess.Popen([*OSIDUMP, "to-sql", dump], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    head = proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert head.startswith(b"-- ") or head.startswith(b"/*"), head
    # No BrokenPipeError, no "Exception ignored": only to-sql's own note that
    # the dump is unauthenticated (no --verify-key).
    assert all(line.startswith("note: unauthenticated dump") for line in err.splitlines()), err
    # Control: read to the end, and the same command succeeds with a full script.
    whole = subprocess.run([*OSIDUMP, "to-sql", dump], capture_output=True, check=False, timeout=120)
    assert whole.returncode == 0 and len(whole.stdout) > 200_000


def test_dash_p_without_a_terminal_is_a_one_line_error() -> None:
    # A new session has no controlling terminal: getpass cannot open /dev/tty.
    proc = subprocess.run([*OSIDUMP, "ping", "-p", "-h", "127.0.0.1", "-P", "1"], input=b"hunter2\n",
                          capture_output=True, check=False, timeout=60, start_new_session=True)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    lines = err.splitlines()
    assert lines[0] == "osidump: error: -p asks for the password at a terminal, and there is none"
    assert len(lines) == 2 and lines[1].startswith("  hint: ") and "OSIDUMP_PASSWORD" in lines[1]
    assert "Warning" not in err
