"""``osidump list``, ``prune`` and ``drill``: living with many dumps."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import click
from osidump.engine.export.destination import STARTED_NAME
from osidump.engine.format.manifest import MANIFEST_NAME
from osidump.engine.restore.drill import require_ok, run_drill
from osidump.engine.retention import (
    INCOMPLETE,
    DumpListing,
    delete_dump,
    find_dumps,
    group_by_series,
    plan_prune,
)

from .errors import handle_errors
from .export_cmd import plural
from .messages import say
from .options import ConnectionResolver, S3Settings, connection_options, s3_options
from .progress import human_bytes
from .seal_options import ReadKeySettings, read_key_options


@click.command("list")
@click.argument("location")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@s3_options
@handle_errors
def list_command(location: str, as_json: bool, s3: S3Settings) -> None:
    """List the dumps in LOCATION (a directory or s3://bucket/prefix) by series
    (same databases and table selection), newest first.

    Reads one manifest per dump, never the chunks."""
    dumps = find_dumps(s3.open(location))
    if as_json:
        click.echo(json.dumps([_as_json(d) for d in dumps], indent=2))
        return
    dumps, others = _dumps_and_others(dumps)
    if not dumps:
        say("no dumps found")
    for label, members in group_by_series(dumps):
        say(f"series: {label}")
        for d in members:
            say("  " + _line(d))
    if others:
        say(
            f"not dumps (no {MANIFEST_NAME}, no {STARTED_NAME}; prune leaves them alone): "
            + ", ".join(d.name for d in others)
        )


def _dumps_and_others(found: list[DumpListing]) -> tuple[list[DumpListing], list[DumpListing]]:
    """A folder with neither a manifest nor the start marker every export
    writes first is not a dump (a venv, a to-sql --per-table output) or an
    export stopped before it wrote anything: named once, apart, never pruned."""
    others = [
        d for d in found if d.state == INCOMPLETE and d.series is None and d.started_at is None
    ]
    return [d for d in found if d not in others], others


def _time(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _as_json(d: DumpListing) -> dict[str, Any]:
    return {
        "name": d.name,
        "state": d.state,
        "complete": d.complete,
        "series": d.series_label,
        "finished_at": _time(d.finished_at),
        "started_at": _time(d.started_at),
        "databases": list(d.databases),
        "stored_bytes": d.stored_bytes,
        "problem": d.problem,
    }


def _line(d: DumpListing) -> str:
    if d.complete and d.finished_at is not None:
        when = d.finished_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"{d.name:<40} {when}  {human_bytes(d.stored_bytes):>10}  {', '.join(d.databases)}"
    if d.state == INCOMPLETE:
        began = d.started_at.strftime(" began %Y-%m-%d %H:%M UTC") if d.started_at else ""
        return f"{d.name:<40} INCOMPLETE{began}  ({d.problem})"
    return f"{d.name:<40} DAMAGED  ({d.problem})"


@click.command("prune")
@click.argument("location")
@click.option("--keep-days", type=int, required=True, help="Delete complete dumps older than this.")
@click.option(
    "--keep-last",
    type=int,
    default=1,
    show_default=True,
    help="Always keep this many newest complete dumps of each series, whatever their age.",
)
@click.option(
    "--keep-incomplete-hours",
    type=float,
    default=24,
    show_default=True,
    help="Delete an incomplete dump (a killed export) only once a newer complete dump of its "
    "series exists and it began longer ago than this (it may still be running).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@s3_options
@handle_errors
def prune_command(
    location: str,
    keep_days: int,
    keep_last: int,
    keep_incomplete_hours: float,
    dry_run: bool,
    s3: S3Settings,
) -> None:
    """Delete dumps in LOCATION older than --keep-days, per series (the runbook's
    7-30 day retention).

    A series is the dumps with the same databases and table selection: a newer
    emergency dump of two tables never makes the full backups old. The newest
    complete dump of every series is always kept; damaged dumps are never
    deleted. Deletes in batches, the manifest first.
    """
    storage = s3.open(location)
    plan = plan_prune(
        _dumps_and_others(find_dumps(storage))[0],
        keep_days=keep_days,
        keep_last=keep_last,
        keep_incomplete_hours=keep_incomplete_hours,
        now=datetime.now(timezone.utc),
    )
    if not plan.delete:
        # Said even when empty: a cron log should show that prune ran and saw the dumps.
        say(
            f"nothing to prune: {plural(len(plan.keep), 'dump')} kept in {storage.describe()}",
            event="prune.nothing",
            kept=len(plan.keep),
        )
    for d in plan.keep:
        reason = plan.reasons[d.name]
        say(f"keep    {d.name}: {reason}", event="prune.keep", dump=d.name, reason=reason)
    for d in plan.delete:
        reason = plan.reasons[d.name]
        if dry_run:
            say(
                f"would delete {d.name}: {reason}",
                event="prune.would_delete",
                dump=d.name,
                reason=reason,
            )
        else:
            removed = delete_dump(storage, d.name)
            say(
                f"deleted {d.name}: {reason} ({removed} objects)",
                event="prune.deleted",
                dump=d.name,
                reason=reason,
                objects=removed,
            )


@click.command("drill")
@click.argument("source")
@click.option("--threads", "-j", type=int, default=2, show_default=True, help="Parallel loaders.")
@click.option("--keep", is_flag=True, help="Keep the scratch databases for inspection.")
@click.option(
    "--no-binlog",
    "no_binlog",
    is_flag=True,
    help="Keep the drill out of the binary log, so replicas never see it (needs SUPER).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@read_key_options
@s3_options
@connection_options
@handle_errors
def drill_command(
    source: str,
    threads: int,
    keep: bool,
    no_binlog: bool,
    as_json: bool,
    keys: ReadKeySettings,
    s3: S3Settings,
    connection: ConnectionResolver,
) -> None:
    """Restore drill: restore SOURCE into scratch databases, check it, drop them.

    Every chunk is verified as it loads; then each table's row count is compared
    with the dump and every view is opened. Exits non-zero if anything fails.
    Point it at a staging server (-h/-P) rather than production.
    """
    storage = s3.open(source)
    # No default database: the drill creates its own scratch databases.
    report = run_drill(
        replace(connection.config(), database=None),
        storage,
        threads=threads,
        keep=keep,
        binlog=not no_binlog,
        keys=keys.load(),
    )
    if not as_json:
        keys.note()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "databases": report.databases,
                    "tables": report.tables,
                    "rows": report.rows,
                    "seconds": round(report.seconds, 3),
                    "kept": report.kept,
                    "authenticated": bool(keys.verify_key),
                    "problems": report.problems,
                },
                indent=2,
            )
        )
    else:
        where = ", ".join(report.databases.values())
        state = "kept" if report.kept else "dropped"
        say(
            f"drill: restored {report.tables} tables, {report.rows:,} rows in "
            f"{report.seconds:.1f} s into {where} ({state})"
        )
        for problem in report.problems:
            say(f"FAIL  {problem}")
    require_ok(report)
    if not as_json:
        say("drill passed: the dump restores and matches")
