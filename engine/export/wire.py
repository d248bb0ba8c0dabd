"""A fast reader for one-column result sets, below PyMySQL's row API.

Export asks the server to format each row as one bulk-load line (see
``rows.py``), so every result row is a single string column. PyMySQL would
build a packet object, a tuple and a decoded str per row; at a million rows
that alone costs more than mariadb-dump takes for the whole table. Here the
socket is read in large blocks and rows are cut straight out of the buffer
and joined into blocks, so the per-row Python work is a handful of byte
operations.

Protocol notes (MySQL client/server protocol, text resultset): after the
column count and column-definition packets comes an EOF packet (PyMySQL does
not negotiate CLIENT_DEPRECATE_EOF), then one packet per row whose payload
is a length-encoded string (0xFB = NULL), then an EOF (0xFE, payload < 9
bytes) or an ERR packet (0xFF). Payloads of 0xFFFFFF bytes continue in the
next packet. The server sends nothing after the final EOF until the next
command, so reading ahead in blocks never consumes another reply.

Memory: one socket block (``BLOCK``) plus one block of rows being assembled
(``batch_bytes``, or one row when a row is larger).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pymysql
from pymysql.constants import COMMAND

from ..errors import ConnectionLost, RowTooLarge, ServerError, from_server_error

BLOCK = 1 << 18
_MAX_PAYLOAD = 0xFFFFFF


def _start_query(conn: Any, sql: bytes, context: str) -> None:
    """Send the query and consume the column definitions (via PyMySQL, which
    also raises the server's error if the query fails outright)."""
    try:
        conn._execute_command(COMMAND.COM_QUERY, sql)
        first = conn._read_packet()
        if first.is_ok_packet():
            raise ServerError(f"{context}: the query returned no result set")
        ncols = first.read_length_encoded_integer()
        if ncols != 1:
            raise ServerError(f"{context}: expected one column, got {ncols}")
        conn._read_packet()  # column definition
        eof = conn._read_packet()
        if not eof.is_eof_packet():
            raise ServerError(f"{context}: unexpected packet after column definitions")
    except pymysql.err.MySQLError as exc:
        raise from_server_error(exc, context=context) from exc


def stream_rows(
    conn: Any,
    sql: str,
    *,
    batch_bytes: int,
    context: str,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[bytes, int, int]]:
    """Run ``sql`` (one column per row, each a whole line) and yield
    ``(block, rows, longest)``: about ``batch_bytes`` of rows joined, their
    number, and the length of the longest.

    A row that is NULL means the server could not build its text (larger
    than max_allowed_packet); that raises RowTooLarge rather than losing it.
    If the caller stops iterating early the connection is unusable and must
    be closed.
    """
    _start_query(conn, sql.encode("utf-8"), context)
    rfile = conn._rfile
    seq = conn._next_seq_id
    buf = b""
    pos = 0
    rows: list[bytes] = []
    size = 0

    def refill(need: int) -> bytes:
        # Keep the unread tail, append at least one more socket read.
        nonlocal buf, pos
        tail = buf[pos:]
        parts = [tail]
        have = len(tail)
        while have < need:
            try:
                block = rfile.read1(max(BLOCK, need - have))
            except OSError as exc:
                conn._force_close()
                raise ConnectionLost(f"{context}: connection lost ({exc})") from exc
            if not block:
                conn._force_close()
                raise ConnectionLost(f"{context}: the server closed the connection")
            parts.append(block)
            have += len(block)
        buf = b"".join(parts)
        pos = 0
        return buf

    while True:
        if len(buf) - pos < 4:
            refill(4)
        header = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)
        if buf[pos + 3] != seq:
            conn._force_close()
            raise ConnectionLost(f"{context}: packet out of order (connection lost?)")
        seq = (seq + 1) & 0xFF
        end = pos + 4 + header
        if end > len(buf):
            refill(4 + header)
            end = 4 + header
        start = pos + 4
        if header == _MAX_PAYLOAD:
            # A payload spanning several packets: gather them, then parse once.
            pieces = [buf[start:end]]
            pos = end
            while True:
                if len(buf) - pos < 4:
                    refill(4)
                more = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)
                seq = (buf[pos + 3] + 1) & 0xFF
                if len(buf) - pos < 4 + more:
                    refill(4 + more)
                pieces.append(buf[pos + 4 : pos + 4 + more])
                pos += 4 + more
                if more < _MAX_PAYLOAD:
                    break
            payload = b"".join(pieces)
            row = _parse_single(payload, context)
        else:
            first = buf[start]
            pos = end
            if first < 0xFB:
                row = buf[start + 1 : end]
            elif first == 0xFE and header < 9:
                break  # EOF: end of the result set
            elif first == 0xFF:
                _raise_error(conn, buf[start:end], context)
            else:
                row = _parse_single(buf[start:end], context)
        rows.append(row)
        size += len(row)
        if size >= batch_bytes:
            yield b"".join(rows), len(rows), max(map(len, rows))
            rows = []
            size = 0
            if cancelled():
                conn._force_close()
                return
    conn._next_seq_id = seq
    if rows:
        yield b"".join(rows), len(rows), max(map(len, rows))


def _parse_single(payload: bytes, context: str) -> bytes:
    first = payload[0]
    if first == 0xFB:
        raise RowTooLarge(
            f"{context}: a row is too large to format within the server's max_allowed_packet"
            " (text and binary values grow when tabs, newlines and backslashes are escaped)"
        )
    if first == 0xFF:
        raise ServerError(f"{context}: {payload[9:].decode('utf-8', 'replace')}")
    if first < 0xFB:
        return payload[1:]
    if first == 0xFC:
        return payload[3:]
    if first == 0xFD:
        return payload[4:]
    return payload[9:]


def _raise_error(conn: Any, payload: bytes, context: str) -> None:
    code = int.from_bytes(payload[1:3], "little")
    message = payload[3:]
    if message[:1] == b"#":
        message = message[6:]
    text = message.decode("utf-8", "replace")
    raise from_server_error(pymysql.err.OperationalError(code, text), context=context)
