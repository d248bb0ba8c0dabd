"""``osidump export``: flags -> ExportConfig -> engine, with progress."""

from __future__ import annotations

import os
import re
from typing import Any

import click
from osidump.engine.config import CONSISTENCY_MODES, ExportConfig, parse_where
from osidump.engine.errors import ConfigError
from osidump.engine.export.run import Export, ExportProgress

from .errors import handle_errors
from .messages import emit_json, say
from .options import (
    ConnectionResolver,
    S3Settings,
    connection_options,
    s3_options,
    user_filter_options,
)
from .progress import ProgressLine, human_bytes, human_seconds
from .seal_options import ExportSealSettings, export_seal_options

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.I)


def parse_size(text: str) -> int:
    """``64M``, ``512k``, ``1G``, ``1048576`` -> bytes (powers of 1024)."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"cannot read size {text!r}", hint="use e.g. 64M, 512K or 1G")
    number, unit = match.groups()
    scale = 1024 ** " kmgt".index(unit.lower() or " ")
    return int(float(number) * scale)


def default_threads() -> int:
    """Export's and restore's default: one worker per core, 2 to 16."""
    return max(2, min(os.cpu_count() or 2, 16))


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 table``, ``2 tables``."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def split_where(values: tuple[str, ...]) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """``--where`` values -> (condition for every table, (db.table, condition) pairs)."""
    every: list[str] = []
    per_table: list[tuple[str, str]] = []
    for value in values:
        pattern, condition = parse_where(value)
        if pattern is None:
            every.append(condition)
        else:
            per_table.append((pattern, condition))
    if len(every) > 1:
        raise ConfigError(
            "--where for every table given twice",
            hint="combine them with AND, or prefix one with db.table: for one table",
        )
    return (every[0] if every else None), tuple(per_table)


def split_list(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--tables a,b --tables c`` -> ("a", "b", "c")."""
    out: list[str] = []
    for value in values:
        out.extend(v.strip() for v in value.split(",") if v.strip())
    return tuple(out)


