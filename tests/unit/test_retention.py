"""list and prune over a location holding many dumps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from osidump.cli.main import cli
from osidump.engine.errors import ConfigError
from osidump.engine.format.manifest import (
    MANIFEST_NAME,
    DatabaseEntry,
    FileEntry,
    Manifest,
    SnapshotInfo,
)
from osidump.engine.retention import delete_dump, find_dumps, plan_prune
from osidump.engine.storage.base import LocalStorage, MemoryStorage, Storage

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def put_dump(location: Storage, name: str, age_days: float) -> None:
    dump = location.child(name)
    finished = (NOW - timedelta(days=age_days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    dump.put("schema/shop.json", b"{}")
    dump.put("data/shop/t/000000-0000.sql.zst", b"x" * 100)
    manifest = Manifest(
        tool_version="0.1.0", started_at=finished, finished_at=finished, server_flavor="mariadb",
        server_version="10.11", snapshot=SnapshotInfo(consistency="single", reason="test", workers=1),
        session={}, options={},
        databases=[DatabaseEntry(name="shop", schema_file=FileEntry(path="schema/shop.json", sha256="0" * 64,
                                                                    bytes=2), tables=[])],
    )
    dump.put(MANIFEST_NAME, manifest.to_json())


def test_find_dumps_newest_first_and_incomplete_listed() -> None:
    loc = MemoryStorage()
    for name, age in [("d-old", 40), ("d-new", 1), ("d-mid", 10)]:
        put_dump(loc, name, age)
    loc.child("d-running").put("data/shop/t/000000-0000.sql.zst", b"x")  # no manifest yet
    dumps = find_dumps(loc)
    assert [d.name for d in dumps] == ["d-new", "d-mid", "d-old", "d-running"]
    assert not dumps[-1].complete and "did not finish" in (dumps[-1].problem or "")


def test_prune_keeps_recent_newest_and_incomplete() -> None:
    loc = MemoryStorage()
    for name, age in [("a", 40), ("b", 31), ("c", 10), ("d", 1)]:
        put_dump(loc, name, age)
    loc.child("running").put("data/x", b"x")
    plan = plan_prune(find_dumps(loc), keep_days=30, keep_last=1, now=NOW)
    assert sorted(d.name for d in plan.delete) == ["a", "b"]
    assert sorted(d.name for d in plan.keep) == ["c", "d", "running"]
    for d in plan.delete:
        delete_dump(loc, d.name)
    assert [d.name for d in find_dumps(loc)] == ["d", "c", "running"]


def test_the_newest_complete_dump_survives_any_retention() -> None:
    loc = MemoryStorage()
    put_dump(loc, "only", 400)
    plan = plan_prune(find_dumps(loc), keep_days=7, keep_last=1, now=NOW)
    assert plan.delete == () and [d.name for d in plan.keep] == ["only"]
    with pytest.raises(ConfigError):
        plan_prune([], keep_days=7, keep_last=0, now=NOW)


def test_a_dump_is_not_a_location() -> None:
    loc = MemoryStorage()
    put_dump(loc, "x", 1)
    with pytest.raises(ConfigError, match="is a dump itself"):
        find_dumps(loc.child("x"))


def test_cli_list_and_prune_dry_run(tmp_path: object) -> None:
    root = str(tmp_path)
    loc = LocalStorage(root)
    put_dump(loc, "shop-old", 400)
    put_dump(loc, "shop-new", 0)
    runner = CliRunner()
    (tmp_path / "venv" / "bin").mkdir(parents=True)  # not a dump: named once, apart
    (tmp_path / "venv" / "bin" / "python").write_bytes(b"x")
    result = runner.invoke(cli, ["list", root])
    assert result.exit_code == 0 and result.output.index("shop-new") < result.output.index("shop-old")
    assert "INCOMPLETE" not in result.output and "unknown selection" not in result.output
    assert result.output.endswith(
        "not dumps (no manifest.json, no export-started.json; prune leaves them alone): venv\n"
    )
    result = runner.invoke(cli, ["prune", root, "--keep-days", "30", "--dry-run"])
    assert result.exit_code == 0 and "would delete shop-old" in result.output
    assert loc.child("shop-old").exists(MANIFEST_NAME)
    result = runner.invoke(cli, ["prune", root, "--keep-days", "30"])
    assert "deleted shop-old" in result.output
    assert not loc.child("shop-old").list()
    result = runner.invoke(cli, ["prune", root, "--keep-days", "30"])
    assert result.exit_code == 0 and result.output.startswith(f"nothing to prune: 1 dump kept in {root}\n")


@pytest.mark.parametrize("command", [["list"], ["prune", "--keep-days", "3"]])
def test_a_missing_local_location_is_exit_4_not_an_empty_one(tmp_path: Path, command: list[str]) -> None:
    """A typo in a cron path must be noticed: a directory that does not exist,
    or a file, is no location (exit 4, one line and a hint); an empty
    directory is one that holds no dumps."""
    (tmp_path / "a-file").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    runner = CliRunner()
    for path, what in ((tmp_path / "nosuchdir", "does not exist"), (tmp_path / "a-file", "is not a directory")):
        result = runner.invoke(cli, [command[0], str(path), *command[1:]])
        assert result.exit_code == 4, result.output
        assert result.stdout == ""
        assert result.stderr.startswith(f"osidump: error: {path} {what}\n  hint: check the path")
        assert len(result.stderr.splitlines()) == 2
    result = runner.invoke(cli, [command[0], str(tmp_path / "empty"), *command[1:]])
    assert result.exit_code == 0
    expected = "no dumps found\n" if command[0] == "list" else "nothing to prune: 0 dumps kept in "
    assert result.stdout.startswith(expected), result.stdout
