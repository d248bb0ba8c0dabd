"""Frozen, validated settings for every engine entry point.

The CLI builds these from flags, environment and option files; the engine
never looks anywhere else. Constructors reject bad values with ConfigError so
that nothing starts with settings that cannot work.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from .errors import ConfigError

SSL_MODES = ("DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY")
CONSISTENCY_MODES = ("auto", "lock", "snapshot-check", "single")
ON_EXISTING = ("fail", "drop", "truncate")
INSERT_MODES = ("error", "ignore", "replace")
MIN_RATE = 64 * 1024  # --max-rate below this would starve a worker's first batch

# ``--where 'db.table:condition'``: the table part is a dotted name (globs
# allowed) without spaces, quotes, parentheses or operators, so a condition
# whose text holds a colon (``t > '10:00'``) is never mistaken for one.
_TABLE_WHERE = re.compile(r"^([^\s:'\"`()=<>!]+\.[^\s:'\"`()=<>!]+):(.*)$", re.S)


def parse_where(text: str) -> tuple[str | None, str]:
    """``--where`` text -> (table pattern or None for every table, condition)."""
    match = _TABLE_WHERE.match(text)
    if match:
        return match.group(1), match.group(2)
    return None, text


MAX_THREADS = 256


def check_threads(threads: int) -> None:
    """``--threads``/``-j`` of every command: 0 is an error like any other
    value out of range (it is not "the default": leaving the flag out is)."""
    if not 1 <= threads <= MAX_THREADS:
        raise ConfigError(f"--threads {threads} is out of range", hint=f"use 1-{MAX_THREADS}")


def _check_user_patterns(users: bool, include: tuple[str, ...], exclude: tuple[str, ...]) -> None:
    """``--include-users``/``--exclude-users``: ``user[@host]`` globs, only with ``--users``."""
    if (include or exclude) and not users:
        raise ConfigError(
            "--include-users and --exclude-users apply only with --users",
            hint="add --users to take accounts, roles and grants",
        )
    for pattern in (*include, *exclude):
        if not pattern.strip() or "\x00" in pattern or len(pattern) > 400:
            raise ConfigError(
                f"user pattern {pattern[:40]!r} is empty, too long or holds a NUL byte",
                hint="give user or user@host, with * and ? as wildcards (e.g. 'app*@%')",
            )


def _check_condition(condition: str, what: str) -> None:
    if not condition.strip() or "\x00" in condition:
        raise ConfigError(
            f"{what} is empty or holds a NUL byte",
            hint="give a SQL condition, e.g. --where \"created_at >= '2026-01-01'\"",
        )


@dataclass(frozen=True, kw_only=True)
class ConnectionConfig:
    """Where and as whom to connect. ``password`` is never logged or recorded:
    ``repr`` hides it."""

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = field(default="", repr=False)
    socket: str | None = None
    database: str | None = None
    ssl_mode: str = "PREFERRED"
    ssl_ca: str | None = None
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is out of range", hint="use a port 1-65535")
        if self.ssl_mode not in SSL_MODES:
            raise ConfigError(
                f"unknown --ssl-mode {self.ssl_mode!r}", hint=f"use one of {', '.join(SSL_MODES)}"
            )
        if self.ssl_ca is not None and not os.path.isfile(self.ssl_ca):
            raise ConfigError(
                f"--ssl-ca file {self.ssl_ca!r} does not exist", hint="give the CA bundle's path"
            )

    def describe(self) -> str:
        """Where this connects, for messages; never includes the password."""
        where = self.socket if self.socket else f"{self.host}:{self.port}"
        return f"{self.user}@{where}"


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """What to export and how.

    Memory bound (per process), whatever the table or row size::

        threads * (batch_bytes + largest row              # rows being batched
                   + 256 KiB                               # socket read block
                   + zstd context)                         # ~1 MiB at level 1, ~9 MiB at 19
      + threads * part_size                                # S3 only: one part per writer

    There are no queues between stages: each worker reads, compresses and
    writes in turn, so nothing accumulates when storage is slower than the
    server. A single row is at most the server's max_allowed_packet.
    """

    databases: tuple[str, ...] = ()
    all_databases: bool = False
    tables: tuple[str, ...] = ()
    exclude_tables: tuple[str, ...] = ()
    threads: int = 2
    consistency: str = "auto"
    chunk_bytes: int = 64 * 1024 * 1024
    batch_bytes: int = 256 * 1024  # rows handed to the compressor at a time
    # None: take routines/events with whole databases, leave them out of a
    # --tables/--exclude-tables export (mysqldump's --routines/--events).
    routines: bool | None = None
    events: bool | None = None
    compress_level: int = 3
    strip_definers: bool = False
    snapshot_retries: int = 20
    # Seconds the backup lock statement may wait (it stalls writers meanwhile);
    # the server's default lock_wait_timeout is a year.
    lock_wait_timeout: int = 5
    # Clear an unfinished export of the same selection at the destination first.
    replace_incomplete: bool = False
    # Row filters: the operator's own SQL, ANDed into every row query of every
    # table (``where``) or of the tables a pattern matches (``table_where``).
    # Recorded in the manifest; never read back by restore.
    where: str | None = None
    table_where: tuple[tuple[str, str], ...] = ()
    # Schema and objects only: every table gets zero chunks.
    no_data: bool = False
    # Row bytes read from the server per second, across all workers (None: no cap).
    max_rate: int | None = None
    # Accounts, roles and grants (``users.py``), filtered by user@host globs;
    # with no database named, a dump of the accounts alone.
    users: bool = False
    include_users: tuple[str, ...] = ()
    exclude_users: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.databases and not self.all_databases and not self.users:
            raise ConfigError(
                "no database to export",
                hint="name one or more databases, or --all-databases (or --users for accounts)",
            )
        _check_user_patterns(self.users, self.include_users, self.exclude_users)
        if self.databases and self.all_databases:
            raise ConfigError(
                "both database names and --all-databases given", hint="use one or the other"
            )
        check_threads(self.threads)
        if self.consistency not in CONSISTENCY_MODES:
            raise ConfigError(
                f"unknown --consistency {self.consistency!r}",
                hint=f"use one of {', '.join(CONSISTENCY_MODES)}",
            )
        if self.chunk_bytes < 4096:
            raise ConfigError("--chunk-size must be at least 4KiB", hint="e.g. --chunk-size 64M")
        if not 1024 <= self.batch_bytes <= 64 * 1024 * 1024:
            raise ConfigError("batch size must be 1KiB..64MiB")
        if not 1 <= self.compress_level <= 19:
            raise ConfigError(
                f"--compress-level {self.compress_level} is out of range", hint="use 1-19"
            )
        if self.snapshot_retries < 1:
            raise ConfigError("snapshot retries must be positive")
        if not 1 <= self.lock_wait_timeout <= 31536000:
            raise ConfigError(
                f"--lock-wait-timeout {self.lock_wait_timeout} is out of range",
                hint="use 1-31536000 seconds (a few seconds: writers wait while it does)",
            )
        if self.where is not None:
            _check_condition(self.where, "--where")
        for pattern, condition in self.table_where:
            if "." not in pattern:
                raise ConfigError(
                    f"--where for {pattern!r} needs db.table",
                    hint="e.g. --where 'shop.orders:id>5'",
                )
            _check_condition(condition, f"--where for {pattern}")
        if self.no_data and (self.where is not None or self.table_where):
            raise ConfigError(
                "--where filters rows, and --no-data exports none", hint="use one or the other"
            )
        if self.max_rate is not None and self.max_rate < MIN_RATE:
            raise ConfigError(
                f"--max-rate {self.max_rate} bytes/s is too low", hint="use at least 64K, e.g. 50M"
            )

    @property
    def users_only(self) -> bool:
        """Accounts alone: no database named, none taken."""
        return self.users and not self.databases and not self.all_databases

    @property
    def filtered(self) -> bool:
        """Rows were filtered with --where."""
        return self.where is not None or bool(self.table_where)

    @property
    def partial(self) -> bool:
        """A selection of tables rather than whole databases."""
        return bool(self.tables or self.exclude_tables)

    # Routines and events belong to a database, not to its tables: a backup of
    # whole databases minus a few tables (--exclude-tables, e.g. a log table)
    # keeps them; a backup of named tables (--tables) takes them when asked.
    @property
    def with_routines(self) -> bool:
        return not self.tables if self.routines is None else self.routines

    @property
    def with_events(self) -> bool:
        return not self.tables if self.events is None else self.events


@dataclass(frozen=True, kw_only=True)
class RestoreConfig:
    """What to restore and how.

    Memory bound: ``threads`` chunk readers, each holding one compressed read
    (128 KiB), one decompressed block (1 MiB) and zstd's window (8 MiB at
    most); a version-1 chunk's line (at most 32 MiB) or, without LOCAL INFILE,
    one row turned into an INSERT (at most 64 MiB), is held whole. Nothing
    grows with the chunk or table size.

    Disk: tables that already exist in the target (``on_existing`` drop or
    truncate) are loaded beside the old ones and swapped in at the end, so
    while the restore runs they take their size twice."""

    tables: tuple[str, ...] = ()
    database: str | None = None
    source_databases: tuple[str, ...] = ()  # restore only these (whole) databases
    threads: int = 2
    resume: bool = False
    on_existing: str = "fail"
    defer_indexes: bool = True
    dry_run: bool = False
    strip_definers: bool = False
    # False: SET sql_log_bin = 0, so the restore is not replicated (a drill or
    # scratch copy on a primary). Needs SUPER / BINLOG ADMIN.
    binlog: bool = True
    triggers: bool = True
    routines: bool = True
    events: bool = True
    views: bool = True
    # False (drills): events are created DISABLED, so a scratch copy never
    # runs the application's scheduled jobs.
    events_enabled: bool = True
    # Tables, indexes, foreign keys and objects; no rows.
    schema_only: bool = False
    # Rows only, straight into the target's existing tables (columns must
    # match), one transaction per chunk; no shadow, no swap, no DDL.
    data_only: bool = False
    # data_only: a row whose key exists fails its chunk (error), keeps the
    # existing row (ignore) or replaces it (replace).
    insert_mode: str = "error"
    # data_only: load into tables that have triggers (they fire on every row).
    allow_triggers: bool = False
    # Apply the dump's accounts, roles and grants (after the tables and
    # objects), filtered by user@host globs; without it they are ignored.
    users: bool = False
    include_users: tuple[str, ...] = ()
    exclude_users: tuple[str, ...] = ()
    # Only the accounts (implies users): no database, table or object.
    users_only: bool = False
    # How long the swap (and other DDL on existing tables) waits for a
    # metadata lock held by the application's sessions before giving up.
    lock_wait_timeout: int = 600

    def __post_init__(self) -> None:
        if self.users_only:
            others = [
                flag
                for flag, given in (
                    ("--tables", bool(self.tables)),
                    ("--database", self.database is not None),
                    ("--schema-only", self.schema_only),
                    ("--data-only", self.data_only),
                    ("--resume", self.resume),
                    ("a database selection", bool(self.source_databases)),
                    ("--on-existing", self.on_existing != "fail"),
                )
                if given
            ]
            if others:
                raise ConfigError(
                    f"--users-only restores accounts alone; {others[0]} does not apply",
                    hint=f"leave out {others[0]}, or use --users to restore data and accounts",
                )
            object.__setattr__(self, "users", True)
        check_threads(self.threads)
        if not 1 <= self.lock_wait_timeout <= 31536000:
            raise ConfigError(
                f"--lock-wait-timeout {self.lock_wait_timeout} is out of range",
                hint="give seconds, 1 or more",
            )
        if self.on_existing not in ON_EXISTING:
            raise ConfigError(
                f"unknown --on-existing {self.on_existing!r}",
                hint=f"use one of {', '.join(ON_EXISTING)}",
            )
        if self.insert_mode not in INSERT_MODES:
            raise ConfigError(
                f"unknown --insert-mode {self.insert_mode!r}",
                hint=f"use one of {', '.join(INSERT_MODES)}",
            )
        if self.schema_only and self.data_only:
            raise ConfigError(
                "--schema-only and --data-only exclude each other",
                hint="a plain restore does both",
            )
        if self.data_only and self.on_existing != "fail":
            raise ConfigError(
                "--data-only loads into the existing tables; --on-existing does not apply",
                hint="leave out --on-existing (to replace tables, restore without --data-only)",
            )
        _check_user_patterns(self.users, self.include_users, self.exclude_users)
        if not self.data_only and (self.insert_mode != "error" or self.allow_triggers):
            raise ConfigError(
                "--insert-mode and --allow-triggers apply only with --data-only",
                hint="add --data-only to load rows into existing tables",
            )
