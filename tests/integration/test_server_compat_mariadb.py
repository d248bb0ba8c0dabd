"""The flavour rules of engine/server_compat.py, held against a real MariaDB."""

from __future__ import annotations

from typing import Any

import pymysql
from osidump.engine.connection import server_flavor
from osidump.engine.server_compat import (
    SQL_MODE_AVAILABILITY,
    compatible_sql_mode,
    fulltext_separately,
    sql_mode_flag_known,
)

from tests.integration.helpers import sql

EVERYWHERE = ("REAL_AS_FLOAT", "PIPES_AS_CONCAT", "ANSI_QUOTES", "IGNORE_SPACE", "ONLY_FULL_GROUP_BY",
              "NO_UNSIGNED_SUBTRACTION", "NO_DIR_IN_CREATE", "ANSI", "NO_AUTO_VALUE_ON_ZERO",
              "NO_BACKSLASH_ESCAPES", "STRICT_TRANS_TABLES", "STRICT_ALL_TABLES", "NO_ZERO_IN_DATE",
              "NO_ZERO_DATE", "ALLOW_INVALID_DATES", "ERROR_FOR_DIVISION_BY_ZERO", "TRADITIONAL",
              "HIGH_NOT_PRECEDENCE", "NO_ENGINE_SUBSTITUTION", "PAD_CHAR_TO_FULL_LENGTH")


def accepts(conn: Any, mode: str) -> bool:
    try:
        sql(conn, "SET SESSION sql_mode = %s", (mode,))
    except pymysql.err.MySQLError as exc:
        assert exc.args[0] == 1231, exc
        return False
    return True


def test_the_sql_mode_table_matches_the_server(server: Any) -> None:
    conn = server.connect()
    flavor, version = server_flavor(conn)
    for flag in (*SQL_MODE_AVAILABILITY, *EVERYWHERE):
        assert accepts(conn, flag) == sql_mode_flag_known(flag, flavor, version), flag


def test_a_mode_from_any_server_becomes_one_this_server_accepts(server: Any) -> None:
    conn = server.connect()
    flavor, version = server_flavor(conn)
    everything = ",".join((*SQL_MODE_AVAILABILITY, *EVERYWHERE))
    assert not accepts(conn, everything)  # the control: as recorded, it fails
    kept, dropped = compatible_sql_mode(everything, flavor, version)
    assert accepts(conn, kept) and dropped


def test_fulltext_groups_are_statements_the_server_runs(server: Any, make_database: Any) -> None:
    db = make_database()
    conn = server.connect()
    sql(conn, f"CREATE TABLE `{db}`.doc (id INT PRIMARY KEY, title TEXT, body TEXT, n INT)")
    sql(conn, f"INSERT INTO `{db}`.doc VALUES (1, 'a title', 'some body text', 3)")
    clauses = ["KEY `by_n` (`n`)", "FULLTEXT KEY `ft_body` (`body`)",
               "FULLTEXT KEY `ft_both` (`title`,`body`)"]
    groups = fulltext_separately(clauses)
    for group in groups:
        sql(conn, f"ALTER TABLE `{db}`.doc " + ", ".join(f"ADD {clause}" for clause in group))
    names = {row[0] for row in sql(conn, "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS"
                                         " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'doc'", (db,))}
    assert names == {"PRIMARY", "by_n", "ft_body", "ft_both"}
    assert len(groups) == 3
