"""list and prune over a location of many dumps, per backup series, on local
directories, memory and S3 (moto over HTTP). Dump times are written into the
manifests and start markers (no sleeping); "now" is fixed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from osidump.cli.main import cli
from osidump.engine.config import ExportConfig
from osidump.engine.export.destination import STARTED_NAME, export_selection, write_start_marker
from osidump.engine.format.manifest import (
    MANIFEST_NAME,
    DatabaseEntry,
    FileEntry,
    Manifest,
    SnapshotInfo,
)
from osidump.engine.retention import (
    COMPLETE,
    DAMAGED,
    INCOMPLETE,
    delete_dump,
    find_dumps,
    plan_prune,
)
from osidump.engine.storage.base import LocalStorage, MemoryStorage, Storage
from osidump.engine.storage.s3 import S3Config, S3Storage

from tests.support.s3 import CREDENTIALS, Recorder, new_bucket

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
FULL = ExportConfig(databases=("shop",))
EMERGENCY = ExportConfig(databases=("shop",), tables=("billing_subscriptions", "webhook_event_receipts"))
OTHER = ExportConfig(databases=("crm",))


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def put_dump(location: Storage, name: str, *, age_hours: float, config: ExportConfig = FULL, chunks: int = 1) -> None:
    """A complete dump that finished ``age_hours`` before NOW."""
    dump = location.child(name)
    finished = NOW - timedelta(hours=age_hours)
    write_start_marker(dump, config, started_at=stamp(finished - timedelta(minutes=5)))
    dump.put("schema/shop.json", b"{}")
    for i in range(chunks):
        dump.put(f"data/shop/t/{i:06d}-0000.sql.zst", b"x" * 10)
    manifest = Manifest(
        tool_version="0.1.0", started_at=stamp(finished - timedelta(minutes=5)), finished_at=stamp(finished),
        server_flavor="mariadb", server_version="10.11",
        snapshot=SnapshotInfo(consistency="single", reason="test", workers=1), session={},
        options=export_selection(config),
        databases=[DatabaseEntry(name="shop", schema_file=FileEntry(path="schema/shop.json", sha256="0" * 64, bytes=2),
                                 tables=[])],
    )
    dump.put(MANIFEST_NAME, manifest.to_json())


def put_unfinished(location: Storage, name: str, *, age_hours: float, config: ExportConfig | None = FULL) -> None:
    """An export that began ``age_hours`` before NOW and never wrote its manifest
    (``config=None``: one from before start markers existed)."""
    dump = location.child(name)
    if config is not None:
        write_start_marker(dump, config, started_at=stamp(NOW - timedelta(hours=age_hours)))
    dump.put("data/shop/t/000000-0000.sql.zst", b"x")


@pytest.fixture(params=["local", "memory", "s3-moto", "s3-s3rver"])
def location(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(str(tmp_path / "backups"))
    elif request.param == "memory":
        yield MemoryStorage()
    else:
        server = request.getfixturevalue("moto_s3" if request.param == "s3-moto" else "s3rver")
        for key, value in CREDENTIALS.items():
            monkeypatch.setenv(key, value)
        yield S3Storage(S3Config(bucket=new_bucket(server), prefix="backups", endpoint_url=server.endpoint_url))


def names(dumps: Any) -> list[str]:
    return sorted(d.name for d in dumps)


def prune(location: Storage, **kw: Any) -> Any:
    plan = plan_prune(find_dumps(location), now=NOW, **kw)
    for d in plan.delete:
        delete_dump(location, d.name)
    return plan


def test_a_newer_emergency_dump_never_ages_out_the_full_backups(location: Storage) -> None:
    """The issue's case: `prune --keep-days 0` with a two-table emergency dump
    as the newest used to keep only it and delete both full backups."""
    put_dump(location, "full-1", age_hours=48)
    put_dump(location, "full-2", age_hours=24)
    put_dump(location, "emergency", age_hours=1, config=EMERGENCY)
    plan = prune(location, keep_days=0, keep_last=1)
    assert names(plan.delete) == ["full-1"]
    assert names(find_dumps(location)) == ["emergency", "full-2"]
    assert location.list_children() == ["emergency", "full-2"]


def test_keep_last_and_keep_days_apply_per_series(location: Storage) -> None:
    for i, age in enumerate([1, 45, 35, 50, 90, 38]):
        put_dump(location, f"shop-{i}", age_hours=age * 24)
    put_dump(location, "crm-old", age_hours=400 * 24, config=OTHER)
    plan = prune(location, keep_days=40, keep_last=2)
    assert names(plan.delete) == ["shop-1", "shop-3", "shop-4"]
    assert "one of the 2 newest" in plan.reasons["shop-0"]
    assert "one of the 2 newest" in plan.reasons["shop-2"]  # 35 days: second newest
    assert plan.reasons["shop-5"] == "within 40 days"
    assert plan.reasons["shop-1"] == "older than 40 days"
    assert plan.reasons["crm-old"] == "one of the 2 newest of its series"  # alone in its series: kept


def test_incomplete_dumps_go_after_the_grace_once_superseded(location: Storage, request: pytest.FixtureRequest) -> None:
    put_dump(location, "full", age_hours=1)  # the series' newest complete dump
    put_unfinished(location, "killed-long-ago", age_hours=30)  # before it, past the grace: goes
    put_unfinished(location, "killed-recently", age_hours=5)  # before it, within 24 h: stays
    put_unfinished(location, "running", age_hours=0.5)  # after it: maybe still running
    put_unfinished(location, "other-series", age_hours=100, config=OTHER)  # no complete crm dump
    put_unfinished(location, "no-marker", age_hours=100, config=None)
    # s3rver 3.7.1 leaves a name out of delimited listings when all its objects
    # lie two or more levels down, as in this dump without a marker (docs/S3.md).
    s3rver = request.node.callspec.params["location"] == "s3-s3rver"
    dumps = {d.name: d for d in find_dumps(location)}
    assert dumps["killed-long-ago"].state == INCOMPLETE and dumps["killed-long-ago"].series == dumps["full"].series
    assert ("no-marker" not in dumps) if s3rver else (dumps["no-marker"].series is None)
    plan = prune(location, keep_days=30, keep_last=1)
    assert names(plan.delete) == ["killed-long-ago"]
    assert "may still be running" in plan.reasons["killed-recently"]
    assert "no newer complete dump" in plan.reasons["running"]
    assert "no newer complete dump" in plan.reasons["other-series"]
    assert s3rver or "unknown" in plan.reasons["no-marker"]
    plan = prune(location, keep_days=30, keep_last=1, keep_incomplete_hours=2)
    assert names(plan.delete) == ["killed-recently"]
    left = ["full", "other-series", "running"] if s3rver else ["full", "no-marker", "other-series", "running"]
    assert names(find_dumps(location)) == left


@pytest.mark.parametrize(
    "manifest",
    [b"{not json", b'{"format": "osidump-dump", "format_version": 1, "status": "complete"}',
     b'{"format": "osidump-dump", "format_version": 1, "status": "complete", "tool_version": "x", '
     b'"started_at": 5, "finished_at": "yesterday", "server_flavor": "m", "server_version": "1", '
     b'"snapshot": {"consistency": "single", "reason": "r", "workers": 1}, "session": {}, '
     b'"options": {"tables": 7}, "databases": []}'],
)
def test_a_damaged_manifest_is_listed_and_never_stops_the_others(location: Storage, manifest: bytes) -> None:
    put_dump(location, "old", age_hours=100 * 24)
    put_dump(location, "new", age_hours=1)
    location.child("broken").put("data/x", b"x")
    location.child("broken").put(MANIFEST_NAME, manifest)
    dumps = {d.name: d for d in find_dumps(location)}
    assert dumps["broken"].state == DAMAGED and dumps["broken"].problem
    assert dumps["old"].state == COMPLETE and dumps["new"].state == COMPLETE
    plan = prune(location, keep_days=30, keep_last=1)
    assert names(plan.delete) == ["old"]
    assert "damaged" in plan.reasons["broken"]
    assert location.child("broken").exists(MANIFEST_NAME)


def test_cli_list_groups_by_series_and_prune_flags(tmp_path: Path) -> None:
    root = str(tmp_path)
    loc = LocalStorage(root)
    now_age = (datetime.now(timezone.utc) - NOW) / timedelta(hours=1)  # CLI prunes against the real clock
    put_dump(loc, "full-old", age_hours=400 * 24 - now_age)
    put_dump(loc, "full-new", age_hours=-now_age)
    put_dump(loc, "emergency", age_hours=200 * 24 - now_age, config=EMERGENCY)
    put_unfinished(loc, "killed", age_hours=300 * 24 - now_age)
    loc.child("broken").put(MANIFEST_NAME, b"{")
    runner = CliRunner()
    out = runner.invoke(cli, ["list", root]).output
    lines = out.splitlines()
    full = lines.index("series: shop")
    emergency = lines.index("series: shop: tables billing_subscriptions, webhook_event_receipts")
    assert [ln.split()[0] for ln in lines[full + 1 : full + 4]] == ["full-new", "killed", "full-old"]
    assert lines[emergency + 1].split()[0] == "emergency"
    assert "INCOMPLETE began" in out and "DAMAGED" in out
    listed = json.loads(runner.invoke(cli, ["list", root, "--json"]).output)
    assert {d["name"]: d["state"] for d in listed}["broken"] == DAMAGED
    result = runner.invoke(cli, ["prune", root, "--keep-days", "30", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would delete full-old" in result.output and "would delete killed" in result.output
    assert "would delete emergency" not in result.output  # the newest (only) of its series
    result = runner.invoke(cli, ["prune", root, "--keep-days", "30", "--keep-incomplete-hours", "-1"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["prune", root, "--keep-days", "30"])
    assert result.exit_code == 0 and "deleted full-old" in result.output and "deleted killed" in result.output
    assert sorted(loc.list_children()) == ["broken", "emergency", "full-new"]


def test_requests_for_3_dumps_of_1000_chunks(s3_endpoint_url: str, s3_bucket: str) -> None:
    """list reads one delimited listing and one manifest per dump; prune lists
    each doomed dump once and deletes it in DeleteObjects batches of <= 1,000
    keys, manifest first, start marker last."""
    setup = S3Storage(S3Config(bucket=s3_bucket, prefix="backups", endpoint_url=s3_endpoint_url))
    for name, age in [("d1", 72), ("d2", 48), ("d3", 1)]:
        put_dump(setup, name, age_hours=age, chunks=0)
        with ThreadPoolExecutor(8) as pool:  # 1,000 chunk objects per dump
            list(pool.map(lambda i, n=name: setup.child(n).put(f"data/shop/t/{i:06d}-0000.sql.zst", b"x"),
                          range(1000)))
    storage = S3Storage(S3Config(bucket=s3_bucket, prefix="backups", endpoint_url=s3_endpoint_url))
    rec = Recorder(storage.client)

    dumps = find_dumps(storage)
    assert [d.name for d in dumps] == ["d3", "d2", "d1"]
    listed = [op for op, _h, _b in rec.requests]
    assert sorted(listed) == sorted(["HeadObject", "ListObjectsV2", "GetObject", "GetObject", "GetObject"])

    rec.requests.clear()
    plan = plan_prune(dumps, keep_days=1, keep_last=1, now=NOW)
    assert names(plan.delete) == ["d1", "d2"]
    sent: list[str] = []
    storage.client.meta.events.register(
        "before-send.s3", lambda request, **_: sent.append(f"{request.method} {request.url.split('/', 3)[3]}")
    )
    for d in plan.delete:
        assert delete_dump(storage, d.name) == 1003  # chunks, schema, marker, manifest
    ops = [op for op, _h, _b in rec.requests]
    # Per dump: 2 listing pages (1,003 keys), manifest, 2 batches, marker.
    assert sorted(ops) == sorted(["ListObjectsV2"] * 4 + ["DeleteObject"] * 4 + ["DeleteObjects"] * 4)
    batches = [body.count(b"<Key>") for op, _h, body in rec.requests if op == "DeleteObjects"]
    assert batches == [1000, 1, 1000, 1]
    bucket = s3_bucket
    expected = []
    for d in plan.delete:
        expected += [f"DELETE {bucket}/backups/{d.name}/{MANIFEST_NAME}", f"POST {bucket}?delete",
                     f"POST {bucket}?delete", f"DELETE {bucket}/backups/{d.name}/{STARTED_NAME}"]
    assert [r for r in sent if not r.startswith("GET ")] == expected
    assert [d.name for d in find_dumps(storage)] == ["d3"]
