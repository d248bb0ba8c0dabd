"""The storage of an encrypted dump, with the keys to read its plaintext.

Readers of a dump (restore, verify, to-sql, inspect, drill) reach chunks and
schema files only through a :class:`~osidump.engine.storage.base.Storage`. For an
encrypted dump, ``open_dump`` hands them a :class:`KeyedStorage`: every call
goes to the real storage unchanged, so what is read, hashed and bounded is
still the stored ciphertext that the manifest's digests describe; a reader
that wants plaintext passes a stored stream through :func:`plaintext`, which
decrypts it with the identities the storage carries (or refuses, naming the
dump's recipients, when none were given).

The keys travel with the storage (not as a parameter of every stage) so that
every stage that opens chunks, including the restore's loaders, decrypts the
same way without knowing about sealing.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import BinaryIO

from ..errors import ManifestError
from ..storage.base import Storage, WriteStream
from .age_keys import Identities, require_identity
from .encryption import decrypting_reader
from .errors import IdentityMismatch


class KeyedStorage(Storage):
    """``inner`` (the storage of one encrypted dump) plus the identities that
    decrypt it; ``recipients`` are the public keys the manifest records."""

    def __init__(self, inner: Storage, *, recipients: Sequence[str], identities: Identities | None):
        self.inner = inner
        self.recipients = tuple(recipients)
        self.identities = identities

    def __repr__(self) -> str:
        return f"KeyedStorage({self.inner.describe()}, {self.identities!r})"

    @property
    def can_decrypt(self) -> bool:
        return self.identities is not None and bool(
            set(self.identities.recipients) & set(self.recipients)
        )

    def plaintext(self, stream: BinaryIO, *, name: str) -> BinaryIO:
        """The plaintext of the stored object ``stream`` reads (its age file).
        Closing the result closes ``stream``."""
        try:
            require_identity(self.recipients, self.identities, what=name)
        except IdentityMismatch:
            stream.close()
            raise
        return decrypting_reader(stream, self.identities, name=name, expected=self.recipients)

    # --- everything else is the inner storage's ------------------------------

    def describe(self) -> str:
        return self.inner.describe()

    def open_write(self, name: str) -> WriteStream:
        return self.inner.open_write(name)

    def open_read(self, name: str) -> BinaryIO:
        return self.inner.open_read(name)

    def exists(self, name: str) -> bool:
        return self.inner.exists(name)

    def delete(self, name: str) -> None:
        self.inner.delete(name)

    def delete_many(self, names: Sequence[str]) -> None:
        self.inner.delete_many(names)

    def list_children(self) -> list[str]:
        return self.inner.list_children()

    def check_location(self) -> None:
        self.inner.check_location()

    def settings(self) -> dict[str, str]:
        return self.inner.settings()

    def child(self, name: str) -> Storage:
        return self.inner.child(name)

    def clear(self) -> None:
        self.inner.clear()

    # Last: inside the class body, ``list`` names this method from here on.
    def list(self, prefix: str = "") -> list[str]:
        return self.inner.list(prefix)


def plaintext(storage: Storage, stream: BinaryIO, *, name: str) -> BinaryIO:
    """``stream`` (an object of ``storage``) as plaintext: decrypted when
    ``storage`` is an encrypted dump's :class:`KeyedStorage`, else itself."""
    if isinstance(storage, KeyedStorage):
        return storage.plaintext(stream, name=name)
    return stream


def decrypt_small(storage: Storage, data: bytes, *, name: str, limit: int) -> bytes:
    """The plaintext of a small object already read whole (a schema file whose
    digest was checked), refusing more than ``limit`` bytes of it."""
    if not isinstance(storage, KeyedStorage):
        raise IdentityMismatch(f"{name} is encrypted, and no --identity was given")
    parts: list[bytes] = []
    size = 0
    # To the end: age authenticates the last piece only there.
    with storage.plaintext(io.BytesIO(data), name=name) as reader:
        while block := reader.read(1 << 20):
            size += len(block)
            if size > limit:
                raise ManifestError(f"{name} is larger than {limit >> 20} MiB: not an osidump file")
            parts.append(block)
    return b"".join(parts)
