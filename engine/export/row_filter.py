"""Row filters (``export --where``): which condition each table gets, and the
check that every condition runs before anything is written.

A condition is the operator's own SQL, trusted as the command line is (as
mysqldump's and mydumper's ``--where``): it is ANDed into the table's chunk
planning and range queries (``chunk_plan.and_filter``), and recorded in the
manifest's ``options`` for people (``inspect``). Nothing at restore time reads
it back: a dump is untrusted, and a recorded condition is only text.

``--where COND`` applies to every table; ``--where 'db.table:COND'`` (globs
allowed, repeatable) to the tables it matches; a table matched by several gets
all of them ANDed. A pattern that matches no dumped table, or a condition the
server refuses for a table, is ObjectNotFound (exit 4), raised inside the
snapshot before the first file of the dump is written.
"""

from __future__ import annotations

from typing import Any

from ..connection import execute
from ..errors import ConnectionLost, ObjectNotFound, ServerError
from .catalog import Table, matches
from .chunk_plan import filter_sql


def conditions_for(
    tables: list[Table],
    *,
    where: str | None,
    table_where: tuple[tuple[str, str], ...],
) -> dict[str, str]:
    """``table.label -> condition`` for every filtered table."""
    out: dict[str, str] = {}
    for pattern, _ in table_where:
        if not any(matches((pattern,), t.schema, t.name) for t in tables):
            raise ObjectNotFound(
                f"--where names {pattern!r}, which matches no exported table",
                hint="give db.table of a table in the export (globs allowed)",
            )
    for t in tables:
        parts = [where] if where is not None else []
        parts += [c for pattern, c in table_where if matches((pattern,), t.schema, t.name)]
        if parts:
            out[t.label] = " AND ".join(filter_sql(p) for p in parts)
    return out


def probe(conn: Any, table: Table, condition: str) -> None:
    """Run ``SELECT 1 FROM t WHERE cond LIMIT 0`` (inside the snapshot): a
    condition that does not run on this table fails here, before any file."""
    context = f"--where does not run on {table.label}"
    try:
        execute(
            conn,
            f"SELECT 1 FROM {table.qualified} WHERE {filter_sql(condition)} LIMIT 0",
            context=context,
        )
    except ConnectionLost:
        raise
    except (ServerError, ObjectNotFound) as exc:
        raise ObjectNotFound(
            exc.message,
            hint="fix the condition (it is ANDed into a WHERE on each table it applies to);"
            " nothing was written",
        ) from exc
