"""age recipients and identities, in the formats the age tools use.

- A recipient is an age X25519 public key, ``age1...`` (Bech32), given on the
  command line or read from a recipients file: one per line, ``#`` comments
  and blank lines allowed (``age -R``'s format, X25519 lines only).
- An identity file is what ``age-keygen`` writes: comment lines (``# created:``,
  ``# public key: age1...``) and one or more ``AGE-SECRET-KEY-1...`` lines.

Only X25519 keys are accepted: SSH and plugin keys are valid age but would tie
a restore to ssh-agent or a plugin binary on the restoring host. Parsing is
pyrage's (the Rust ``age`` crate); a bad line is reported by number, never
echoed when it may be secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from pyrage import IdentityError, RecipientError, x25519

from .errors import IdentityMismatch, KeyFileError
from .keyfiles import key_lines, read_key_file

RECIPIENT_PREFIX = "age1"
IDENTITY_PREFIX = "AGE-SECRET-KEY-1"


@dataclass(frozen=True)
class Recipients:
    """Public keys to encrypt to: ``names`` in their canonical ``age1...``
    spelling (recorded in the manifest), ``keys`` for pyrage."""

    names: tuple[str, ...]
    keys: tuple[x25519.Recipient, ...]


def parse_recipient(text: str, *, source: str = "--encrypt-to") -> x25519.Recipient:
    value = text.strip()
    if not value.startswith(RECIPIENT_PREFIX):
        kind = "an age identity (secret key)" if value.startswith("AGE-SECRET-KEY") else None
        raise KeyFileError(
            f"{source}: {kind or repr(value[:60])} is not an age X25519 recipient (age1...)",
            hint="pass the public key (age1...), e.g. the `# public key:` line age-keygen prints",
        )
    try:
        return x25519.Recipient.from_str(value)
    except RecipientError as exc:
        raise KeyFileError(f"{source}: {value[:70]!r} is not a valid age recipient: {exc}") from exc


def recipients(values: Iterable[str] = (), files: Iterable[str] = ()) -> Recipients:
    """Recipients from ``age1...`` strings and from recipients files; duplicates
    are kept once. At least one is required."""
    keys: dict[str, x25519.Recipient] = {}
    for value in values:
        key = parse_recipient(value)
        keys.setdefault(str(key), key)
    for path in files:
        text = read_key_file(path, what="recipients file")
        count = 0
        for number, line in key_lines(text):
            key = parse_recipient(line, source=f"line {number} of {path}")
            keys.setdefault(str(key), key)
            count += 1
        if not count:
            raise KeyFileError(f"recipients file {path} holds no recipient")
    if not keys:
        raise KeyFileError("no age recipient given", hint="pass --encrypt-to age1...")
    return Recipients(tuple(keys), tuple(keys.values()))


@dataclass(frozen=True)
class Identities:
    """Secret keys to decrypt with, and where they came from. ``repr`` shows
    only the matching public keys."""

    keys: tuple[x25519.Identity, ...]
    recipients: tuple[str, ...]  # the public key of each, age1...
    source: str

    def __repr__(self) -> str:
        return f"Identities({self.source}: {', '.join(self.recipients)})"


def parse_identities(text: str, *, source: str) -> Identities:
    keys: list[x25519.Identity] = []
    for number, line in key_lines(text):
        if not line.startswith(IDENTITY_PREFIX):
            hint = ""
            if line.startswith(RECIPIENT_PREFIX):
                hint = " (it is a recipient: a public key; pass the secret key file instead)"
            elif line.startswith("AGE-PLUGIN-"):
                hint = " (plugin identities are not supported)"
            raise KeyFileError(
                f"line {number} of {source} is not an age X25519 identity "
                f"(AGE-SECRET-KEY-1...){hint}"
            )
        try:
            keys.append(x25519.Identity.from_str(line))
        except IdentityError as exc:
            raise KeyFileError(
                f"line {number} of {source} is not a valid age identity ({exc})"
            ) from None  # the pyrage error may quote the line: keep the secret out
    if not keys:
        raise KeyFileError(f"age identity file {source} holds no identity")
    return Identities(tuple(keys), tuple(str(k.to_public()) for k in keys), source)


def load_identities(path: str) -> Identities:
    return parse_identities(read_key_file(path, what="age identity file"), source=path)


def generate_identity(now: datetime | None = None) -> tuple[str, str]:
    """A new X25519 identity: ``(identity file text, recipient)``, the file in
    age-keygen's layout so age, rage and sops read it too."""
    key = x25519.Identity.generate()
    public = str(key.to_public())
    created = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"# created: {created}\n# public key: {public}\n{key}\n"
    return text, public


def require_identity(
    dump_recipients: Sequence[str], identities: Identities | None, *, what: str = "the dump"
) -> None:
    """Refuse early, naming what is missing, when ``identities`` hold no key
    for any of ``dump_recipients`` (the public keys a dump records). age itself
    would only say "no matching keys" at the first object."""
    wanted = ", ".join(dump_recipients)
    if identities is None:
        raise IdentityMismatch(f"{what} is encrypted (to {wanted}); no --identity was given")
    if not set(identities.recipients) & set(dump_recipients):
        raise IdentityMismatch(
            f"{what} is encrypted to {wanted}; the identity file {identities.source} "
            f"holds keys for {', '.join(identities.recipients)} only"
        )
