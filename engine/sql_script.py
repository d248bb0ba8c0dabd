"""Splitting a SQL script (mysqldump output) into statements, as the mysql
client does: statements end at the current delimiter outside quotes and
comments; ``DELIMITER xx`` lines change the delimiter (mysqldump uses ``;;``
around triggers and routines); ``--``/``#`` comments and ordinary ``/* */``
comments are dropped; executable comments (``/*!40101 ... */``, ``/*M!...*/``)
are kept, since the server runs them.

The scanner jumps between interesting bytes with one regular expression, so
long string literals and extended INSERTs cost no per-byte Python work.
Memory: one statement plus one read block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .errors import IntegrityError

_SINGLE = re.compile(rb"'(?:[^'\\]|\\.|'')*'", re.S)
_DOUBLE = re.compile(rb'"(?:[^"\\]|\\.|"")*"', re.S)
_BACKTICK = re.compile(rb"`(?:[^`]|``)*`", re.S)
_DELIMITER_LINE = re.compile(rb"[ \t]*delimiter[ \t]+(\S+)[ \t]*\r?\n", re.I)


def _special(delimiter: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"['\"`#\n]|--(?=[ \t\r\n])|/\*|" + re.escape(delimiter))


def iter_statements(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Statements of the script read as ``blocks``, without their delimiter."""
    scanner = _Scanner(iter(blocks))
    yield from scanner.run()


class _Scanner:
    """Positions index ``data``; ``more()`` only appends, and the buffer is
    compacted between statements, so no position moves while a token is read."""

    def __init__(self, source: Iterator[bytes]):
        self.source = source
        self.data = b""
        self.eof = False

    def more(self) -> bool:
        if self.eof:
            return False
        block = next(self.source, b"")
        if not block:
            self.eof = True
            return False
        self.data += block
        return True

    def find(self, needle: bytes, at: int) -> int:
        while (found := self.data.find(needle, at)) < 0 and self.more():
            pass
        return found

    def match(self, pattern: re.Pattern[bytes], at: int) -> re.Match[bytes] | None:
        # A match that reaches the end of the buffer may be cut short: read on.
        while True:
            m = pattern.match(self.data, at)
            if (m is None or m.end() == len(self.data)) and self.more():
                continue
            return m

    def run(self) -> Iterator[bytes]:
        delimiter = b";"
        special = _special(delimiter)
        pos = start = 0  # scan position; start of the current statement's uncopied text
        pieces: list[bytes] = []
        line_start = True
        while True:
            if line_start and not b"".join(pieces).strip() and not self.data[start:pos].strip():
                # DELIMITER is a client command: only at a line start between statements.
                while b"\n" not in self.data[pos:] and self.more():
                    pass
                d = _DELIMITER_LINE.match(self.data, pos)
                if d is not None:
                    delimiter = d.group(1)
                    special = _special(delimiter)
                    pos = start = d.end()
                    continue
            line_start = False
            m = special.search(self.data, pos)
            if m is None or (m.group() != delimiter and m.end() == len(self.data)):
                # Nothing (or a token that may continue) in the buffer: read on.
                if self.more():
                    continue
                if m is None:
                    break
            assert m is not None
            token, i = m.group(), m.start()
            if token == delimiter:
                pieces.append(self.data[start:i])
                text = b"".join(pieces).strip()
                if text:
                    yield text
                pieces = []
                self.data = self.data[m.end() :]
                pos = start = 0
                line_start = False
            elif token == b"\n":
                pos = m.end()
                line_start = True
            elif token in (b"'", b'"', b"`"):
                q = self.match({b"'": _SINGLE, b'"': _DOUBLE, b"`": _BACKTICK}[token], i)
                if q is None:
                    raise IntegrityError(
                        "the script ends inside a quoted string",
                        hint="the file is truncated or not SQL",
                    )
                pos = q.end()
            elif token in (b"#", b"--"):
                end = self.find(b"\n", i)
                pieces.append(self.data[start:i])
                pos = start = len(self.data) if end < 0 else end
            else:  # "/*"
                end = self.find(b"*/", i + 2)
                if end < 0:
                    raise IntegrityError(
                        "the script ends inside a comment", hint="the file is truncated"
                    )
                if self.data[i + 2 : i + 3] == b"!" or self.data[i + 2 : i + 4] == b"M!":
                    pos = end + 2  # executable comment: the server runs it
                else:
                    pieces.append(self.data[start:i] + b" ")
                    pos = start = end + 2
        pieces.append(self.data[start:])
        text = b"".join(pieces).strip()
        if text:
            yield text
