"""The small files of a dump that are read whole (schema files, ``users.json``):
size-capped before they are read, matched with the manifest's size and sha256
before a byte of them is parsed, and decrypted after (the digest is of the
stored bytes, the ciphertext in an encrypted dump)."""

from __future__ import annotations

import hashlib

from ..errors import IntegrityError, ObjectNotFound
from ..seal import decrypt_small
from ..storage.base import Storage
from .manifest import FileEntry, Manifest, read_bounded


def read_checked(
    storage: Storage, manifest: Manifest, entry: FileEntry, *, limit: int, what: str
) -> bytes:
    """The plaintext of the file ``entry`` names. IntegrityError when it is
    missing or its bytes are not the manifest's; ManifestError when larger
    than ``limit``."""
    try:
        data = read_bounded(storage, entry.path, limit)
    except ObjectNotFound as exc:
        raise IntegrityError(f"{what} {entry.path} is missing from the dump") from exc
    if hashlib.sha256(data).hexdigest() != entry.sha256 or len(data) != entry.bytes:
        raise IntegrityError(f"{what} {entry.path} does not match the manifest's sha256")
    if manifest.encryption is not None:
        data = decrypt_small(storage, data, name=f"{what} {entry.path}", limit=limit)
    return data
