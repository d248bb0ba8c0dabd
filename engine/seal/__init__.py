"""Sealed dumps: Ed25519-signed manifests and age-encrypted objects.

- :mod:`.signing`: key files, ``sign_manifest`` and ``verify_manifest``. The
  manifest lists every object's size, sha256 and row count, so its signature
  authenticates the whole dump.
- :mod:`.age_keys`: age recipients (``age1...``) and identities
  (``AGE-SECRET-KEY-1...``, as age-keygen writes them).
- :mod:`.encryption`: :class:`EncryptingStream`, a storage writer that
  age-encrypts in front of any other, and :func:`decrypting_reader`; both stream
  with bounded memory.
- :mod:`.keys`: :class:`ExportSeal` (what an export seals with) and
  :class:`ReadKeys` (what a reader holds).
- :mod:`.keyed`: :class:`KeyedStorage`, an encrypted dump's storage with the
  identities that decrypt it, and :func:`plaintext` for readers.
- :mod:`.opening` (import it directly; it needs the manifest, which needs
  :mod:`.signing`): ``open_dump``, the first step of every reading command.

Only reviewed formats and libraries: Ed25519 from ``cryptography`` (OpenSSL),
the age format from ``pyrage`` (the Rust ``age`` crate). What each protects
against, and what not, is in docs/SECURITY.md.
"""

from __future__ import annotations

from .age_keys import (
    Identities,
    Recipients,
    generate_identity,
    load_identities,
    parse_identities,
    recipients,
    require_identity,
)
from .encryption import EncryptingStream, decrypting_reader
from .errors import (
    CiphertextDamaged,
    EncryptionFailed,
    IdentityMismatch,
    KeyFileError,
    SignatureError,
)
from .keyed import KeyedStorage, decrypt_small, plaintext
from .keys import NO_KEYS, NO_SEAL, ExportSeal, ReadKeys
from .signing import (
    SIGNATURE_NAME,
    SigningKey,
    VerifyKey,
    load_signing_key,
    load_verify_keys,
    parse_signing_key,
    parse_verify_keys,
    sign_manifest,
    signature_key_id,
    verify_manifest,
)

__all__ = [
    "NO_KEYS",
    "NO_SEAL",
    "SIGNATURE_NAME",
    "CiphertextDamaged",
    "EncryptingStream",
    "EncryptionFailed",
    "ExportSeal",
    "Identities",
    "IdentityMismatch",
    "KeyFileError",
    "KeyedStorage",
    "ReadKeys",
    "Recipients",
    "SignatureError",
    "SigningKey",
    "VerifyKey",
    "decrypt_small",
    "decrypting_reader",
    "generate_identity",
    "load_identities",
    "load_signing_key",
    "load_verify_keys",
    "parse_identities",
    "parse_signing_key",
    "parse_verify_keys",
    "plaintext",
    "recipients",
    "require_identity",
    "sign_manifest",
    "signature_key_id",
    "verify_manifest",
]
