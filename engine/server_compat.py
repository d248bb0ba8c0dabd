"""What differs between server flavours and versions, as pure functions.

Restore and export ask here instead of testing versions inline: which
privilege a session setting needs, which ``sql_mode`` flags a target knows,
how InnoDB wants FULLTEXT indexes added. Nothing here talks to a server, so
every rule is unit-tested for servers that cannot run on this machine.
"""

from __future__ import annotations

from collections.abc import Sequence

# Schemas every server has and no dump restores into.
SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})


def version_tuple(version: str) -> tuple[int, ...]:
    """``"10.11.6-MariaDB-log"`` -> (10, 11, 6); ``"8.0.36-0ubuntu0"`` -> (8, 0, 36)."""
    numbers = []
    for part in version.split("-", 1)[0].split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        numbers.append(int(digits) if digits else 0)
    return tuple(numbers)


def binlog_off_privilege(flavor: str, version: str) -> str:
    """The privilege a session needs for ``SET SESSION sql_log_bin = 0``.

    MySQL 8.0.14+: SYSTEM_VARIABLES_ADMIN or SESSION_VARIABLES_ADMIN (sql_log_bin
    is a restricted session variable); MySQL 8.0.0-8.0.13: SYSTEM_VARIABLES_ADMIN;
    older MySQL: SUPER. MariaDB 10.5.2+ (MDEV-21957): BINLOG ADMIN; older: SUPER.
    """
    v = version_tuple(version)
    if flavor == "mariadb":
        return "BINLOG ADMIN" if v >= (10, 5, 2) else "SUPER"
    if v >= (8, 0, 14):
        return "SYSTEM_VARIABLES_ADMIN or SESSION_VARIABLES_ADMIN"
    if v >= (8, 0, 0):
        return "SYSTEM_VARIABLES_ADMIN"
    return "SUPER"


def no_binlog_hint(flavor: str, version: str) -> str:
    """The hint for a refused ``--no-binlog`` on this server."""
    return (
        f"--no-binlog needs {binlog_off_privilege(flavor, version)}: grant it to the "
        "restoring user, or drop --no-binlog"
    )


# --- FULLTEXT indexes ------------------------------------------------------------


def _is_fulltext(clause: str) -> bool:
    words = clause.split()
    if words and words[0].upper() == "ADD":
        words = words[1:]
    return bool(words) and words[0].upper() == "FULLTEXT"


def fulltext_separately(clauses: Sequence[str]) -> list[list[str]]:
    """Group deferred index clauses (``KEY `a` (`a`)``, ``FULLTEXT KEY ...``)
    into ALTER TABLE statements that InnoDB accepts on every server.

    InnoDB on MySQL refuses to add two FULLTEXT indexes in one ALTER TABLE
    (error 1795, "InnoDB presently supports one FULLTEXT index creation at a
    time"; MariaDB 10.11 accepts it). So each FULLTEXT index gets a statement
    of its own, and they come first: the first FULLTEXT index on a table
    without FTS_DOC_ID rebuilds the table, which would rebuild every secondary
    index already added. The other clauses share one last statement, as
    before. Order within each kind is kept; empty groups are left out.
    """
    fulltext = [[clause] for clause in clauses if _is_fulltext(clause)]
    others = [clause for clause in clauses if not _is_fulltext(clause)]
    return fulltext + ([others] if others else [])


# --- sql_mode across versions and flavours ------------------------------------------

_ALWAYS = (10, 0, 0)  # every MariaDB osidump meets
_NEVER = (10**6,)

# Flags whose presence differs between the servers osidump restores to:
# flag -> (first MySQL version with it, first MySQL version without it,
#          first MariaDB version with it). Flags absent from this table are
# known to every supported server (STRICT_TRANS_TABLES, ANSI_QUOTES, ...).
# Sources: MySQL 8.0 manual "Server SQL Modes" (the 5.7-era flags below were
# removed in 8.0.11, TIME_TRUNCATE_FRACTIONAL added in 8.0.8); MariaDB's
# "SQL_MODE" page (IGNORE_BAD_TABLE_OPTIONS, EMPTY_STRING_IS_NULL 10.3.3,
# SIMULTANEOUS_ASSIGNMENT 10.3.5, TIME_ROUND_FRACTIONAL 10.4.1); the MariaDB
# rows were checked against MariaDB 10.11 (tests/integration/test_server_compat_mariadb.py).
_REMOVED_IN_MYSQL_8 = (
    "NO_AUTO_CREATE_USER",
    "DB2",
    "MAXDB",
    "MSSQL",
    "MYSQL323",
    "MYSQL40",
    "ORACLE",
    "POSTGRESQL",
    "NO_FIELD_OPTIONS",
    "NO_KEY_OPTIONS",
    "NO_TABLE_OPTIONS",
)
SQL_MODE_AVAILABILITY: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {
    **{flag: ((0,), (8, 0, 11), _ALWAYS) for flag in _REMOVED_IN_MYSQL_8},
    "TIME_TRUNCATE_FRACTIONAL": ((8, 0, 8), _NEVER, _NEVER),
    "IGNORE_BAD_TABLE_OPTIONS": (_NEVER, _NEVER, _ALWAYS),
    "EMPTY_STRING_IS_NULL": (_NEVER, _NEVER, (10, 3, 3)),
    "SIMULTANEOUS_ASSIGNMENT": (_NEVER, _NEVER, (10, 3, 5)),
    "TIME_ROUND_FRACTIONAL": (_NEVER, _NEVER, (10, 4, 1)),
}


def sql_mode_flag_known(flag: str, flavor: str, version: str) -> bool:
    """Whether a server of this flavour and version accepts ``flag`` in
    ``sql_mode``. Flags osidump has no record of are assumed known: only a
    documented absence drops a flag."""
    availability = SQL_MODE_AVAILABILITY.get(flag.upper())
    if availability is None:
        return True
    mysql_from, mysql_until, mariadb_from = availability
    v = version_tuple(version)
    if flavor == "mariadb":
        return v >= mariadb_from
    return mysql_from <= v < mysql_until


def compatible_sql_mode(mode: str, flavor: str, version: str) -> tuple[str, list[str]]:
    """``mode`` (as recorded with a routine, trigger, event or view) without
    the flags the target server does not know, and the flags dropped.

    ``SET sql_mode`` fails with error 1231 on a single unknown flag, e.g.
    NO_AUTO_CREATE_USER (written by MySQL 5.7 and every MariaDB, removed in
    MySQL 8.0.11). The flags kept are exactly those given, in their order;
    the caller notes each dropped flag.
    """
    flags = [flag.strip() for flag in mode.split(",") if flag.strip()]
    kept = [flag for flag in flags if sql_mode_flag_known(flag, flavor, version)]
    dropped = [flag for flag in flags if not sql_mode_flag_known(flag, flavor, version)]
    return ",".join(kept), dropped
