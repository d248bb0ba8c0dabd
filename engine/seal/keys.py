"""What a command holds: the keys to seal an export, the keys to open a dump.

Both are frozen and loaded by the CLI from files (``--sign-key``,
``--encrypt-to``/``--encrypt-to-file``, ``--verify-key``, ``--identity``);
the engine never reads key files on its own. ``repr`` of either shows key
ids and public keys only.
"""

from __future__ import annotations

from dataclasses import dataclass

from .age_keys import Identities, Recipients
from .signing import SigningKey, VerifyKey


@dataclass(frozen=True)
class ExportSeal:
    """How an export seals its dump: signed with ``signing_key`` (the
    signature written as ``manifest.json.sig`` before the manifest), every chunk
    and schema file age-encrypted to ``recipients``; either, both or neither."""

    signing_key: SigningKey | None = None
    recipients: Recipients | None = None


@dataclass(frozen=True)
class ReadKeys:
    """What a reader holds: verify keys (the dump must be signed by one of
    them) and age identities (to decrypt). Both optional."""

    verify_keys: tuple[VerifyKey, ...] = ()
    identities: Identities | None = None


NO_SEAL = ExportSeal()
NO_KEYS = ReadKeys()
