"""Replaying a plain SQL script (mysqldump / mariadb-dump output) without the
mysql client: what ``gunzip < dump.sql.gz | mysql shop`` did.

Compression is detected from the first bytes (gzip ``1f 8b``, zstd
``28 b5 2f fd``), never from the file name. Statements run in order on one
connection with autocommit, as the client runs them; like the client, a
failure part-way leaves what ran before it (the error names the statement
number, never its content, which may hold data).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pymysql
import zstandard

from .config import ConnectionConfig
from .connection import connect, execute, quote_ident
from .errors import from_server_error
from .sql_script import iter_statements

BLOCK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass
class LoadResult:
    statements: int = 0
    bytes_read: int = 0
    compression: str = "none"


def _blocks(raw: io.BufferedReader, result: LoadResult) -> Iterator[bytes]:
    head = raw.peek(4)[:4]  # look without consuming
    reader: Any = raw
    if head.startswith(GZIP_MAGIC):
        result.compression = "gzip"
        reader = gzip.GzipFile(fileobj=raw)
    elif head == ZSTD_MAGIC:
        result.compression = "zstd"
        reader = zstandard.ZstdDecompressor().stream_reader(raw)
    while block := reader.read(BLOCK):
        result.bytes_read += len(block)
        yield block


def load_sql(
    connection: ConnectionConfig,
    source: io.BufferedReader,
    *,
    database: str | None = None,
    on_statement: Callable[[LoadResult], None] | None = None,
) -> LoadResult:
    result = LoadResult()
    conn = connect(connection, database=None)
    try:
        if database:
            execute(
                conn,
                f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)}",
                context=f"creating database {database}",
            )
            conn.select_db(database)
        for statement in iter_statements(_blocks(source, result)):
            result.statements += 1
            try:
                conn.query(statement)
            except pymysql.err.MySQLError as exc:
                error = from_server_error(
                    exc, context=f"statement {result.statements} of the script failed"
                )
                error.hint = (
                    "statements before it have run, as with the mysql client; fix and re-run"
                )
                raise error from exc
            if on_statement is not None:
                on_statement(result)
    finally:
        conn.close()
    return result
