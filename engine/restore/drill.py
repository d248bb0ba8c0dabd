"""A restore drill: prove a dump restores, then clean up.

Each database of the dump is restored under a scratch name
(``<db>_drill_<UTC timestamp>``) with the usual per-chunk verification, then
checked on the server: every table holds the manifest's row count and every
view can be opened. The scratch databases are dropped afterwards unless
``keep`` is set, and also when the drill fails, so a failed drill leaves
nothing behind.

An encrypted dump needs its identity (``keys``), refused before any database
is created; with verify keys the signature is checked first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..config import ConnectionConfig, RestoreConfig
from ..connection import connect, execute, query_all, quote_ident
from ..errors import ConfigError, IntegrityError, ManifestError, OsidumpError
from ..seal import NO_KEYS, ReadKeys
from ..seal.opening import open_dump
from ..storage.base import Storage
from .apply import run_restore
from .plan import plan_restore


@dataclass
class DrillReport:
    databases: dict[str, str] = field(default_factory=dict)  # source -> scratch name
    tables: int = 0
    rows: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    kept: bool = False
    # The first restore that failed for a reason other than the dump (the
    # target server, privileges, the connection): it says what to fix there.
    target_error: OsidumpError | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def run_drill(
    connection: ConnectionConfig,
    storage: Storage,
    *,
    threads: int = 2,
    keep: bool = False,
    binlog: bool = True,
    keys: ReadKeys = NO_KEYS,
) -> DrillReport:
    opened = open_dump(storage, keys, decrypt=True)
    manifest, storage = opened.manifest, opened.storage
    if not manifest.databases:
        raise ConfigError(
            "this dump holds no database to drill (an export of accounts alone)",
            hint="osidump verify checks it; restore --users --dry-run lists its accounts",
        )
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    report = DrillReport(kept=keep)
    started = time.monotonic()
    conn = connect(connection)
    if not binlog:  # the scratch databases' DROP must not replicate either
        execute(conn, "SET SESSION sql_log_bin = 0", context="turning off the binary log")
    try:
        for db in manifest.databases:
            scratch = f"{db.name[:40]}_drill_{stamp}"
            report.databases[db.name] = scratch
            # Events stay disabled: a scratch copy must not run the app's jobs.
            config = RestoreConfig(
                source_databases=(db.name,),
                database=scratch,
                threads=threads,
                binlog=binlog,
                events_enabled=False,
            )
            plan = plan_restore(storage, manifest, config)
            try:
                run_restore(connection, config, storage, plan)
            except OsidumpError as exc:
                report.problems.append(f"{db.name}: restore failed: {exc.message}")
                if not isinstance(exc, (IntegrityError, ManifestError)):
                    report.target_error = report.target_error or exc
                continue
            for table in db.tables:
                qt = f"{quote_ident(scratch)}.{quote_ident(table.name)}"
                rows = query_all(conn, f"SELECT COUNT(*) FROM {qt}", context=f"checking {qt}")
                count = int(rows[0][0])
                report.tables += 1
                report.rows += count
                if count != table.rows:
                    report.problems.append(
                        f"{db.name}.{table.name}: {count} rows restored, "
                        f"the dump holds {table.rows}"
                    )
            for view in db.views:
                qv = f"{quote_ident(scratch)}.{quote_ident(view)}"
                try:
                    execute(conn, f"SELECT 1 FROM {qv} LIMIT 0", context=f"opening view {qv}")
                except OsidumpError as exc:
                    report.problems.append(f"{db.name}.{view}: view does not work: {exc.message}")
        report.seconds = time.monotonic() - started
        return report
    finally:
        if not keep or report.problems:
            for scratch in report.databases.values():
                try:
                    if not query_all(
                        conn,
                        "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                        (scratch,),
                        context=f"looking for drill database {scratch}",
                    ):
                        continue  # never made (the restore failed first): nothing to drop
                    execute(
                        conn,
                        f"DROP DATABASE IF EXISTS {quote_ident(scratch)}",
                        context=f"dropping drill database {scratch}",
                    )
                except OsidumpError:
                    report.problems.append(f"could not drop drill database {scratch}")
            report.kept = False
        conn.close()


def require_ok(report: DrillReport) -> None:
    if not report.ok and report.target_error is not None and len(report.problems) == 1:
        # Not the dump's fault: the same error (and exit code) a restore gives.
        exc = report.target_error
        exc.message = f"restore drill failed: {report.problems[0]}"
        raise exc
    if not report.ok:
        raise IntegrityError(
            f"restore drill failed: {report.problems[0]}"
            + (f" (+{len(report.problems) - 1} more)" if len(report.problems) > 1 else ""),
            hint="the dump cannot be trusted; keep older backups and investigate",
        )
