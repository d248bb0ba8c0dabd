"""Replaying a plain SQL script (mysqldump / mariadb-dump output) without the
mysql client: what ``gunzip < dump.sql.gz | mysql shop`` did, and safer.

Read -> decompress -> split -> send: compression is detected from the first
bytes (gzip ``1f 8b``, zstd ``28 b5 2f fd``), never from the file name, and a
stream that ends early (a truncated download) is damage (IntegrityError, exit
5) naming the last complete statement, never a silently short load.
Statements run in order on one connection with autocommit, as the client runs
them; a failure part-way leaves what ran before it, and the error says how
many ran (and names the statement by number and head, never its values).

``-d NAME`` (``database``) means "load into NAME". A script made with
``--databases``/``--all-databases`` says where it goes itself (``USE``,
``CREATE DATABASE``, qualified names); before anything runs, a survey of the
file finds every database a statement would create, change, drop, write or
switch to (see ``sql_script.statement_head``), and a script naming any other
than NAME is refused unless ``follow_use`` is set. NAME is created with the
character set and collation the script's own ``CREATE DATABASE NAME`` states.
The survey is a streaming pass: a fast one looks only at the text after every
delimiter (a superset of the statement starts), and only if that finds a
database name does an exact pass split the file. Standard input is spooled to
a temporary file during the survey so the load can read it again.

Sending: a reader thread decompresses and splits while the main thread waits
for the server, so the splitting costs no wall time while the server is the
slower side. Each statement goes out through PyMySQL's command layer and its
reply is read packet by packet and dropped (no result objects; a SELECT in
the script is read and discarded, as ``mysql`` without a terminal prints it).

Memory: the reader's queue holds at most ``QUEUE_BYTES`` of statements (and
always one, however large); the splitter one statement plus one block; gzip
output is produced ``BLOCK`` bytes at a time, zstd output per ``ZSTD_FEED``
bytes of input (a few hundred KB for SQL, which compresses ~10-20x).
"""

from __future__ import annotations

import re
import tempfile
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import pymysql
import zstandard
from pymysql.constants import COMMAND, SERVER_STATUS
from pymysql.protocol import EOFPacketWrapper, OKPacketWrapper

from ..config import ConnectionConfig
from ..connection import connect, execute, quote_ident
from ..errors import (
    ConfigError,
    IntegrityError,
    ObjectNotFound,
    OsidumpError,
    ServerError,
    StorageError,
    from_server_error,
)
from .sql_script import Splitter, statement_head

BLOCK = 1 << 20
ZSTD_FEED = 1 << 16
QUEUE_BYTES = 4 << 20
HEAD_WINDOW = 4096  # a statement head (verb, DEFINER, name) fits in far less
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHARSET_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


@dataclass
class LoadResult:
    statements: int = 0
    bytes_read: int = 0  # SQL bytes (after decompression) the load read
    compression: str = "none"
    database: str | None = None  # -d: the database created or used first
    charset: str | None = None  # ... with the script's character set, if it stated one
    collation: str | None = None
    followed: list[str] = field(default_factory=list)  # other databases named (follow_use)


@dataclass
class ScriptSurvey:
    """What a whole script names, read before anything runs."""

    databases: dict[str, str] = field(default_factory=dict)  # name -> "statement N (HEAD)"
    charsets: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    exact: bool = False  # False: the fast pass found no database named at all


# --- reading and decompressing -------------------------------------------------


class Truncated(IntegrityError):
    """The compressed stream (or the script) ends before its end."""


def _raw_blocks(fh: IO[bytes], tee: IO[bytes] | None = None) -> Iterator[bytes]:
    while True:
        try:
            block = fh.read(BLOCK)
        except OSError as exc:
            raise StorageError(f"reading the script failed: {exc.strerror or exc}") from exc
        if not block:
            return
        if tee is not None:
            try:
                tee.write(block)
            except OSError as exc:
                raise StorageError(
                    f"spooling standard input to a temporary file failed: {exc.strerror or exc}",
                    hint="free space in the temporary directory (TMPDIR), or load without -d",
                ) from exc
        yield block


