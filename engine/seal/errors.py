"""The errors of sealing, each a subclass of the engine's classes so the CLI's
exit-code table (``osidump.cli.errors.EXIT_CODES``) maps them without a new row:

- a key or recipient file that cannot be read or parsed is a bad setting (exit 2);
- an unsigned, wrongly signed or undecryptable dump is a dump that must not be
  trusted (exit 5), like a damaged manifest;
- ciphertext that fails authentication is a damaged object (exit 5).

Messages never contain secret key material: a bad line in a secret key file is
named by its number only.
"""

from __future__ import annotations

from ..errors import ConfigError, IntegrityError, ManifestError, OsidumpError


class KeyFileError(ConfigError):
    """A signing key, verify key, recipient or identity file is missing,
    unreadable or malformed."""

    default_hint = "check the key file's path; `osidump keygen` writes the formats osidump reads"


class SignatureError(ManifestError):
    """The dump is unsigned, signed by another key, or its signature does not
    match the manifest."""

    default_hint = (
        "do not restore this dump: it was not written by a holder of the signing key, "
        "or was changed afterwards"
    )


class IdentityMismatch(ManifestError):
    """The dump is encrypted, and no identity given can decrypt it (none given,
    or the wrong ones)."""

    default_hint = (
        "pass --identity with an age identity file for one of the dump's recipients "
        "(`osidump inspect` lists them)"
    )


class CiphertextDamaged(IntegrityError):
    """An encrypted object failed age's authentication: damaged, truncated or
    altered after it was written."""


class EncryptionFailed(OsidumpError):
    """The age library refused to encrypt (a bug, never a property of the data)."""

    default_hint = "run again with -v and report the traceback"
