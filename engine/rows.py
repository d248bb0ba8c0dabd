"""Rows as SQL text, formatted by the server.

Each dumped row is fetched as one string: a SQL tuple literal such as
``(1,'a\\'b',X'00FF',NULL)``, built by the server from an expression per
column. This keeps per-field work out of Python (the reason a pure-Python dump
can keep up with mariadb-dump) and makes every value exact:

- integers, DECIMAL, DOUBLE, YEAR: the server's own text form, which
  round-trips (DOUBLE prints the shortest exact form, e.g. 0.30000000000000004).
- FLOAT: widened to DOUBLE first (``+ 0e0``); MariaDB prints FLOAT with 6
  significant digits otherwise and mariadb-dump loses precision that way.
- BIT: as an unsigned integer.
- temporal types: quoted text; the session time zone is UTC, so TIMESTAMP
  values are not shifted.
- text types, ENUM, SET, JSON: the column's own bytes as a hex literal with
  the column's charset introducer, ``_latin1 X'E9'``. This is exact for every
  charset (no conversion on either side) and, measured on MariaDB 10.11, costs
  the server a quarter of what QUOTE() does; the larger text compresses to
  within ~10% of the quoted form.
- binary types and spatial types: hex literals ``X'..'`` (``X''`` is empty,
  distinct from NULL), so every byte value survives.
- types with only a text form (MariaDB UUID, INET6): QUOTE(), newlines escaped.

No literal contains a newline, so every INSERT statement is exactly one line
of a chunk; restore relies on that.

NULL is the bare word NULL everywhere.
"""

from __future__ import annotations

from .catalog import NUMERIC_TYPES, Column, Table
from .connection import quote_ident

TEMPORAL_TYPES = frozenset({"date", "datetime", "timestamp", "time"})


def value_expr(column: Column) -> str:
    """A SQL expression giving ``column``'s value as a SQL literal (never NULL)."""
    c = quote_ident(column.name)
    t = column.data_type
    # NULL is tested on the column itself, never on the formatted value: HEX()
    # returns NULL (with only a warning) when its result would exceed
    # max_allowed_packet, and IFNULL would turn that into a silent NULL. This way
    # the overflow makes the whole row NULL, which the reader refuses loudly.
    if column.is_binary:
        return f"IF({c} IS NULL,'NULL',CONCAT('X''',HEX({c}),''''))"
    if column.charset or t == "json":
        # MySQL's JSON type has no charset in information_schema; it is utf8mb4.
        charset = column.charset or "utf8mb4"
        if not charset.replace("_", "").isalnum():
            raise ValueError(f"unexpected charset name {charset!r}")
        return f"IF({c} IS NULL,'NULL',CONCAT('_{charset} X''',HEX({c}),''''))"
    if t == "float":
        return f"IFNULL({c}+0e0,'NULL')"
    if t == "bit":
        return f"IFNULL({c}+0,'NULL')"
    if t in NUMERIC_TYPES:
        return f"IFNULL({c},'NULL')"
    if t in TEMPORAL_TYPES:
        return f"IF({c} IS NULL,'NULL',QUOTE({c}))"
    # Types with only a text form (MariaDB UUID, INET6): QUOTE escapes
    # \\ ' NUL and ^Z; newlines are escaped here too.
    return f"IF({c} IS NULL,'NULL',REPLACE(QUOTE(CONVERT({c} USING utf8mb4)),'\\n','\\\\n'))"


def row_expr(table: Table) -> str:
    parts = ",',',".join(value_expr(col) for col in table.dumped_columns)
    return f"CONCAT('(',{parts},')')"


def insert_prefix(table: Table) -> bytes:
    """``INSERT INTO `t` (`a`,`b`) VALUES `` without the schema, so the chunk
    loads into whichever database the session uses (restore under another name)."""
    cols = ",".join(quote_ident(c.name) for c in table.dumped_columns)
    return f"INSERT INTO {quote_ident(table.name)} ({cols}) VALUES ".encode()


def select_sql(table: Table, where: str | None) -> str:
    """The query for one key range. No ORDER BY: rows within a range may come
    in any order (restore does not depend on it), and InnoDB scans a primary
    key range in key order anyway."""
    sql = f"SELECT {row_expr(table)} FROM {table.qualified}"
    if where:
        sql += f" WHERE {where}"
    return sql