def _gunzip(raw: Iterator[bytes], first: bytes) -> Iterator[bytes]:
    """Every gzip member in turn (``cat a.gz b.gz`` is valid gzip), ``BLOCK``
    bytes of output at a time; zero padding after a member is skipped, as
    gzip does."""
    d = zlib.decompressobj(wbits=31)
    fed = False  # has the current member been given any bytes?
    data = first
    while True:
        if not fed:
            data = data.lstrip(b"\x00")
        if not data:
            data = next(raw, b"")
            if not data:
                if fed and not d.eof:
                    raise Truncated("the gzip stream ends early: the file is truncated")
                return
            continue
        fed = True
        try:
            out = d.decompress(data, BLOCK)
        except zlib.error as exc:
            raise IntegrityError(f"the gzip data is damaged ({exc})") from exc
        if out:
            yield out
        if d.eof:
            data, d, fed = d.unused_data, zlib.decompressobj(wbits=31), False
        else:
            data = d.unconsumed_tail


def _unzstd(raw: Iterator[bytes], first: bytes) -> Iterator[bytes]:
    """Every zstd frame in turn, fed ``ZSTD_FEED`` bytes at a time so the
    output of one call stays small; a frame cut short is Truncated (the
    zstandard readers return the short output without an error)."""
    d = zstandard.ZstdDecompressor().decompressobj()
    in_frame = False
    block = first
    while block:
        for at in range(0, len(block), ZSTD_FEED):
            piece = block[at : at + ZSTD_FEED]
            while piece:
                if d.eof:
                    d = zstandard.ZstdDecompressor().decompressobj()
                try:
                    out = d.decompress(piece)
                except zstandard.ZstdError as exc:
                    raise IntegrityError(f"the zstd data is damaged ({exc})") from exc
                in_frame = not d.eof
                piece = d.unused_data if d.eof else b""
                if out:
                    yield out
        block = next(raw, b"")
    if in_frame:
        raise Truncated("the zstd stream ends early: the file is truncated")


def sql_blocks(fh: IO[bytes], result: LoadResult, tee: IO[bytes] | None = None) -> Iterator[bytes]:
    """The script's SQL bytes, decompressed if the first bytes say so."""
    raw = _raw_blocks(fh, tee)
    first = next(raw, b"")
    if first.startswith(GZIP_MAGIC):
        result.compression, blocks = "gzip", _gunzip(raw, first)
    elif first.startswith(ZSTD_MAGIC):
        result.compression, blocks = "zstd", _unzstd(raw, first)
    else:
        blocks = _plain(raw, first)
    for block in blocks:
        result.bytes_read += len(block)
        yield block


def _plain(raw: Iterator[bytes], first: bytes) -> Iterator[bytes]:
    if first:
        yield first
    yield from raw


# --- the survey ----------------------------------------------------------------


def _delimiter_pattern(delimiters: set[bytes]) -> re.Pattern[bytes]:
    """Any delimiter, unless the next byte is one no statement head starts
    with: a head is blanks and comments, then an ASCII verb (delimiter bytes
    inside data are mostly followed by a quote, a comma or binary). A negative
    lookahead keeps a match at the end of the buffer: it can only pass too
    much, never too little."""
    either = b"|".join(re.escape(d) for d in sorted(delimiters, key=len, reverse=True))
    return re.compile(b"(?:" + either + rb")(?![^A-Za-z \t\r\n\f\v/#-])")


# Starts with a literal newline, so the search jumps between newlines (with
# "^" and re.M it tried every byte: 0.4 s for 38 MB). The file's first line is
# searched with a newline put in front of it.
# The line's own newline is left for the next line's match.
_DELIMITER_COMMAND = re.compile(rb"\n[ \t\r\n\f\v]*delimiter[ \t]+(\S+)[^\n]*", re.I)
_NOT_BLANK = re.compile(rb"\n[ \t\r\n\f\v]*[^ \t\r\n\f\v]")
LONG_LINE = 1 << 20


