"""Sealed dumps: Ed25519-signed manifests and age-encrypted objects.

- :mod:`.signing`: key files, ``sign_manifest`` and ``verify_manifest``. The
  manifest lists every object's size, sha256 and row count, so its signature
  authenticates the whole dump.
- :mod:`.age_keys`: age recipients (``age1...``) and identities
  (``AGE-SECRET-KEY-1...``, as age-keygen writes them).
- :mod:`.encryption`: :class:`EncryptingStream`, a storage writer that
  age-encrypts in front of any other, and :func:`decrypting_reader`; both stream
  with bounded memory.

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
from .signing import (
    SIGNATURE_NAME,
    SigningKey,
    VerifyKey,
    load_signing_key,
    load_verify_keys,
    parse_signing_key,
    parse_verify_keys,
    sign_manifest,
    verify_manifest,
)

__all__ = [
    "SIGNATURE_NAME",
    "CiphertextDamaged",
    "EncryptingStream",
    "EncryptionFailed",
    "Identities",
    "IdentityMismatch",
    "KeyFileError",
    "Recipients",
    "SignatureError",
    "SigningKey",
    "VerifyKey",
    "decrypting_reader",
    "generate_identity",
    "load_identities",
    "load_signing_key",
    "load_verify_keys",
    "parse_identities",
    "parse_signing_key",
    "parse_verify_keys",
    "recipients",
    "require_identity",
    "sign_manifest",
    "verify_manifest",
]
