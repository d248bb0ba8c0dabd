"""Many dumps in one location: listing them by series, and pruning old ones.

A location (a directory or an S3 prefix) holds one dump per first-level
name, e.g. ``/backups/shop-2026-11-28/manifest.json``. A *series* is the set of
dumps with the same selection (manifest ``options``: databases,
all_databases, tables, exclude_tables): the nightly full backup is one series,
the two-table emergency dump another, and retention applies to each on its
own, so a newer emergency dump never makes the full backups "old".

Cost: listing reads one delimited listing of the location (S3: ListObjectsV2
with ``/``, the dumps' names, not their chunks) and one object per dump: its
manifest, or for an unfinished dump its ``export-started.json``. Deleting a dump
lists its objects once and removes them in batches (S3: DeleteObjects, 1,000
keys a request): the manifest first, so an interrupted prune leaves an
incomplete dump, never a complete-looking one with files missing; the start
marker last, so the remains still name their series and a later prune finishes
the job.

States: *complete* (the manifest loads), *incomplete* (no manifest: an export
still running, or one that was killed), *damaged* (a manifest that does not
load: listed with the reason, never deleted, and never in the way of the
others).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .errors import ConfigError, ObjectNotFound, OsidumpError
from .export.destination import STARTED_NAME, read_start_marker, selection_key
from .format.manifest import MANIFEST_NAME, parse_manifest
from .storage.base import Storage

COMPLETE, INCOMPLETE, DAMAGED = "complete", "incomplete", "damaged"


@dataclass(frozen=True)
class DumpListing:
    name: str
    state: str  # COMPLETE, INCOMPLETE or DAMAGED
    finished_at: datetime | None  # complete dumps
    started_at: datetime | None  # complete dumps, and incomplete ones with a start marker
    series: str | None  # selection key; None when unknown (damaged, or no start marker)
    series_label: str  # the selection in words, for people
    databases: tuple[str, ...] = ()
    stored_bytes: int = 0
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.state == COMPLETE

    @property
    def when(self) -> datetime | None:
        """The dump's time: when it finished, or for an unfinished one when it began."""
        return self.finished_at or self.started_at


@dataclass(frozen=True)
class PrunePlan:
    delete: tuple[DumpListing, ...]
    keep: tuple[DumpListing, ...]
    reasons: dict[str, str] = field(default_factory=dict)


def _parse_time(text: object) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"not a time: {text!r}")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def describe_selection(options: Mapping[str, Any]) -> str:
    """``shop`` / ``shop: tables a, b`` / ``all databases, without x``."""

    def names(key: str) -> list[str]:
        value = options.get(key)
        return sorted(str(v) for v in value) if isinstance(value, (list, tuple)) else []

    users_only = options.get("users") and not names("databases")
    if options.get("all_databases"):
        text = "all databases"
    elif users_only:
        text = "accounts only"
    else:
        text = ", ".join(names("databases")) or "(no databases recorded)"
    if names("tables"):
        text += ": tables " + ", ".join(names("tables"))
    if names("exclude_tables"):
        text += ", without " + ", ".join(names("exclude_tables"))
    if options.get("where") or options.get("table_where"):
        text += ", rows filtered (--where)"
    if options.get("no_data"):
        text += ", schema only"
    if options.get("users") and not users_only:
        text += ", with accounts"
    if names("include_users") or names("exclude_users"):
        text += ", accounts filtered"
    return text


def find_dumps(location: Storage) -> list[DumpListing]:
    """Every dump directly inside ``location``, newest first; ObjectNotFound
    if ``location`` is a local directory that does not exist."""
    location.check_location()
    if location.exists(MANIFEST_NAME):
        raise ConfigError(
            f"{location.describe()} is a dump itself, not a location holding dumps",
            hint="give its parent directory or prefix",
        )
    found = [_read_dump(location, name) for name in location.list_children()]
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    found.sort(key=lambda d: (d.when or epoch, d.name), reverse=True)
    return found


def _read_dump(location: Storage, name: str) -> DumpListing:
    try:
        dump = location.child(name)
        data = dump.get(MANIFEST_NAME)
    except ObjectNotFound:
        return _unfinished(dump, name)
    except OsidumpError as exc:  # an unusable name, an unreadable object
        return DumpListing(name, DAMAGED, None, None, None, "?", problem=exc.message)
    try:
        manifest = parse_manifest(data)
        finished, started = _parse_time(manifest.finished_at), _parse_time(manifest.started_at)
        options = manifest.options
        stored = sum(
            d.schema_file.bytes + sum(t.stored_bytes for t in d.tables) for d in manifest.databases
        ) + (manifest.users.file.bytes if manifest.users is not None else 0)
        return DumpListing(
            name=name,
            state=COMPLETE,
            finished_at=finished,
            started_at=started,
            series=selection_key(options),
            series_label=describe_selection(options),
            databases=tuple(d.name for d in manifest.databases),
            stored_bytes=stored,
        )
    # A damaged manifest may fail anywhere in parsing; it must not stop the listing.
    except (OsidumpError, ValueError, TypeError, KeyError, AttributeError) as exc:
        problem = exc.message if isinstance(exc, OsidumpError) else f"bad manifest: {exc}"
        return DumpListing(name, DAMAGED, None, None, None, "?", problem=problem)


