"""Rows as bulk-load lines, formatted by the server.

Each dumped row is fetched as one string: the row's fields in the escaped
tab-separated form that ``LOAD DATA`` reads by default (``FIELDS TERMINATED BY
'\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'``), built by the server from
an expression per column (docs/FORMAT.md, format version 2). Per-field work
stays out of Python: the client only cuts rows out of the socket buffer.

Per type family:

- integers, DECIMAL, DOUBLE, YEAR: the server's own text form, which
  round-trips (DOUBLE prints the shortest exact form).
- FLOAT: widened to DOUBLE first (``+ 0e0``); MariaDB prints FLOAT with 6
  significant digits otherwise.
- BIT: as an unsigned integer (restore loads it through ``CAST(@v AS
  UNSIGNED)``, since LOAD DATA stores a BIT field's text as raw bytes).
- temporal types: their text; the session time zone is UTC, so TIMESTAMP
  values do not shift.
- text, ENUM, SET, JSON, binary and spatial types: the column's own bytes
  (``CAST(.. AS BINARY)``: no charset conversion on either side), with ``\\``,
  tab and newline escaped as ``\\\\``, ``\\t``, ``\\n`` (REPLACE, or on
  MariaDB REGEXP_REPLACE for long values: see ``REGEXP_FROM``). Restore loads with
  ``CHARACTER SET binary``, so the bytes arrive unchanged in every charset.
- types with only a text form (MariaDB UUID, INET6, unknown types): their
  text in utf8mb4, escaped the same way.
- NULL is ``\\N``. A raw newline appears only at the end of a row, so rows are
  counted by counting newlines.

Why this encoding (measured on the 418 MB benchmark set, MariaDB 10.11, see
docs/FORMAT.md): the server formats escaped text at least as fast as hex
(REPLACE finds nothing to replace in most values), the client moves 40% fewer
bytes, and the stored chunks are 15-20% smaller than version 1's hex literals.

A row is ``CONCAT``-ed, never ``CONCAT_WS``-ed: CONCAT_WS skips a NULL argument,
and a value whose formatted text would exceed max_allowed_packet becomes NULL
(with only a warning); through CONCAT that makes the whole row NULL, which the
reader refuses loudly (RowTooLarge) instead of silently shifting fields.
"""

from __future__ import annotations

from ..connection import quote_ident
from .catalog import NUMERIC_TYPES, Column, Table

TEMPORAL_TYPES = frozenset({"date", "datetime", "timestamp", "time"})
TEXT_TYPES = frozenset(
    {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
)

# Column kinds recorded in the manifest; restore builds the LOAD DATA column
# list from them (format.py).
KINDS = ("number", "bit", "temporal", "text", "json", "binary", "other")


def column_kind(column: Column) -> str:
    t = column.data_type
    if column.is_binary:
        return "binary"
    if t == "json":
        return "json"
    if column.charset or t in TEXT_TYPES:
        return "text"
    if t == "bit":
        return "bit"
    if t in NUMERIC_TYPES or t == "float":
        return "number"
    if t in TEMPORAL_TYPES:
        return "temporal"
    return "other"


def _replace(expr: str) -> str:
    return f"REPLACE(REPLACE(REPLACE({expr},'\\\\','\\\\\\\\'),'\\t','\\\\t'),'\\n','\\\\n')"


def _regexp(expr: str) -> str:
    return (
        "REGEXP_REPLACE(REGEXP_REPLACE(REGEXP_REPLACE("
        f"{expr},'\\\\\\\\','\\\\\\\\\\\\\\\\'),'\\t','\\\\\\\\t'),'\\n','\\\\\\\\n')"
    )


# MariaDB's REPLACE shifts the rest of the string at every match (quadratic:
# 38 s for a 2 MiB random blob, measured on 10.11); its REGEXP_REPLACE appends
# (0.03 s) but costs more per call. Short values take REPLACE, long ones
# REGEXP_REPLACE; both give the same bytes. MySQL 8's REPLACE appends.
REGEXP_FROM = 1024


def _escaped(expr: str, flavor: str, max_bytes: int | None = None) -> str:
    if flavor != "mariadb" or (max_bytes is not None and max_bytes < REGEXP_FROM):
        return _replace(expr)  # short by definition (VARCHAR(255), BINARY(16)): no IF
    return f"IF(LENGTH({expr}) < {REGEXP_FROM},{_replace(expr)},{_regexp(expr)})"


def value_expr(column: Column, flavor: str) -> str:
    """A SQL expression giving ``column``'s field text (``\\N`` for NULL)."""
    c = quote_ident(column.name)
    kind = column_kind(column)
    t = column.data_type
    if kind in ("binary", "text", "json"):
        escaped = _escaped(f"CAST({c} AS BINARY)", flavor, column.max_bytes)
        return f"IF({c} IS NULL,'\\\\N',{escaped})"
    if kind == "number":
        return f"IFNULL({c}+0e0,'\\\\N')" if t == "float" else f"IFNULL({c},'\\\\N')"
    if kind == "bit":
        return f"IFNULL({c}+0,'\\\\N')"
    if kind == "temporal":
        return f"IFNULL({c},'\\\\N')"
    text = f"CAST(CONVERT({c} USING utf8mb4) AS BINARY)"
    return f"IF({c} IS NULL,'\\\\N',{_escaped(text, flavor)})"


def row_expr(table: Table, flavor: str) -> str:
    parts = ",'\\t',".join(value_expr(col, flavor) for col in table.dumped_columns)
    return f"CONCAT({parts},'\\n')"


def select_sql(table: Table, where: str | None, flavor: str) -> str:
    """The query for one key range. No ORDER BY: rows within a range may come
    in any order (restore does not depend on it), and InnoDB scans a primary
    key range in key order anyway."""
    sql = f"SELECT {row_expr(table, flavor)} FROM {table.qualified}"
    if where:
        sql += f" WHERE {where}"
    return sql


def literal_expr(column: Column) -> str:
    """A SQL expression giving ``column``'s value as a SQL literal: the chunk
    planner's key bounds, compared in the column's own type and collation."""
    c = quote_ident(column.name)
    kind = column_kind(column)
    if kind == "binary":
        return f"IF({c} IS NULL,'NULL',CONCAT('X''',HEX({c}),''''))"
    if kind in ("text", "json"):
        charset = column.charset or "utf8mb4"
        if not charset.replace("_", "").isalnum():
            raise ValueError(f"unexpected charset name {charset!r}")
        return f"IF({c} IS NULL,'NULL',CONCAT('_{charset} X''',HEX({c}),''''))"
    if column.data_type == "float":
        return f"IFNULL({c}+0e0,'NULL')"
    if kind == "bit":
        return f"IFNULL({c}+0,'NULL')"
    if kind == "number":
        return f"IFNULL({c},'NULL')"
    if kind == "temporal":
        return f"IF({c} IS NULL,'NULL',QUOTE({c}))"
    return f"IF({c} IS NULL,'NULL',QUOTE(CONVERT({c} USING utf8mb4)))"
