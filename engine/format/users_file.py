"""``users.json``: the accounts, roles and grants of an ``export --users``.

One JSON document, ``{"format": "osidump-users", "accounts": [...]}``, each
account as ``users.Account.to_dict`` writes it: passwords only as the
server's hashes. Written and sealed like a schema file (listed in the
manifest's ``users`` with its sha256 and size, age-encrypted with the rest).

Reading treats it as untrusted input: the bytes are checked against the
manifest first (``dump_files.read_checked``), then every account must pass
``Account.from_dict`` (one account's own CREATE USER/ROLE and GRANTs, no
password in clear), be of the source server's flavor and appear once, and
the count must be the manifest's; anything else is a ManifestError (exit 5).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..errors import ManifestError
from ..storage.base import Storage
from ..users import Account
from .dump_files import read_checked
from .manifest import Manifest

USERS_FORMAT = "osidump-users"
# Parsed whole: the cap bounds the memory a hostile file can take. 16 MiB is
# tens of thousands of accounts with their grants.
MAX_USERS_BYTES = 16 << 20


def users_document(accounts: Sequence[Account]) -> bytes:
    doc = {"format": USERS_FORMAT, "accounts": [a.to_dict() for a in accounts]}
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def parse_users(data: bytes, *, flavor: str, count: int) -> list[Account]:
    """The accounts of a users file's plaintext, validated."""
    try:
        doc = json.loads(data)
    except RecursionError as exc:
        raise ManifestError("users.json is nested too deeply") from exc
    except ValueError as exc:
        raise ManifestError("users.json is not valid JSON") from exc
    if not isinstance(doc, dict) or set(doc) != {"format", "accounts"}:
        raise ManifestError("users.json is not an osidump users file")
    if doc["format"] != USERS_FORMAT:
        raise ManifestError("users.json is not an osidump users file")
    raw = doc["accounts"]
    if not isinstance(raw, list) or len(raw) != count:
        raise ManifestError(f"users.json does not hold the {count} accounts the manifest lists")
    accounts = [Account.from_dict(entry) for entry in raw]
    seen: set[tuple[str, str]] = set()
    for account in accounts:
        if account.flavor != flavor:
            raise ManifestError(
                f"users.json: account {account.label()} is written for {account.flavor},"
                f" the dump was taken from {flavor}"
            )
        if (account.user, account.host) in seen:
            raise ManifestError(f"users.json lists account {account.label()} twice")
        seen.add((account.user, account.host))
    return accounts


def read_users(storage: Storage, manifest: Manifest) -> list[Account]:
    """The dump's accounts (none without a users file), checked and validated."""
    entry = manifest.users
    if entry is None:
        return []
    data = read_checked(storage, manifest, entry.file, limit=MAX_USERS_BYTES, what="users file")
    return parse_users(data, flavor=manifest.server_flavor, count=entry.accounts)
