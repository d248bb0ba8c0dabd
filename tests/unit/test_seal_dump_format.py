"""Sealed dumps without a server: the manifest's new fields parse strictly, a
signature is checked on the exact bytes before they are parsed, and an
encrypted chunk written by ChunkFile reads back through ChunkStream only with
the right identity, its digests those of the ciphertext."""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import pytest
from osidump.cli.errors import exit_code_for
from osidump.engine.errors import IntegrityError, ManifestError
from osidump.engine.format.chunk_reader import ChunkStream, verify_stream
from osidump.engine.format.chunk_writer import ChunkFile
from osidump.engine.format.manifest import ChunkEntry, load_manifest, parse_manifest
from osidump.engine.seal import (
    SIGNATURE_NAME,
    IdentityMismatch,
    KeyedStorage,
    ReadKeys,
    SignatureError,
    SigningKey,
    generate_identity,
    parse_identities,
    recipients,
    sign_manifest,
)
from osidump.engine.seal.opening import open_dump
from osidump.engine.storage.base import MemoryStorage

from tests.unit.test_manifest import encode, good_manifest

IDENTITY_TEXT, RECIPIENT = generate_identity()
OTHER_TEXT, OTHER_RECIPIENT = generate_identity()
IDENTITY = parse_identities(IDENTITY_TEXT, source="key.txt")
OTHER = parse_identities(OTHER_TEXT, source="other.txt")
KEY = SigningKey.generate()
PATH = "data/shop/orders/000000-0000.tsv.zst"
ROWS = [f"{i}\tcustomer-{i}@example.com\t{i * 7}".encode() for i in range(5000)]


def encrypted_manifest() -> dict[str, Any]:
    doc = good_manifest()
    doc["encryption"] = {"scheme": "age", "recipients": [RECIPIENT]}
    chunk = doc["databases"][0]["tables"][0]["chunks"][0]
    chunk.update(content_sha256=None, lower=None, upper=None)
    return doc


def test_encrypted_manifest_parses_and_round_trips() -> None:
    m = parse_manifest(encode(encrypted_manifest()))
    assert m.encryption is not None and m.encryption.recipients == [RECIPIENT]
    assert m.database("shop").table("orders").chunks[0].content_sha256 is None
    assert parse_manifest(m.to_json()) == m


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("content_sha256", "a" * 64, "content_sha256 is set"),
        ("lower", ["1"], "key bounds"),
        ("upper", ["10"], "key bounds"),
    ],
)
def test_encrypted_manifest_carries_no_row_values(field: str, value: Any, message: str) -> None:
    doc = encrypted_manifest()
    doc["databases"][0]["tables"][0]["chunks"][0][field] = value
    with pytest.raises(ManifestError, match=message):
        parse_manifest(encode(doc))


@pytest.mark.parametrize(
    "encryption",
    [
        {"scheme": "age", "recipients": []},
        {"scheme": "age", "recipients": ["age1" + "b" * 58]},
        {"scheme": "age", "recipients": [RECIPIENT.upper()]},
        {"scheme": "age", "recipients": "age1"},
        {"scheme": "gpg", "recipients": [RECIPIENT]},
        {"recipients": [RECIPIENT]},
        ["age", RECIPIENT],
    ],
)
def test_bad_encryption_field_is_refused(encryption: Any) -> None:
    doc = encrypted_manifest()
    doc["encryption"] = encryption
    with pytest.raises(ManifestError, match="encryption"):
        parse_manifest(encode(doc))


def test_plaintext_manifest_still_needs_its_content_digest() -> None:
    doc = good_manifest()
    del doc["databases"][0]["tables"][0]["chunks"][0]["content_sha256"]
    with pytest.raises(ManifestError, match="content_sha256"):
        parse_manifest(encode(doc))


def signed_storage(data: bytes, key: SigningKey = KEY) -> MemoryStorage:
    storage = MemoryStorage()
    storage.put("manifest.json", data)
    storage.put(SIGNATURE_NAME, sign_manifest(data, key))
    return storage


def test_signature_is_checked_on_the_bytes_read() -> None:
    data = encode(good_manifest())
    storage = signed_storage(data)
    assert load_manifest(storage, verify_keys=(KEY.public(),)).database("shop")
    storage.put("manifest.json", data.replace(b'"rows": 3', b'"rows": 4'))
    with pytest.raises(SignatureError, match="does not match") as info:
        load_manifest(storage, verify_keys=(KEY.public(),))
    assert exit_code_for(info.value) == 5
    # Without a verify key the changed manifest loads: only the signature tells.
    assert load_manifest(storage).database("shop").table("orders").rows == 4


def test_signature_comes_before_parsing() -> None:
    """A manifest that is not even JSON is refused as unsigned, not parsed."""
    storage = MemoryStorage()
    storage.put("manifest.json", b"{not json")
    with pytest.raises(SignatureError, match="not signed"):
        load_manifest(storage, verify_keys=(KEY.public(),))


def test_other_key_and_oversized_signature_are_refused() -> None:
    data = encode(good_manifest())
    other = SigningKey.generate()
    with pytest.raises(SignatureError) as info:
        load_manifest(signed_storage(data, other), verify_keys=(KEY.public(),))
    assert other.key_id in info.value.message and KEY.key_id in info.value.message
    storage = signed_storage(data)
    storage.put(SIGNATURE_NAME, sign_manifest(data, KEY) + b"#" * 4096)
    with pytest.raises(SignatureError, match="not an osidump signature"):
        load_manifest(storage, verify_keys=(KEY.public(),))


