"""age encryption as a writer in front of any storage writer, and decryption as
a reader: plaintext writes -> bounded queue -> age (pyrage) -> storage writer.

The age format (age-encryption.org/v1) is the whole construction: a header
that wraps a random file key to each X25519 recipient, then the payload in
64 KiB ChaCha20-Poly1305 chunks whose last one is flagged, so a flipped bit, a
dropped or reordered chunk and a truncation are all detected. osidump adds no
framing of its own: every encrypted object is one standard age file that
``age -d -i key.txt`` decrypts.

Why pyrage, and its streaming API (measured on this 2-core machine; the
script is benchmarks/seal_libs.py, the figures are in docs/SECURITY.md):

- pyrage (bindings to the Rust ``age`` crate, written by one of age's
  designers; pyrage is maintained, 1.4.0 in 2026) streams through
  ``encrypt_io``/``decrypt_io`` with bounded memory: 33 MiB peak RSS for a
  64 MiB object, against 221 MiB for its whole-buffer ``encrypt``/``decrypt``;
- ``age`` on PyPI (pure Python, last release 2023) buffers the whole object in
  both directions: 288 MiB peak and 52 s for 64 MiB;
- ``age-rt`` implements passphrase (scrypt) recipients only, plus a format
  variant of its own.

pyrage 1.4.0 holds the GIL while it works and calls back into Python for
every 8 KiB read. Against a thread that never waits, that costs a lot
(42-63 MiB/s instead of ~300). In export's shape, two workers that alternate
Python work and writes, streaming cost 1.20x on an all-Python model of
export (median of 9, noisy), and encrypting bounded pieces as separate age
files with the whole-buffer call 1.25-1.35x, and that would have needed a
framing of our own: so each object is one streamed age file.

pyrage's streaming API pulls: it reads plaintext from one file-like object and
writes ciphertext to another until EOF. Our writers push (``write``, then
``commit``), so each stream runs pyrage in a pump thread fed by a bounded
queue, and the reverse for reading. Two details of pyrage shape the code:

- ``encrypt_io`` drops errors raised by the output object's ``write`` during
  its final buffer flush (Rust's BufWriter ignores errors on drop), so the
  output adapter records every exception it raises and commit re-raises it;
- ``decrypt_io`` reports a failed payload chunk as OSError("decryption error")
  and a header problem as DecryptError; both mean the object is damaged, except
  "No matching keys found", which means the identity is wrong (or the header
  was altered: age cannot tell the two apart).

Decryption hands out plaintext one authenticated 64 KiB chunk at a time, so a
reader learns of truncation only at the end of the object: callers commit
nothing from an object before reading it to EOF (restore's chunks already
work that way, with their digests).

pyrage moves 8 KiB (plaintext) or 64 KiB (ciphertext) per call. The adapters
batch that into ``PIECE``s (and read storage ``READ_AHEAD`` at a time): every
storage call, sha256 update and queue hand-over gives up the GIL, and on a
busy process each one can wait a switch interval (5 ms) to get it back, so
they happen once per 256 KiB, not once per 8 KiB.

Memory per stream: the queue holds at most ``QUEUE_PIECES`` pieces of at most
``PIECE`` bytes (8 x 256 KiB = 2 MiB), plus one piece being collected, plus
pyrage's own buffers (one 64 KiB chunk and an 8 KiB buffer each way), plus
``READ_AHEAD`` while decrypting, plus what the inner writer buffers (an S3
part). One pump thread per open stream.
"""

from __future__ import annotations

import hashlib
import io
import queue
import threading
from collections.abc import Sequence
from typing import BinaryIO, Final, cast

import pyrage

from ..errors import OsidumpError, StorageError
from ..storage.base import WriteStream
from .age_keys import Identities, Recipients
from .errors import CiphertextDamaged, EncryptionFailed, IdentityMismatch

