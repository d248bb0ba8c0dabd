"""Seeding a replica from a dump: the statements that start replication at
the dump's snapshot, as ``mysqldump --master-data``/``--source-data`` writes
them into its output. Restore the dump into the new replica, then run these
on it; it replicates every transaction committed after the snapshot, once.

Which position is exact for the snapshot (``manifest.snapshot``):

- MariaDB: ``binlog_file``/``binlog_position`` always are: each worker's
  transaction reports its own (``binlog_snapshot_file``/``_position``).
  ``gtid_executed`` holds ``@@gtid_binlog_pos``, read while the commit lock
  was held with ``--consistency lock`` (exact then), but a moment after the
  snapshot with ``single`` and ``snapshot-check`` (later commits may be in it).
  So GTID (``SET GLOBAL gtid_slave_pos``, ``MASTER_USE_GTID=slave_pos``) is
  used for a ``lock`` dump, file/position otherwise.
- MySQL: the position and ``gtid_executed`` are read under FTWRL (``lock``)
  or proven unchanged around the snapshots (``snapshot-check``); with
  ``single`` they are read after the transaction began, so nothing exact is
  known and no statement is printed. With GTIDs (gtid_executed recorded),
  auto-positioning: the replica's own GTIDs from the restore are reset and
  ``gtid_purged`` set to the snapshot's, as ``--set-gtid-purged`` does.
  ``CHANGE REPLICATION SOURCE TO``/``START REPLICA`` from 8.0.23, else
  ``CHANGE MASTER TO``/``START SLAVE``; ``RESET BINARY LOGS AND GTIDS`` from
  8.2 (``RESET MASTER`` before). Unit-tested only (no MySQL server here).

The source's host, port and user are filled in when given, else left as
placeholders that do not run until edited; the password is always a
placeholder (it never appears in osidump's output).
"""

from __future__ import annotations

from .errors import ConfigError, ConsistencyError
from .format.manifest import Manifest
from .format.sqltokens import comment_line

PASSWORD_PLACEHOLDER = "<replication password>"


def _version(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split("-", 1)[0].split(".")[:3]:
        digits = "".join(c for c in part if c.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def _comment(text: str) -> str:
    return comment_line(text).rstrip("\n")


def _string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def replica_setup_sql(
    manifest: Manifest,
    *,
    source_host: str | None = None,
    source_port: int | None = None,
    source_user: str | None = None,
) -> str:
    """SQL to run on a replica holding this dump's restore, ending with the
    statement that starts replication."""
    snap = manifest.snapshot
    if not snap.binlog_file and not snap.gtid_executed:
        raise ConfigError(
            "this dump records no binary log position (the binary log was off on the source)",
            hint="turn on log_bin on the source and take a new export to seed a replica",
        )
    host = _string(source_host) if source_host else "'<source host>'"
    port = str(source_port) if source_port else "<source port>"
    user = _string(source_user) if source_user else "'<replication user>'"
    password = _string(PASSWORD_PLACEHOLDER)
    header = [
        _comment(
            f"Replica setup for the dump taken {manifest.started_at} .. {manifest.finished_at}"
        ),
        _comment(
            f"from {manifest.server_flavor} {manifest.server_version}, consistency"
            f" {snap.consistency}; run on the replica after the restore."
        ),
    ]
    if manifest.server_flavor == "mariadb":
        return "\n".join(header + _mariadb(manifest, host, port, user, password)) + "\n"
    return "\n".join(header + _mysql(manifest, host, port, user, password)) + "\n"


def _mariadb(manifest: Manifest, host: str, port: str, user: str, password: str) -> list[str]:
    snap = manifest.snapshot
    source = (
        f"MASTER_HOST={host}, MASTER_PORT={port}, MASTER_USER={user}, MASTER_PASSWORD={password}"
    )
    if snap.gtid_executed and (snap.consistency == "lock" or not snap.binlog_file):
        exactness = "" if snap.consistency == "lock" else " (read after the snapshot: check it)"
        return [
            f"-- GTID position of the snapshot{exactness}.",
            f"SET GLOBAL gtid_slave_pos = {_string(snap.gtid_executed)};",
            f"CHANGE MASTER TO {source}, MASTER_USE_GTID=slave_pos;",
            "START SLAVE;",
        ]
    return [
        _comment(
            f"Binary log position of the snapshot (GTID {snap.gtid_executed or 'not recorded'}"
            " was read after it, so the file and position are used)."
        ),
        f"CHANGE MASTER TO {source}, MASTER_LOG_FILE={_string(snap.binlog_file or '')}, "
        f"MASTER_LOG_POS={snap.binlog_position}, MASTER_USE_GTID=no;",
        "START SLAVE;",
    ]


def _mysql(manifest: Manifest, host: str, port: str, user: str, password: str) -> list[str]:
    snap = manifest.snapshot
    if snap.consistency not in ("lock", "snapshot-check"):
        raise ConsistencyError(
            f"this MySQL dump ({snap.consistency} consistency) read its binary log position "
            "after the snapshot began, so no exact replication start is known",
            hint="take the export with --consistency lock or snapshot-check to seed a replica",
        )
    version = _version(manifest.server_version)
    new_syntax = version >= (8, 0, 23)
    prefix = "SOURCE" if new_syntax else "MASTER"
    change = "CHANGE REPLICATION SOURCE TO" if new_syntax else "CHANGE MASTER TO"
    start = "START REPLICA;" if version >= (8, 0, 22) else "START SLAVE;"
    source = (
        f"{prefix}_HOST={host}, {prefix}_PORT={port}, {prefix}_USER={user}, "
        f"{prefix}_PASSWORD={password}"
    )
    if snap.gtid_executed:
        reset = "RESET BINARY LOGS AND GTIDS;" if version >= (8, 2) else "RESET MASTER;"
        return [
            "-- GTID auto-positioning: forget the replica's own GTIDs (from the restore) and",
            "-- mark the snapshot's as applied, as mysqldump --set-gtid-purged does.",
            reset,
            f"SET GLOBAL gtid_purged = {_string(snap.gtid_executed)};",
            f"{change} {source}, {prefix}_AUTO_POSITION=1;",
            start,
        ]
    return [
        "-- Binary log position of the snapshot.",
        f"{change} {source}, {prefix}_LOG_FILE={_string(snap.binlog_file or '')}, "
        f"{prefix}_LOG_POS={snap.binlog_position};",
        start,
    ]