def test_open_dump_names_the_recipients_when_the_identity_is_missing_or_wrong() -> None:
    storage = MemoryStorage()
    storage.put("manifest.json", encode(encrypted_manifest()))
    opened = open_dump(storage)  # reading the manifest needs no key
    assert opened.encrypted and not opened.readable and not opened.authenticated
    for keys in (ReadKeys(), ReadKeys(identities=OTHER)):
        with pytest.raises(IdentityMismatch, match=RECIPIENT) as info:
            open_dump(storage, keys, decrypt=True)
        assert exit_code_for(info.value) == 5
    with pytest.raises(IdentityMismatch, match="other.txt"):
        open_dump(storage, ReadKeys(identities=OTHER), decrypt=True)
    assert open_dump(storage, ReadKeys(identities=IDENTITY), decrypt=True).readable


def write_chunk(storage: MemoryStorage, *, encrypt: bool = True) -> ChunkEntry:
    chunk = ChunkFile(storage, PATH, level=1, recipients=recipients([RECIPIENT]) if encrypt else None)
    for start in range(0, len(ROWS), 700):
        block = b"".join(r + b"\n" for r in ROWS[start : start + 700])
        chunk.write(block, rows=len(ROWS[start : start + 700]), longest=max(map(len, ROWS)) + 1)
    s = chunk.finish()
    return ChunkEntry(index=0, path=s.path, rows=s.rows, raw_bytes=s.raw_bytes,
                      stored_bytes=s.stored_bytes, sha256=s.sha256,
                      content_sha256=s.content_sha256, max_row_bytes=s.max_row_bytes)


def keyed(storage: MemoryStorage, identities: Any = IDENTITY) -> KeyedStorage:
    return KeyedStorage(storage, recipients=[RECIPIENT], identities=identities)


def read_rows(storage: Any, entry: ChunkEntry) -> list[bytes]:
    stream = ChunkStream(storage, entry, label="shop.orders chunk 0", max_row=int(entry.max_row_bytes or 0))
    with stream:
        rows = list(stream.lines(1 << 20))
    stream.finish()
    return rows


def age_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("age-")]


def test_encrypted_chunk_round_trips_and_its_digests_are_of_the_ciphertext() -> None:
    storage = MemoryStorage()
    entry = write_chunk(storage)
    stored = storage.get(PATH)
    assert stored.startswith(b"age-encryption.org/v1\n")
    assert entry.sha256 == hashlib.sha256(stored).hexdigest()
    assert entry.stored_bytes == len(stored)
    assert entry.content_sha256 is None
    assert b"customer-" not in stored
    assert read_rows(keyed(storage), entry) == ROWS
    assert age_threads() == []


def test_encrypted_chunk_without_or_with_the_wrong_identity_is_exit_5() -> None:
    storage = MemoryStorage()
    entry = write_chunk(storage)
    with pytest.raises(IdentityMismatch, match=RECIPIENT):
        read_rows(keyed(storage, None), entry)
    with pytest.raises(IdentityMismatch, match="other.txt"):
        read_rows(keyed(storage, OTHER), entry)
    # Read as if plaintext (the manifest lied that it is not encrypted): damage.
    with pytest.raises(IntegrityError, match="not valid zstd"):
        read_rows(storage, entry)
    assert age_threads() == []


@pytest.mark.parametrize("where", ["header", "middle", "last byte", "truncated"])
def test_changed_ciphertext_is_damage_naming_the_chunk(where: str) -> None:
    storage = MemoryStorage()
    entry = write_chunk(storage)
    data = bytearray(storage.get(PATH))
    if where == "truncated":
        del data[-100:]
    else:
        at = {"header": 40, "middle": len(data) // 2, "last byte": len(data) - 1}[where]
        data[at] ^= 0x01
    storage.objects[PATH] = bytes(data)
    with pytest.raises(IntegrityError, match=r"shop\.orders chunk 0") as info:
        verify_stream(ChunkStream(keyed(storage), entry, label="shop.orders chunk 0",
                                  max_row=int(entry.max_row_bytes or 0)))
    assert exit_code_for(info.value) == 5
    assert age_threads() == []


def test_a_recomputed_ciphertext_digest_still_fails_age() -> None:
    """Changed ciphertext with the manifest's digest and size recomputed (an
    unsigned dump's attacker without the identity) fails age's authentication."""
    storage = MemoryStorage()
    entry = write_chunk(storage)
    data = bytearray(storage.get(PATH))
    data[len(data) // 2] ^= 0x01
    storage.objects[PATH] = bytes(data)
    forged = ChunkEntry(**{**entry.__dict__, "sha256": hashlib.sha256(data).hexdigest()})
    with pytest.raises(IntegrityError, match="failed age decryption"):
        read_rows(keyed(storage), forged)


def test_plain_chunks_are_unchanged() -> None:
    storage = MemoryStorage()
    entry = write_chunk(storage, encrypt=False)
    assert entry.content_sha256 is not None
    assert read_rows(storage, entry) == ROWS
    assert json.loads(json.dumps(entry.__dict__))["content_sha256"] == entry.content_sha256