def _fast_pass_names_nothing(blocks: Iterator[bytes]) -> bool:
    """True if no statement of the script can name a database.

    Every statement starts at the file's start, after a DELIMITER line, or
    after a delimiter (any of ``;`` and every delimiter a DELIMITER line
    sets): so the text after every such place, inside strings or not, is a
    superset of the statement heads. If none of those reads as a head that
    names a database, none of the real ones does. False means "look closer"
    (a head names one, or one could not be read within its window, or there
    were too many places to read cheaply)."""
    delimiters = {b";"}
    needles = _delimiter_pattern(delimiters)
    buf = b"\n"  # the first line is a line too
    starts: deque[int] = deque([0])  # candidate statement starts awaiting a full window
    scan_from = line_from = 0  # where the delimiter and DELIMITER-line searches resume
    seen = budget = 0
    eof = False
    while not eof:
        block = next(blocks, b"")
        eof = not block
        keep = min(scan_from, line_from, starts[0] if starts else len(buf))
        buf = buf[keep:] + block
        scan_from, line_from = scan_from - keep, line_from - keep
        starts = deque(s - keep for s in starts)
        budget += len(block) // 512 + (20_000 if seen == 0 else 0)
        seen += len(block)
        # DELIMITER lines: whole lines only; the last one may still grow.
        line_end = len(buf) if eof else buf.rfind(b"\n", line_from)
        if line_end < 0:
            line_end = line_from
        for m in _DELIMITER_COMMAND.finditer(buf, line_from, line_end):
            if m.group(1) not in delimiters:
                delimiters.add(m.group(1))
                needles = _delimiter_pattern(delimiters)
                scan_from = min(scan_from, m.end())  # search what follows with the new set
            starts.append(m.end())
        line_from = line_end
        if len(buf) - line_from > LONG_LINE:
            # A line this long is decided by its start: not a DELIMITER line
            # (if it is one, or is all blanks so far, look closer instead).
            if _DELIMITER_COMMAND.match(buf, line_from) or not _NOT_BLANK.match(buf, line_from):
                return False
            line_from = len(buf)
        longest = max(len(d) for d in delimiters)
        scan_end = len(buf) if eof else max(scan_from, len(buf) - longest + 1)
        for m in needles.finditer(buf, scan_from):  # no endpos: a match may not be cut
            if m.start() >= scan_end:
                break
            starts.append(m.end())
        scan_from = scan_end
        starts = deque(sorted(set(starts)))
        while starts and (eof or starts[0] + HEAD_WINDOW <= len(buf)):
            at = starts.popleft()
            budget -= 1
            if budget < 0:
                return False
            end = min(len(buf), at + HEAD_WINDOW)
            head = statement_head(buf, at, end)
            if head.databases or (head.uncertain and end < len(buf)):
                return False
    return True


def _exact_survey(blocks: Iterator[bytes], survey: ScriptSurvey) -> None:
    survey.exact = True
    splitter = Splitter(blocks)
    number = 0
    last = b""
    try:
        for statement in splitter:
            number += 1
            last = statement
            head = statement_head(statement)
            for db in head.databases:
                survey.databases.setdefault(db, f"statement {number} ({head.label()})")
            if head.verb in ("CREATE DATABASE", "CREATE SCHEMA") and head.databases:
                survey.charsets[head.databases[0]] = (head.charset, head.collation)
    except IntegrityError as exc:
        raise _after(exc, number, last, ran=0) from exc


def survey_script(blocks_for_pass: Callable[[], Iterator[bytes]]) -> ScriptSurvey:
    """Read the script (``blocks_for_pass()`` gives a fresh pass over its
    SQL bytes each call) and say what it names. Raises Truncated/IntegrityError
    for a damaged file, naming the last complete statement."""
    survey = ScriptSurvey()
    try:
        if _fast_pass_names_nothing(blocks_for_pass()):
            return survey
    except IntegrityError:
        pass  # the exact pass reads it again and names the last good statement
    _exact_survey(blocks_for_pass(), survey)
    return survey