def _unfinished(dump: Storage, name: str) -> DumpListing:
    marker = read_start_marker(dump)
    if marker is None:
        return DumpListing(
            name,
            INCOMPLETE,
            None,
            None,
            None,
            "?",
            problem=f"no manifest (the export did not finish or is still running) and no "
            f"{STARTED_NAME}: its selection and age are unknown",
        )
    try:
        started: datetime | None = _parse_time(marker.started_at)
    except ValueError:
        started = None
    return DumpListing(
        name=name,
        state=INCOMPLETE,
        finished_at=None,
        started_at=started,
        series=selection_key(marker.options),
        series_label=describe_selection(marker.options),
        problem="no manifest: the export is still running or did not finish",
    )


def group_by_series(dumps: list[DumpListing]) -> list[tuple[str, list[DumpListing]]]:
    """(label, dumps newest first) per series, the series with the newest dump
    first; dumps whose series is unknown come last, as one group."""
    groups: dict[str | None, list[DumpListing]] = {}
    for d in dumps:  # already newest first
        groups.setdefault(d.series, []).append(d)
    known = [(ds[0].series_label, ds) for key, ds in groups.items() if key is not None]
    unknown = groups.get(None)
    return known + ([("unknown selection", unknown)] if unknown else [])


def plan_prune(
    dumps: list[DumpListing],
    *,
    keep_days: int,
    keep_last: int,
    now: datetime,
    keep_incomplete_hours: float = 24,
) -> PrunePlan:
    """Per series: complete dumps older than ``keep_days`` go, except the
    ``keep_last`` newest (so the newest complete dump of every series stays).
    An incomplete dump goes once a newer complete dump of its series exists and
    it began more than ``keep_incomplete_hours`` ago (an export may still be
    running). Damaged dumps, and incomplete ones of unknown series, stay."""
    if keep_days < 0 or keep_last < 1 or keep_incomplete_hours < 0:
        raise ConfigError(
            "--keep-days and --keep-incomplete-hours must be >= 0 and --keep-last >= 1"
        )
    cutoff = now - timedelta(days=keep_days)
    grace = now - timedelta(hours=keep_incomplete_hours)
    delete: list[DumpListing] = []
    keep: list[DumpListing] = []
    reasons: dict[str, str] = {}

    def decide(d: DumpListing, go: bool, reason: str) -> None:
        (delete if go else keep).append(d)
        reasons[d.name] = reason

    newest_complete: dict[str, datetime] = {}
    rank: dict[str, int] = {}
    for d in dumps:  # newest first
        if d.complete and d.series is not None and d.finished_at is not None:
            newest_complete.setdefault(d.series, d.finished_at)
            rank[d.series] = rank.get(d.series, 0) + 1
            if rank[d.series] <= keep_last:
                decide(d, False, f"one of the {keep_last} newest of its series")
            elif d.finished_at < cutoff:
                decide(d, True, f"older than {keep_days} days")
            else:
                decide(d, False, f"within {keep_days} days")
    for d in dumps:
        if d.state == DAMAGED:
            decide(d, False, f"damaged ({d.problem}): left alone")
        elif d.state == INCOMPLETE:
            newer = newest_complete.get(d.series) if d.series is not None else None
            if d.series is None or d.started_at is None:
                decide(d, False, "incomplete, selection or age unknown: left alone")
            elif newer is None or d.started_at >= newer:
                decide(d, False, "incomplete, no newer complete dump of its series: left alone")
            elif d.started_at >= grace:
                decide(
                    d,
                    False,
                    f"incomplete, began within {keep_incomplete_hours:g} hours "
                    "(may still be running): left alone",
                )
            else:
                decide(d, True, "incomplete and superseded by a newer complete dump")
    return PrunePlan(delete=tuple(delete), keep=tuple(keep), reasons=reasons)


def delete_dump(location: Storage, name: str) -> int:
    """Delete one dump: manifest first, start marker last, the rest in
    batches between. Returns the number of objects removed."""
    dump = location.child(name)
    names = dump.list()
    rest = [n for n in names if n not in (MANIFEST_NAME, STARTED_NAME)]
    if MANIFEST_NAME in names:
        dump.delete(MANIFEST_NAME)
    dump.delete_many(rest)
    if STARTED_NAME in names:
        dump.delete(STARTED_NAME)
    return len(names)
