"""Ed25519 signatures over the manifest, with keys in small text files.

The manifest lists every object of a dump with its size, sha256 and row count,
so one signature over the manifest's exact bytes authenticates the whole dump:
changing a chunk means changing its digest in the manifest, and that breaks
the signature. Ed25519 comes from ``cryptography`` (OpenSSL); nothing here is
a construction of its own beyond a fixed context line in front of the signed
bytes, so an osidump signature can never be replayed as a signature of
anything else made with the same key.

Files (all UTF-8 text; blank lines and ``#`` lines are comments):

- signing key (``PREFIX.key``, mode 0600): one line
  ``OSIDUMP-ED25519-SECRET-KEY-1 <base64 of the 32-byte Ed25519 seed>``;
- verify keys (``PREFIX.pub``): one line per key,
  ``osidump-ed25519 <base64 of the 32-byte public key> [comment]``. A file may
  list several keys (during a key rotation, the old and the new one); a dump
  signed by any of them is accepted;
- signature (``manifest.json.sig`` in the dump, written before the manifest)::

      osidump-signature 1
      key SHA256:<key id>
      signature <base64 of the 64-byte Ed25519 signature>

The key id is ``SHA256:`` and the unpadded base64 of sha256(raw public key),
the same shape as OpenSSH fingerprints. The signed message is::

      b"osidump manifest signature 1\\nkey " + key id + b"\\n" + manifest bytes

so the signature also binds the key id it names, and a dump signed by another
key is reported as exactly that, naming both ids.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import KeyFileError, SignatureError
from .keyfiles import key_lines, read_key_file

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

SIGNATURE_NAME = "manifest.json.sig"
SECRET_TAG = "OSIDUMP-ED25519-SECRET-KEY-1"
PUBLIC_TAG = "osidump-ed25519"
_SIG_MAGIC = "osidump-signature 1"
_CONTEXT = b"osidump manifest signature 1\nkey "
MAX_SIGNATURE_FILE = 1024  # the real one is ~150 bytes; anything longer is not ours


# cryptography is imported when a key is first made or read, not with this
# module: the CLI must start (and say what is wrong) on a broken install.
def _missing(exc: ImportError) -> KeyFileError:
    return KeyFileError(
        f"Ed25519 signatures need the cryptography package, which cannot be imported ({exc})",
        hint="reinstall osidump (pip install osidump); cryptography is one of its dependencies",
    )


def _private_key_class() -> type[Ed25519PrivateKey]:
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError as exc:
        raise _missing(exc) from exc
    return Ed25519PrivateKey


def _public_key_class() -> type[Ed25519PublicKey]:
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError as exc:
        raise _missing(exc) from exc
    return Ed25519PublicKey


def _b64decode(text: str, size: int) -> bytes | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


def key_id(public_key: Ed25519PublicKey) -> str:
    """``SHA256:<unpadded base64>`` of the raw 32-byte public key."""
    raw = public_key.public_bytes_raw()
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class VerifyKey:
    """A public Ed25519 key that dumps may be signed with."""

    key: Ed25519PublicKey
    comment: str = ""

    @property
    def key_id(self) -> str:
        return key_id(self.key)

    def to_line(self) -> str:
        raw = self.key.public_bytes_raw()
        line = f"{PUBLIC_TAG} {base64.b64encode(raw).decode()}"
        return f"{line} {self.comment}" if self.comment else line


@dataclass(frozen=True)
class SigningKey:
    """A private Ed25519 key. ``repr`` never shows the key."""

    key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(_private_key_class().generate())

    def public(self, comment: str = "") -> VerifyKey:
        return VerifyKey(self.key.public_key(), comment)

    @property
    def key_id(self) -> str:
        return key_id(self.key.public_key())

    def to_line(self) -> str:
        seed = self.key.private_bytes_raw()
        return f"{SECRET_TAG} {base64.b64encode(seed).decode()}"

    def __repr__(self) -> str:
        return f"SigningKey({self.key_id})"


def parse_signing_key(text: str, *, source: str) -> SigningKey:
    """The one signing key in ``text`` (the contents of ``source``)."""
    found: list[SigningKey] = []
    for number, line in key_lines(text):
        tag, _, value = line.partition(" ")
        seed = _b64decode(value.strip(), 32) if tag == SECRET_TAG else None
        if seed is None:
            # Never echo the line: it may be a secret key of another format.
            raise KeyFileError(
                f"line {number} of {source} is not an osidump signing key "
                f"(expected {SECRET_TAG} and 32 bytes of base64)"
            )
        found.append(SigningKey(_private_key_class().from_private_bytes(seed)))
    if len(found) != 1:
        raise KeyFileError(f"{source} holds {len(found)} signing keys; it must hold exactly one")
    return found[0]


def parse_verify_keys(text: str, *, source: str) -> tuple[VerifyKey, ...]:
    """Every verify key in ``text`` (at least one)."""
    found: list[VerifyKey] = []
    for number, line in key_lines(text):
        if line.startswith(SECRET_TAG):
            raise KeyFileError(
                f"{source} is a signing (secret) key, not a verify key",
                hint="pass the .pub file; keep the .key file only where exports run",
            )
        fields = line.split(None, 2)
        raw = _b64decode(fields[1], 32) if len(fields) >= 2 and fields[0] == PUBLIC_TAG else None
        if raw is None:
            # Quote the line only if it cannot be a secret (an age identity,
            # a PEM or OpenSSH private key passed by mistake).
            secret = "SECRET" in line.upper() or line.startswith("-----")
            quoted = "" if secret else f": {line[:60]!r}"
            raise KeyFileError(
                f"line {number} of {source} is not an osidump verify key "
                f"(expected {PUBLIC_TAG} and 32 bytes of base64){quoted}"
            )
        comment = fields[2] if len(fields) > 2 else ""
        found.append(VerifyKey(_public_key_class().from_public_bytes(raw), comment))
    if not found:
        raise KeyFileError(f"{source} holds no verify key")
    return tuple(found)


def load_signing_key(path: str) -> SigningKey:
    return parse_signing_key(read_key_file(path, what="signing key"), source=path)


def load_verify_keys(path: str) -> tuple[VerifyKey, ...]:
    return parse_verify_keys(read_key_file(path, what="verify key file"), source=path)


def _message(signer_id: str, manifest_bytes: bytes) -> bytes:
    return _CONTEXT + signer_id.encode("ascii") + b"\n" + manifest_bytes


def sign_manifest(manifest_bytes: bytes, key: SigningKey) -> bytes:
    """The contents of ``manifest.json.sig`` for exactly these manifest bytes."""
    signer_id = key.key_id
    return _signature_file(signer_id, key.key.sign(_message(signer_id, manifest_bytes)))


def _signature_file(signer_id: str, signature: bytes) -> bytes:
    return (
        f"{_SIG_MAGIC}\nkey {signer_id}\nsignature {base64.b64encode(signature).decode()}\n"
    ).encode("ascii")


def _parse_signature(data: bytes) -> tuple[str, bytes]:
    """``(key id, signature)`` from a signature file, or SignatureError."""
    bad = SignatureError(
        f"{SIGNATURE_NAME} is not an osidump signature",
        hint="the dump's signature was damaged or replaced; do not restore it",
    )
    if len(data) > MAX_SIGNATURE_FILE:
        raise bad
    try:
        lines = data.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise bad from None
    if len(lines) != 3 or lines[0] != _SIG_MAGIC:
        raise bad
    tag, _, signer_id = lines[1].partition(" ")
    sig_tag, _, sig_text = lines[2].partition(" ")
    signature = _b64decode(sig_text, 64)
    if tag != "key" or not signer_id.startswith("SHA256:") or sig_tag != "signature":
        raise bad
    if signature is None or len(signer_id) > 64:
        raise bad
    # Exactly the bytes sign_manifest writes: no other line breaks, spaces or
    # base64 spellings of the same signature (a file is valid in one form only).
    if data != _signature_file(signer_id, signature):
        raise bad
    return signer_id, signature


def signature_key_id(signature_bytes: bytes | None) -> str | None:
    """The key id a signature file *claims* (unverified: for display only),
    or None for no signature or a file that is not one."""
    if signature_bytes is None:
        return None
    try:
        return _parse_signature(signature_bytes)[0]
    except SignatureError:
        return None


def verify_manifest(
    manifest_bytes: bytes,
    signature_bytes: bytes | None,
    keys: VerifyKey | Sequence[VerifyKey],
) -> VerifyKey:
    """Check that ``signature_bytes`` signs exactly ``manifest_bytes`` with one
    of ``keys``; return that key. ``None`` means the dump has no signature.
    Raises :class:`SignatureError` naming what is wrong: unsigned, signed by
    another key (both ids), or a signature that does not match."""
    trusted = (keys,) if isinstance(keys, VerifyKey) else tuple(keys)
    if not trusted:
        raise ValueError("verify_manifest needs at least one verify key")
    wanted = ", ".join(k.key_id for k in trusted)
    if signature_bytes is None:
        raise SignatureError(
            f"the dump is not signed, and a verify key ({wanted}) is configured",
            hint="export with --sign-key; an unsigned dump cannot be told from a forged one",
        )
    signer_id, signature = _parse_signature(signature_bytes)
    matching = [k for k in trusted if k.key_id == signer_id]
    if not matching:
        raise SignatureError(
            f"the dump is signed by key {signer_id}, not by the verify key {wanted}",
            hint="pass the verify key of the key that signed it, if you trust that key; "
            "otherwise do not restore this dump",
        )
    from cryptography.exceptions import InvalidSignature  # loaded with the keys already

    message = _message(signer_id, manifest_bytes)
    for candidate in matching:
        try:
            candidate.key.verify(signature, message)
        except InvalidSignature:
            continue
        return candidate
    raise SignatureError(
        f"the signature by key {signer_id} does not match manifest.json: "
        "the manifest was changed after it was signed"
    )
