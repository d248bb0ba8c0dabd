"""New key pairs on disk: a signing key and its verify key, or an age identity
and its recipient. The secret file is created first with mode 0600 and never
over an existing file; if the public file cannot be written the secret one is
removed again, so a keygen leaves both files or neither."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone

from .age_keys import generate_identity
from .errors import KeyFileError
from .keyfiles import write_new_file
from .signing import SigningKey

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


@dataclass(frozen=True)
class NewKeys:
    secret_path: str
    public_path: str
    public_id: str  # a signing key's id (SHA256:...) or an age recipient (age1...)


def _write_pair(secret_path: str, secret: str, public_path: str, public: str) -> None:
    for path in (secret_path, public_path):
        if os.path.lexists(path):
            raise KeyFileError(
                f"{path} already exists",
                hint="choose another prefix; osidump never overwrites a key",
            )
    write_new_file(secret_path, secret, mode=SECRET_MODE)
    try:
        write_new_file(public_path, public, mode=PUBLIC_MODE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(secret_path)
        raise


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_signing_keys(prefix: str, *, comment: str = "", now: datetime | None = None) -> NewKeys:
    """``PREFIX.key`` (secret, 0600) and ``PREFIX.pub`` (verify key)."""
    key = SigningKey.generate()
    created = _stamp(now)
    public = key.public(comment or f"{os.path.basename(prefix)} {created[:10]}")
    secret_path, public_path = prefix + ".key", prefix + ".pub"
    secret_text = (
        "# osidump signing key (Ed25519). SECRET: whoever holds it can sign dumps.\n"
        f"# created: {created}\n"
        f"# key id: {key.key_id}\n"
        f"# verify key: {os.path.basename(public_path)}\n"
        f"{key.to_line()}\n"
    )
    public_text = (
        "# osidump verify key (Ed25519); add more lines to trust more keys\n"
        f"# created: {created}\n"
        f"# key id: {key.key_id}\n"
        f"{public.to_line()}\n"
    )
    _write_pair(secret_path, secret_text, public_path, public_text)
    return NewKeys(secret_path, public_path, key.key_id)


def write_age_identity(prefix: str, *, now: datetime | None = None) -> NewKeys:
    """``PREFIX.identity`` (age identity as age-keygen writes it, 0600) and
    ``PREFIX.recipient`` (a recipients file holding its public key)."""
    identity_text, recipient = generate_identity(now)
    secret_path, public_path = prefix + ".identity", prefix + ".recipient"
    public_text = (
        "# age recipient (public key) for osidump export --encrypt-to-file\n"
        f"# created: {_stamp(now)}\n"
        f"{recipient}\n"
    )
    _write_pair(secret_path, identity_text, public_path, public_text)
    return NewKeys(secret_path, public_path, recipient)