PIECE: Final = 256 * 1024
QUEUE_PIECES: Final = 8
READ_AHEAD: Final = 128 * 1024  # ciphertext read from storage at a time while decrypting


class _Sentinel:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


_EOF: Final = _Sentinel("EOF")
_ABORT: Final = _Sentinel("ABORT")

_Item = memoryview | bytes | _Sentinel


class _Aborted(Exception):
    """Raised inside pyrage's read to stop an encryption that was aborted."""


def _drain(q: queue.Queue[_Item]) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


class _QueueSource:
    """The plaintext side pyrage reads from while encrypting."""

    def __init__(self, q: queue.Queue[_Item]):
        self._queue = q
        self._piece = memoryview(b"")
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while not self._piece:
            if self._eof:
                return b""
            item = self._queue.get()
            if item is _EOF:
                self._eof = True
                return b""
            if item is _ABORT:
                raise _Aborted("aborted")
            self._piece = memoryview(cast(bytes, item))
        size = len(self._piece) if n is None or n < 0 else n
        out = bytes(self._piece[:size])
        self._piece = self._piece[size:]
        return out


class _RecordingSink:
    """The ciphertext side pyrage writes to: passes bytes to the inner writer,
    hashes them, and keeps the first exception (pyrage may swallow it)."""

    def __init__(self, inner: WriteStream):
        self._inner = inner
        self.error: BaseException | None = None
        self.hash = hashlib.sha256()
        self.size = 0
        self._held: list[bytes] = []
        self._held_size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        # pyrage writes one 64 KiB age chunk at a time; hand the inner writer
        # a PIECE at a time instead (hashing and a local write each give up
        # the GIL, and getting it back can wait on a busy process).
        if self.error is not None:
            raise self.error
        chunk = bytes(data)
        self._held.append(chunk)
        self._held_size += len(chunk)
        if self._held_size >= PIECE:
            self.send()
        return len(chunk)

    def send(self) -> None:
        """Pass what is held to the inner writer (at every PIECE, and once
        ``encrypt_io`` has returned: that last call is ours, not pyrage's, so
        its error is never swallowed)."""
        if not self._held:
            return
        block = b"".join(self._held)
        self._held, self._held_size = [], 0
        try:
            self._inner.write(block)
        except BaseException as exc:
            self.error = exc
            raise
        self.hash.update(block)
        self.size += len(block)

    def flush(self) -> None:
        return None


