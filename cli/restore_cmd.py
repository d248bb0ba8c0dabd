"""``osidump restore``, ``verify`` and ``inspect``."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import click
from osidump.engine.config import INSERT_MODES, ON_EXISTING, RestoreConfig, check_threads
from osidump.engine.errors import IntegrityError
from osidump.engine.replica import replica_setup_sql
from osidump.engine.restore.apply import Restore, RestoreProgress
from osidump.engine.restore.inspect import describe, load_data_statement
from osidump.engine.restore.plan import RestorePlan, plan_restore
from osidump.engine.restore.verify import verify_dump
from osidump.engine.seal.opening import open_dump
from osidump.engine.users import AccountsReport

from .errors import handle_errors
from .export_cmd import default_threads, plural, split_list
from .messages import emit_json, note, say
from .options import (
    ConnectionResolver,
    S3Settings,
    connection_options,
    s3_options,
    user_filter_options,
)
from .progress import ProgressLine, human_bytes, human_seconds
from .seal_options import ReadKeySettings, read_key_options, seal_lines


def _print_plan(plan: RestorePlan) -> None:
    for db in plan.databases:
        same = "" if db.source == db.target else f" (from {db.source})"
        say(f"database {db.target}{same}")
    for t in plan.tables:
        n = len(t.index_clauses)
        idx = f", then {n} index{'es' if n != 1 else ''}" if n else ""
        if plan.mode == "schema":
            say(f"  table {t.label}: definition only{idx}")
            continue
        if plan.mode == "data":
            idx = f", into the existing table (--insert-mode {t.insert_mode})"
        say(
            f"  table {t.label}: {t.entry.rows:,} rows in {len(t.entry.chunks)} chunk(s), "
            f"{human_bytes(t.entry.stored_bytes)}{idx}"
        )
    for o in plan.objects:
        say(f"  {o.kind} {o.target_db}.{o.name}")
    for a in plan.accounts:
        kind = "role" if a.is_role else "account"
        say(f"{kind} {a.label()}: {plural(len(a.grants), 'grant')}, if the target lacks it")
    for text in plan.notes:
        note(text, err=False)


def _print_accounts(report: AccountsReport) -> None:
    created, skipped = report.created, report.skipped
    say(
        f"accounts: {len(created)} created with {plural(report.grants, 'grant')},"
        f" {len(skipped)} skipped (already on the target, left as they were)"
    )
    for label in created:
        say(f"  created {label}")
    for label in skipped:
        say(f"  skipped {label}")


@click.command("restore")
@click.argument("source")
@click.option(
    "--database", "-d", "target_db", default=None, help="Restore under this database name."
)
@click.option("--tables", "-t", multiple=True, help="Only these tables (names or db.table globs).")
@click.option(
    "--threads",
    "-j",
    type=int,
    default=None,
    help="Parallel loaders (default: one per core, 2 to 16, as export).",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted restore of the same dump.")
@click.option(
    "--on-existing",
    type=click.Choice(ON_EXISTING),
    default="fail",
    show_default=True,
    help="Tables that already exist in the target: fail; drop (replace with the dump's "
    "definition); truncate (keep the target's definition, columns must match, and its own "
    "triggers). Either way the new rows load beside the old table and replace it in one "
    "RENAME at the end: the target is untouched if the restore fails, and needs room for "
    "those tables twice meanwhile.",
)
@click.option(
    "--defer-indexes/--no-defer-indexes",
    default=True,
    show_default=True,
    help="Build secondary indexes after loading the data.",
)
@click.option(
    "--strip-definers",
    is_flag=True,
    help="Drop DEFINER clauses of views, triggers, routines, events.",
)
@click.option(
    "--no-binlog",
    "no_binlog",
    is_flag=True,
    help="Do not write the restore to the binary log (not replicated; needs SUPER).",
)
@click.option("--no-triggers", is_flag=True, help="Do not create the dump's triggers.")
@click.option(
    "--no-routines", is_flag=True, help="Do not create the dump's procedures and functions."
)
@click.option("--no-events", is_flag=True, help="Do not create the dump's events.")
@click.option(
    "--schema-only",
    is_flag=True,
    help="Tables (empty), indexes, foreign keys, views, triggers, routines, events; no rows.",
)
@click.option(
    "--data-only",
    is_flag=True,
    help="Rows only, into the target's existing tables: their columns must be the dump's "
    "(names and types) and they may have no triggers (see --allow-triggers). Existing rows "
    "stay; one verified transaction per chunk; --resume continues after a stop.",
)
@click.option(
    "--insert-mode",
    type=click.Choice(INSERT_MODES),
    default="error",
    show_default=True,
    help="With --data-only, a dumped row whose key is already in the table: error (the chunk "
    "fails, nothing of it is kept), ignore (keep the existing row), replace (overwrite it). "
    "Rows inserted, replaced and skipped are reported per table.",
)
@click.option(
    "--allow-triggers",
    is_flag=True,
    help="With --data-only, load into tables that have triggers; they fire on every loaded "
    "row and may change it or write elsewhere.",
)
@click.option(
    "--users",
    is_flag=True,
    help="Also create the dump's accounts, roles and grants (export --users), after the "
    "tables and objects; an account the target already has is left exactly as it is. "
    "Needs CREATE USER and the privileges it grants. Without it they are not restored.",
)
@click.option(
    "--users-only",
    is_flag=True,
    help="Create only the dump's accounts, roles and grants (as --users), no database, "
    "table or object; grants on objects the target lacks fail.",
)
@user_filter_options()
@click.option(
    "--lock-wait-timeout",
    type=int,
    default=600,
    show_default=True,
    metavar="SECONDS",
    help="How long the final swap waits for the application's sessions that use the "
    "tables it replaces (an open transaction holds them) before stopping with their names; "
    "nothing is replaced then, and --resume finishes later.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; touch nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@read_key_options
@s3_options
@connection_options
@click.pass_context
@handle_errors
def restore_command(
    ctx: click.Context,
    source: str,
    target_db: str | None,
    tables: tuple[str, ...],
    threads: int | None,
    resume: bool,
    on_existing: str,
    defer_indexes: bool,
    strip_definers: bool,
    no_binlog: bool,
    no_triggers: bool,
    no_routines: bool,
    no_events: bool,
    schema_only: bool,
    data_only: bool,
    insert_mode: str,
    allow_triggers: bool,
    users: bool,
    users_only: bool,
    include_users: tuple[str, ...],
    exclude_users: tuple[str, ...],
    lock_wait_timeout: int,
    dry_run: bool,
    as_json: bool,
    keys: ReadKeySettings,
    s3: S3Settings,
    connection: ConnectionResolver,
) -> None:
    """Restore the dump at SOURCE (a directory or s3://bucket/prefix).

    Every chunk is verified as it loads and committed only if its checksums
    match; an interrupted restore continues with --resume.

    \b
    Examples:
      osidump restore /backups/shop-2026-11-28
      osidump restore /backups/shop-2026-11-28 --database shop_drill
      osidump restore ./emergency --tables orders --on-existing drop
      osidump restore ./recent --data-only --insert-mode replace
      osidump restore /backups/instance-2026-11-28 --users --exclude-users 'test*'
      osidump restore /backups/instance-2026-11-28 --users-only --include-users 'app*'
    """
    config = RestoreConfig(
        tables=split_list(tables),
        database=target_db,
        threads=default_threads() if threads is None else threads,
        resume=resume,
        on_existing=on_existing,
        defer_indexes=defer_indexes,
        dry_run=dry_run,
        strip_definers=strip_definers,
        binlog=not no_binlog,
        triggers=not no_triggers,
        routines=not no_routines,
        events=not no_events,
        schema_only=schema_only,
        data_only=data_only,
        insert_mode=insert_mode,
        allow_triggers=allow_triggers,
        users=users,
        users_only=users_only,
        include_users=split_list(include_users),
        exclude_users=split_list(exclude_users),
        lock_wait_timeout=lock_wait_timeout,
    )
    read_keys = keys.load()
    # The signature is checked, and an encrypted dump's identity, before any
    # schema file or chunk is read.
    opened = open_dump(s3.open(source), read_keys, decrypt=True)
    storage = opened.storage
    json_log = as_json or (ctx.obj or {}).get("log_format") == "json"
    if not json_log:
        keys.note()
    plan = plan_restore(storage, opened.manifest, config)
    if dry_run:
        if as_json:
            click.echo(json.dumps({**plan.summary(), "seal": opened.seal_summary()}, indent=2))
        else:
            _print_plan(plan)
            say("dry run: nothing was changed")
        return
    # Connect without a default database: DB_DATABASE from a .env names the
    # app's database, which a restore onto a fresh server has yet to create.
    conn_config = replace(connection.config(), database=None)
    progress = RestoreProgress()

    def render(elapsed: float) -> str:
        p = progress
        rate = p.stored_bytes / elapsed if elapsed > 0 else 0.0
        remaining = p.total_bytes - p.stored_bytes
        eta = remaining / rate if rate > 0 else 0.0
        return (
            f"restore [{p.phase}]: {p.chunks_done + p.chunks_skipped}/{p.total_chunks} chunks, "
            f"{p.rows:,}/{p.total_rows:,} rows, {human_bytes(rate)}/s stored, "
            f"ETA {human_seconds(eta)}"
        )

    job = Restore(conn_config, config, storage, plan, progress=progress)
    with ProgressLine(render, enabled=False if json_log else None):
        result = job.run()
    summary: dict[str, Any] = {
        "source": storage.describe(),
        "databases": [d.target for d in plan.databases],
        "tables": result.tables,
        "rows": result.rows,
        "chunks_loaded": result.chunks_loaded,
        "chunks_skipped": result.chunks_skipped,
        "objects": result.objects,
        "notes": list(result.notes),
        "seal": opened.seal_summary(),
    }
    if result.accounts is not None:
        summary["accounts"] = {
            "created": result.accounts.created,
            "skipped": result.accounts.skipped,
            "grants": result.accounts.grants,
        }
    if result.table_rows:
        summary["table_rows"] = [
            {"table": r.table, "inserted": r.inserted, "replaced": r.replaced, "skipped": r.skipped}
            for r in result.table_rows
        ]
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    elif json_log:
        emit_json("restore.done", **summary)
    else:
        resumed = (
            f" ({plural(result.chunks_skipped, 'chunk')} already loaded)"
            if result.chunks_skipped
            else ""
        )
        if plan.mode == "data":
            say(
                f"loaded {plural(result.rows, 'row')} into"
                f" {plural(result.tables, 'existing table')} of"
                f" {', '.join(summary['databases'])}{resumed}; every chunk verified"
            )
            for r in result.table_rows:
                say(
                    f"  {r.table}: {r.inserted:,} inserted, {r.replaced:,} replaced,"
                    f" {r.skipped:,} skipped"
                )
        elif plan.databases or result.accounts is None:
            say(
                f"restored {plural(result.tables, 'table')}, {plural(result.rows, 'row')},"
                f" {plural(result.objects, 'object')} into {', '.join(summary['databases'])}"
                f"{resumed}; every chunk verified"
            )
        if result.accounts is not None:
            _print_accounts(result.accounts)
        for text in result.notes:
            note(text, err=False)


@click.command("verify")
@click.argument("source")
@click.option(
    "--threads", "-j", type=int, default=2, show_default=True, help="Chunks read in parallel."
)
@click.option(
    "--deep",
    is_flag=True,
    help="Also decrypt an encrypted dump and check its content (needs --identity); "
    "without it and without an identity, only the stored bytes are checked.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@read_key_options
@s3_options
@handle_errors
def verify_command(
    source: str, threads: int, deep: bool, as_json: bool, keys: ReadKeySettings, s3: S3Settings
) -> None:
    """Check every file of the dump at SOURCE against its manifest (no server needed).

    Every chunk is decompressed and checked; in an encrypted dump without
    --identity, every stored object's size and sha256 instead."""
    check_threads(threads)
    storage = s3.open(source)
    report = verify_dump(storage, threads=threads, keys=keys.load(), deep=deep)
    if not as_json:
        keys.note()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "depth": report.depth,
                    "accounts": report.accounts,
                    "seal": report.seal,
                    "problems": report.problems,
                    "tables": [
                        {
                            "database": t.database,
                            "table": t.table,
                            "chunks": t.chunks,
                            "rows": t.rows,
                            "ok": t.ok,
                            "problems": t.problems,
                        }
                        for t in report.tables
                    ],
                },
                indent=2,
            )
        )
    else:
        for problem in report.problems:
            say(f"FAIL  {problem}")
        for t in report.tables:
            status = "ok  " if t.ok else "FAIL"
            say(
                f"{status}  {t.database}.{t.table}: {plural(t.rows, 'row')},"
                f" {plural(t.chunks, 'chunk')}"
            )
            for problem in t.problems:
                say(f"      {problem}")
        if report.accounts is not None and report.users_ok:
            say(f"ok    users: {plural(report.accounts, 'account')}")
    if not report.ok:
        problems = report.all_problems()
        raise IntegrityError(
            f"{plural(len(problems), 'problem')} in {storage.describe()}; first: {problems[0]}",
        )
    if not as_json:
        total = sum(t.rows for t in report.tables)
        tables_n = plural(len(report.tables), "table")
        if report.accounts is not None:
            tables_n += f", {plural(report.accounts, 'account')}"
        if report.depth == "stored":
            say(
                f"dump verified: {tables_n}, every stored object's "
                "size and sha256 match the manifest (encrypted: pass --identity to check the "
                "content too)"
            )
        else:
            say(
                f"dump verified: {tables_n}, {plural(total, 'row')},"
                " every checksum and statement checked"
            )


