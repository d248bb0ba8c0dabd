"""Named fakes that fail on purpose, for fault tests (after s3transfer's
``StreamWithError``): a readable that breaks after N bytes, a write stream and
a storage whose writes break after N bytes, an S3 client wrapper whose
chosen call fails, and a relay that makes one S3 part upload slow. Each wraps
a real object and counts what went through, so a test can assert both the
failure and what was (not) left behind."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from typing import Any, BinaryIO

from osidump.engine.storage.base import Storage, WriteStream


class InjectedFault(OSError):
    """The failure the fakes raise by default: an OSError, like a real disk or
    socket error, so code under test handles it the way it handles those."""

    def __init__(self, what: str = "injected fault"):
        super().__init__(what)


class StreamWithError:
    """A readable that returns the wrapped stream's bytes, then raises
    ``exc`` once ``fail_after`` bytes have been read."""

    def __init__(self, stream: BinaryIO, *, fail_after: int, exc: BaseException | None = None):
        self._stream = stream
        self._left = fail_after
        self._exc = exc if exc is not None else InjectedFault(f"read failed after {fail_after} bytes")
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            raise self._exc
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = self._stream.read(want)
        self._left -= len(data)
        self.bytes_read += len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> StreamWithError:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WriteStreamWithError:
    """A :class:`WriteStream` that passes bytes on until ``fail_after`` bytes
    have been written, then raises ``exc`` (the bytes before the limit in that
    call are passed on first, like a short write). ``fail_on_commit`` makes
    commit fail instead. Records whether abort was called."""

    def __init__(
        self,
        stream: WriteStream,
        *,
        fail_after: int | None = None,
        fail_on_commit: bool = False,
        exc: BaseException | None = None,
    ):
        self._stream = stream
        self._left = fail_after
        self._fail_on_commit = fail_on_commit
        self._exc = exc if exc is not None else InjectedFault("write failed")
        self.bytes_written = 0
        self.aborted = False
        self.committed = False

    def write(self, data: bytes) -> None:
        if self._left is not None and len(data) >= self._left:
            head = bytes(data[: self._left])
            if head:
                self._stream.write(head)
            self.bytes_written += len(head)
            self._left = 0
            raise self._exc
        self._stream.write(data)
        self.bytes_written += len(data)
        if self._left is not None:
            self._left -= len(data)

    def commit(self) -> None:
        if self._fail_on_commit:
            raise self._exc
        self._stream.commit()
        self.committed = True

    def abort(self) -> None:
        self.aborted = True
        self._stream.abort()


class StorageWithFailingWrites(Storage):
    """Wraps a real storage; writes to names starting with ``match`` go
    through :class:`WriteStreamWithError`. Everything else is the real thing.
    ``streams`` holds every wrapped stream, for asserting they were aborted."""

    def __init__(
        self,
        inner: Storage,
        *,
        match: str = "",
        fail_after: int | None = None,
        fail_on_commit: bool = False,
        exc: BaseException | None = None,
    ):
        self.inner = inner
        self._match = match
        self._kw: dict[str, Any] = {
            "fail_after": fail_after,
            "fail_on_commit": fail_on_commit,
            "exc": exc,
        }
        self._lock = threading.Lock()
        self.streams: list[WriteStreamWithError] = []

    def describe(self) -> str:
        return self.inner.describe()

    def open_write(self, name: str) -> WriteStream:
        stream = self.inner.open_write(name)
        if not name.startswith(self._match):
            return stream
        wrapped = WriteStreamWithError(stream, **self._kw)
        with self._lock:
            self.streams.append(wrapped)
        return wrapped

    def open_read(self, name: str) -> BinaryIO:
        return self.inner.open_read(name)

    def exists(self, name: str) -> bool:
        return self.inner.exists(name)

    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)

    def delete(self, name: str) -> None:
        self.inner.delete(name)

    def child(self, name: str) -> Storage:
        return self.inner.child(name)


class FailingS3Client:
    """Wraps a real boto3 S3 client; the ``fail_on``-th call (1-based) of
    ``operation`` raises ``exc`` (default: a botocore EndpointConnectionError,
    what a dropped network looks like). Every other call, and every other
    operation, goes to the real client. ``calls`` counts calls by operation.
    Paginators come from the real client, so their pages never fail."""

    def __init__(
        self,
        real: Any,
        *,
        operation: str = "upload_part",
        fail_on: int = 1,
        exc: BaseException | None = None,
    ):
        import botocore.exceptions

        self.real = real
        self._operation = operation
        self._fail_on = fail_on
        self._exc = exc or botocore.exceptions.EndpointConnectionError(
            endpoint_url="http://injected-fault.invalid"
        )
        self._lock = threading.Lock()
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if not callable(attr) or name.startswith("_") or name in ("get_paginator", "meta"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
                count = self.calls[name]
            if name == self._operation and count == self._fail_on:
                raise self._exc
            return attr(*args, **kwargs)

        return call


class SlowPartRelay:
    """A TCP relay in front of a real S3 endpoint (the real protocol on both
    sides) that makes the first UploadPart slow: the request's bytes wait
    ``hold_seconds`` in the relay before they go on, as on a slow uplink.
    ``holding`` is set when that part is held, so a test can interrupt the
    client while the upload is certainly in flight. Every other request, and
    the held one after the wait, passes unchanged."""

    _PART = re.compile(rb"^PUT [^ \r\n]*[?&]partNumber=\d+", re.M)

    def __init__(self, upstream_port: int, *, hold_seconds: float):
        self._upstream_port = upstream_port
        self._hold = hold_seconds
        self.holding = threading.Event()
        self._claimed = False
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._sockets: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True, name="relay-accept").start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, requests: bool) -> None:
        try:
            while data := src.recv(1 << 16):
                if requests and not self._claimed and self._PART.search(data):
                    with self._lock:
                        first, self._claimed = not self._claimed, True
                    if first:
                        self.holding.set()
                        time.sleep(self._hold)  # the slow uplink this fake stands for
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.close()