class EncryptingStream:
    """A :class:`~osidump.engine.storage.base.WriteStream` that age-encrypts what is
    written to it and passes the ciphertext to ``inner``; ``commit`` finishes the
    age file and commits ``inner``, ``abort`` aborts both. Used by one thread
    at a time, like every writer; ``inner.write`` is called from the pump
    thread, never concurrently, and ``inner.commit``/``abort`` from the
    caller's thread. After ``commit``, ``stored_bytes`` and ``stored_sha256``
    describe the ciphertext that ``inner`` holds."""

    def __init__(self, inner: WriteStream, recipients: Recipients, *, name: str = "object"):
        if not recipients.keys:
            raise ValueError("EncryptingStream needs at least one recipient")
        self._inner = inner
        self._name = name
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=QUEUE_PIECES)
        self._sink = _RecordingSink(inner)
        self._error: BaseException | None = None
        self._pump_done = threading.Event()
        self._state = "open"
        self._thread = threading.Thread(
            target=self._pump,
            args=(list(recipients.keys),),
            name=f"age-encrypt {name}",
            daemon=True,  # never keeps the interpreter alive; abort/commit join it
        )
        self._thread.start()

    def _pump(self, keys: list[pyrage.x25519.Recipient]) -> None:
        try:
            pyrage.encrypt_io(
                cast(io.BufferedIOBase, _QueueSource(self._queue)),
                cast(io.BufferedIOBase, self._sink),
                keys,
            )
            self._sink.send()
        except BaseException as exc:
            self._error = exc
        finally:
            # Set before draining: a writer checks the flag before each put, so
            # at most one more piece arrives, and the drained queue has room.
            self._pump_done.set()
            _drain(self._queue)

    @property
    def stored_bytes(self) -> int:
        return self._sink.size

    @property
    def stored_sha256(self) -> str:
        return self._sink.hash.hexdigest()

    def write(self, data: bytes) -> None:
        self._check_open("write to")
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        for start in range(0, len(view), PIECE):
            if self._pump_done.is_set():
                self._fail()
            self._queue.put(view[start : start + PIECE])

    def commit(self) -> None:
        self._check_open("commit of")
        self._state = "closing"
        self._queue.put(_EOF)
        self._thread.join()
        if self._error is not None or self._sink.error is not None:
            self._fail()
        self._state = "committed"
        self._inner.commit()

    def abort(self) -> None:
        """Stop the pump and abort ``inner``. Safe to call more than once, and
        after a failed write or commit."""
        if self._state in ("aborted", "committed"):
            return
        self._state = "aborted"
        if not self._pump_done.is_set():
            self._queue.put(_ABORT)
        self._thread.join()
        self._inner.abort()

    def _fail(self) -> None:
        """The pump stopped with an error: abort everything and raise it, the
        inner writer's own error (a StorageError, say) in preference."""
        self._thread.join()
        self._state = "aborted"
        self._inner.abort()
        if self._sink.error is not None:
            raise self._sink.error
        error = self._error
        if isinstance(error, OsidumpError):
            raise error
        raise EncryptionFailed(f"age encryption of {self._name} failed: {error}") from error

    def _check_open(self, action: str) -> None:
        if self._state != "open":
            raise StorageError(
                f"{action} {self._name} after commit or abort",
                hint="this is a bug in osidump; please report it",
            )


class _RecordingSource:
    """The ciphertext side pyrage reads from while decrypting; keeps the inner
    reader's first exception (a StorageError, say) to re-raise as itself."""

    def __init__(self, inner: BinaryIO):
        self._inner = inner
        self._buffer = memoryview(b"")
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        # pyrage asks for 8 KiB at a time; read the inner stream in larger
        # blocks, so storage reads and the caller's hashing (each of which
        # gives up the GIL, and may wait up to a switch interval to get it
        # back on a busy process) happen 16 times less often.
        if not self._buffer:
            try:
                self._buffer = memoryview(self._inner.read(READ_AHEAD))
            except BaseException as exc:
                self.error = exc
                raise
        size = len(self._buffer) if n is None or n < 0 else n
        out = bytes(self._buffer[:size])
        self._buffer = self._buffer[size:]
        return out


