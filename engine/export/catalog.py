"""What is in the databases being dumped: tables, columns, keys and the schema
objects around them (views, triggers, routines, events).

Everything here is read on a worker connection *inside* the export snapshot, so
chunk boundaries and definitions belong to the same point in time as the rows
(mydumper issue 512 read MIN/MAX outside the snapshot and got torn chunks).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from ..connection import query_all, quote_ident
from ..errors import ObjectNotFound
from ..format.sqltokens import qualified_names, tokenize
from ..server_compat import SYSTEM_SCHEMAS

# Column types whose values are bytes, dumped as hex literals.
BINARY_TYPES = frozenset(
    {
        "binary",
        "varbinary",
        "tinyblob",
        "blob",
        "mediumblob",
        "longblob",
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "multilinestring",
        "multipolygon",
        "geometrycollection",
        "geomcollection",
        "vector",
    }
)
INTEGER_TYPES = frozenset({"tinyint", "smallint", "mediumint", "int", "integer", "bigint"})
# Types whose text form round-trips and needs no quoting.
NUMERIC_TYPES = INTEGER_TYPES | {"decimal", "numeric", "double", "real", "year"}


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # lower-case base type, e.g. "varchar"
    column_type: str  # full type, e.g. "int(10) unsigned"
    charset: str | None
    generated: bool
    nullable: bool
    max_bytes: int | None = None  # CHARACTER_OCTET_LENGTH: the longest value, in bytes

    @property
    def is_binary(self) -> bool:
        return self.data_type in BINARY_TYPES or (
            self.data_type in ("char", "varchar", "text", "tinytext", "mediumtext", "longtext")
            and self.charset == "binary"
        )


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # PK, else a unique NOT NULL key, else ()
    key_kind: str  # "primary", "unique", "none"
    create_sql: str
    engine: str | None
    data_bytes: int  # estimate from information_schema
    row_estimate: int
    avg_row_bytes: int

    @property
    def qualified(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def dumped_columns(self) -> tuple[Column, ...]:
        """Columns whose values are dumped: generated columns are recomputed on load."""
        return tuple(c for c in self.columns if not c.generated)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True)
class SchemaObject:
    """A view, trigger, routine or event: its CREATE statement and the session
    settings it was defined under (restored exactly, so sql_mode-sensitive
    bodies behave the same)."""

    kind: str  # "view" | "trigger" | "procedure" | "function" | "event"
    schema: str
    name: str
    create_sql: str
    sql_mode: str | None = None
    character_set_client: str | None = None
    collation_connection: str | None = None
    table: str | None = None  # triggers: the table they belong to
    time_zone: str | None = None  # events: their schedule's time zone
    depends_on: tuple[str, ...] = field(default=())  # views: the views it reads
    reads: tuple[str, ...] = field(default=())  # views: tables of its database it names
    databases: tuple[str, ...] = field(default=())  # views: other databases it names


@dataclass(frozen=True)
class DatabaseSchema:
    name: str
    create_sql: str
    tables: tuple[Table, ...]
    objects: tuple[SchemaObject, ...]


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


def list_databases(conn: Any) -> list[str]:
    rows = query_all(conn, "SHOW DATABASES", context="listing databases")
    return [_text(r[0]) for r in rows if _text(r[0]).lower() not in SYSTEM_SCHEMAS]


def matches(patterns: tuple[str, ...], schema: str, table: str) -> bool:
    """True if ``schema.table`` matches a pattern; a pattern without a dot matches
    the table name in any selected database."""
    for pattern in patterns:
        if "." in pattern:
            if fnmatch.fnmatchcase(f"{schema}.{table}", pattern):
                return True
        elif fnmatch.fnmatchcase(table, pattern):
            return True
    return False


def resolve_tables(
    conn: Any,
    databases: list[str],
    *,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
) -> dict[str, list[str]]:
    """Base tables to dump per database, after --tables/--exclude-tables.

    Raises ObjectNotFound for a database that does not exist, or for an
    --tables entry without wildcards that names no table.
    """
    existing = {_text(r[0]) for r in query_all(conn, "SHOW DATABASES", context="listing")}
    selected: dict[str, list[str]] = {}
    for db in databases:
        if db not in existing:
            raise ObjectNotFound(
                f"database {db!r} does not exist on the server",
                hint="check the name; `SHOW DATABASES` lists them",
            )
        rows = query_all(
            conn,
            "SELECT TABLE_NAME FROM information_schema.TABLES"
            " WHERE TABLE_SCHEMA = %s AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')"
            " ORDER BY TABLE_NAME",
            (db,),
            context=f"listing tables of {db}",
        )
        names = [_text(r[0]) for r in rows]
        if include:
            names = [t for t in names if matches(include, db, t)]
        if exclude:
            names = [t for t in names if not matches(exclude, db, t)]
        selected[db] = names
    for pattern in include:
        if any(ch in pattern for ch in "*?["):
            continue
        db_part, _, table_part = pattern.rpartition(".")
        found = any(
            table_part in tables and (not db_part or db_part == db)
            for db, tables in selected.items()
        )
        if not found:
            raise ObjectNotFound(
                f"table {pattern!r} not found in {', '.join(databases)}",
                hint="check --tables; names are case-sensitive",
            )
    return selected


def not_dumped(conn: Any, schema: str, tables: list[str], *, whole_database: bool) -> list[str]:
    """What of ``schema`` osidump does not carry, said in the manifest's
    ``left_out`` so that export, inspect and verify show it: MariaDB
    sequences (not dumped at all) and the history rows of system-versioned
    tables (only the current rows are)."""
    rows = query_all(
        conn,
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
        " AND TABLE_TYPE IN ('SEQUENCE', 'SYSTEM VERSIONED') ORDER BY TABLE_NAME",
        (schema,),
        context=f"listing sequences and versioned tables of {schema}",
    )
    out = []
    for raw_name, raw_kind in rows:
        name, kind = _text(raw_name), _text(raw_kind)
        if kind == "SEQUENCE" and whole_database:
            out.append(
                f"sequence {name}: sequences are not dumped; recreate it from SHOW CREATE"
                " SEQUENCE on the source (a table whose DEFAULT calls it restores only then)"
            )
        elif kind == "SYSTEM VERSIONED" and name in tables:
            out.append(f"history of {name}: a system-versioned table's past rows are not dumped")
    return out


def read_table(conn: Any, schema: str, name: str) -> Table:
    ctx = f"reading the definition of {schema}.{name}"
    cols = query_all(
        conn,
        "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME,"
        " COALESCE(GENERATION_EXPRESSION, ''), IS_NULLABLE, EXTRA, CHARACTER_OCTET_LENGTH"
        " FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
        " ORDER BY ORDINAL_POSITION",
        (schema, name),
        context=ctx,
    )
    columns = tuple(
        Column(
            name=_text(c[0]),
            data_type=_text(c[1]).lower(),
            column_type=_text(c[2]).lower(),
            charset=_text(c[3]) if c[3] is not None else None,
            generated=bool(_text(c[4]))
            or "GENERATED" in _text(c[6]).upper().replace("DEFAULT_GENERATED", ""),
            nullable=_text(c[5]) == "YES",
            max_bytes=int(c[7]) if c[7] is not None else None,
        )
        for c in cols
    )
    if not columns:
        raise ObjectNotFound(f"table {schema}.{name} disappeared during the export")
    stats = query_all(
        conn,
        "SELECT INDEX_NAME, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS"
        " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY INDEX_NAME, SEQ_IN_INDEX",
        (schema, name),
        context=ctx,
    )
    indexes: dict[str, list[str]] = {}
    unique: set[str] = set()
    for index_name, column_name, non_unique in stats:
        indexes.setdefault(_text(index_name), []).append(_text(column_name))
        if int(non_unique) == 0:
            unique.add(_text(index_name))
    by_name = {c.name: c for c in columns}
    key: tuple[str, ...] = ()
    kind = "none"
    if "PRIMARY" in indexes:
        key, kind = tuple(indexes["PRIMARY"]), "primary"
    else:
        for index_name in sorted(unique):
            cols_ = indexes[index_name]
            if all(c in by_name and not by_name[c].nullable for c in cols_):
                key, kind = tuple(cols_), "unique"
                break
    create = query_all(
        conn, f"SHOW CREATE TABLE {quote_ident(schema)}.{quote_ident(name)}", context=ctx
    )
    info = query_all(
        conn,
        "SELECT ENGINE, COALESCE(DATA_LENGTH, 0), COALESCE(TABLE_ROWS, 0),"
        " COALESCE(AVG_ROW_LENGTH, 0) FROM information_schema.TABLES"
        " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (schema, name),
        context=ctx,
    )
    engine, data_bytes, rows, avg = info[0] if info else (None, 0, 0, 0)
    return Table(
        schema=schema,
        name=name,
        columns=columns,
        key=key,
        key_kind=kind,
        create_sql=_text(create[0][1]),
        engine=_text(engine) if engine is not None else None,
        data_bytes=int(data_bytes),
        row_estimate=int(rows),
        avg_row_bytes=int(avg),
    )


def read_objects(conn: Any, schema: str, *, tables: set[str] | None = None) -> list[SchemaObject]:
    """Views (ordered so that each comes after the views it reads), triggers,
    routines and events of one database. ``tables`` limits triggers to the
    dumped tables. Each view carries what it reads (``reads``, ``depends_on``,
    ``databases``), so the export can leave out a view whose tables are not in
    the dump."""
    q = quote_ident(schema)
    objects: list[SchemaObject] = []

    views = query_all(
        conn,
        "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s"
        " ORDER BY TABLE_NAME",
        (schema,),
        context=f"listing views of {schema}",
    )
    view_names = [_text(v[0]) for v in views]
    base_tables = {
        _text(r[0])
        for r in query_all(
            conn,
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
            " AND TABLE_TYPE <> 'VIEW'",
            (schema,),
            context=f"listing tables of {schema}",
        )
    }
    databases = {_text(r[0]) for r in query_all(conn, "SHOW DATABASES", context="listing")}
    view_objs: dict[str, SchemaObject] = {}
    deps: dict[str, set[str]] = {}
    for view in view_names:
        rows = query_all(
            conn,
            f"SHOW CREATE VIEW {q}.{quote_ident(view)}",
            context=f"reading view {schema}.{view}",
        )
        _, create, charset, collation = rows[0][:4]
        reads, other_views, other_dbs = view_references(
            _text(create), schema, base_tables, set(view_names) - {view}, databases
        )
        deps[view] = other_views
        view_objs[view] = SchemaObject(
            kind="view",
            schema=schema,
            name=view,
            create_sql=_text(create),
            character_set_client=_text(charset),
            collation_connection=_text(collation),
            depends_on=tuple(sorted(other_views)),
            reads=tuple(sorted(reads)),
            databases=tuple(sorted(other_dbs)),
        )
    objects.extend(view_objs[v] for v in order_by_dependency(deps))

    triggers = query_all(conn, f"SHOW TRIGGERS FROM {q}", context=f"listing triggers of {schema}")
    for trig in triggers:
        trig_name, trig_table = _text(trig[0]), _text(trig[2])
        if tables is None or trig_table in tables:
            objects.append(show_create_object(conn, "trigger", schema, trig_name, table=trig_table))
    for kind, listing in (
        (
            "procedure",
            "SELECT ROUTINE_NAME FROM information_schema.ROUTINES"
            " WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE = 'PROCEDURE' ORDER BY 1",
        ),
        (
            "function",
            "SELECT ROUTINE_NAME FROM information_schema.ROUTINES"
            " WHERE ROUTINE_SCHEMA = %s AND ROUTINE_TYPE = 'FUNCTION' ORDER BY 1",
        ),
        (
            "event",
            "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s ORDER BY 1",
        ),
    ):
        for (name,) in query_all(conn, listing, (schema,), context=f"listing {kind}s of {schema}"):
            objects.append(show_create_object(conn, kind, schema, _text(name)))
    return objects


def view_references(
    sql: str, schema: str, tables: set[str], views: set[str], databases: set[str]
) -> tuple[set[str], set[str], set[str]]:
    """What a view's statement names: tables of ``schema``, other views of
    ``schema``, and other databases. A name counts wherever it appears as an
    identifier (a column spelled like a table counts too): over-approximating
    can only leave a view out of a partial dump, never keep a broken one."""
    tokens = tokenize(sql)
    names = {t.name() for t in tokens if t.is_name}
    others = {
        parts[0]
        for _i, parts in qualified_names(tokens)
        if parts[0] != schema and parts[0] in databases
    }
    return names & tables, names & views, others


def show_create_object(
    conn: Any, kind: str, schema: str, name: str, *, table: str | None = None
) -> SchemaObject:
    """One trigger, procedure, function or event with the session settings it
    was created under. SHOW CREATE's columns: name, sql_mode, [time_zone for
    events], statement, character_set_client, collation_connection, ..."""
    rows = query_all(
        conn,
        f"SHOW CREATE {kind.upper()} {quote_ident(schema)}.{quote_ident(name)}",
        context=f"reading {kind} {schema}.{name}",
    )
    row = rows[0]
    at = 3 if kind == "event" else 2
    if row[at] is None:
        raise ObjectNotFound(
            f"cannot read the body of {kind} {schema}.{name}",
            hint="the user needs SHOW_ROUTINE (MySQL), or SELECT on mysql.proc / EVENT / TRIGGER",
        )
    return SchemaObject(
        kind=kind,
        schema=schema,
        name=name,
        create_sql=_text(row[at]),
        sql_mode=_text(row[1]),
        character_set_client=_text(row[at + 1]),
        collation_connection=_text(row[at + 2]),
        table=table,
        time_zone=_text(row[2]) if kind == "event" else None,
    )


def order_by_dependency(deps: dict[str, set[str]]) -> list[str]:
    """Topological order (dependencies first), ties broken by name; a cycle
    (impossible for valid views) falls back to name order for the rest."""
    order: list[str] = []
    done: set[str] = set()
    remaining = dict(deps)
    while remaining:
        ready = sorted(n for n, d in remaining.items() if d <= done)
        if not ready:
            ready = sorted(remaining)
        for n in ready:
            order.append(n)
            done.add(n)
            remaining.pop(n)
    return order


def read_database(conn: Any, schema: str, table_names: list[str]) -> DatabaseSchema:
    create = query_all(
        conn, f"SHOW CREATE DATABASE {quote_ident(schema)}", context=f"reading database {schema}"
    )
    tables = tuple(read_table(conn, schema, t) for t in table_names)
    objects = tuple(read_objects(conn, schema, tables=set(table_names)))
    return DatabaseSchema(
        name=schema, create_sql=_text(create[0][1]), tables=tables, objects=objects
    )


_DEFINER = re.compile(r"\s*DEFINER\s*=\s*(`[^`]*`|'[^']*'|[^\s@]+)@(`[^`]*`|'[^']*'|[^\s]+)", re.I)


def strip_definer(sql: str) -> str:
    """Remove a DEFINER=user@host clause (managed targets refuse others' definers)."""
    return _DEFINER.sub("", sql, count=1)
