"""Manifest loading refuses anything damaged, newer, or pointing outside the dump."""

from __future__ import annotations

import json
from typing import Any

import pytest
from osidump.engine.errors import IncompleteDump, ManifestError, ObjectNotFound
from osidump.engine.format.manifest import (
    FORMAT_VERSION,
    encode_name,
    load_manifest,
    parse_manifest,
)
from osidump.engine.storage.base import MemoryStorage

SHA = "a" * 64


def good_manifest() -> dict[str, Any]:
    return {
        "format": "osidump-dump",
        "format_version": FORMAT_VERSION,
        "status": "complete",
        "tool_version": "0.1.0",
        "started_at": "2026-11-28T00:00:00.000000Z",
        "finished_at": "2026-11-28T00:00:01.000000Z",
        "server_flavor": "mariadb",
        "server_version": "10.11.19-MariaDB",
        "snapshot": {"consistency": "lock", "reason": "requested", "workers": 2},
        "session": {"time_zone": "+00:00"},
        "options": {},
        "databases": [
            {
                "name": "shop",
                "schema_file": {"path": "schema/shop.json", "sha256": SHA, "bytes": 10},
                "tables": [
                    {
                        "name": "orders",
                        "columns": [{"name": "id", "type": "int(11)", "kind": "number"}],
                        "key": ["id"],
                        "key_kind": "primary",
                        "chunks": [
                            {
                                "index": 0,
                                "path": "data/shop/orders/000000-0000.tsv.zst",
                                "rows": 3,
                                "raw_bytes": 100,
                                "stored_bytes": 50,
                                "sha256": SHA,
                                "content_sha256": SHA,
                                "lower": None,
                                "upper": ["10"],
                                "max_row_bytes": 12,
                            }
                        ],
                    }
                ],
            }
        ],
    }


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def test_good_manifest_parses() -> None:
    m = parse_manifest(encode(good_manifest()))
    assert m.database("shop").table("orders").rows == 3
    assert m.all_paths() == ["schema/shop.json", "data/shop/orders/000000-0000.tsv.zst"]


def test_round_trip_through_to_json() -> None:
    m = parse_manifest(encode(good_manifest()))
    assert parse_manifest(m.to_json()) == m


def test_truncated_manifest_is_rejected() -> None:
    data = encode(good_manifest())
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_manifest(data[: len(data) // 2])


def test_non_json_manifest_is_rejected() -> None:
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_manifest(b"\x00\xffgarbage")


def test_newer_format_version_is_refused_with_upgrade_hint() -> None:
    doc = good_manifest()
    doc["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ManifestError, match="newer") as info:
        parse_manifest(encode(doc))
    assert "upgrade" in info.value.hint


@pytest.mark.parametrize(
    "path",
    ["../../etc/passwd", "/etc/passwd", "data/../../x", "data//x", "data/./x", "a\\b", ""],
)
def test_chunk_paths_leaving_the_dump_are_refused(path: str) -> None:
    doc = good_manifest()
    doc["databases"][0]["tables"][0]["chunks"][0]["path"] = path
    with pytest.raises(ManifestError, match="unsafe path"):
        parse_manifest(encode(doc))


def test_schema_path_leaving_the_dump_is_refused() -> None:
    doc = good_manifest()
    doc["databases"][0]["schema_file"]["path"] = "../schema.json"
    with pytest.raises(ManifestError, match="unsafe path"):
        parse_manifest(encode(doc))


def test_duplicate_paths_are_refused() -> None:
    doc = good_manifest()
    chunks = doc["databases"][0]["tables"][0]["chunks"]
    chunks.append(dict(chunks[0], index=1))
    with pytest.raises(ManifestError, match="twice"):
        parse_manifest(encode(doc))


@pytest.mark.parametrize(
    ("field", "value"),
    [("rows", -1), ("rows", "3"), ("sha256", "xyz"), ("stored_bytes", True)],
)
def test_wrong_field_types_are_refused(field: str, value: Any) -> None:
    doc = good_manifest()
    doc["databases"][0]["tables"][0]["chunks"][0][field] = value
    with pytest.raises(ManifestError):
        parse_manifest(encode(doc))


def test_status_other_than_complete_is_incomplete() -> None:
    doc = good_manifest()
    doc["status"] = "running"
    with pytest.raises(IncompleteDump):
        parse_manifest(encode(doc))


def test_directory_without_manifest_is_an_incomplete_dump() -> None:
    storage = MemoryStorage()
    storage.put("data/shop/orders/000000-0000.tsv.zst", b"x")
    with pytest.raises(IncompleteDump, match="did not finish"):
        load_manifest(storage)


def test_empty_location_is_not_found() -> None:
    with pytest.raises(ObjectNotFound):
        load_manifest(MemoryStorage())


@pytest.mark.parametrize(
    "name", ["plain", "with space", "dots.in.name", "..", "`tick`", "日本", ""]
)
def test_encoded_names_are_safe_single_segments(name: str) -> None:
    from osidump.engine.storage.base import validate_name

    encoded = encode_name(name)
    assert "/" not in encoded
    validate_name(f"data/{encoded}/x")
