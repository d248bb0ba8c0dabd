"""Splitting a SQL script (mysqldump output) into statements, as the mysql
client run with ``--comments`` does: statements end at the current delimiter
outside quotes and comments; ``DELIMITER xx`` lines between statements change
the delimiter (mysqldump uses ``;;`` around triggers and routines); comments
before a statement are dropped, comments inside it are kept, so a routine,
trigger or event body reaches the server as written (the server keeps them:
``SHOW CREATE PROCEDURE`` shows them after a ``mysql --comments`` replay, and
so after osidump's). Executable comments (``/*!40101 ... */``, ``/*M!...*/``)
are statement text whose quotes and delimiters count, as in the client.

Speed: one compiled regular expression per delimiter consumes plain text and
whole quoted strings in C, so an extended INSERT costs one ``match`` call
rather than a Python step per string (a 38 MB mariadb-dump file splits in
about 0.3 s here; the per-token loop before this took 10 s). Every
alternative that needs to look ahead (``-`` may start ``-- ``, ``/`` may start
``/*``, a multi-byte delimiter) demands the bytes it looks at, so a match
never decides wrongly at the end of a block: it stops, more is read, and the
scan resumes where it stopped.

Memory: the current statement plus one read block; a token longer than a
block (a huge string) grows the buffer geometrically, so rescanning it costs
at most twice its length.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from functools import lru_cache

from ..errors import IntegrityError

_WS = b" \t\r\n\f\v"
_GAP = re.compile(rb"[ \t\r\n\f\v]*")
_DELIMITER_LINE = re.compile(rb"[ \t]*delimiter[ \t]+(\S+)[^\n]*(?:\n|\Z)", re.I)
# Possessive repeats (Python 3.11+): the patterns below are unambiguous, so
# giving up backtracking changes no match, and sre then keeps no state per
# repeat (the split of a 38 MB dump: 0.50 s instead of 0.84 s, same machine).
# Possessive is also how the server reads ``'abc''``: an escaped quote, then
# an unterminated string, not a string followed by another.
_STAR = b"*+" if sys.version_info >= (3, 11) else b"*"
_QUOTED = tuple(  # compiled with re.S: "." is any byte
    p.replace(b"*", _STAR)
    for p in (
        rb"'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'",
        rb'"[^"\\]*(?:(?:\\.|"")[^"\\]*)*"',
        rb"`[^`]*(?:``[^`]*)*`",
    )
)


@lru_cache(maxsize=8)
def _body(delimiter: bytes) -> re.Pattern[bytes]:
    """What a statement's text is made of, up to (not including) the next
    delimiter, comment, or a byte that cannot be classified without more
    input. Built per delimiter."""
    first = delimiter[:1]
    # A byte that might start something: may it be plain text here, and what
    # follows it when it is not? (Negative lookaheads, each with a positive one
    # demanding the bytes it inspects.)
    bad: dict[bytes, list[tuple[bytes, int]]] = {
        b"-": [(rb"-[ \t\r\n\f\v]", 2)],
        b"/": [(rb"\*(?!!|M!)", 3)],
    }
    if len(delimiter) > 1:
        bad.setdefault(first, []).append((re.escape(delimiter[1:]), len(delimiter) - 1))
    specials = {b"'", b'"', b"`", b"#", b"-", b"/", first}
    plain = b"[^" + b"".join(re.escape(c) for c in sorted(specials)) + b"]"
    alternatives = list(_QUOTED)
    for char, rules in sorted(bad.items()):
        if char == first and len(delimiter) == 1:
            continue  # a one-byte delimiter is never plain text
        ahead = max(n for _, n in rules)
        alternatives.append(
            re.escape(char) + b"(?!" + b"|".join(r for r, _ in rules) + b")(?=.{%d})" % ahead
        )
    # Unrolled (plain* (alt plain*)*): no two ways to match the same text, so
    # no backtracking however long the statement.
    alternation = b"(?:" + b"|".join(alternatives) + b")"
    return re.compile(plain + _STAR + b"(?:" + alternation + plain + _STAR + b")" + _STAR, re.S)


def _check_delimiter(delimiter: bytes) -> None:
    if b"\\" in delimiter or delimiter[:1] in (b"'", b'"', b"`", b"#"):
        raise IntegrityError(
            "the script sets a DELIMITER that cannot be used (a backslash, quote or #)",
            hint="the mysql client refuses it too; fix the DELIMITER line",
        )


def iter_statements(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Statements of the script read as ``blocks``, without their delimiter
    and without the comments and blank lines before them."""
    yield from Splitter(blocks)


