"""The apply stage's data path: one chunk into its shadow table, in the
caller's transaction.

- Version 2, LOCAL INFILE allowed: ``LOAD DATA LOCAL INFILE`` (``tsv.py``),
  the server's file request answered from the decompressing ``ChunkStream``
  block by block (``load_local``): no temporary file, no row held in Python.
- Version 2, LOCAL INFILE refused by the target: the same rows as INSERT
  statements built from validated fields (``tsv.InsertBuilder``).
- Version 1: each line checked against the strict INSERT grammar
  (``sql_chunk.LineGrammar``) before it runs.

Every path returns the rows the server took and the warnings it raised, and
what its OK packet's info says: rows read, existing rows deleted (replace)
and rows skipped (ignore, or a duplicate key under LOAD DATA LOCAL, which
skips with a warning); the caller commits only if the chunk verified and these
account for every row of the chunk (``apply.py``). A restore loads into its
shadow tables, or with ``--data-only`` straight into the target's tables
(``TablePlan.load_table``), under its ``--insert-mode``. When the server
refuses part of a chunk, the rest of the chunk is still read and checked, so
a damaged chunk is reported as damage (exit 5), whatever the server said.

Memory: the ChunkStream's blocks; one INSERT statement or version-1 line.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pymysql
from pymysql.constants import COMMAND
from pymysql.protocol import OKPacketWrapper

from ..errors import ConnectionLost, IntegrityError, Interrupted, ServerError, from_server_error
from ..format.chunk_reader import V1_MAX_LINE, V2_MAX_HELD_ROW, ChunkStream
from ..format.sql_chunk import HEADER, LineGrammar, count_rows, insert_prefix
from ..format.tsv import INSERT_VERB, InsertBuilder, load_data_sql
from ..storage.base import Storage
from .plan import ChunkJob

T = TypeVar("T")
PACKET_BYTES = 1 << 20  # LOCAL INFILE data packets (the protocol allows 16 MiB)
# The target refuses LOAD DATA LOCAL: MariaDB/MySQL "command not allowed" and
# MySQL 8's "loading local data is disabled".
LOCAL_INFILE_REFUSED = frozenset({1148, 3948, 2068})


@dataclass
class Loaded:
    """What the server did with a chunk: ``rows`` affected, ``warnings``, and
    from its info message ``records`` read, ``deleted`` (existing rows that
    REPLACE removed) and ``skipped`` (rows IGNORE or LOCAL left out)."""

    rows: int
    warnings: int
    records: int = 0
    deleted: int = 0
    skipped: int = 0

    def add(self, other: Loaded) -> None:
        self.rows += other.rows
        self.warnings += other.warnings
        self.records += other.records
        self.deleted += other.deleted
        self.skipped += other.skipped


# "Records: 3  Deleted: 0  Skipped: 1  Warnings: 1" (LOAD DATA) and
# "Records: 2  Duplicates: 1  Warnings: 1" (a multi-row INSERT/REPLACE).
_INFO = re.compile(rb"Records: (\d+)\s+(Deleted|Duplicates): (\d+)(?:\s+Skipped: (\d+))?")


def _counted(affected: int, warnings: int, info: bytes, *, rows: int, insert_mode: str) -> Loaded:
    """A statement's outcome from its affected rows and info message. A
    single-row INSERT has no info; then REPLACE's extra affected rows are the
    deleted ones and an IGNOREd row is the one not affected."""
    found = _INFO.search(info or b"")
    if found is None:
        records = rows
        deleted = max(affected - rows, 0) if insert_mode == "replace" else 0
        skipped = max(rows - affected, 0) if insert_mode == "ignore" else 0
    elif found.group(2) == b"Deleted":
        records, deleted = int(found.group(1)), int(found.group(3))
        skipped = int(found.group(4) or 0)
    else:
        records, duplicates = int(found.group(1)), int(found.group(3))
        deleted = duplicates if insert_mode == "replace" else 0
        skipped = duplicates if insert_mode == "ignore" else 0
    return Loaded(affected, warnings, records, deleted, skipped)


def load_local(
    conn: Any, sql: str, blocks: Iterable[bytes], *, context: str, insert_mode: str = "error"
) -> Loaded:
    """Run ``LOAD DATA LOCAL INFILE`` and answer the server's file request with
    ``blocks``, whatever file name it asks for (a malicious server cannot make
    osidump read a local file: the connection's own file reader is off).

    If ``blocks`` raises midway, the connection is closed (the server rolls
    the transaction back) and the error propagates."""
    try:
        conn._execute_command(COMMAND.COM_QUERY, sql.encode("utf-8"))
        packet = conn._read_packet()
    except pymysql.err.MySQLError as exc:
        raise from_server_error(exc, context=context) from exc
    except OSError as exc:
        raise from_server_error(exc, context=context) from exc
    data = packet.get_all_data()
    if not data or data[0] != 0xFB:
        raise ServerError(f"{context}: the server did not ask for the chunk's rows")
    try:
        for block in blocks:
            for at in range(0, len(block), PACKET_BYTES):
                conn.write_packet(block[at : at + PACKET_BYTES])
        conn.write_packet(b"")
    except (pymysql.err.MySQLError, OSError) as exc:
        with contextlib.suppress(Exception):
            conn._force_close()
        raise from_server_error(exc, context=context) from exc
    except BaseException:
        with contextlib.suppress(Exception):
            conn._force_close()
        raise
    try:
        ok = conn._read_packet()
    except pymysql.err.MySQLError as exc:
        raise from_server_error(exc, context=context) from exc
    except OSError as exc:
        raise from_server_error(exc, context=context) from exc
    result = OKPacketWrapper(ok)
    return _counted(
        int(result.affected_rows),
        int(result.warning_count),
        bytes(result.message or b""),
        rows=0,
        insert_mode=insert_mode,
    )


def _run(
    conn: Any, sql: bytes, context: str, *, rows: int = 0, insert_mode: str = "error"
) -> Loaded:
    try:
        affected = int(conn.query(sql))
    except pymysql.err.MySQLError as exc:
        raise from_server_error(exc, context=context) from exc
    except OSError as exc:
        raise from_server_error(exc, context=context) from exc
    result = getattr(conn, "_result", None)
    return _counted(
        affected,
        int(getattr(result, "warning_count", 0) or 0),
        bytes(getattr(result, "message", None) or b""),
        rows=rows,
        insert_mode=insert_mode,
    )


def _exhaust(items: Iterator[Any]) -> None:
    for _ in items:
        pass


class ChunkLoader:
    """Loads chunks of one restore; ``local_infile`` False switches version-2
    chunks to INSERT statements."""

    def __init__(
        self, storage: Storage, *, local_infile: bool, cancel: threading.Event | None = None
    ):
        self.storage = storage
        self.local_infile = local_infile
        # Set by Ctrl-C, a signal or another loader's error: a chunk being
        # loaded stops at its next block (the connection is closed, so the
        # server rolls the chunk back) instead of running to its end.
        self.cancel = cancel or threading.Event()

    def _until_cancelled(self, items: Iterator[T]) -> Iterator[T]:
        for item in items:
            if self.cancel.is_set():
                raise Interrupted("restore cancelled while a chunk was loading")
            yield item

    def load(self, conn: Any, job: ChunkJob) -> Loaded:
        """Load ``job`` into its table's shadow; verify the chunk. The caller
        owns the transaction."""
        t = job.table
        # LOAD DATA holds no row (None: rows counted, not measured); the
        # INSERT fallback bounds each line it holds in lines().
        max_row: int | None = None
        if t.encoding == "sql":
            max_row = V1_MAX_LINE
        elif not self.local_infile:
            max_row = int(job.chunk.max_row_bytes or 0)
        stream = ChunkStream(self.storage, job.chunk, label=job.label, max_row=max_row)
        context = f"loading {job.label}"
        with stream:
            if t.encoding == "sql":
                return self._load_sql(conn, job, stream, context)
            if self.local_infile:
                blocks = stream.blocks()
                try:
                    loaded = load_local(
                        conn,
                        load_data_sql(t.load_table, t.columns, insert_mode=t.insert_mode),
                        self._until_cancelled(blocks),
                        context=context,
                        insert_mode=t.insert_mode,
                    )
                except ServerError as exc:
                    if not isinstance(exc, ConnectionLost):
                        _exhaust(blocks)
                        stream.finish()  # damage wins over the server's complaint
                    raise
                _exhaust(blocks)
                stream.finish()
                return loaded
            return self._load_inserts(conn, job, stream, context)

    def _load_inserts(self, conn: Any, job: ChunkJob, stream: ChunkStream, context: str) -> Loaded:
        t = job.table
        builder = InsertBuilder(t.load_table, t.columns, insert_mode=t.insert_mode)
        cap = min(int(job.chunk.max_row_bytes or 0), V2_MAX_HELD_ROW)
        lines = stream.lines(cap)
        total = Loaded(0, 0)
        try:
            statements = self._until_cancelled(builder.statements(lines, where=job.label))
            for statement, rows in statements:
                total.add(_run(conn, statement, context, rows=rows, insert_mode=t.insert_mode))
        except ServerError:
            _exhaust(lines)
            stream.finish()
            raise
        stream.finish()
        return total

    def _load_sql(self, conn: Any, job: ChunkJob, stream: ChunkStream, context: str) -> Loaded:
        t = job.table
        grammar = LineGrammar(t.entry.name, [c.name for c in t.columns])
        # Version-1 lines name the table unqualified: load into the shadow by
        # pointing the statement at it (the prefix is replaced, never parsed).
        shadow_prefix = insert_prefix(t.load_table, [c.name for c in t.columns])
        shadow_prefix = INSERT_VERB[t.insert_mode].encode() + shadow_prefix[len(b"INSERT INTO") :]
        lines = stream.lines(V1_MAX_LINE)
        total = Loaded(0, 0)
        rows = 0
        try:
            for number, line in enumerate(self._until_cancelled(lines)):
                if number == 0:
                    if line.rstrip(b";") != HEADER:
                        raise stream.damaged("does not start with the chunk header")
                    continue  # restore sets its own session
                if not grammar.check(line):
                    raise stream.damaged(
                        f"line {number + 1} is not an INSERT of literals into its own table"
                    )
                n = count_rows(line)
                rows += n
                statement = shadow_prefix + line[len(grammar.prefix) :]
                total.add(_run(conn, statement, context, rows=n, insert_mode=t.insert_mode))
        except ServerError:
            # The rest of the chunk (after the line the server refused, which
            # is counted already): counted and checked, not run.
            rows += sum(count_rows(line) for line in lines)
            stream.finish(rows=rows)
            raise
        stream.finish(rows=rows)
        return total


def first_warning(conn: Any) -> str:
    """The server's first warning of the last statement, for the message."""
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW WARNINGS LIMIT 1")
            row = cur.fetchone()
    except pymysql.err.MySQLError:
        return "(could not read the warning)"
    if not row:
        return "(no warning text)"
    return f"{row[0]} {row[1]}: {row[2]}"


__all__ = [
    "LOCAL_INFILE_REFUSED",
    "ChunkLoader",
    "IntegrityError",
    "Loaded",
    "first_warning",
    "load_local",
]
