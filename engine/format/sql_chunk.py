"""Version-1 chunks (one SQL INSERT statement per line): the strict grammar
every line must pass before it is executed.

A version-1 chunk is SQL text, and a dump is untrusted input, so a line runs
only if it is exactly what osidump 0.1 wrote: the header line, or

    INSERT INTO `<the chunk's table>` (<the manifest's columns>) VALUES (...),(...);

where every tuple holds exactly one literal per column and a literal is a
number, NULL, a hex literal (``X'..'``, optionally with a charset introducer)
or a quoted string. Anything else (a second statement, a function call, a
subquery, another table) is refused before the line reaches the server.

The check (``LineGrammar``) runs at several hundred MB/s in C-speed bytes
operations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from ..connection import quote_ident
from .chunk_reader import V1_MAX_LINE, ChunkStream

HEADER = (
    b"SET NAMES utf8mb4, time_zone='+00:00', foreign_key_checks=0, unique_checks=0,"
    b" sql_mode='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'"
)

_LITERAL = (
    rb"(?:NULL"
    rb"|-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
    rb"|(?:_[A-Za-z0-9_]+ )?X'[0-9A-Fa-f]*'"
    rb"|'[^'\\]*(?:\\.[^'\\]*)*')"
)
# Every byte a version-1 line may hold: no backslash (so no escape can hide a
# quote), no other quote kind, comment, operator or variable sign.
_ALLOWED = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_'(),; .:+-"
_NUMBER_BYTES = b"0123456789.eE+-"
_INTRODUCED_HEX = re.compile(rb"_[A-Za-z0-9_]+ X''")


def insert_prefix(table: str, columns: Sequence[str]) -> bytes:
    cols = ",".join(quote_ident(c) for c in columns)
    return f"INSERT INTO {quote_ident(table)} ({cols}) VALUES ".encode()


class LineGrammar:
    """``check(line)``: True if ``line`` (without its newline) is one INSERT
    of the table's columns whose tuples hold only literals.

    Done with C-speed bytes operations, not a grammar matched byte by byte
    (which measured 30-70 MB/s on numeric rows): every byte must be one of
    ``_ALLOWED`` (no backslash, so quotes pair up as the server pairs them);
    quoted texts are emptied; number characters are deleted, then the literals
    ``NULL``, ``X''``, ``_cs X''`` and ``''``; what is left must be exactly
    ``(,,..),(,,..);`` with one comma fewer than columns per tuple. Number
    characters left to the server can only form numbers or arithmetic on
    numbers (or a syntax error): no letter outside quotes, no parenthesis or
    semicolon gets through."""

    def __init__(self, table: str, columns: Sequence[str]):
        self.prefix = insert_prefix(table, columns)
        self._unit = b"(" + b"," * (len(columns) - 1) + b")"

    def check(self, line: bytes) -> bool:
        if not line.startswith(self.prefix):
            return False
        body = line[len(self.prefix) :]
        if body.translate(None, _ALLOWED):
            return False
        parts = body.split(b"'")
        if len(parts) % 2 == 0:
            return False
        skeleton = b"''".join(parts[0::2]) if len(parts) > 1 else body
        if b"_" in skeleton:
            skeleton = _INTRODUCED_HEX.sub(b"", skeleton)
        skeleton = (
            skeleton.translate(None, _NUMBER_BYTES)
            .replace(b"X''", b"")
            .replace(b"''", b"")
            .replace(b"NULL", b"")
        )
        tuples = skeleton.count(b"(")
        return tuples > 0 and skeleton == b",".join([self._unit] * tuples) + b";"


def checked_lines(stream: ChunkStream, grammar: LineGrammar) -> Iterator[bytes]:
    """The INSERT lines of a version-1 chunk, each checked against ``grammar``
    before it is yielded; the header line is checked and not yielded. A line
    that fails raises the stream's IntegrityError naming it."""
    for number, line in enumerate(stream.lines(V1_MAX_LINE)):
        if number == 0:
            if line.rstrip(b";") != HEADER:
                raise stream.damaged("does not start with the chunk header")
            continue
        if not grammar.check(line):
            raise stream.damaged(
                f"line {number + 1} is not an INSERT of literals into its own table"
            )
        yield line


def count_rows(line: bytes) -> int:
    """Rows of a line that passed ``line_pattern``: literals hold no ``),(``
    outside quoted strings, and osidump 0.1 quoted only date/time and
    text-only types' values, which never contain it."""
    return line.count(b"),(") + 1


def parse_values(statement: bytes) -> list[list[str | bytes | None]]:
    """Decode the tuples of one version-1 INSERT line (for inspect): values
    are numbers, NULL, hex literals (returned as bytes) and quoted text."""
    values_at = statement.index(b") VALUES (") + len(b") VALUES (")
    body = statement[values_at:].rstrip(b";\n")
    if body.endswith(b")"):
        body = body[:-1]
    rows: list[list[str | bytes | None]] = []
    for tup in body.split(b"),("):
        row: list[str | bytes | None] = []
        for field in re.findall(_LITERAL, tup):
            text = field.decode("utf-8", "replace")
            if text == "NULL":
                row.append(None)
            elif text.endswith("'") and "X'" in text:
                row.append(bytes.fromhex(text[text.index("X'") + 2 : -1]))
            elif text.startswith("'") and text.endswith("'"):
                row.append(text[1:-1])
            else:
                row.append(text)
        rows.append(row)
    return rows
