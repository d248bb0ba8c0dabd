"""What differs between server flavours and versions, as pure functions.

Restore and export ask here instead of testing versions inline: which
privilege a session setting needs, which ``sql_mode`` flags a target knows,
how InnoDB wants FULLTEXT indexes added. Nothing here talks to a server, so
every rule is unit-tested for servers that cannot run on this machine.
"""

from __future__ import annotations


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