def _after(exc: IntegrityError, number: int, last: bytes, *, ran: int) -> IntegrityError:
    where = "before any statement"
    if number:
        where = f"after statement {number} ({statement_head(last).label()})"
    done = (
        "nothing was run"
        if ran == 0
        else f"statements 1-{ran} ran before it, as with the mysql client"
    )
    error = type(exc)(
        f"{exc.message} {where}; {done}",
        hint=(
            "load an intact copy of the file"
            if ran == 0
            else "what ran is in the database now: drop it and load an intact copy"
        ),
    )
    return error


# --- sending -------------------------------------------------------------------


def _run(conn: Any, statement: bytes) -> None:
    """Send one statement and read its reply (every result, if several) without
    building result objects. Raises the server's error as PyMySQL does."""
    conn._execute_command(COMMAND.COM_QUERY, statement)
    while True:
        packet = conn._read_packet()  # an error packet raises here
        if packet.is_ok_packet():
            status = OKPacketWrapper(packet).server_status
        elif packet.is_load_local_packet():
            raise ServerError(
                "the script asks to send a local file (LOAD DATA LOCAL INFILE), "
                "which load-sql does not do",
                hint="load that file separately",
            )
        else:  # a result set: column count, definitions, EOF, rows, EOF
            for _ in range(packet.read_length_encoded_integer()):
                conn._read_packet()
            conn._read_packet()
            while not (packet := conn._read_packet()).is_eof_packet():
                pass
            status = EOFPacketWrapper(packet).server_status
        if not status & SERVER_STATUS.SERVER_MORE_RESULTS_EXISTS:
            return