@click.command("inspect")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--load-data",
    "load_table",
    default=None,
    metavar="DB.TABLE",
    help="Print the LOAD DATA statement that loads one of this table's chunks with the stock "
    "client (zstd -dc CHUNK | mariadb --local-infile=1 DB -e \"...\").",
)
@click.option(
    "--replica-setup",
    is_flag=True,
    help="Print the CHANGE MASTER TO / CHANGE REPLICATION SOURCE TO statements that start "
    "a replica (restored from this dump) at the dump's snapshot; fill in the placeholders.",
)
@read_key_options
@s3_options
@handle_errors
def inspect_command(
    source: str,
    as_json: bool,
    load_table: str | None,
    replica_setup: bool,
    keys: ReadKeySettings,
    s3: S3Settings,
) -> None:
    """Summarise the dump at SOURCE: when, from where, how consistent, what it holds.

    Needs no key (an encrypted dump's manifest is plaintext); only the Laravel
    migrations peek of an encrypted dump needs --identity."""
    storage = s3.open(source)
    read_keys = keys.load()
    if load_table is not None:
        opened = open_dump(storage, read_keys)  # the signature, with --verify-key
        click.echo(load_data_statement(storage, load_table, opened.manifest))
        if opened.encrypted:
            note("the chunks are age-encrypted: age -d -i IDENTITY CHUNK | zstd -dc | ...")
        return
    if replica_setup:  # issue 13 item 4
        click.echo(replica_setup_sql(open_dump(storage, read_keys).manifest), nl=False)
        return
    info = describe(storage, keys=read_keys)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    keys.note()
    c, pos = info["consistency"], info["snapshot_position"]
    say(f"dump:        {info['location']}")
    say(
        f"taken:       {info['started_at']} .. {info['finished_at']}"
        f" (osidump {info['tool_version']})"
    )
    say(f"server:      {info['server']['flavor']} {info['server']['version']}")
    if stored := info["options"].get("storage"):
        say("storage:     " + ", ".join(f"{k} {v}" for k, v in sorted(stored.items())))
    held = f", lock held {c['lock_held_ms']:.1f} ms" if c["lock_held_ms"] is not None else ""
    workers = plural(c["workers"], "worker")
    say(f"consistency: {c['mode']} with {workers}{held} ({c['reason']})")
    if pos["binlog_file"] or pos["gtid"]:
        where = f"{pos['binlog_file'] or '-'}:{pos['binlog_position'] or '-'}"
        say(f"position:    {where} gtid {pos['gtid'] or '-'}")
    else:
        say("position:    none (binary log off on the source)")
    for line in seal_lines(info["seal"]):
        say(f"seal:        {line}")
    for f in info["row_filters"]:
        which = "every table" if f["tables"] == "*" else f["tables"]
        say(f"rows:        only where {f['where']} ({which}; export --where)")
    if info["no_data"]:
        say("rows:        none: schema and objects only (export --no-data)")
    if (users := info["users"]) is not None:
        only = f"; only {', '.join(users['include'])}" if users["include"] else ""
        without = f"; without {', '.join(users['exclude'])}" if users["exclude"] else ""
        say(
            f"users:       {plural(users['accounts'], 'account')} with their roles and grants"
            f" (export --users{only}{without}; restore --users applies them)"
        )
    for db in info["databases"]:
        say(
            f"database {db['name']}: {plural(len(db['tables']), 'table')},"
            f" {plural(db['rows'], 'row')}, {human_bytes(db['stored_bytes'])} stored"
        )
        for t in db["tables"]:
            say(
                f"  {t['name']:<40} {t['rows']:>14,} rows  {human_bytes(t['stored_bytes']):>10}  "
                f"{plural(t['chunks'], 'chunk')}"
            )
        for kind in ("views", "triggers", "routines", "events"):
            if db[kind]:
                say(f"  {kind}: {', '.join(db[kind])}")
        if db["triggers"] or db["routines"] or db["events"]:
            say(
                "  triggers, routines and events are code that runs on the target: restore"
                " --no-triggers/--no-routines/--no-events leaves them out"
            )
        for left in db.get("left_out", []):
            say(f"  left out at export: {left}")
        if "laravel" in db:
            lv = db["laravel"]
            say(
                f"  laravel migrations: {lv['migrations']} applied, last batch "
                f"{lv['last_batch']}: {lv['last_migration']}"
            )
            say("  compare with `php artisan migrate:status` before restoring")
    for text in info["notes"]:
        note(text, err=False)
