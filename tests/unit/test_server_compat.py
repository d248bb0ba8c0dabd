"""Flavour and version rules that need no server (engine/server_compat.py)."""

from __future__ import annotations

import pytest
from osidump.engine.server_compat import (
    binlog_off_privilege,
    compatible_sql_mode,
    fulltext_separately,
    no_binlog_hint,
    version_tuple,
)


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


def test_each_fulltext_index_gets_its_own_statement_first() -> None:
    clauses = ["KEY `a` (`a`)", "FULLTEXT KEY `ft1` (`body`)", "SPATIAL KEY `g` (`geo`)",
               "FULLTEXT KEY `ft2` (`title`,`body`)", "KEY `b` (`b`,`c`)"]
    assert fulltext_separately(clauses) == [
        ["FULLTEXT KEY `ft1` (`body`)"],
        ["FULLTEXT KEY `ft2` (`title`,`body`)"],
        ["KEY `a` (`a`)", "SPATIAL KEY `g` (`geo`)", "KEY `b` (`b`,`c`)"],
    ]


@pytest.mark.parametrize(("clauses", "groups"), [
    ([], []),
    (["KEY `a` (`a`)"], [["KEY `a` (`a`)"]]),
    (["fulltext index `f` (`t`)"], [["fulltext index `f` (`t`)"]]),
    (["ADD FULLTEXT KEY `f` (`t`)", "ADD KEY `k` (`k`)"], [["ADD FULLTEXT KEY `f` (`t`)"], ["ADD KEY `k` (`k`)"]]),
    # an index *named* fulltext is not a FULLTEXT index
    (["KEY `fulltext` (`a`)", "KEY `b` (`b`)"], [["KEY `fulltext` (`a`)", "KEY `b` (`b`)"]]),
])
def test_fulltext_grouping_edges(clauses: list[str], groups: list[list[str]]) -> None:
    assert fulltext_separately(clauses) == groups


MARIADB_ORACLE = ("PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ORACLE,NO_KEY_OPTIONS,NO_TABLE_OPTIONS,"
                  "NO_FIELD_OPTIONS,NO_AUTO_CREATE_USER,SIMULTANEOUS_ASSIGNMENT")
MYSQL57_DEFAULT = ("ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                   "ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION")


@pytest.mark.parametrize(("mode", "flavor", "version", "kept", "dropped"), [
    # MySQL 5.7's default mode onto MySQL 8: only NO_AUTO_CREATE_USER goes
    (MYSQL57_DEFAULT, "mysql", "8.0.11",
     "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
     "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION", ["NO_AUTO_CREATE_USER"]),
    (MYSQL57_DEFAULT, "mysql", "8.0.10", MYSQL57_DEFAULT, []),
    (MYSQL57_DEFAULT, "mysql", "5.7.44-log", MYSQL57_DEFAULT, []),
    (MYSQL57_DEFAULT, "mariadb", "10.11.6-MariaDB", MYSQL57_DEFAULT, []),
    # MariaDB's ORACLE mode onto MySQL 8.4: its MariaDB-only and removed flags go
    (MARIADB_ORACLE, "mysql", "8.4.3", "PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE",
     ["ORACLE", "NO_KEY_OPTIONS", "NO_TABLE_OPTIONS", "NO_FIELD_OPTIONS", "NO_AUTO_CREATE_USER",
      "SIMULTANEOUS_ASSIGNMENT"]),
    (MARIADB_ORACLE, "mariadb", "10.3.4-MariaDB", MARIADB_ORACLE.replace(",SIMULTANEOUS_ASSIGNMENT", ""),
     ["SIMULTANEOUS_ASSIGNMENT"]),
    # MySQL 8's TIME_TRUNCATE_FRACTIONAL is unknown to MariaDB and to MySQL 5.7
    ("STRICT_TRANS_TABLES,TIME_TRUNCATE_FRACTIONAL", "mariadb", "11.4.2-MariaDB", "STRICT_TRANS_TABLES",
     ["TIME_TRUNCATE_FRACTIONAL"]),
    ("STRICT_TRANS_TABLES,TIME_TRUNCATE_FRACTIONAL", "mysql", "5.7.44", "STRICT_TRANS_TABLES",
     ["TIME_TRUNCATE_FRACTIONAL"]),
    ("TIME_ROUND_FRACTIONAL,EMPTY_STRING_IS_NULL,IGNORE_BAD_TABLE_OPTIONS", "mysql", "8.0.36", "",
     ["TIME_ROUND_FRACTIONAL", "EMPTY_STRING_IS_NULL", "IGNORE_BAD_TABLE_OPTIONS"]),
    ("TIME_ROUND_FRACTIONAL", "mariadb", "10.4.0-MariaDB", "", ["TIME_ROUND_FRACTIONAL"]),
    ("TIME_ROUND_FRACTIONAL", "mariadb", "10.4.1-MariaDB", "TIME_ROUND_FRACTIONAL", []),
    # nothing to drop, and odd spacing / case / a flag osidump does not know kept as given
    ("", "mysql", "8.4.3", "", []),
    ("strict_all_tables, no_auto_create_user ,SOME_FUTURE_FLAG", "mysql", "8.4.3",
     "strict_all_tables,SOME_FUTURE_FLAG", ["no_auto_create_user"]),
])
def test_compatible_sql_mode(mode: str, flavor: str, version: str, kept: str, dropped: list[str]) -> None:
    assert compatible_sql_mode(mode, flavor, version) == (kept, dropped)
