"""Sealed dumps end to end, on a local directory and on S3 (moto, the real
protocol over HTTP): a signed dump edited by a writer of the backup location
is refused (exit 5) before any chunk is read; an encrypted dump restores
exactly with its identity, is refused naming the recipients without it, and
can still be verified byte for byte without it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from osidump.cli.main import cli
from osidump.engine.config import ConnectionConfig, ExportConfig, RestoreConfig
from osidump.engine.errors import IntegrityError
from osidump.engine.export.run import run_export
from osidump.engine.format.manifest import Manifest
from osidump.engine.restore.drill import run_drill
from osidump.engine.restore.inspect import describe
from osidump.engine.restore.plan import plan_restore
from osidump.engine.restore.verify import verify_dump
from osidump.engine.seal import (
    ExportSeal,
    ReadKeys,
    SignatureError,
    SigningKey,
    generate_identity,
    parse_identities,
    recipients,
    sign_manifest,
)
from osidump.engine.seal.opening import open_dump
from osidump.engine.sqlfile.to_sql import write_sql
from osidump.engine.storage.base import LocalStorage, Storage
from osidump.engine.storage.s3 import S3Config, S3Storage

from tests.integration.helpers import checksums, restore, sql
from tests.support.s3 import CREDENTIALS, new_bucket
from tests.support.seal_tools import (
    RecordingStorage,
    chunk_entries,
    drop_chunk_entry,
    edit_manifest,
    flip_byte,
    forge_chunk,
    manifest_doc,
    swap_schema,
)

KEY = SigningKey.generate()
OTHER_KEY = SigningKey.generate()
IDENTITY_TEXT, RECIPIENT = generate_identity()
OTHER_IDENTITY_TEXT, OTHER_RECIPIENT = generate_identity()
SECRET = "PERSONAL-DATA"  # in every row of `users`; must never be stored in the clear


@dataclass
class Place:
    """Where a dump goes: its storage, its location as the CLI takes it, and
    the CLI's extra flags to reach it."""

    storage: Storage
    location: str
    args: list[str]


@dataclass
class Keys:
    sign: str
    verify: str
    identity: str
    other_identity: str
    recipient_file: str


