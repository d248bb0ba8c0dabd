"""The manifest's ``users`` entry and ``users.json`` are untrusted input: an
entry that does not agree with ``options.users``, names another file or
carries a field no reader knows is refused; so is a users file whose
accounts are not the manifest's count, appear twice or are of another
flavor than the source server. MySQL accounts (no MySQL server here) pass
only in a MySQL dump."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from osidump.engine.config import ExportConfig, RestoreConfig
from osidump.engine.errors import ConfigError, IntegrityError, ManifestError
from osidump.engine.format.manifest import parse_manifest
from osidump.engine.format.users_file import parse_users, read_users, users_document
from osidump.engine.storage.base import MemoryStorage
from osidump.engine.users import Account

from tests.unit.test_manifest import good_manifest
from tests.unit.test_users_accounts import APP, MYSQL_APP, ROLE

SHA = "b" * 64


def with_users(doc: dict[str, Any], **users: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["options"]["users"] = True
    doc["users"] = {"file": {"path": "users.json", "sha256": SHA, "bytes": 10}, "accounts": 2, **users}
    return doc


def parse(doc: dict[str, Any]) -> Any:
    return parse_manifest(json.dumps(doc).encode())


def test_a_users_entry_parses_and_round_trips() -> None:
    manifest = parse(with_users(good_manifest()))
    assert manifest.users is not None and manifest.users.accounts == 2
    assert "users.json" in manifest.all_paths()
    assert parse_manifest(manifest.to_json()) == manifest
    no_users = parse(good_manifest())
    assert no_users.users is None and "users" in json.loads(no_users.to_json())


def test_an_accounts_only_manifest_has_no_database() -> None:
    doc = with_users(good_manifest())
    doc["databases"] = []
    assert parse(doc).all_paths() == ["users.json"]


BAD: list[tuple[str, Any]] = [
    ("options.users without a file", lambda d: d.pop("users")),
    ("a file without options.users", lambda d: d["options"].update(users=False)),
    ("options.users not a flag", lambda d: d["options"].update(users="yes")),
    ("include_users not a list of text", lambda d: d["options"].update(include_users=[1])),
    ("an unknown field", lambda d: d["users"].update(roles=[])),
    ("an unknown file field", lambda d: d["users"]["file"].update(mode="0600")),
    ("a missing field", lambda d: d["users"].pop("accounts")),
    ("another file", lambda d: d["users"]["file"].update(path="schema/shop.json")),
    ("a path outside the dump", lambda d: d["users"]["file"].update(path="../users.json")),
    ("a negative count", lambda d: d["users"].update(accounts=-1)),
    ("a count as text", lambda d: d["users"].update(accounts="2")),
    ("not a digest", lambda d: d["users"]["file"].update(sha256="xyz")),
    ("not an object", lambda d: d.update(users=["users.json"])),
]


@pytest.mark.parametrize("what", [b[0] for b in BAD])
def test_a_bad_users_entry_is_refused(what: str) -> None:
    doc = with_users(good_manifest())
    dict(BAD)[what](doc)
    with pytest.raises(ManifestError):
        parse(doc)


def test_a_users_file_round_trips_and_is_checked() -> None:
    accounts = [Account.from_dict(ROLE), Account.from_dict(APP)]
    data = users_document(accounts)
    assert parse_users(data, flavor="mariadb", count=2) == accounts
    with pytest.raises(ManifestError, match="the 3 accounts the manifest lists"):
        parse_users(data, flavor="mariadb", count=3)
    with pytest.raises(ManifestError, match="taken from mysql"):
        parse_users(data, flavor="mysql", count=2)
    twice = users_document([accounts[1], accounts[1]])
    with pytest.raises(ManifestError, match="twice"):
        parse_users(twice, flavor="mariadb", count=2)
    for bad in (b"[]", b"{", b'{"format": "osidump-users", "accounts": [], "x": 1}',
                b'{"format": "osidump-schema", "accounts": []}', b"[" * 100000):
        with pytest.raises(ManifestError):
            parse_users(bad, flavor="mariadb", count=0)


def test_mysql_accounts_pass_in_a_mysql_dump_only() -> None:
    data = users_document([Account.from_dict(MYSQL_APP)])
    assert parse_users(data, flavor="mysql", count=1)[0].default_roles == (
        ("reader", "%"), ("auditor", "localhost"))
    with pytest.raises(ManifestError):
        parse_users(data, flavor="mariadb", count=1)


def test_the_users_file_is_read_only_after_its_digest_matches() -> None:
    data = users_document([Account.from_dict(APP)])
    storage = MemoryStorage()
    storage.put("users.json", data)
    doc = with_users(good_manifest(), accounts=1)
    doc["users"]["file"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    assert [a.user for a in read_users(storage, parse(doc))] == ["app"]
    storage.put("users.json", data.replace(b"app", b"apq"))
    with pytest.raises(IntegrityError, match="does not match the manifest's sha256"):
        read_users(storage, parse(doc))
    storage.delete("users.json")
    with pytest.raises(IntegrityError, match="missing"):
        read_users(storage, parse(doc))


def test_users_options_are_checked() -> None:
    assert ExportConfig(users=True).users_only
    assert not ExportConfig(databases=("shop",), users=True).users_only
    with pytest.raises(ConfigError, match="no database to export"):
        ExportConfig()
    with pytest.raises(ConfigError, match="only with --users"):
        ExportConfig(databases=("shop",), exclude_users=("app",))
    with pytest.raises(ConfigError, match="only with --users"):
        RestoreConfig(include_users=("app",))
    for config in (ExportConfig, RestoreConfig):
        with pytest.raises(ConfigError, match="empty"):
            config(users=True, include_users=(" ",))
