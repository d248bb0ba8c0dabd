"""Opening a dump to read it: signature first, then the keys to decrypt.

Every command that reads a dump's chunks or schema files (``verify``,
``restore``, ``drill``, ``to-sql``, ``inspect``) starts here, before it plans
anything: with verify keys, an unsigned or wrongly signed dump is refused
(SignatureError, exit 5) before any other object is opened; an encrypted dump
gets a :class:`~.keyed.KeyedStorage` carrying the identities, and when the
command must decrypt, an identity for none of the dump's recipients is refused
at once (IdentityMismatch, exit 5), naming the recipients, instead of at the
first schema file.

Not imported by ``seal/__init__``: this module needs the manifest, and the
manifest needs ``seal.signing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..format.manifest import Manifest, load_manifest, read_signature
from ..storage.base import Storage
from .age_keys import require_identity
from .keyed import KeyedStorage
from .keys import NO_KEYS, ReadKeys
from .signing import signature_key_id


@dataclass(frozen=True)
class OpenedDump:
    """A dump's validated manifest and the storage to read its objects through
    (a KeyedStorage when encrypted)."""

    manifest: Manifest
    storage: Storage
    authenticated: bool  # its signature was checked against a configured verify key
    signed_by: str | None  # the key id its signature names (checked only if authenticated)

    @property
    def encrypted(self) -> bool:
        return self.manifest.encryption is not None

    @property
    def recipients(self) -> tuple[str, ...]:
        enc = self.manifest.encryption
        return tuple(enc.recipients) if enc is not None else ()

    @property
    def readable(self) -> bool:
        """Whether chunks and schema files can be read as plaintext."""
        return not isinstance(self.storage, KeyedStorage) or self.storage.can_decrypt

    def seal_summary(self) -> dict[str, Any]:
        """For ``inspect`` and JSON reports; public keys and key ids only."""
        return {
            "authenticated": self.authenticated,
            "signed_by": self.signed_by,
            "encrypted": self.encrypted,
            "recipients": list(self.recipients),
        }


UNAUTHENTICATED_NOTE = (
    "unauthenticated dump: no verify key is configured (--verify-key or OSIDUMP_VERIFY_KEY), "
    "so nothing proves who wrote it"
)


def open_dump(storage: Storage, keys: ReadKeys = NO_KEYS, *, decrypt: bool = False) -> OpenedDump:
    """Load and check the manifest (and its signature, with verify keys); with
    ``decrypt``, refuse an encrypted dump that ``keys`` cannot decrypt."""
    manifest = load_manifest(storage, verify_keys=keys.verify_keys)
    signed_by = signature_key_id(read_signature(storage))
    if manifest.encryption is None:
        reader: Storage = storage
    else:
        recipients = manifest.encryption.recipients
        if decrypt:
            require_identity(recipients, keys.identities)
        reader = KeyedStorage(storage, recipients=recipients, identities=keys.identities)
    return OpenedDump(
        manifest=manifest,
        storage=reader,
        authenticated=bool(keys.verify_keys),
        signed_by=signed_by,
    )