def make_place(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if kind == "local":
        root = str(tmp_path / "dump")
        return Place(LocalStorage(root), root, [])
    if kind == "s3":  # moto
        bucket = request.getfixturevalue("s3_bucket")
        url = request.getfixturevalue("s3_endpoint_url")
    else:  # the second S3 implementation
        endpoint = request.getfixturevalue("s3rver")
        monkeypatch = request.getfixturevalue("monkeypatch")
        for name, value in CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        bucket, url = new_bucket(endpoint), endpoint.endpoint_url
    config = S3Config(bucket=bucket, prefix="db/20261128_020000", endpoint_url=url)
    return Place(S3Storage(config), f"s3://{bucket}/db/20261128_020000", ["--s3-endpoint-url", url])


@pytest.fixture(params=["local", "s3"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    return make_place(request.param, request, tmp_path)


@pytest.fixture(params=["local", "s3", "s3rver"])
def any_place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    return make_place(request.param, request, tmp_path)


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    files = {
        "prod.key": KEY.to_line() + "\n",
        "prod.pub": KEY.public("prod").to_line() + "\n",
        "restore.identity": IDENTITY_TEXT,
        "other.identity": OTHER_IDENTITY_TEXT,
        "recipients.txt": f"# operational\n{RECIPIENT}\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o600)
    return Keys(*(str(tmp_path / n) for n in files))


@pytest.fixture
def source(server: Any, make_database: Any) -> str:
    db = make_database()
    conn = server.connect()
    sql(conn, f"USE `{db}`")
    sql(conn, "CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(100), note VARCHAR(60))")
    sql(conn, f"INSERT INTO users SELECT seq, CONCAT('u', seq, '@example.com'), "
              f"CONCAT('{SECRET}-', seq) FROM seq_1_to_4000")
    sql(conn, "CREATE TABLE migrations (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
              " migration VARCHAR(255) NOT NULL, batch INT NOT NULL)")
    sql(conn, "INSERT INTO migrations (migration, batch) VALUES"
              " ('2014_10_12_000000_create_users_table', 1), ('2026_11_20_090000_add_note', 2)")
    sql(conn, "CREATE VIEW user_count AS SELECT COUNT(*) AS n FROM users")
    sql(conn, "ANALYZE TABLE users")  # the chunk planner reads the size estimate
    return db


def export_sealed(server: Any, place: Place, db: str, *, sign: bool = True,
                  encrypt: bool = False) -> Manifest:
    seal = ExportSeal(signing_key=KEY if sign else None,
                      recipients=recipients([RECIPIENT]) if encrypt else None)
    config = ExportConfig(databases=(db,), threads=2, chunk_bytes=16384)
    return run_export(server.connection_config(), config, place.storage, seal=seal)


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=env or {})


def conn_args(server: Any) -> list[str]:
    return ["-h", server.host, "-P", str(server.port), "-u", server.user]


# --- a signed dump edited by a writer of the location ---------------------------


def rewrite_chunk(place: Place, db: str) -> None:
    path = chunk_entries(manifest_doc(place.storage), "users")[0]["path"]
    forge_chunk(place.storage, path, [b"1\tattacker@example.com\tpwned"])


def delete_chunk_entry(place: Place, db: str) -> None:
    drop_chunk_entry(place.storage, "users", 0)


def swap_schema_file(place: Place, db: str) -> None:
    def evil(schema: dict[str, Any]) -> None:
        for t in schema["tables"]:
            if t["name"] == "users":
                t["create_sql"] = t["create_sql"].replace("`note` varchar(60)", "`note` text")

    swap_schema(place.storage, db, evil)


def resign_with_other_key(place: Place, db: str) -> None:
    place.storage.put("manifest.json.sig", sign_manifest(place.storage.get("manifest.json"), OTHER_KEY))


def strip_signature(place: Place, db: str) -> None:
    place.storage.delete("manifest.json.sig")


ATTACKS: dict[str, tuple[Callable[[Place, str], None], str]] = {
    "chunk rewritten, digests recomputed": (rewrite_chunk, "does not match manifest.json"),
    "chunk entry deleted": (delete_chunk_entry, "does not match manifest.json"),
    "schema file swapped": (swap_schema_file, "does not match manifest.json"),
    "signed by another key": (resign_with_other_key, re.escape(OTHER_KEY.key_id)),
    "signature removed": (strip_signature, "not signed"),
}


def readers(conn_config: ConnectionConfig, keys: ReadKeys) -> dict[str, Callable[[Storage], object]]:
    """Every engine entry that reads a dump, as the CLI commands call them."""
    return {
        "verify": lambda s: verify_dump(s, keys=keys),
        "inspect": lambda s: describe(s, keys=keys),
        "to-sql": lambda s: write_sql(s, lambda _: None, keys=keys),
        "drill": lambda s: run_drill(conn_config, s, keys=keys),
        "restore": lambda s: plan_restore(
            (opened := open_dump(s, keys, decrypt=True)).storage, opened.manifest, RestoreConfig()
        ),
    }


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_edited_signed_dump_is_refused_before_any_chunk_is_read(
    server: Any, source: str, place: Place, keys: Keys, attack: str
) -> None:
    export_sealed(server, place, source)
    assert len(chunk_entries(manifest_doc(place.storage), "users")) > 1
    tamper, message = ATTACKS[attack]
    tamper(place, source)
    if attack in ("chunk rewritten, digests recomputed", "chunk entry deleted"):
        # Control: the digests were recomputed, so without a key nothing notices.
        assert verify_dump(place.storage).ok
    trusted = ReadKeys(verify_keys=(KEY.public(),))
    for name, read in readers(server.connection_config(), trusted).items():
        recording = RecordingStorage(place.storage)
        with pytest.raises(SignatureError, match=message):
            read(recording)
        assert recording.opened[0] == "manifest.json", name
        assert set(recording.opened) <= {"manifest.json", "manifest.json.sig"}, name
    for command in (["verify"], ["restore", "-d", "osi_never_created", *conn_args(server)],
                    ["to-sql"], ["inspect"]):
        result = invoke([command[0], place.location, *command[1:], *place.args,
                         "--verify-key", keys.verify])
        assert result.exit_code == 5, (command, result.output)
        assert "osidump:" in result.output and "Traceback" not in result.output
    assert sql(server.connect(), "SHOW DATABASES LIKE 'osi_never_created'") == []


def test_signed_dump_restores_with_its_verify_key_and_says_so(
    server: Any, source: str, place: Place, keys: Keys, make_database: Any
) -> None:
    export_sealed(server, place, source)
    assert place.storage.exists("manifest.json.sig")
    dst = make_database()
    result = invoke(["restore", place.location, "-d", dst, *place.args, *conn_args(server)],
                    env={"OSIDUMP_VERIFY_KEY": keys.verify})
    assert result.exit_code == 0, result.output
    assert "unauthenticated" not in result.output
    conn = server.connect()
    assert checksums(conn, dst) == checksums(conn, source)
    result = invoke(["verify", place.location, *place.args])
    assert result.exit_code == 0 and "note: unauthenticated dump" in result.output
    result = invoke(["inspect", place.location, *place.args, "--verify-key", keys.verify])
    assert f"signed by {KEY.key_id} (verified)" in result.output


def test_signature_is_written_before_the_manifest(server: Any, source: str, tmp_path: Path) -> None:
    class WriteOrder(RecordingStorage):
        def __init__(self, inner: Storage):
            super().__init__(inner)
            self.committed: list[str] = []

        def put(self, name: str, data: bytes) -> None:
            super().put(name, data)
            self.committed.append(name)

    storage = WriteOrder(LocalStorage(str(tmp_path / "dump")))
    export_sealed(server, Place(storage, "", []), source)
    assert storage.committed[-2:] == ["manifest.json.sig", "manifest.json"]


# --- encryption ------------------------------------------------------------------


def stored_objects(storage: Storage) -> Iterator[tuple[str, bytes]]:
    for name in storage.list():
        yield name, storage.get(name)


def test_encrypted_round_trip_is_exact_and_stores_no_plaintext(
    server: Any, source: str, any_place: Place, keys: Keys, make_database: Any
) -> None:
    place = any_place
    result = invoke(["export", source, "-o", place.location, "--threads", "2", "--chunk-size", "16K",
                     "--encrypt-to-file", keys.recipient_file, *place.args, *conn_args(server)],
                    env={"OSIDUMP_SIGN_KEY": keys.sign})
    assert result.exit_code == 0, result.output
    assert f"encrypted to {RECIPIENT}" in result.output and KEY.key_id in result.output
    doc = manifest_doc(place.storage)
    assert doc["encryption"] == {"scheme": "age", "recipients": [RECIPIENT]}
    users = chunk_entries(doc, "users")
    assert len(users) > 1
    assert all(c["content_sha256"] is None and c["lower"] is None and c["upper"] is None
               for c in users)
    for name, data in stored_objects(place.storage):
        if name.startswith(("data/", "schema/")):
            assert data.startswith(b"age-encryption.org/v1\n"), name
        assert SECRET.encode() not in data and b"example.com" not in data, name
        assert b"CREATE TABLE" not in data, name
    dst = make_database()
    result = invoke(["restore", place.location, "-d", dst, *place.args, *conn_args(server)],
                    env={"OSIDUMP_VERIFY_KEY": keys.verify, "OSIDUMP_IDENTITY": keys.identity})
    assert result.exit_code == 0, result.output
    conn = server.connect()
    assert checksums(conn, dst) == checksums(conn, source)
    assert sql(conn, f"SELECT n FROM `{dst}`.user_count") == [(4000,)]
    result = invoke(["verify", place.location, "--deep", "--identity", keys.identity,
                     "--verify-key", keys.verify, *place.args])
    assert result.exit_code == 0 and "4,002 rows, every checksum and statement checked" in result.output
    result = invoke(["to-sql", place.location, "--identity", keys.identity, *place.args])
    assert result.exit_code == 0
    assert result.output.count(SECRET + "-") == 4000  # decrypted: text values as text
    result = invoke(["drill", place.location, "--json", "--identity", keys.identity,
                     "--verify-key", keys.verify, *place.args, *conn_args(server)])
    assert result.exit_code == 0, result.output
    drill = json.loads(result.output)
    assert drill["ok"] and drill["rows"] == 4002 and drill["authenticated"]


@pytest.mark.parametrize("identity", ["none", "other"])
def test_missing_or_wrong_identity_is_exit_5_naming_the_recipients(
    server: Any, source: str, place: Place, keys: Keys, identity: str
) -> None:
    export_sealed(server, place, source, encrypt=True)
    given = [] if identity == "none" else ["--identity", keys.other_identity]
    conn = conn_args(server)
    for command in (["restore", "-d", "osi_never_created", *conn], ["drill", *conn], ["to-sql"],
                    ["verify", "--deep"]):
        result = invoke([command[0], place.location, *command[1:], *given, *place.args])
        assert result.exit_code == 5, (command, result.output)
        assert RECIPIENT in result.output, (command, result.output)
        missing = "no --identity was given" if identity == "none" else keys.other_identity
        assert missing in result.output, (command, result.output)
    assert sql(server.connect(), "SHOW DATABASES LIKE 'osi_never_created'") == []
    assert sql(server.connect(), "SHOW DATABASES LIKE %s", (f"{source}_drill_%",)) == []


def test_plain_verify_checks_every_stored_byte_without_the_identity(
    server: Any, source: str, place: Place, keys: Keys, make_database: Any
) -> None:
    export_sealed(server, place, source, encrypt=True)
    result = invoke(["verify", place.location, *place.args])
    assert result.exit_code == 0, result.output
    assert "every stored object's size and sha256 match" in result.output
    report = verify_dump(place.storage)
    assert report.ok and report.depth == "stored"
    chunk = chunk_entries(manifest_doc(place.storage), "users")[1]["path"]
    flip_byte(place.storage, chunk)
    result = invoke(["verify", place.location, *place.args, "--json"])
    assert result.exit_code == 5
    out = json.loads(result.output.split("\nosidump:")[0])
    assert out["depth"] == "stored" and not out["ok"]
    assert [p for t in out["tables"] for p in t["problems"]] == [
        f"{source}.users chunk 1 ({chunk}): stored bytes do not match the manifest's sha256"
    ]
    result = invoke(["verify", place.location, *place.args, "--identity", keys.identity])
    assert result.exit_code == 5 and f"chunk 1 ({chunk})" in result.output
    identities = parse_identities(IDENTITY_TEXT, source="restore.identity")
    opened = open_dump(place.storage, ReadKeys(identities=identities), decrypt=True)
    with pytest.raises(IntegrityError, match=r"users chunk 1"):
        restore(server.connection_config(), opened.storage, database=make_database())


def test_encryption_alone_does_not_authenticate(server: Any, source: str, tmp_path: Path,
                                                make_database: Any) -> None:
    """The threat model's warning, shown: recipients are public, so a writer of
    the location can encrypt forged rows to them and reseal an unsigned
    manifest; only a signature refuses that."""
    place = Place(LocalStorage(str(tmp_path / "dump")), str(tmp_path / "dump"), [])
    export_sealed(server, place, source, sign=False, encrypt=True)
    for i, chunk in enumerate(chunk_entries(manifest_doc(place.storage), "users")):
        forge_chunk(place.storage, chunk["path"], [f"{i + 1}\tforged@example.com\tforged".encode()])
    identities = parse_identities(IDENTITY_TEXT, source="restore.identity")
    opened = open_dump(place.storage, ReadKeys(identities=identities), decrypt=True)
    dst = make_database()
    restore(server.connection_config(), opened.storage, database=dst)
    assert sql(server.connect(), f"SELECT DISTINCT note FROM `{dst}`.users") == [("forged",)]


def test_inspect_list_and_prune_need_no_keys(server: Any, source: str, tmp_path: Path, keys: Keys) -> None:
    place = Place(LocalStorage(str(tmp_path / "db" / "one")), str(tmp_path / "db" / "one"), [])
    export_sealed(server, place, source, encrypt=True)
    result = invoke(["inspect", place.location, "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["seal"] == {"authenticated": False, "signed_by": KEY.key_id, "encrypted": True,
                            "recipients": [RECIPIENT]}
    assert "laravel" not in info["databases"][0]
    assert info["notes"] == [f"{source}: Laravel migrations not read: the dump is encrypted "
                             "(pass --identity to read them)"]
    result = invoke(["inspect", place.location, "--identity", keys.identity])
    assert result.exit_code == 0, result.output
    assert "laravel migrations: 2 applied, last batch 2: 2026_11_20_090000_add_note" in result.output
    assert f"encrypted to {RECIPIENT}" in result.output
    result = invoke(["list", str(tmp_path / "db"), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)[0]["complete"]
    result = invoke(["prune", str(tmp_path / "db"), "--keep-days", "30", "--dry-run"])
    assert result.exit_code == 0 and "keep    one" in result.output


def test_bad_recipient_or_key_is_exit_2_before_the_destination_is_touched(
    server: Any, source: str, tmp_path: Path, keys: Keys
) -> None:
    out = tmp_path / "dump"
    for extra in (["--encrypt-to", "age1notakey"], ["--encrypt-to", IDENTITY_TEXT.split()[-1]],
                  ["--sign-key", keys.verify], ["--encrypt-to-file", keys.identity]):
        result = invoke(["export", source, "-o", str(out), *extra, *conn_args(server)])
        assert result.exit_code == 2, (extra, result.output)
        assert "AGE-SECRET-KEY-1" not in result.output
        assert not out.exists()
    result = invoke(["verify", str(out), "--verify-key", keys.identity])
    assert result.exit_code == 2 and "not an osidump verify key" in result.output
    assert "AGE-SECRET-KEY-1" not in result.output


def test_the_note_and_json_say_when_a_dump_is_unauthenticated(
    server: Any, source: str, tmp_path: Path, keys: Keys
) -> None:
    place = Place(LocalStorage(str(tmp_path / "dump")), str(tmp_path / "dump"), [])
    export_sealed(server, place, source, sign=False)
    result = invoke(["verify", place.location, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["seal"]["authenticated"] is False
    result = invoke(["to-sql", place.location, "-o", str(tmp_path / "x.sql")])
    assert result.exit_code == 0 and "note: unauthenticated dump" in result.output
    edit_manifest(place.storage, lambda doc: None)  # rewritten: still loads without a key
    result = invoke(["verify", place.location, "--verify-key", keys.verify])
    assert result.exit_code == 5 and "the dump is not signed" in result.output
