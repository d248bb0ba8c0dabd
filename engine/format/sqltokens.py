"""A tokenizer for the SQL that a dump's schema files carry.

Schema files come from an untrusted place (anyone who can write the backup
location), so restore and verify never run their statements on faith: they
tokenize each one and check its shape first (``ddl.py``). The tokenizer knows
MySQL/MariaDB lexical rules that matter for that: quoted identifiers with
doubled backticks, strings with backslash escapes and doubled quotes,
``--``/``#``/``/* */`` comments (dropped), and executable comments
(``/*!50100 ... */``, ``/*M!100100 ... */``) whose content the server runs, so
it is tokenized like any other text.

Anything the lexer does not recognise, or an unterminated string, comment or
identifier, raises :class:`SqlSyntaxError`: a statement that cannot be read
cannot be checked, and is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ManifestError


class SqlSyntaxError(ManifestError):
    """A schema statement could not be tokenized."""


@dataclass(frozen=True)
class Token:
    kind: str  # "word" | "ident" | "string" | "number" | "var" | "op"
    text: str  # as written
    start: int  # offset in the statement
    end: int

    @property
    def value(self) -> str:
        """An identifier's name (backticks removed, doubled ones undone), a
        word in upper case, anything else as written."""
        if self.kind == "ident":
            return self.text[1:-1].replace("``", "`")
        if self.kind == "word":
            return self.text.upper()
        return self.text

    @property
    def is_name(self) -> bool:
        return self.kind in ("word", "ident")

    def name(self) -> str:
        """The identifier this token names (words keep their case)."""
        return self.value if self.kind == "ident" else self.text


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<vopen>/\*M?!\d*)
  | (?P<comment>/\*(?!M?!).*?\*/ | --(?=[ \t\r\n]|$)[^\n]* | \#[^\n]*)
  | (?P<vclose>\*/)
  | (?P<ident>`(?:[^`]|``)*`)
  | (?P<string>'(?:[^'\\]|\\.|'')*' | "(?:[^"\\]|\\.|"")*")
  | (?P<number>0[xX][0-9a-fA-F]+\b | 0[bB][01]+\b
      | (?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_$\u0080-\U0010ffff]))
  | (?P<hexlit>[xX]'[0-9a-fA-F]*' | [bB]'[01]*')
  | (?P<word>[A-Za-z0-9_$\u0080-\U0010ffff]+)
  | (?P<var>@@?(?:[A-Za-z0-9_$.]+|`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")?)
  | (?P<op><=>|<<|>>|<=|>=|<>|!=|:=|&&|\|\||->>|->|[-+*/%=<>!~^&|(),.;:?{}\[\]])
    """,
    re.X | re.S,
)


def tokenize(sql: str) -> list[Token]:
    """Tokens of ``sql`` (comments and white space dropped; the content of
    executable comments kept as tokens)."""
    tokens: list[Token] = []
    pos = 0
    depth = 0  # inside an executable comment
    n = len(sql)
    while pos < n:
        m = _TOKEN.match(sql, pos)
        if m is None:
            raise SqlSyntaxError(f"unreadable SQL at offset {pos}: {sql[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "vopen":
            if depth:
                raise SqlSyntaxError("nested executable comment")
            depth = 1
        elif kind == "vclose":
            if depth:
                depth = 0
            else:  # "*/" outside a comment: the operators * and /
                tokens.append(Token("op", "*", m.start(), m.start() + 1))
                tokens.append(Token("op", "/", m.start() + 1, m.end()))
        elif kind == "hexlit":
            tokens.append(Token("string", text, m.start(), m.end()))
        elif kind not in ("ws", "comment"):
            tokens.append(Token(kind, text, m.start(), m.end()))
        pos = m.end()
    if depth:
        raise SqlSyntaxError("unterminated executable comment")
    return tokens


def qualified_names(tokens: list[Token]) -> list[tuple[int, list[str]]]:
    """Dotted names (``db.t``, ``db.t.col``, ``a.col``): (index of the first
    token, the parts). Numbers and strings never start one."""
    found: list[tuple[int, list[str]]] = []
    i = 0
    while i < len(tokens):
        if (
            tokens[i].is_name
            and i + 2 < len(tokens)
            and tokens[i + 1].text == "."
            and tokens[i + 2].is_name
            and (i == 0 or tokens[i - 1].text != ".")
        ):
            parts = [tokens[i].name()]
            j = i + 1
            while j + 1 < len(tokens) and tokens[j].text == "." and tokens[j + 1].is_name:
                parts.append(tokens[j + 1].name())
                j += 2
            found.append((i, parts))
            i = j
            continue
        i += 1
    return found


def replace_tokens(sql: str, replacements: dict[int, str], tokens: list[Token]) -> str:
    """``sql`` with the tokens at the given indexes replaced by new text."""
    out: list[str] = []
    last = 0
    for index in sorted(replacements):
        tok = tokens[index]
        out.append(sql[last : tok.start])
        out.append(replacements[index])
        last = tok.end
    out.append(sql[last:])
    return "".join(out)


def comment_line(text: str) -> str:
    """``text`` as one ``-- `` comment line of a script osidump writes: names
    from a dump may hold a line break, which would end the comment and make
    the rest of the line SQL. Unprintable characters are written ``\\xNN``."""
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return f"-- {shown}\n"

