"""Flavour and version rules that need no server (engine/server_compat.py)."""

from __future__ import annotations

import pytest
from osidump.engine.server_compat import binlog_off_privilege, no_binlog_hint, version_tuple


@pytest.mark.parametrize(("version", "expected"), [
    ("10.11.19-MariaDB-0+deb12u1", (10, 11, 19)), ("8.0.36-0ubuntu0.22.04.1", (8, 0, 36)),
    ("5.5.5-10.6.12-MariaDB", (5, 5, 5)), ("8.4.3", (8, 4, 3)), ("9.1", (9, 1)),
])
def test_version_tuple(version: str, expected: tuple[int, ...]) -> None:
    assert version_tuple(version) == expected


@pytest.mark.parametrize(("flavor", "version", "privilege"), [
    ("mysql", "8.4.3", "SYSTEM_VARIABLES_ADMIN or SESSION_VARIABLES_ADMIN"),
    ("mysql", "8.0.14", "SYSTEM_VARIABLES_ADMIN or SESSION_VARIABLES_ADMIN"),
    ("mysql", "8.0.13", "SYSTEM_VARIABLES_ADMIN"),
    ("mysql", "5.7.44-log", "SUPER"),
    ("mariadb", "10.11.6-MariaDB", "BINLOG ADMIN"),
    ("mariadb", "10.5.2-MariaDB", "BINLOG ADMIN"),
    ("mariadb", "10.5.1-MariaDB", "SUPER"),
    ("mariadb", "10.4.32-MariaDB", "SUPER"),
])
def test_the_no_binlog_privilege_per_flavour(flavor: str, version: str, privilege: str) -> None:
    assert binlog_off_privilege(flavor, version) == privilege
    assert privilege in no_binlog_hint(flavor, version) and "--no-binlog" in no_binlog_hint(flavor, version)