class _Queue:
    """Statements from the reader thread to the sender, bounded by bytes
    (always room for one). The last item is None, or the reader's error."""

    def __init__(self, limit: int) -> None:
        self._items: deque[bytes | BaseException | None] = deque()
        self._bytes = 0
        self._limit = limit
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: bytes | BaseException | None) -> bool:
        size = len(item) if isinstance(item, bytes) else 0
        with self._cond:
            while self._items and self._bytes + size > self._limit and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._bytes += size
            self._cond.notify_all()
            return True

    def get(self) -> bytes | BaseException | None:
        with self._cond:
            while not self._items:
                self._cond.wait()
            item = self._items.popleft()
            if isinstance(item, bytes):
                self._bytes -= len(item)
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """The sender stopped: let the reader finish."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()


def _read_statements(blocks: Iterator[bytes], queue: _Queue) -> None:
    try:
        for statement in Splitter(blocks):
            if not queue.put(statement):
                return
        queue.put(None)
    except BaseException as exc:  # handed to the sender, which raises it in order
        queue.put(exc)


def _load(
    conn: Any,
    blocks: Iterator[bytes],
    result: LoadResult,
    on_statement: Callable[[LoadResult], None] | None,
) -> None:
    queue = _Queue(QUEUE_BYTES)
    reader = threading.Thread(
        target=_read_statements, args=(blocks, queue), name="osidump-load-sql-reader", daemon=True
    )
    reader.start()
    last = b""
    try:
        while True:
            item = queue.get()
            if item is None:
                return
            if isinstance(item, IntegrityError):
                raise _after(item, result.statements, last, ran=result.statements) from item
            if isinstance(item, BaseException):
                raise item
            result.statements += 1
            last = item
            try:
                _run(conn, item)
            except (pymysql.err.MySQLError, OSError) as exc:
                error = from_server_error(
                    exc,
                    context=f"statement {result.statements} of the script failed "
                    f"({statement_head(item).label()})",
                )
                if isinstance(error, ObjectNotFound):
                    # Exit 4 is for what the user named (the file, a dump, a
                    # table to export); a table or database the script's own
                    # statement names is a statement the server refused: 8.
                    error = ServerError(error.message, code=_server_code(exc))
                error.hint = (
                    f"statements 1-{result.statements - 1} ran before it, as with the mysql "
                    "client; fix and re-run"
                )
                raise error from exc
            if on_statement is not None:
                on_statement(result)
    finally:
        queue.close()
        reader.join(timeout=10)


def _server_code(exc: BaseException) -> int:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else 0


# --- the command ---------------------------------------------------------------


def load_sql(
    connection: ConnectionConfig,
    source: IO[bytes],
    *,
    database: str | None = None,
    follow_use: bool = False,
    on_statement: Callable[[LoadResult], None] | None = None,
) -> LoadResult:
    """Run the script read from ``source`` (a binary file or standard input).

    With ``database``, the script is surveyed first (see the module docstring)
    and refused with ConfigError if it names another database and
    ``follow_use`` is False; nothing has run then."""
    result = LoadResult(database=database)
    spool: IO[bytes] | None = None
    try:
        if database:
            if not source.seekable():
                spool = tempfile.TemporaryFile(prefix="osidump-load-sql-")  # noqa: SIM115
            survey = _survey_source(source, spool)
            _check_survey(survey, database, follow_use, result)
            if spool is not None:
                spool.seek(0)
                source = spool
            else:
                source.seek(0)
        conn = connect(connection, database=None)
        try:
            if database:
                _create_target(conn, database, result)
            _load(conn, sql_blocks(source, result), result, on_statement)
        finally:
            conn.close()
    except OSError as exc:
        raise StorageError(f"reading the script failed: {exc.strerror or exc}") from exc
    finally:
        if spool is not None:
            spool.close()
    return result


def _survey_source(source: IO[bytes], spool: IO[bytes] | None) -> ScriptSurvey:
    passes = 0

    def blocks() -> Iterator[bytes]:
        nonlocal passes
        passes += 1
        scratch = LoadResult()
        if spool is None:
            source.seek(0)
            return sql_blocks(source, scratch)
        if passes == 1:  # standard input: read it once, into the spool
            return sql_blocks(source, scratch, tee=spool)
        for _ in _raw_blocks(source, spool):  # the rest of the input, if the pass stopped early
            pass
        spool.seek(0)
        return sql_blocks(spool, scratch)

    return survey_script(blocks)


def _check_survey(
    survey: ScriptSurvey, database: str, follow_use: bool, result: LoadResult
) -> None:
    others = {db: where for db, where in survey.databases.items() if db != database}
    if others and not follow_use:
        named = ", ".join(f"{quote_ident(db)} ({where})" for db, where in sorted(others.items()))
        raise ConfigError(
            f"the script writes to other databases than {quote_ident(database)}: {named}; "
            "nothing was run",
            hint="it was made with --databases or --all-databases and loads into the databases "
            "it names: run it without -d for that (--follow-use does the same: it obeys the "
            "script's USE statements, so nothing goes into -d after the first USE); osidump "
            "cannot load it under another name: remove its CREATE DATABASE and USE lines first",
        )
    result.followed = sorted(others)
    charset, collation = survey.charsets.get(database, (None, None))
    result.charset = charset if charset and _CHARSET_NAME.fullmatch(charset) else None
    result.collation = collation if collation and _CHARSET_NAME.fullmatch(collation) else None


def _create_target(conn: Any, database: str, result: LoadResult) -> None:
    options = ""
    if result.charset:
        options += f" CHARACTER SET {result.charset}"
    if result.collation:
        options += f" COLLATE {result.collation}"
    execute(
        conn,
        f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}{options}",
        context=f"creating database {database}",
    )
    try:
        conn.select_db(database)
    except pymysql.err.MySQLError as exc:
        raise from_server_error(exc, context=f"using database {database}") from exc


__all__ = ["LoadResult", "OsidumpError", "ScriptSurvey", "load_sql", "sql_blocks", "survey_script"]
