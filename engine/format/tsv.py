"""Version-2 chunks (escaped tab-separated rows): how they are loaded.

Restore hands a chunk to the server unchanged, as the file of a
``LOAD DATA LOCAL INFILE`` (``load_data_sql``). Where the target refuses LOCAL
INFILE, and for ``to-sql``, the same rows become INSERT statements
(``InsertBuilder``), so the
bytes reach the column as LOAD DATA's ``CHARACTER SET binary`` would put them
(numbers and date/time text after a grammar check, everything else as a hex
literal of its unescaped bytes).

The statement is built from the manifest's validated column names and kinds
only; nothing in a chunk decides what SQL runs (a chunk is data: the server
reads it as field values, never as SQL).

Column kinds (``rows.column_kind``) and how each loads:

- number, temporal, text, binary: straight into the column;
- bit: into ``@v``, then ``CAST(@v AS UNSIGNED)`` (LOAD DATA would store the
  digits' bytes);
- json, other: into ``@v``, then ``CONVERT(@v USING utf8mb4)`` (MySQL's JSON
  refuses binary strings; MariaDB's INET6 would read a 16-byte binary string
  as its binary form).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..connection import quote_ident
from ..errors import IntegrityError

KINDS = frozenset({"number", "bit", "temporal", "text", "json", "binary", "other"})
_VIA_VARIABLE = {
    "bit": "CAST({v} AS UNSIGNED)",
    "json": "CONVERT({v} USING utf8mb4)",
    "other": "CONVERT({v} USING utf8mb4)",
}
NULL_FIELD = b"\\N"
# restore --data-only --insert-mode: what a row whose key exists does.
# error: LOAD DATA LOCAL skips it with a warning (the chunk then fails);
# ignore: keeps the existing row; replace: deletes it, then inserts.
LOAD_DATA_VERB = {"error": "", "ignore": " IGNORE", "replace": " REPLACE"}
INSERT_VERB = {"error": "INSERT INTO", "ignore": "INSERT IGNORE INTO", "replace": "REPLACE INTO"}


@dataclass(frozen=True)
class LoadColumn:
    name: str
    kind: str


def load_data_sql(
    table: str,
    columns: Sequence[LoadColumn],
    *,
    file: str = "osidump-chunk",
    insert_mode: str = "error",
) -> str:
    """``LOAD DATA LOCAL INFILE`` for one chunk into ``table`` (unqualified:
    the session's database). osidump's loader ignores the file name and
    answers the server's request with the chunk's bytes; for the stock client
    (``inspect --load-data``) it is ``/dev/stdin``."""
    targets: list[str] = []
    sets: list[str] = []
    for i, col in enumerate(columns):
        if col.kind in _VIA_VARIABLE:
            var = f"@osidump_{i}"
            targets.append(var)
            sets.append(f"{quote_ident(col.name)} = {_VIA_VARIABLE[col.kind].format(v=var)}")
        else:
            targets.append(quote_ident(col.name))
    sql = (
        f"LOAD DATA LOCAL INFILE '{file}'{LOAD_DATA_VERB[insert_mode]}"
        f" INTO TABLE {quote_ident(table)}"
        " CHARACTER SET binary FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'"
        f" LINES TERMINATED BY '\\n' ({','.join(targets)})"
    )
    if sets:
        sql += " SET " + ", ".join(sets)
    return sql


_ESCAPE = re.compile(rb"\\(.)", re.S)
_ESCAPES = {b"t": b"\t", b"n": b"\n", b"0": b"\x00", b"r": b"\r", b"b": b"\x08", b"Z": b"\x1a"}
_NUMBER = re.compile(rb"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_TEMPORAL = re.compile(rb"[-0-9 :.]*")


def unescape(field: bytes) -> bytes:
    """The bytes an escaped field stands for (LOAD DATA's rules: ``\\t``,
    ``\\n``, ``\\0``, ``\\\\`` ...; any other escaped byte is itself)."""
    if b"\\" not in field:
        return field
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), field)


# Every byte the lexer (server or client) could read as more than string
# content: the escape character first, so later escapes are not escaped again.
_LITERAL_ESCAPES = (
    (b"\\", b"\\\\"),
    (b"'", b"\\'"),
    (b"\x00", b"\\0"),
    (b"\n", b"\\n"),
    (b"\r", b"\\r"),
    (b"\x1a", b"\\Z"),
)


def binary_literal(raw: bytes) -> bytes:
    """``raw`` as ``_binary'...'``: the same binary string as ``X'...'``, but
    text stays readable in a script (to-sql is for people and ``grep``).
    Exact for any bytes under a utf8mb4 connection: every backslash and quote
    is escaped, and no valid UTF-8 sequence holds either byte, so the lexer
    never takes one as part of a multi-byte character."""
    for byte, escaped in _LITERAL_ESCAPES:
        if byte in raw:
            raw = raw.replace(byte, escaped)
    return b"_binary'" + raw + b"'"


def split_row(line: bytes, width: int, *, where: str) -> list[bytes]:
    fields = line.split(b"\t")
    if len(fields) != width:
        raise IntegrityError(
            f"{where}: a row has {len(fields)} fields, the table has {width} columns"
        )
    return fields


def decode_row(line: bytes, width: int, *, where: str) -> list[bytes | None]:
    """One row's values (None for NULL), for inspect and tests."""
    return [None if f == NULL_FIELD else unescape(f) for f in split_row(line, width, where=where)]


class InsertBuilder:
    """Rows of one chunk -> ``INSERT INTO `t` (...) VALUES ...`` statements of
    about ``statement_bytes``."""

    def __init__(
        self,
        table: str,
        columns: Sequence[LoadColumn],
        *,
        statement_bytes: int = 256 * 1024,
        insert_mode: str = "error",
    ):
        names = ",".join(quote_ident(c.name) for c in columns)
        verb = INSERT_VERB[insert_mode]
        self.prefix = f"{verb} {quote_ident(table)} ({names}) VALUES ".encode()
        self.kinds = [c.kind for c in columns]
        self.width = len(columns)
        self.statement_bytes = statement_bytes

    @staticmethod
    def _value(kind: str, field: bytes, where: str) -> bytes:
        """One field as a SQL literal. Numbers and temporal text are checked
        against their grammar; everything else becomes a binary string literal
        of its unescaped bytes (``binary_literal``), so no byte of a chunk is
        ever read as SQL."""
        if field == NULL_FIELD:
            return b"NULL"
        if kind in ("number", "bit"):
            if not _NUMBER.fullmatch(field):
                raise IntegrityError(f"{where}: a {kind} field is not a number")
            return field
        if kind == "temporal":
            if not _TEMPORAL.fullmatch(field):
                raise IntegrityError(f"{where}: a date/time field holds unexpected bytes")
            return b"'" + field + b"'"
        body = binary_literal(unescape(field))
        if kind in ("json", "other"):
            return b"CONVERT(" + body + b" USING utf8mb4)"
        return body

    def tuple_of(self, line: bytes, where: str) -> bytes:
        fields = split_row(line, self.width, where=where)
        return (
            b"("
            + b",".join(self._value(k, f, where) for k, f in zip(self.kinds, fields, strict=True))
            + b")"
        )

    def statements(self, lines: Iterator[bytes], *, where: str) -> Iterator[tuple[bytes, int]]:
        """(statement, rows) for the rows in ``lines`` (each without its newline)."""
        batch: list[bytes] = []
        size = 0
        for line in lines:
            tup = self.tuple_of(line, where)
            batch.append(tup)
            size += len(tup) + 1
            if size >= self.statement_bytes:
                yield self.prefix + b",".join(batch), len(batch)
                batch, size = [], 0
        if batch:
            yield self.prefix + b",".join(batch), len(batch)
