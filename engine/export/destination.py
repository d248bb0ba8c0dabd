"""Claiming an export's destination, and the marker an unfinished export leaves.

An export writes ``export-started.json`` before anything else: when it began,
with which osidump, and what it selected (databases, tables, filters).
``manifest.json`` stays the only commit marker, written last; the start marker
only says what an *unfinished* dump was meant to hold, so that

- ``export --replace-incomplete`` can clear an interrupted export of the same
  selection (and refuse anything else: a complete dump, foreign files, an
  unfinished export of other tables);
- ``prune`` can tell which series an incomplete dump belongs to and how old it
  is, and delete it once a newer complete dump of that series exists.

A marker is a few hundred bytes; it stays in complete dumps too (no reader
needs it; the manifest repeats everything in it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import ExportConfig
from ..errors import DestinationNotEmpty, OsidumpError
from ..format.manifest import MANIFEST_NAME
from ..storage.base import Storage
from ..version import __version__

STARTED_NAME = "export-started.json"
STARTED_FORMAT = "osidump-export-started"
# What makes two dumps the same backup series (manifest ``options`` keys).
SELECTION_KEYS = ("databases", "all_databases", "tables", "exclude_tables")
# Also part of the series, but only when set (dumps from before they existed,
# and unfiltered ones, keep their key): a --where or --no-data dump is never
# the "newest complete dump" that lets prune delete full backups, and a dump
# without accounts never lets prune delete the last one with them (--users).
FILTER_KEYS = ("where", "table_where", "no_data", "users", "include_users", "exclude_users")


def export_selection(config: ExportConfig) -> dict[str, Any]:
    return {
        "databases": list(config.databases),
        "all_databases": config.all_databases,
        "tables": list(config.tables),
        "exclude_tables": list(config.exclude_tables),
        "where": config.where,
        "table_where": [list(pair) for pair in config.table_where],
        "no_data": config.no_data,
        "users": config.users,
        "include_users": list(config.include_users),
        "exclude_users": list(config.exclude_users),
    }


def selection_key(options: Mapping[str, Any]) -> str:
    """A stable text key for a selection (manifest or marker ``options``);
    order of names does not matter, unknown keys are ignored."""
    norm: dict[str, Any] = {}
    for key in SELECTION_KEYS:
        value = options.get(key)
        if isinstance(value, (list, tuple)):
            norm[key] = sorted(str(v) for v in value)
        else:
            norm[key] = bool(value)
    for key in FILTER_KEYS:
        value = options.get(key)
        if value:
            norm[key] = sorted(map(str, value)) if isinstance(value, list) else str(value)
    return json.dumps(norm, sort_keys=True)


@dataclass(frozen=True)
class StartMarker:
    started_at: str
    tool_version: str
    options: dict[str, Any]


def read_start_marker(storage: Storage) -> StartMarker | None:
    """The marker of the dump in ``storage``, or None if absent or unreadable."""
    try:
        raw = json.loads(storage.get(STARTED_NAME).decode("utf-8"))
    except (OsidumpError, UnicodeDecodeError, ValueError):
        return None
    if (
        not isinstance(raw, dict)
        or raw.get("format") != STARTED_FORMAT
        or not isinstance(raw.get("started_at"), str)
        or not isinstance(raw.get("options"), dict)
    ):
        return None
    return StartMarker(raw["started_at"], str(raw.get("tool_version", "?")), raw["options"])


def claim_destination(storage: Storage, config: ExportConfig) -> None:
    """Refuse a destination that holds anything, except (with
    ``config.replace_incomplete``) an unfinished export of the same selection, which
    is cleared. Runs before the export connects, so a used location fails fast."""
    names = storage.list()
    if names:
        _may_replace(storage, names, config, replace_incomplete=config.replace_incomplete)
        storage.clear()


def write_start_marker(storage: Storage, config: ExportConfig, *, started_at: str) -> None:
    """The first object of a dump, written once the snapshot is open (a failure
    before that leaves the destination untouched)."""
    doc = {
        "format": STARTED_FORMAT,
        "tool_version": __version__,
        "started_at": started_at,
        "options": export_selection(config),
    }
    storage.put(STARTED_NAME, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))


def _may_replace(
    storage: Storage, names: list[str], config: ExportConfig, *, replace_incomplete: bool
) -> None:
    where = f"{storage.describe()} is not empty ({len(names)} objects, e.g. {names[0]})"
    if MANIFEST_NAME in names:
        raise DestinationNotEmpty(
            f"{where}: it holds a complete dump",
            hint="choose a new --output location (prune or delete old dumps first)",
        )
    marker = read_start_marker(storage)
    if not replace_incomplete:
        hint = "choose an empty or new --output location"
        if marker is not None:
            hint = (
                "it holds an export that did not finish; add --replace-incomplete to clear "
                "it and export again, or choose another --output location"
            )
        raise DestinationNotEmpty(where, hint=hint)
    if marker is None:
        raise DestinationNotEmpty(
            f"{where}: no {STARTED_NAME}, so not an unfinished osidump export",
            hint="--replace-incomplete only clears osidump's own unfinished exports; "
            "choose another --output location or empty it yourself",
        )
    if selection_key(marker.options) != selection_key(export_selection(config)):
        raise DestinationNotEmpty(
            f"{where}: it holds an unfinished export of another selection "
            f"(started {marker.started_at})",
            hint="export with the same databases and --tables/--exclude-tables, "
            "or choose another --output location",
        )
