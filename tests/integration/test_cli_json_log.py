"""``--log-format json`` keeps docs/RUNBOOK.md's promise: every event, note,
warning, report line and error is one JSON object per line, with no plain
text beside it. A command's product (to-sql's script, an explicit --json
document) is the only exception."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from osidump.cli.main import cli

from tests.integration.helpers import sql


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object with an event; fails on the
    first line that is not one."""
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\nin:\n{text}") from None
        assert isinstance(event, dict) and "event" in event, line
        events.append(event)
    return events


def run_json(*args: str, product_on_stdout: bool = False) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(cli, ["--log-format", "json", *args])
    events = json_lines(result.stderr)
    if not product_on_stdout:
        events += json_lines(result.stdout)
    return result.exit_code, events


def test_every_line_is_json_with_log_format_json(
    server: Any, make_database: Any, tmp_path: Path
) -> None:
    db, copy = make_database(), make_database()
    user, password = "osi_json_" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex[:8]
    conn = server.connect()
    sql(conn, f"CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(10))")
    sql(conn, f"INSERT INTO `{db}`.t VALUES (1, 'a'), (2, 'b')")
    sql(conn, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    try:
        sql(conn, f"GRANT ALL ON *.* TO '{user}'@'%'")
        login = ["-h", server.host, "-P", str(server.port), "-u", user, f"-p{password}"]
        dump = str(tmp_path / "backups" / "d1")

        # The password warning (issue: it was plain text) and the export's events.
        code, events = run_json("export", db, "-o", dump, *login)
        assert code == 0, events
        kinds = [e["event"] for e in events]
        assert kinds[0] == "warning" and "process list" in events[0]["message"]
        assert "export.done" in kinds

        # The unauthenticated-dump note (was `note: ...`) and the report lines.
        code, events = run_json("verify", dump)
        assert code == 0, events
        assert any(e["event"] == "note" and "unauthenticated" in e["message"] for e in events)
        assert any(e["event"] == "verify" and "dump verified" in e["message"] for e in events)

        for args in (
            ["inspect", dump],
            ["list", str(tmp_path / "backups")],
            ["prune", str(tmp_path / "backups"), "--keep-days", "3"],
            ["restore", dump, "-d", copy, "--dry-run"],
            ["restore", dump, "-d", copy, *login],
            ["ping", *login],
        ):
            code, events = run_json(*args)
            assert code == 0, (args, events)
            assert events, args

        # to-sql's script is its product; its note and summary are JSON.
        code, events = run_json("to-sql", dump, "-o", str(tmp_path / "d1.sql"))
        assert code == 0 and [e["event"] for e in events] == ["note", "to-sql.done"], events
        code, events = run_json("to-sql", dump, product_on_stdout=True)
        assert code == 0 and [e["event"] for e in events] == ["note"], events

        # Errors: the engine's and click's own usage errors.
        code, events = run_json("verify", str(tmp_path / "nothing-here"))
        assert code != 0 and events[-1]["event"] == "error"
        code, events = run_json("export", db, "-j", "many", "-o", str(tmp_path / "x"))
        assert code == 2 and [e["event"] for e in events] == ["error"], events
        assert events[0]["error"] == "UsageError" and "--threads" in events[0]["message"]
    finally:
        sql(conn, f"DROP USER '{user}'@'%'")
        conn.close()
