"""Many dumps in one location: listing them, and pruning old ones.

A location (a directory or an S3 prefix) holds one dump per first-level
name, e.g. ``/backups/shop-2026-11-28/manifest.json``. A dump is complete only
if its manifest loads; anything else is listed as incomplete and is never
pruned automatically, because it may be an export that is still running.

Pruning deletes a dump's manifest first, so a prune that is interrupted leaves
an incomplete dump behind, never a complete-looking one with files missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .errors import ConfigError, OsidumpError
from .manifest import MANIFEST_NAME, load_manifest
from .storage import Storage


@dataclass(frozen=True)
class DumpListing:
    name: str
    complete: bool
    finished_at: datetime | None
    databases: tuple[str, ...]
    stored_bytes: int
    problem: str | None = None


@dataclass(frozen=True)
class PrunePlan:
    delete: tuple[DumpListing, ...]
    keep: tuple[DumpListing, ...]
    reasons: dict[str, str] = field(default_factory=dict)


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def find_dumps(location: Storage) -> list[DumpListing]:
    """Every dump directly inside ``location``, newest first (incomplete last)."""
    if location.exists(MANIFEST_NAME):
        raise ConfigError(
            f"{location.describe()} is a dump itself, not a location holding dumps",
            hint="give its parent directory or prefix",
        )
    roots = sorted({name.split("/", 1)[0] for name in location.list() if "/" in name})
    found: list[DumpListing] = []
    for root in roots:
        dump = location.child(root)
        try:
            manifest = load_manifest(dump)
        except OsidumpError as exc:
            found.append(DumpListing(root, False, None, (), 0, problem=exc.message))
            continue
        stored = sum(
            d.schema_file.bytes + sum(t.stored_bytes for t in d.tables) for d in manifest.databases
        )
        found.append(
            DumpListing(
                name=root,
                complete=True,
                finished_at=_parse_time(manifest.finished_at),
                databases=tuple(d.name for d in manifest.databases),
                stored_bytes=stored,
            )
        )
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    found.sort(key=lambda d: (d.complete, d.finished_at or epoch), reverse=True)
    return found


def plan_prune(
    dumps: list[DumpListing], *, keep_days: int, keep_last: int, now: datetime
) -> PrunePlan:
    """Complete dumps older than ``keep_days`` go, except the ``keep_last``
    newest complete ones (at least one is always kept); incomplete ones stay."""
    if keep_days < 0 or keep_last < 1:
        raise ConfigError("--keep-days must be >= 0 and --keep-last >= 1")
    cutoff = now - timedelta(days=keep_days)
    complete = [d for d in dumps if d.complete]
    delete: list[DumpListing] = []
    keep: list[DumpListing] = []
    reasons: dict[str, str] = {}
    for i, d in enumerate(complete):
        assert d.finished_at is not None
        if i < keep_last:
            keep.append(d)
            reasons[d.name] = f"one of the {keep_last} newest"
        elif d.finished_at < cutoff:
            delete.append(d)
            reasons[d.name] = f"older than {keep_days} days"
        else:
            keep.append(d)
            reasons[d.name] = f"within {keep_days} days"
    for d in dumps:
        if not d.complete:
            keep.append(d)
            reasons[d.name] = "incomplete (maybe still being written): left alone"
    return PrunePlan(delete=tuple(delete), keep=tuple(keep), reasons=reasons)


def delete_dump(location: Storage, name: str) -> int:
    """Delete one dump, manifest first. Returns the number of objects removed."""
    dump = location.child(name)
    names = dump.list()
    if MANIFEST_NAME in names:
        dump.delete(MANIFEST_NAME)
    for n in names:
        if n != MANIFEST_NAME:
            dump.delete(n)
    return len(names)
