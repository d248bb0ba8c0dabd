"""Splitting each table into chunks that cover its rows exactly once.

A chunk is a key range ``lower <= key < upper`` (either bound may be open).
Within a range the exporter still rolls over to a new file every
``chunk_bytes`` of SQL text, so a skewed range never makes a huge file or a
huge restore transaction; a table with no usable key is one open range read as
a single ordered stream and cut into files the same way.

- single-column integer key: MIN/MAX read inside the snapshot, the span cut
  arithmetically (``split_int_range``), no table scan;
- any other key (composite, strings, dates): keyset boundaries found by
  walking the key in order, ``rows_per_chunk`` rows at a time;
- no primary key: a unique NOT NULL key is used like one; without either the
  table is one stream.

Bounds are SQL literals (``rows.literal_expr``), so a bound compares in the
column's own type and collation.

A row filter (``export --where``) is ANDed into the MIN/MAX and keyset queries
as into every range's SELECT, so ranges are cut over the rows that will be
dumped. It is wrapped as ``(condition\n)``: parentheses keep its ORs inside,
and the newline ends a ``-- comment`` the operator may have written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..connection import query_all, quote_ident
from .catalog import INTEGER_TYPES, Table
from .rows import literal_expr


@dataclass(frozen=True)
class ChunkPlan:
    """One key range of one table; ``lower``/``upper`` are SQL literals per key column."""

    table: Table
    ordinal: int
    lower: tuple[str, ...] | None
    upper: tuple[str, ...] | None
    condition: str | None = None  # the operator's row filter (export --where)

    def where(self) -> str | None:
        ranged = range_predicate([quote_ident(k) for k in self.table.key], self.lower, self.upper)
        return and_filter(ranged, self.condition)


def filter_sql(condition: str) -> str:
    return f"({condition}\n)"


def and_filter(predicate: str | None, condition: str | None) -> str | None:
    """``predicate AND (condition)``, either part optional."""
    if condition is None:
        return predicate
    if predicate is None:
        return filter_sql(condition)
    return f"{filter_sql(condition)} AND {predicate}"


def split_int_range(lo: int, hi: int, parts: int) -> list[tuple[int | None, int | None]]:
    """Cut ``[lo, hi]`` into ``parts`` half-open ranges, the first open below and
    the last open above, so together they cover every integer exactly once."""
    if parts <= 1 or hi <= lo:
        return [(None, None)]
    span = hi - lo + 1
    parts = min(parts, span)
    step = math.ceil(span / parts)
    cuts = list(range(lo + step, hi + 1, step))
    bounds: list[int | None] = [None, *cuts, None]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


def _bound(cols: list[str], values: tuple[str, ...], strict_op: str, eq_ok: bool) -> str:
    """Row comparison ``(cols) op (values)`` expanded into ORs of ANDs, which
    every MariaDB/MySQL version turns into index ranges (row constructors are
    not always optimised)."""
    terms = []
    for i in range(len(cols)):
        prefix = [f"{cols[j]} = {values[j]}" for j in range(i)]
        terms.append(" AND ".join([*prefix, f"{cols[i]} {strict_op} {values[i]}"]))
    if eq_ok:
        terms.append(" AND ".join(f"{c} = {v}" for c, v in zip(cols, values, strict=True)))
    if len(terms) == 1:
        return terms[0]
    return "(" + " OR ".join(f"({t})" for t in terms) + ")"


def range_predicate(
    cols: list[str], lower: tuple[str, ...] | None, upper: tuple[str, ...] | None
) -> str | None:
    parts = []
    if lower is not None:
        parts.append(_bound(cols, lower, ">", eq_ok=True))
    if upper is not None:
        parts.append(_bound(cols, upper, "<", eq_ok=False))
    return " AND ".join(parts) if parts else None


def estimate_parts(table: Table, chunk_bytes: int) -> int:
    # Rows are dumped as escaped text: about their stored size (numbers as
    # text grow a little, page overhead shrinks).
    return max(1, math.ceil(max(table.data_bytes, 0) / chunk_bytes))


def plan_table(
    conn: Any, table: Table, *, chunk_bytes: int, condition: str | None = None
) -> list[ChunkPlan]:
    """Chunk ranges for ``table``, read on a connection inside the snapshot;
    ``condition`` is the operator's row filter, part of every range."""
    parts = estimate_parts(table, chunk_bytes)
    if not table.key or parts == 1:
        return [ChunkPlan(table, 0, None, None, condition)]
    key_cols = [table.column(k) for k in table.key]
    if len(key_cols) == 1 and key_cols[0].data_type in INTEGER_TYPES:
        k = quote_ident(key_cols[0].name)
        sql = f"SELECT MIN({k}), MAX({k}) FROM {table.qualified}"
        if condition is not None:
            sql += f" WHERE {filter_sql(condition)}"
        rows = query_all(conn, sql, context=f"planning chunks of {table.label}")
        lo, hi = rows[0]
        if lo is None:
            return [ChunkPlan(table, 0, None, None, condition)]
        ranges = split_int_range(int(lo), int(hi), parts)
        return [
            ChunkPlan(
                table,
                i,
                None if a is None else (str(a),),
                None if b is None else (str(b),),
                condition,
            )
            for i, (a, b) in enumerate(ranges)
        ]
    return _keyset_plan(conn, table, parts, condition)


def _keyset_plan(
    conn: Any, table: Table, parts: int, condition: str | None = None
) -> list[ChunkPlan]:
    rows_est = max(table.row_estimate, 1)
    per_chunk = max(1, rows_est // parts)
    cols = [quote_ident(k) for k in table.key]
    exprs = ",".join(literal_expr(table.column(k)) for k in table.key)
    order = ",".join(cols)
    boundaries: list[tuple[str, ...]] = []
    current: tuple[str, ...] | None = None
    while True:
        where = and_filter(range_predicate(cols, current, None), condition)
        sql = f"SELECT {exprs} FROM {table.qualified}"
        if where:
            sql += f" WHERE {where}"
        sql += f" ORDER BY {order} LIMIT 1 OFFSET {per_chunk}"
        found = query_all(conn, sql, context=f"planning chunks of {table.label}")
        if not found:
            break
        current = tuple(_literal(v) for v in found[0])
        boundaries.append(current)
    edges: list[tuple[str, ...] | None] = [None, *boundaries, None]
    return [
        ChunkPlan(table, i, edges[i], edges[i + 1], condition) for i in range(len(edges) - 1)
    ]


def _literal(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)
