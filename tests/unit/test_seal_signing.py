"""Manifest signatures: any change to the signed bytes, the signature or the key
is refused, naming what is wrong; key files parse strictly and never echo a
secret."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from osidump.cli.errors import exit_code_for
from osidump.engine.seal import (
    KeyFileError,
    SignatureError,
    SigningKey,
    parse_signing_key,
    parse_verify_keys,
    sign_manifest,
    verify_manifest,
)

MANIFEST = (
    b'{"format": "osidump-dump", "format_version": 1, "databases": [{"name": "shop", '
    b'"tables": [{"name": "orders", "chunks": [{"path": "data/shop/orders/000000.sql.zst", '
    b'"rows": 1000, "stored_bytes": 4242, "sha256": "' + b"ab" * 32 + b'"}]}]}]}'
)
KEY = SigningKey.generate()
OTHER = SigningKey.generate()


def test_signature_verifies_and_names_the_key() -> None:
    signature = sign_manifest(MANIFEST, KEY)
    assert verify_manifest(MANIFEST, signature, KEY.public()).key_id == KEY.key_id
    assert f"key {KEY.key_id}".encode() in signature


@given(st.data())
def test_any_changed_manifest_byte_is_refused(data: st.DataObject) -> None:
    signature = sign_manifest(MANIFEST, KEY)
    index = data.draw(st.integers(0, len(MANIFEST) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(MANIFEST)
    changed[index] ^= flip
    with pytest.raises(SignatureError, match="does not match manifest.json"):
        verify_manifest(bytes(changed), signature, KEY.public())


@given(st.binary(min_size=1, max_size=64))
def test_appended_or_truncated_manifest_is_refused(extra: bytes) -> None:
    signature = sign_manifest(MANIFEST, KEY)
    with pytest.raises(SignatureError):
        verify_manifest(MANIFEST + extra, signature, KEY.public())
    with pytest.raises(SignatureError):
        verify_manifest(MANIFEST[: -len(extra)], signature, KEY.public())


@given(st.data())
def test_any_changed_signature_byte_is_refused(data: st.DataObject) -> None:
    signature = bytearray(sign_manifest(MANIFEST, KEY))
    index = data.draw(st.integers(0, len(signature) - 1))
    signature[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(SignatureError):
        verify_manifest(MANIFEST, bytes(signature), KEY.public())


@pytest.mark.parametrize(("old", "new"), [(b"\n", b"\x0b"), (b"\n", b"\r\n"), (b"==\n", b"==\n\n")])
def test_a_signature_file_has_one_spelling(old: bytes, new: bytes) -> None:
    """Found by the property above: a line break changed into another one that
    str.splitlines also splits on was accepted."""
    signature = sign_manifest(MANIFEST, KEY)
    with pytest.raises(SignatureError, match="not an osidump signature"):
        verify_manifest(MANIFEST, signature.replace(old, new), KEY.public())


def test_signed_by_another_key_is_reported_as_such() -> None:
    signature = sign_manifest(MANIFEST, OTHER)
    with pytest.raises(SignatureError) as info:
        verify_manifest(MANIFEST, signature, KEY.public())
    assert OTHER.key_id in info.value.message and KEY.key_id in info.value.message
    assert "not by the verify key" in info.value.message


def test_key_id_swapped_into_a_foreign_signature_is_refused() -> None:
    """An attacker with another key who writes our key id into the signature
    file: the id is part of the signed message, so the signature fails."""
    forged = sign_manifest(MANIFEST, OTHER).replace(OTHER.key_id.encode(), KEY.key_id.encode())
    with pytest.raises(SignatureError, match="does not match"):
        verify_manifest(MANIFEST, forged, KEY.public())


def test_unsigned_dump_is_refused_when_a_key_is_configured() -> None:
    with pytest.raises(SignatureError, match="not signed") as info:
        verify_manifest(MANIFEST, None, KEY.public())
    assert exit_code_for(info.value) == 5


@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"osidump-signature 1\n",
        b"osidump-signature 2\nkey SHA256:x\nsignature " + base64.b64encode(b"x" * 64) + b"\n",
        b"osidump-signature 1\nkey SHA256:x\nsignature !!!\n",
        b"osidump-signature 1\nkey SHA256:x\nsignature " + base64.b64encode(b"x" * 63) + b"\n",
        b"\xff" * 200,
        b"osidump-signature 1\n" + b"x" * 5000,
    ],
)
def test_malformed_signature_files_are_refused(signature: bytes) -> None:
    with pytest.raises(SignatureError, match="not an osidump signature"):
        verify_manifest(MANIFEST, signature, KEY.public())


def test_keyring_accepts_old_and_new_keys_during_rotation() -> None:
    text = f"# old\n{KEY.public('2025').to_line()}\n\n# new\n{OTHER.public('2026').to_line()}\n"
    keyring = parse_verify_keys(text, source="ring.pub")
    assert [k.comment for k in keyring] == ["2025", "2026"]
    for signer in (KEY, OTHER):
        assert verify_manifest(MANIFEST, sign_manifest(MANIFEST, signer), keyring).key_id == (
            signer.key_id
        )
    with pytest.raises(SignatureError):
        verify_manifest(MANIFEST, sign_manifest(MANIFEST, SigningKey.generate()), keyring)


def test_signing_key_round_trips_through_its_line() -> None:
    text = f"# comment\n\n{KEY.to_line()}\n"
    assert parse_signing_key(text, source="k").key_id == KEY.key_id
    assert KEY.key_id in repr(KEY) and KEY.to_line().split()[1] not in repr(KEY)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "holds 0 signing keys"),
        ("# only comments\n", "holds 0 signing keys"),
        ("OSIDUMP-ED25519-SECRET-KEY-1 c2hvcnQ=\n", "line 1 of k is not an osidump signing key"),
        ("AGE-SECRET-KEY-1QQQQSECRETSECRET\n", "line 1 of k is not an osidump signing key"),
    ],
)
def test_bad_signing_key_files_name_the_line_not_the_secret(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message) as info:
        parse_signing_key(text, source="k")
    for secret in ("c2hvcnQ=", "QQQQSECRETSECRET"):
        assert secret not in info.value.message
    assert exit_code_for(info.value) == 2


def test_two_signing_keys_in_one_file_are_refused() -> None:
    with pytest.raises(KeyFileError, match="holds 2 signing keys"):
        parse_signing_key(f"{KEY.to_line()}\n{OTHER.to_line()}\n", source="k")


def test_a_secret_key_given_as_verify_key_is_refused() -> None:
    with pytest.raises(KeyFileError, match="is a signing \\(secret\\) key"):
        parse_verify_keys(KEY.to_line(), source="sign.key")


@pytest.mark.parametrize(
    "text",
    ["", "# nothing\n", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB\n", "osidump-ed25519 eHh4\n"],
)
def test_bad_verify_key_files_are_refused(text: str) -> None:
    with pytest.raises(KeyFileError):
        parse_verify_keys(text, source="v.pub")