class Splitter:
    """Iterates over statements. ``delimiter`` is the one in force."""

    def __init__(self, blocks: Iterable[bytes]):
        self._source = iter(blocks)
        self._data = b""
        self._eof = False
        self.delimiter = b";"

    def _more(self, keep: int, at_least: int) -> int:
        """Drop ``data[:keep]`` and read until ``at_least`` more bytes than
        now (from ``keep``) are buffered, or the input ends. Returns how far
        positions moved (``keep``)."""
        have = len(self._data) - keep
        parts = [self._data[keep:]]
        got = 0
        while got < at_least:
            block = next(self._source, b"")
            if not block:
                self._eof = True
                break
            parts.append(block)
            got += len(block)
        self._data = b"".join(parts) if len(parts) > 1 else parts[0]
        assert len(self._data) >= have
        return keep

    def __iter__(self) -> Iterator[bytes]:
        pos = 0
        line_start = True  # DELIMITER is a client command: only at a line start
        while True:
            # Between statements: blanks, comments, DELIMITER lines.
            data = self._data
            gap = _GAP.match(data, pos)
            assert gap is not None
            if b"\n" in gap.group():
                line_start = True
            pos = gap.end()
            if pos >= len(data) - 10 and not self._eof:
                pos -= self._more(pos, 1)
                continue
            if pos >= len(data):
                return
            char = data[pos : pos + 1]
            if line_start and data[pos : pos + 9].lower() == b"delimiter":
                if data.find(b"\n", pos) < 0 and not self._eof:
                    pos -= self._more(pos, len(data) - pos + 1)
                    continue
                line = _DELIMITER_LINE.match(data, pos)
                if line is not None:
                    self.delimiter = line.group(1)
                    _check_delimiter(self.delimiter)
                    pos = line.end()
                    continue
            if char == b"#" or (data[pos : pos + 2] == b"--" and data[pos + 2 : pos + 3] in _WS):
                end = data.find(b"\n", pos)
                if end < 0:
                    if self._eof:
                        return
                    pos -= self._more(pos, len(data) - pos + 1)
                    continue
                pos, line_start = end + 1, True
                continue
            if (
                data[pos : pos + 2] == b"/*"
                and data[pos + 2 : pos + 3] != b"!"
                and (data[pos + 2 : pos + 4] != b"M!")
            ):
                end = data.find(b"*/", pos + 2)
                if end < 0:
                    if self._eof:
                        raise IntegrityError(
                            "the script ends inside a comment", hint="the file is truncated"
                        )
                    pos -= self._more(pos, len(data) - pos + 1)
                    continue
                pos, line_start = end + 2, False
                continue
            statement, pos = self._statement(pos)
            line_start = False
            if statement:
                yield statement

    def _statement(self, start: int) -> tuple[bytes, int]:
        """The statement starting at ``start`` and the position after its
        delimiter (or the end of the input)."""
        pos = start
        while True:
            data, delimiter = self._data, self.delimiter
            m = _body(delimiter).match(data, pos)
            assert m is not None
            pos = m.end()
            if pos == len(data):
                if self._eof:
                    return data[start:].rstrip(), pos
                shift = self._more(start, len(data) - start + 1)
                start, pos = start - shift, pos - shift
                continue
            if data.startswith(delimiter, pos):
                return data[start:pos].rstrip(), pos + len(delimiter)
            char = data[pos : pos + 1]
            need_more = False
            if char in (b"'", b'"', b"`"):
                # The body stops before a quote only when the string does not
                # end in the buffer.
                if self._eof:
                    raise IntegrityError(
                        "the script ends inside a quoted string",
                        hint="the file is truncated or not SQL",
                    )
                need_more = True
            elif char == b"#" or (
                data[pos : pos + 2] == b"--"
                and data[pos + 2 : pos + 3] in _WS
                and len(data) > pos + 2
            ):
                end = data.find(b"\n", pos)
                if end >= 0:
                    pos = end + 1
                    continue
                if self._eof:
                    return data[start:].rstrip(), len(data)
                need_more = True
            elif (
                data[pos : pos + 2] == b"/*"
                and len(data) >= pos + 4
                and data[pos + 2 : pos + 3] != b"!"
                and data[pos + 2 : pos + 4] != b"M!"
            ):
                end = data.find(b"*/", pos + 2)
                if end >= 0:
                    pos = end + 2
                    continue
                if self._eof:
                    raise IntegrityError(
                        "the script ends inside a comment", hint="the file is truncated"
                    )
                need_more = True
            elif self._eof:
                pos += 1  # too few bytes left to look ahead: plain text
                continue
            else:
                need_more = True  # a byte that needs the next block to classify
            if need_more:
                # Double what is buffered past ``start``, so a long token is
                # rescanned a bounded number of times.
                shift = self._more(start, len(data) - start + 1)
                start, pos = start - shift, pos - shift


