"""Checking and reshaping the CREATE statements a dump carries.

A dump's schema files are untrusted input: whoever can write the backup
location can edit them and recompute their digests. Restore (and verify) run a
statement only after it passed these checks, each statement alone on a
connection that does not allow multi-statements:

- it is exactly one statement of the kind the dump says (a table is a CREATE
  TABLE, a view a CREATE VIEW, ...), creating the object of that name, with
  nothing after it;
- no database is named in its header, and a dotted name never starts with a
  database outside the restore (the caller passes the names it must refuse:
  system schemas, the other databases of the dump, the target server's other
  databases);
- tables use an ordinary storage engine and no option that reaches outside the
  database (DATA/INDEX DIRECTORY, CONNECTION, UNION, CONNECT/FEDERATED/SPIDER
  engines); views, triggers and events contain no statement that leaves the
  database (DROP DATABASE, GRANT, LOAD DATA, INTO OUTFILE, LOAD_FILE, ...).

Routine bodies are code by nature: beyond their header and shape they are not
judged (``restore --no-routines`` skips them; docs/SECURITY.md).

The same parse splits a CREATE TABLE into columns and keys, so restore can
create a table without its secondary indexes and foreign keys and add them
after the data, and read the AUTO_INCREMENT counter the dump recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ManifestError
from ..server_compat import SYSTEM_SCHEMAS
from .sqltokens import Token, qualified_names, replace_tokens, tokenize

ENGINES = frozenset(
    {"INNODB", "MYISAM", "ARIA", "MEMORY", "HEAP", "ARCHIVE", "CSV", "ROCKSDB", "SEQUENCE"}
)
_TABLE_OPTION_DENY = frozenset({"DIRECTORY", "CONNECTION", "UNION"})
# What never belongs in a view, trigger or event of a database being restored:
# statements that reach other databases, accounts, files or the server. Single
# words, and pairs (first word, second word).
_BODY_DENY_WORDS = frozenset(
    {
        "GRANT",
        "REVOKE",
        "OUTFILE",
        "DUMPFILE",
        "LOAD_FILE",
        "SHUTDOWN",
        "SONAME",
        "PREPARE",
        "EXECUTE",
        "KILL",
        "SLEEP",
        "BENCHMARK",
        "SYS_EXEC",
        "SYS_EVAL",
    }
)
_BODY_DENY_PAIRS = frozenset(
    {(a, b) for a in ("CREATE", "DROP", "ALTER") for b in ("DATABASE", "SCHEMA")}
    | {(a, "USER") for a in ("CREATE", "DROP", "ALTER", "RENAME")}
    | {
        ("SET", "PASSWORD"),
        ("INSTALL", "PLUGIN"),
        ("UNINSTALL", "PLUGIN"),
        ("INSTALL", "SONAME"),
        ("UNINSTALL", "SONAME"),
        ("LOAD", "DATA"),
        ("LOAD", "XML"),
    }
)
_DDL_FUNCTION_DENY = frozenset({"LOAD_FILE", "SLEEP", "BENCHMARK", "SYS_EXEC", "SYS_EVAL"})
OBJECT_KINDS = ("view", "trigger", "procedure", "function", "event")


class UnsafeStatement(ManifestError):
    """A statement from the dump is not what the dump says it is."""

    default_hint = (
        "the dump was altered or damaged: do not restore it; take a new export or use"
        " another backup"
    )


def _fail(what: str, name: str, why: str) -> UnsafeStatement:
    return UnsafeStatement(f"schema file: {what} {name!r} {why}")


@dataclass(frozen=True)
class Definition:
    # "column", "primary", "unique", "index", "fulltext", "spatial", "foreign",
    # "check" or "other"
    kind: str
    text: str  # as written in the statement
    name: str | None  # index or constraint name, when it has one


@dataclass(frozen=True)
class CreateTable:
    name: str
    definitions: tuple[Definition, ...]
    options: str  # everything after the closing parenthesis
    auto_increment: int | None

    @property
    def columns(self) -> list[str]:
        return [d.name or "" for d in self.definitions if d.kind == "column"]

    def build(
        self,
        name: str,
        *,
        without: frozenset[str] = frozenset(),
        auto_increment: int | None = None,
    ) -> str:
        """The statement under another ``name``, leaving out definitions of the
        given kinds; AUTO_INCREMENT set to ``auto_increment`` when given."""
        kept = [d.text for d in self.definitions if d.kind not in without]
        options = self.options
        if auto_increment is not None:
            options = re.sub(r"\s*AUTO_INCREMENT\s*=\s*\d+", "", options, flags=re.I)
            options = f" AUTO_INCREMENT={auto_increment}" + (
                " " + options.strip() if options.strip() else ""
            )
        quoted = "`" + name.replace("`", "``") + "`"
        body = ",\n  ".join(kept)
        return f"CREATE TABLE {quoted} (\n  {body}\n){options}"

    def clauses(self, kinds: frozenset[str]) -> list[Definition]:
        return [d for d in self.definitions if d.kind in kinds]


def _expect_word(tokens: list[Token], i: int, *words: str) -> int:
    if i >= len(tokens) or tokens[i].kind != "word" or tokens[i].value not in words:
        got = tokens[i].text if i < len(tokens) else "the end"
        raise ManifestError(f"expected {'/'.join(words)}, found {got!r}")
    return i + 1


def _no_semicolon(tokens: list[Token], what: str, name: str) -> None:
    if any(t.text == ";" for t in tokens):
        raise _fail(what, name, "holds more than one statement")


def _check_qualifiers(tokens: list[Token], what: str, name: str, refused: frozenset[str]) -> None:
    for _i, parts in qualified_names(tokens):
        if parts[0].lower() in refused:
            raise _fail(what, name, f"refers to database {parts[0]!r}, outside the restore")


def _words(tokens: list[Token]) -> set[str]:
    return {t.value for t in tokens if t.kind == "word"}


def _split_top(tokens: list[Token], start: int) -> tuple[list[list[Token]], int]:
    """Split the parenthesised list opening at ``tokens[start]`` at its
    top-level commas; return the pieces and the index after the ")"."""
    assert tokens[start].text == "("
    depth = 0
    pieces: list[list[Token]] = [[]]
    for i in range(start, len(tokens)):
        t = tokens[i]
        if t.text == "(":
            depth += 1
            if depth == 1:
                continue
        elif t.text == ")":
            depth -= 1
            if depth == 0:
                return pieces, i + 1
        elif t.text == "," and depth == 1:
            pieces.append([])
            continue
        pieces[-1].append(t)
    raise ManifestError("unbalanced parentheses")


def _classify(piece: list[Token]) -> tuple[str, str | None]:
    first = piece[0]
    if first.kind == "ident" or (first.kind == "word" and first.value not in _DEF_KEYWORDS):
        return "column", first.name()
    word = first.value
    if word == "CONSTRAINT":
        rest = piece[1:]
        cname = None
        if (
            rest
            and rest[0].is_name
            and rest[0].value not in ("PRIMARY", "UNIQUE", "FOREIGN", "CHECK")
        ):
            cname = rest[0].name()
            rest = rest[1:]
        if not rest:
            return "other", cname
        inner, _ = _classify(rest)
        return inner, cname
    if word == "PRIMARY":
        return "primary", None
    if word == "UNIQUE":
        return "unique", _index_name(piece[1:])
    if word in ("KEY", "INDEX"):
        return "index", _index_name(piece[1:])
    if word in ("FULLTEXT", "SPATIAL"):
        return word.lower(), _index_name(piece[1:])
    if word == "FOREIGN":
        return "foreign", None
    if word == "CHECK":
        return "check", None
    return "other", None


def _index_name(rest: list[Token]) -> str | None:
    if rest and rest[0].kind == "word" and rest[0].value in ("KEY", "INDEX"):
        rest = rest[1:]
    if rest and rest[0].is_name and rest[0].text != "(":
        return rest[0].name()
    return None


_DEF_KEYWORDS = frozenset(
    {
        "CONSTRAINT",
        "PRIMARY",
        "UNIQUE",
        "KEY",
        "INDEX",
        "FULLTEXT",
        "SPATIAL",
        "FOREIGN",
        "CHECK",
        "PERIOD",
    }
)


def parse_create_table(
    sql: str, *, name: str, refused: frozenset[str] = SYSTEM_SCHEMAS
) -> CreateTable:
    """Check ``sql`` is one CREATE TABLE of ``name`` that stays inside its
    database, and split it into definitions."""
    what = "table"
    try:
        tokens = tokenize(sql)
        _no_semicolon(tokens, what, name)
        i = _expect_word(tokens, 0, "CREATE")
        i = _expect_word(tokens, i, "TABLE")
        if i >= len(tokens) or not tokens[i].is_name:
            raise ManifestError("no table name")
        if i + 1 < len(tokens) and tokens[i + 1].text == ".":
            raise _fail(what, name, "names a database in its header")
        if tokens[i].name() != name:
            raise _fail(what, name, f"creates {tokens[i].name()!r} instead")
        i += 1
        if i >= len(tokens) or tokens[i].text != "(":
            raise ManifestError("no column list")
        pieces, after = _split_top(tokens, i)
    except UnsafeStatement:
        raise
    except ManifestError as exc:
        raise _fail(what, name, f"is not a CREATE TABLE statement ({exc.message})") from exc
    _check_qualifiers(tokens, what, name, refused)
    if _words(tokens) & _DDL_FUNCTION_DENY:
        raise _fail(what, name, "calls a function that reads files or stalls the server")
    option_tokens = tokens[after:]
    option_words = _words(option_tokens)
    if option_words & _TABLE_OPTION_DENY:
        raise _fail(what, name, "has an option that reaches outside the database")
    for k, tok in enumerate(option_tokens):
        if tok.kind == "word" and tok.value in ("ENGINE", "TYPE"):
            j = k + 1
            if j < len(option_tokens) and option_tokens[j].text == "=":
                j += 1
            engine = option_tokens[j].value.upper() if j < len(option_tokens) else ""
            if engine not in ENGINES:
                raise _fail(
                    what,
                    name,
                    f"uses storage engine {engine or '?'}, which osidump does not restore",
                )
    definitions = []
    for piece in pieces:
        if not piece:
            raise _fail(what, name, "has an empty definition")
        kind, dname = _classify(piece)
        text = sql[piece[0].start : piece[-1].end]
        definitions.append(Definition(kind, text, dname))
    if not any(d.kind == "column" for d in definitions):
        raise _fail(what, name, "has no columns")
    options = sql[tokens[after - 1].end :] if after < len(tokens) else ""
    auto = None
    for k, tok in enumerate(option_tokens):
        if tok.kind == "word" and tok.value == "AUTO_INCREMENT":
            j = k + 1
            if j < len(option_tokens) and option_tokens[j].text == "=":
                j += 1
            if j < len(option_tokens) and option_tokens[j].kind == "number":
                auto = int(option_tokens[j].text)
    return CreateTable(
        name=name, definitions=tuple(definitions), options=options, auto_increment=auto
    )


def foreign_key_tables(definition: Definition) -> list[list[str]]:
    """The tables a FOREIGN KEY definition references, as name parts."""
    tokens = tokenize(definition.text)
    for k, tok in enumerate(tokens):
        if tok.kind == "word" and tok.value == "REFERENCES":
            parts = [tokens[k + 1].name()]
            j = k + 2
            while j + 1 < len(tokens) and tokens[j].text == "." and tokens[j + 1].is_name:
                parts.append(tokens[j + 1].name())
                j += 2
            return [parts]
    return []


# --- views, triggers, routines, events ------------------------------------------


def _skip_header_clauses(tokens: list[Token], i: int) -> int:
    """Skip OR REPLACE, ALGORITHM=, DEFINER=, SQL SECURITY, AGGREGATE: the
    clauses allowed between CREATE and the object kind."""
    while i < len(tokens):
        t = tokens[i]
        v = t.value if t.kind == "word" else ""
        if v == "OR" and i + 1 < len(tokens) and tokens[i + 1].value == "REPLACE":
            i += 2
        elif v == "ALGORITHM" and i + 2 < len(tokens) and tokens[i + 1].text == "=":
            i += 3
        elif v == "DEFINER" and i + 2 < len(tokens) and tokens[i + 1].text == "=":
            i += 3
            if i < len(tokens) and tokens[i].text in ("(",):
                i += 2  # CURRENT_USER()
            if i < len(tokens) and tokens[i].kind == "var" and tokens[i].text.startswith("@"):
                i += 1  # user@host: the host
            elif i + 1 < len(tokens) and tokens[i].text == "@":
                i += 2
        elif v == "SQL" and i + 1 < len(tokens) and tokens[i + 1].value == "SECURITY":
            i += 3
        elif v == "AGGREGATE":
            i += 1
        else:
            return i
    return i


def _block_depth_ok(tokens: list[Token]) -> bool:
    """True if no ";" stands outside BEGIN ... END: compound bodies hold
    statements, but nothing may follow the object's own statement. CASE opens
    a block too (its END closes it, as expression or statement); END IF, END
    LOOP, END WHILE, END REPEAT and END FOR close blocks not counted here."""
    depth = 0
    for k, t in enumerate(tokens):
        if t.kind != "word" and t.text != ";":
            continue
        v = t.value
        nxt = tokens[k + 1].value if k + 1 < len(tokens) and tokens[k + 1].kind == "word" else ""
        opens_case = v == "CASE" and not (k and tokens[k - 1].value == "END")
        if (v == "BEGIN" and nxt != "WORK") or opens_case:  # BEGIN WORK: a transaction
            depth += 1
        elif v == "END" and nxt not in ("IF", "LOOP", "WHILE", "REPEAT", "FOR"):
            depth -= 1
            if depth < 0:
                return False
        elif t.text == ";" and depth == 0:
            return False
    return depth == 0


def check_object(
    *,
    kind: str,
    name: str,
    sql: str,
    database: str,
    tables: frozenset[str] = frozenset(),
    table: str | None = None,
    refused: frozenset[str] = SYSTEM_SCHEMAS,
) -> None:
    """Refuse ``sql`` unless it is one CREATE of ``kind`` named ``name`` in
    ``database`` that refers to no refused database. ``table`` is a trigger's
    table, which must be one of ``tables``."""
    if kind not in OBJECT_KINDS:
        raise UnsafeStatement(f"schema file: unknown object kind {kind!r}")
    try:
        tokens = tokenize(sql)
        i = _expect_word(tokens, 0, "CREATE")
        i = _skip_header_clauses(tokens, i)
        i = _expect_word(tokens, i, kind.upper())
        if kind in ("procedure", "function", "event", "trigger") and tokens[i].value == "IF":
            raise ManifestError("IF NOT EXISTS is not what SHOW CREATE writes")
        if i >= len(tokens) or not tokens[i].is_name:
            raise ManifestError("no name")
    except UnsafeStatement:
        raise
    except ManifestError as exc:
        raise _fail(
            kind, name, f"is not a CREATE {kind.upper()} statement ({exc.message})"
        ) from exc
    first = tokens[i]
    if i + 2 < len(tokens) and tokens[i + 1].text == "." and tokens[i + 2].is_name:
        if first.name() != database:
            raise _fail(kind, name, f"is created in database {first.name()!r}")
        first = tokens[i + 2]
        i += 2
    if first.name() != name:
        raise _fail(kind, name, f"creates {first.name()!r} instead")
    if not _block_depth_ok(tokens):
        raise _fail(kind, name, "holds more than one statement")
    _check_qualifiers(tokens, kind, name, refused)
    if kind == "trigger":
        j = i + 1
        if (
            j + 3 >= len(tokens)
            or tokens[j].value not in ("BEFORE", "AFTER")
            or tokens[j + 1].value not in ("INSERT", "UPDATE", "DELETE")
            or tokens[j + 2].value != "ON"
        ):
            raise _fail(kind, name, "does not read BEFORE|AFTER <event> ON <table>")
        target = tokens[j + 3]
        if j + 5 < len(tokens) and tokens[j + 4].text == ".":
            if target.name() != database:
                raise _fail(kind, name, f"is defined on a table of database {target.name()!r}")
            target = tokens[j + 5]
        if target.name() != table or target.name() not in tables:
            raise _fail(kind, name, f"is defined on {target.name()!r}, not a table of this restore")
    if kind in ("view", "trigger", "event"):
        bad = _denied(tokens)
        if bad:
            raise _fail(kind, name, f"uses {bad}, which reaches outside the database")


def _denied(tokens: list[Token]) -> str | None:
    """The first statement or function in ``tokens`` that reaches outside the
    database (``USE db`` as a statement; ``USE INDEX`` hints are fine)."""
    words = [t.value if t.kind == "word" else "" for t in tokens]
    for k, w in enumerate(words):
        if not w:
            continue
        if w in _BODY_DENY_WORDS:
            return w
        nxt = words[k + 1] if k + 1 < len(words) else ""
        if (w, nxt) in _BODY_DENY_PAIRS:
            return f"{w} {nxt}"
        if w == "USE" and nxt not in ("INDEX", "KEY"):
            return "USE"
    return None


def rename_database(sql: str, source: str, target: str) -> str:
    """Point dotted names that start with ``source`` at ``target`` (SHOW CREATE
    VIEW qualifies every table with its database)."""
    if source == target:
        return sql
    tokens = tokenize(sql)
    quoted = "`" + target.replace("`", "``") + "`"
    replacements = {i: quoted for i, parts in qualified_names(tokens) if parts[0] == source}
    return replace_tokens(sql, replacements, tokens)


_CHARSET_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def database_options(sql: str, *, name: str) -> tuple[str | None, str | None]:
    """(character set, collation) of a dumped CREATE DATABASE, which must be
    exactly that statement for ``name`` (SHOW CREATE DATABASE's form)."""
    try:
        tokens = tokenize(sql)
        i = _expect_word(tokens, 0, "CREATE")
        i = _expect_word(tokens, i, "DATABASE", "SCHEMA")
        if i < len(tokens) and tokens[i].value == "IF":
            i += 3
        if i >= len(tokens) or not tokens[i].is_name:
            raise ManifestError("no name")
    except ManifestError as exc:
        raise _fail(
            "database", name, f"is not a CREATE DATABASE statement ({exc.message})"
        ) from exc
    if tokens[i].name() != name:
        raise _fail("database", name, f"creates {tokens[i].name()!r} instead")
    charset = collation = None
    rest = tokens[i + 1 :]
    k = 0
    allowed = {"DEFAULT", "CHARACTER", "SET", "CHARSET", "COLLATE", "ENCRYPTION", "=", "COMMENT"}
    while k < len(rest):
        t = rest[k]
        v = t.value if t.kind == "word" else t.text
        if v in ("CHARSET", "SET") or (
            v == "CHARACTER" and k + 1 < len(rest) and rest[k + 1].value == "SET"
        ):
            k += 2 if v == "CHARACTER" else 1
            if k < len(rest) and rest[k].text == "=":
                k += 1
            charset = rest[k].name() if k < len(rest) else None
            k += 1
            continue
        if v == "COLLATE":
            k += 1
            if k < len(rest) and rest[k].text == "=":
                k += 1
            collation = rest[k].name() if k < len(rest) else None
            k += 1
            continue
        if v in allowed or t.kind == "string":
            k += 1
            continue
        raise _fail("database", name, f"has an unexpected clause {t.text!r}")
    for value in (charset, collation):
        if value is not None and not _CHARSET_NAME.match(value):
            raise _fail("database", name, f"has an odd character set or collation {value!r}")
    return charset, collation