@click.command("export")
@click.argument("databases", nargs=-1)
@click.option(
    "-o",
    "--output",
    required=True,
    help="Destination: a new or empty directory, or s3://bucket/prefix.",
)
@click.option(
    "--threads",
    "-j",
    type=int,
    default=None,
    help="Parallel workers (default: one per core, 2 to 16; restore's default is the same).",
)
@click.option(
    "--consistency",
    type=click.Choice(CONSISTENCY_MODES),
    default="auto",
    show_default=True,
    help="How parallel workers share one snapshot: lock (needs RELOAD); snapshot-check "
    "compares binlog positions and misses commits that skip the binary log (sql_log_bin=0), "
    "best effort on MySQL; single (one worker). See docs/CONSISTENCY.md.",
)
@click.option(
    "--lock-wait-timeout",
    type=click.IntRange(1, 31536000),
    default=5,
    show_default=True,
    metavar="SECONDS",
    help="How long the backup lock may wait behind other sessions (writers stall "
    "while it waits); then auto falls back and lock retries, naming the blocker.",
)
@click.option(
    "--tables",
    "-t",
    multiple=True,
    help="Only these tables: names or db.table globs, comma-separated.",
)
@click.option(
    "--exclude-tables", "-x", multiple=True, help="Skip these tables: names or db.table globs."
)
@click.option(
    "--all-databases", "-A", is_flag=True, help="Every database except the system schemas."
)
@click.option(
    "--chunk-size",
    default="64M",
    show_default=True,
    help="Target size of each chunk file before compression (also one restore transaction).",
)
@click.option(
    "--routines/--no-routines",
    default=None,
    help="Take stored procedures and functions (default: yes, but not with --tables; "
    "--exclude-tables keeps them; as mysqldump's --routines).",
)
@click.option(
    "--events/--no-events",
    default=None,
    help="Take events (default: yes, but not with --tables; --exclude-tables keeps them).",
)
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar="[DB.TABLE:]CONDITION",
    help="Only rows matching this SQL condition, in every table, or with DB.TABLE: (globs "
    "allowed; repeatable) in those tables; chunking still applies. Checked on the server "
    "before anything is written; recorded in the manifest (inspect shows it).",
)
@click.option(
    "--no-data",
    is_flag=True,
    help="Schema and objects only: tables, views, triggers, routines, events; no rows.",
)
@click.option(
    "--max-rate",
    default=None,
    metavar="BYTES",
    help="Cap the rows read from the server at this many bytes per second across all "
    "workers (e.g. 50M), to spare a production server.",
)
@click.option(
    "--compress-level",
    type=click.IntRange(1, 19),
    default=1,
    show_default=True,
    help="zstd level (1 is fast; 3 is zstd's default; higher is smaller and slower).",
)
@click.option(
    "--strip-definers",
    is_flag=True,
    help="Drop DEFINER clauses (for managed targets without SUPER).",
)
@click.option(
    "--users",
    is_flag=True,
    help="Also take accounts, roles and grants (passwords as the server's hashes, never in "
    "clear), as MySQL Shell's dumpInstance; the server's own accounts and root's are left "
    "out. Without a database: the accounts alone.",
)
@user_filter_options(include_note=" Naming root takes the installer's root accounts too.")
@click.option(
    "--replace-incomplete",
    is_flag=True,
    help="If the destination holds only an export of the same selection that did not finish "
    "(killed, no manifest), clear it first. Never touches a complete dump or other files; "
    "make sure no other export is still writing there.",
)
@export_seal_options
@s3_options
@connection_options
@click.pass_context
@handle_errors
def export_command(
    ctx: click.Context,
    databases: tuple[str, ...],
    output: str,
    threads: int | None,
    consistency: str,
    lock_wait_timeout: int,
    tables: tuple[str, ...],
    exclude_tables: tuple[str, ...],
    all_databases: bool,
    chunk_size: str,
    where: tuple[str, ...],
    no_data: bool,
    max_rate: str | None,
    compress_level: int,
    routines: bool | None,
    events: bool | None,
    strip_definers: bool,
    users: bool,
    include_users: tuple[str, ...],
    exclude_users: tuple[str, ...],
    replace_incomplete: bool,
    seal: ExportSealSettings,
    s3: S3Settings,
    connection: ConnectionResolver,
) -> None:
    """Export DATABASES to a consistent, chunked, checksummed dump.

    \b
    Examples:
      osidump export shop -o /backups/shop-$(date +%F)
      osidump export shop --tables orders,order_items -o ./emergency
      osidump export --all-databases -o s3://backups/nightly/$(date +%F)
      osidump export shop --sign-key prod.key --encrypt-to-file recipients.txt -o ...
      osidump export shop --where 'shop.orders:created_at >= "2026-01-01"' -o ./recent
      osidump export shop --no-data -o ./shop-schema
      osidump export --all-databases --users -o /backups/instance-$(date +%F)
      osidump export --users --exclude-users 'test*' -o ./accounts
    """
    sealing = seal.load()  # key files first: a bad one fails before anything is touched
    # --users with no database named is a dump of the accounts alone: the
    # environment's default database (DB_DATABASE) is not added to it.
    if not databases and not all_databases and not users and connection.default_database:
        databases = (connection.default_database,)
    every_table, per_table = split_where(where)
    config = ExportConfig(
        databases=databases,
        all_databases=all_databases,
        tables=split_list(tables),
        exclude_tables=split_list(exclude_tables),
        threads=default_threads() if threads is None else threads,
        consistency=consistency,
        lock_wait_timeout=lock_wait_timeout,
        chunk_bytes=parse_size(chunk_size),
        compress_level=compress_level,
        strip_definers=strip_definers,
        replace_incomplete=replace_incomplete,
        routines=routines,
        events=events,
        where=every_table,
        table_where=per_table,
        no_data=no_data,
        max_rate=parse_size(max_rate) if max_rate is not None else None,
        users=users,
        include_users=split_list(include_users),
        exclude_users=split_list(exclude_users),
    )
    conn_config = connection.config()
    storage = s3.open(output)
    progress = ExportProgress()
    json_log = (ctx.obj or {}).get("log_format") == "json"

    def render(elapsed: float) -> str:
        p = progress
        rate = p.raw_bytes / elapsed if elapsed > 0 else 0.0
        # Dumped rows are about the size of the stored data (escaped text).
        total = p.total_bytes_estimate
        eta = (total - p.raw_bytes) / rate if rate > 0 and total > p.raw_bytes else 0.0
        return (
            f"export: {p.chunks_done}/{p.total_chunks} ranges, {p.rows:,} rows, "
            f"{human_bytes(p.raw_bytes)} -> {human_bytes(p.stored_bytes)}, "
            f"{human_bytes(rate)}/s, ETA {human_seconds(eta)}"
        )

    if json_log:
        emit_json(
            "export.start",
            destination=storage.describe(),
            server=conn_config.describe(),
            threads=config.threads,
            consistency=config.consistency,
        )
    job = Export(conn_config, config, storage, progress=progress, seal=sealing)
    with ProgressLine(render, enabled=None if not json_log else False):
        manifest = job.run()
    tables_n = sum(len(d.tables) for d in manifest.databases)
    rows = sum(t.rows for d in manifest.databases for t in d.tables)
    raw = sum(t.raw_bytes for d in manifest.databases for t in d.tables)
    stored = sum(t.stored_bytes for d in manifest.databases for t in d.tables)
    summary: dict[str, Any] = {
        "destination": storage.describe(),
        "databases": [d.name for d in manifest.databases],
        "tables": tables_n,
        "rows": rows,
        "raw_bytes": raw,
        "stored_bytes": stored,
        "consistency": manifest.snapshot.consistency,
        "consistency_reason": manifest.snapshot.reason,
        "binlog_file": manifest.snapshot.binlog_file,
        "binlog_position": manifest.snapshot.binlog_position,
        "gtid": manifest.snapshot.gtid_executed,
        "signed_by": sealing.signing_key.key_id if sealing.signing_key else None,
        "encrypted_to": list(sealing.recipients.names) if sealing.recipients else [],
        "accounts": manifest.users.accounts if manifest.users is not None else None,
    }
    if json_log:
        emit_json("export.done", **summary)
        return
    accounts = summary["accounts"]
    if config.users_only:
        say(
            f"exported {plural(accounts or 0, 'account')} with their roles and grants"
            f" (no database) to {storage.describe()}"
        )
    else:
        say(
            f"exported {plural(tables_n, 'table')}, {plural(rows, 'row')} ({human_bytes(raw)} of "
            f"rows, {human_bytes(stored)} stored) to {storage.describe()} "
            f"[consistency: {manifest.snapshot.consistency}]"
        )
        if accounts is not None:
            say(f"  and {plural(accounts, 'account')} with their roles and grants (--users)")
    if config.no_data:
        say("  schema and objects only (--no-data): no rows")
    if config.filtered:
        say("  rows filtered by --where (recorded; osidump inspect shows it)")
    for db in manifest.databases:
        for left in db.left_out:
            say(f"  left out of {db.name}: {left}")
    if sealing.signing_key is not None:
        say(f"signed by {sealing.signing_key.key_id}")
    if sealing.recipients is not None:
        say(f"encrypted to {', '.join(sealing.recipients.names)}")