# --- what a statement names ---------------------------------------------------
#
# ``load-sql -d NAME`` must know, before running anything, whether the script
# writes anywhere but NAME. That is decided from each statement's head: the
# verb and the object(s) it creates, changes, drops or writes, with executable
# comments unwrapped (mysqldump writes ``/*!50003 CREATE*/ /*!50017 DEFINER=..*/
# /*!50003 TRIGGER ...``). Bodies (a view's SELECT, a routine's statements, an
# INSERT's rows) are not read: they run only where the head puts them.

_TOKEN = re.compile(
    rb"""(?P<skip>[ \t\r\n\f\v]+|(?:\#|--[ \t\r\n\f\v])[^\n]*|/\*M?!\d*|\*/|/\*(?!M?!).*?\*/)
    |(?P<id>`[^`]*(?:``[^`]*)*`|"[^"\\]*(?:(?:\\.|"")[^"\\]*)*")
    |(?P<str>'[^'\\]*(?:(?:\\.|'')[^'\\]*)*')
    |(?P<at>@(?:`[^`]*(?:``[^`]*)*`|'[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*"|@?[\w$.%-]*))
    |(?P<word>[\w$\x80-\xff]+)
    |(?P<punct>.)""",
    re.S | re.X,
)
_NAME_KINDS = ("id", "word")
_CREATE_MODIFIERS = (
    "TEMPORARY",
    "UNIQUE",
    "FULLTEXT",
    "SPATIAL",
    "AGGREGATE",
    "ONLINE",
    "OFFLINE",
    "IGNORE",
)
_OBJECT_KINDS = (
    "TABLE",
    "VIEW",
    "TRIGGER",
    "PROCEDURE",
    "FUNCTION",
    "EVENT",
    "INDEX",
    "SEQUENCE",
    "PACKAGE",
)
_DATABASE_OPTIONS = (
    "DEFAULT",
    "CHARACTER",
    "CHARSET",
    "COLLATE",
    "COMMENT",
    "UPGRADE",
    "READ",
    "ENCRYPTION",
)


class StatementHead:
    """The verb of one statement, the object it acts on and every database
    it names as a place to create, change, drop, write or switch to.

    ``uncertain`` is True when the text ended before the head did (only when
    reading a window of bytes, not a whole statement)."""

    def __init__(self, verb: str = "", obj: str | None = None) -> None:
        self.verb = verb
        self.obj = obj
        self.databases: list[str] = []
        self.charset: str | None = None
        self.collation: str | None = None
        self.uncertain = False

    def label(self) -> str:
        """``INSERT INTO `orders``` : names only, never values."""
        return f"{self.verb} {self.obj}" if self.obj else self.verb or "statement"

    def __repr__(self) -> str:
        return f"StatementHead({self.label()!r}, databases={self.databases})"


def _ident(kind: str, raw: bytes) -> str:
    if kind == "id":
        q = raw[:1]
        raw = raw[1:-1].replace(q + q, q)
    return raw.decode("utf-8", "surrogateescape")