class _QueueSink:
    """The plaintext side pyrage writes to while decrypting."""

    def __init__(self, q: queue.Queue[_Item], cancelled: threading.Event):
        self._queue = q
        self._cancelled = cancelled
        self._held: list[bytes] = []
        self._size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        # pyrage writes 8 KiB at a time (all of it authenticated already):
        # collect a PIECE before handing it over, so the reader wakes once
        # per PIECE, not once per 8 KiB.
        chunk = bytes(data)
        self._held.append(chunk)
        self._size += len(chunk)
        if self._size >= PIECE:
            self.send()
        return len(chunk)

    def send(self) -> None:
        """Hand what is held to the reader (at every PIECE, and at the end)."""
        # Checked before every put: after close() drains the queue, at most
        # one more piece goes in, so the pump can never block forever.
        if self._cancelled.is_set():
            raise _Aborted("reader closed")
        if self._held:
            self._queue.put(b"".join(self._held))
            self._held, self._size = [], 0

    def flush(self) -> None:
        return None


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class DecryptingReader(io.RawIOBase):
    """Plaintext of one age-encrypted object, read from ``inner`` as needed.
    Closing it closes ``inner``. See :func:`decrypting_reader`."""

    def __init__(
        self, inner: BinaryIO, identities: Identities, *, name: str, expected: Sequence[str] = ()
    ):
        super().__init__()
        self._inner = inner
        self._name = name
        self._identities = identities
        self._expected = tuple(expected)
        self._queue: queue.Queue[_Item | _Failure] = queue.Queue(maxsize=QUEUE_PIECES)
        self._cancelled = threading.Event()
        self._source = _RecordingSource(inner)
        self._piece = memoryview(b"")
        self._eof = False
        self._failure: OsidumpError | BaseException | None = None
        self._thread = threading.Thread(target=self._pump, name=f"age-decrypt {name}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        result: _Sentinel | _Failure = _EOF
        sink = _QueueSink(cast(queue.Queue[_Item], self._queue), self._cancelled)
        try:
            pyrage.decrypt_io(
                cast(io.BufferedIOBase, self._source),
                cast(io.BufferedIOBase, sink),
                list(self._identities.keys),
            )
            sink.send()  # the last piece: decrypt_io returned, so the file authenticated
        except BaseException as exc:
            result = _Failure(exc)
        if not self._cancelled.is_set():
            self._queue.put(result)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if size == 0:
            return b""
        while not self._piece:
            if self._failure is not None:
                raise self._failure
            if self._eof:
                return b""
            item = self._queue.get()
            if item is _EOF:
                self._eof = True
                return b""
            if isinstance(item, _Failure):
                self._failure = self._map(item.error)
                raise self._failure
            self._piece = memoryview(cast(bytes, item))
        out = bytes(self._piece[:size])
        self._piece = self._piece[size:]
        return out

    def readall(self) -> bytes:
        parts = []
        while block := self.read(1 << 20):
            parts.append(block)
        return b"".join(parts)

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self.closed:
            return
        self._cancelled.set()
        _drain(cast(queue.Queue[_Item], self._queue))
        self._thread.join()
        try:
            self._inner.close()
        finally:
            super().close()

    def _map(self, error: BaseException) -> BaseException:
        if self._source.error is not None:
            return self._source.error  # the storage failed, not the ciphertext
        if isinstance(error, OsidumpError):
            return error
        text = str(error)
        if isinstance(error, pyrage.DecryptError) and "No matching keys" in text:
            if set(self._expected) & set(self._identities.recipients):
                # The identity holds a key the dump says every object is
                # encrypted to: this object was altered or replaced.
                return CiphertextDamaged(
                    f"{self._name} failed age decryption: its header has no stanza for "
                    f"{', '.join(self._identities.recipients)}, a recipient the manifest "
                    "lists: the object was altered or replaced"
                )
            return IdentityMismatch(
                f"none of the identities in {self._identities.source} "
                f"({', '.join(self._identities.recipients)}) can decrypt {self._name}: "
                "it is encrypted to other keys, or its header was altered"
            )
        if isinstance(error, (pyrage.DecryptError, OSError)):
            return CiphertextDamaged(
                f"{self._name} failed age decryption ({text}): the object is truncated, "
                "damaged or altered"
            )
        return error


def decrypting_reader(
    inner: BinaryIO,
    identities: Identities | None,
    *,
    name: str = "object",
    expected: Sequence[str] = (),
) -> BinaryIO:
    """A binary reader of the plaintext of the age file that ``inner`` holds.

    ``read(n)`` returns authenticated plaintext; a damaged or truncated object
    raises :class:`CiphertextDamaged` (at the latest when EOF would be reached),
    a wrong identity :class:`IdentityMismatch` at the first read, and an error
    of ``inner`` itself is raised unchanged. ``identities=None`` (none given)
    is refused at once, naming the object. ``expected``: the recipients the
    object should be encrypted to (the manifest's); when ``identities`` hold
    one of them, a header without it means damage, not a wrong identity."""
    if identities is None:
        inner.close()
        raise IdentityMismatch(f"{name} is encrypted, and no --identity was given")
    return cast(BinaryIO, DecryptingReader(inner, identities, name=name, expected=expected))