def _quoted_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class _Cursor:
    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data, self.pos, self.end = data, start, end
        self.exhausted = False
        self._peeked: tuple[str, bytes] | None = None

    def peek(self) -> tuple[str, bytes]:
        if self._peeked is None:
            while True:
                if self.pos >= self.end:
                    self.exhausted = True
                    self._peeked = ("end", b"")
                    break
                m = _TOKEN.match(self.data, self.pos, self.end)
                assert m is not None and m.lastgroup is not None
                self.pos = m.end()
                if m.lastgroup != "skip":
                    self._peeked = (m.lastgroup, m.group())
                    break
        return self._peeked

    def take(self) -> tuple[str, bytes]:
        token = self.peek()
        self._peeked = None
        return token

    def keyword(self) -> str:
        kind, raw = self.peek()
        return raw.decode("latin-1").upper() if kind == "word" else ""

    def accept(self, *words: str) -> str:
        word = self.keyword()
        if word and word in words:
            self.take()
            return word
        return ""

    def punct(self, char: bytes) -> bool:
        if self.peek() == ("punct", char):
            self.take()
            return True
        return False

    def name(self) -> tuple[str | None, str] | None:
        """``[db.]name`` (``db.*`` too); None if no name is here."""
        kind, raw = self.peek()
        if kind not in _NAME_KINDS:
            return None
        self.take()
        first = _ident(kind, raw)
        if self.peek() != ("punct", b"."):
            return None, first
        self.take()
        kind, raw = self.peek()
        if kind in _NAME_KINDS or (kind, raw) == ("punct", b"*"):
            self.take()
            return first, _ident(kind, raw) if kind != "punct" else "*"
        return None, first

    def skip_user(self) -> None:
        """A DEFINER value: user[@host] or CURRENT_USER[()]."""
        self.punct(b"=")
        if self.accept("CURRENT_USER"):
            if self.punct(b"("):
                self.punct(b")")
            return
        if self.peek()[0] in ("id", "str", "word"):
            self.take()
        if self.peek()[0] == "at":
            self.take()

    def until(self, *words: str, limit: int = 1_000_000) -> bool:
        """Skip tokens up to and including one of ``words``."""
        for _ in range(limit):
            kind, raw = self.take()
            if kind == "end" or (kind, raw) == ("punct", b";"):
                return False
            if kind == "word" and raw.decode("latin-1").upper() in words:
                return True
        return False


def statement_head(data: bytes, start: int = 0, end: int | None = None) -> StatementHead:
    """Read the head of the statement in ``data[start:end]``."""
    cur = _Cursor(data, start, len(data) if end is None else end)
    head = _head(cur)
    head.uncertain = cur.exhausted
    return head


def _add(head: StatementHead, name: tuple[str | None, str] | None, *, verb: str = "") -> None:
    if name is None:
        return
    db, obj = name
    if db is not None:
        head.databases.append(db)
    if head.obj is None:
        head.obj = ".".join(_quoted_name(n) for n in (db, obj) if n is not None)


def _head(cur: _Cursor) -> StatementHead:
    verb = cur.keyword()
    if not verb:
        return StatementHead()
    cur.take()
    if verb == "USE":
        name = cur.name()
        head = StatementHead("USE")
        if name is not None:
            db = name[1] if name[0] is None else name[0]
            head.databases.append(db)
            head.obj = _quoted_name(db)
        return head
    if verb in ("CREATE", "ALTER", "DROP"):
        return _ddl(cur, verb)
    if verb == "RENAME":
        head = StatementHead("RENAME " + (cur.accept("TABLE", "TABLES", "USER") or ""))
        if head.verb == "RENAME USER":
            return head
        while True:
            _add(head, cur.name())
            if not cur.accept("TO"):
                return head
            _add(head, cur.name())
            if not cur.punct(b","):
                return head
    if verb == "TRUNCATE":
        cur.accept("TABLE")
        head = StatementHead("TRUNCATE TABLE")
        _add(head, cur.name())
        return head
    if verb in ("INSERT", "REPLACE"):
        while cur.accept("LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE"):
            pass
        cur.accept("INTO")
        head = StatementHead(f"{verb} INTO")
        _add(head, cur.name())
        return head
    if verb == "UPDATE":
        while cur.accept("LOW_PRIORITY", "IGNORE"):
            pass
        head = StatementHead("UPDATE")
        _add(head, cur.name())
        return head
    if verb == "DELETE":
        while cur.accept("LOW_PRIORITY", "QUICK", "IGNORE"):
            pass
        cur.accept("FROM")
        head = StatementHead("DELETE FROM")
        _add(head, cur.name())
        return head
    if verb == "LOCK":
        head = StatementHead("LOCK " + (cur.accept("TABLES", "TABLE") or "TABLES"))
        while True:
            _add(head, cur.name())
            while cur.peek()[0] not in ("end",) and cur.peek() != ("punct", b","):
                if cur.peek() == ("punct", b";"):
                    return head
                cur.take()
            if not cur.punct(b","):
                return head
    if verb == "LOAD":
        head = StatementHead("LOAD DATA")
        if cur.until("INTO") and cur.accept("TABLE"):
            _add(head, cur.name())
        return head
    if verb in ("GRANT", "REVOKE"):
        head = StatementHead(verb)
        if cur.until("ON"):
            cur.accept("TABLE", "FUNCTION", "PROCEDURE", "PACKAGE")
            _add(head, cur.name())
        return head
    if verb == "CALL":
        head = StatementHead("CALL")
        _add(head, cur.name())
        return head
    return StatementHead(verb)


def _ddl(cur: _Cursor, verb: str) -> StatementHead:
    if verb == "CREATE" and cur.accept("OR"):
        cur.accept("REPLACE")
    while True:
        if cur.accept("ALGORITHM"):
            cur.punct(b"=")
            cur.take()
        elif cur.accept("DEFINER"):
            cur.skip_user()
        elif cur.accept("SQL"):
            cur.accept("SECURITY")
            cur.take()
        elif not cur.accept(*_CREATE_MODIFIERS):
            break
    kind = cur.accept("DATABASE", "SCHEMA", *_OBJECT_KINDS)
    head = StatementHead(f"{verb} {kind}".strip())
    if not kind:
        return head  # USER, ROLE, SERVER ...: not objects of a database
    if cur.accept("IF"):
        cur.accept("NOT")
        cur.accept("EXISTS")
    if kind in ("DATABASE", "SCHEMA"):
        if verb == "ALTER" and cur.keyword() in _DATABASE_OPTIONS:
            return head  # ALTER DATABASE without a name: the current one
        name = cur.name()
        if name is not None:
            head.databases.append(name[1])
            head.obj = _quoted_name(name[1])
        if verb != "DROP":
            _database_options(cur, head)
        return head
    if verb == "DROP" and kind == "INDEX":
        cur.name()
        if cur.accept("ON"):
            _add(head, cur.name())
        return head
    _add(head, cur.name())
    if verb == "DROP":
        while cur.punct(b","):
            _add(head, cur.name())
    elif kind in ("TRIGGER", "INDEX") and cur.until("ON"):
        _add(head, cur.name())
    elif verb == "ALTER" and kind in ("TABLE", "EVENT", "SEQUENCE"):
        # ALTER TABLE t RENAME [TO|AS] other.t moves the table elsewhere.
        while cur.until("RENAME", "DO"):
            if cur.accept("COLUMN", "INDEX", "KEY", "CONSTRAINT", "PARTITION"):
                continue
            cur.accept("TO", "AS")
            _add(head, cur.name())
    return head


def _database_options(cur: _Cursor, head: StatementHead) -> None:
    while True:
        cur.accept("DEFAULT")
        if cur.accept("CHARACTER"):
            cur.accept("SET")
            target = "charset"
        elif cur.accept("CHARSET"):
            target = "charset"
        elif cur.accept("COLLATE"):
            target = "collation"
        elif cur.accept("COMMENT", "ENCRYPTION"):
            cur.punct(b"=")
            cur.take()
            continue
        else:
            return
        cur.punct(b"=")
        kind, raw = cur.take()
        value = _ident(kind, raw) if kind in _NAME_KINDS else raw.strip(b"'").decode("latin-1")
        setattr(head, target, value)
