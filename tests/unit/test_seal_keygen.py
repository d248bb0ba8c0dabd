"""``osidump keygen``: private files 0600 whatever the umask, never an
overwrite, and files that the loaders (and age's own tools' format) read back."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from osidump.cli.errors import exit_code_for
from osidump.cli.main import cli
from osidump.engine.seal import (
    CiphertextDamaged,
    EncryptionFailed,
    IdentityMismatch,
    KeyFileError,
    SignatureError,
    load_identities,
    load_signing_key,
    load_verify_keys,
    recipients,
    sign_manifest,
    verify_manifest,
)
from osidump.engine.seal.keyfiles import readable_by_others


@pytest.fixture(params=[0o000, 0o022, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_writes_a_signing_pair(tmp_path: Path, umask: int) -> None:
    result = CliRunner().invoke(cli, ["keygen", str(tmp_path / "backup")])
    assert result.exit_code == 0, result.output
    key, pub = tmp_path / "backup.key", tmp_path / "backup.pub"
    assert mode(key) == 0o600 and mode(pub) == 0o644
    assert not readable_by_others(str(key))
    signing = load_signing_key(str(key))
    (verify,) = load_verify_keys(str(pub))
    assert verify.key_id == signing.key_id and signing.key_id in result.output
    assert verify.comment.startswith("backup ")
    verify_manifest(b"{}", sign_manifest(b"{}", signing), verify)
    # the secret is in the .key file only, never on the terminal
    assert signing.to_line().split()[1] not in result.output


def test_keygen_age_writes_an_identity_and_its_recipient(tmp_path: Path, umask: int) -> None:
    result = CliRunner().invoke(cli, ["keygen", "--age", str(tmp_path / "dumps")])
    assert result.exit_code == 0, result.output
    identity, recipient = tmp_path / "dumps.identity", tmp_path / "dumps.recipient"
    assert mode(identity) == 0o600 and mode(recipient) == 0o644
    ids = load_identities(str(identity))
    assert recipients(files=[str(recipient)]).names == ids.recipients
    assert ids.recipients[0] in result.output
    # age-keygen's layout: the public key as a comment, then the secret line
    lines = identity.read_text().splitlines()
    assert lines[1] == f"# public key: {ids.recipients[0]}"
    assert lines[2].startswith("AGE-SECRET-KEY-1") and lines[2] not in result.output


@pytest.mark.parametrize("existing", ["backup.key", "backup.pub"])
def test_keygen_never_overwrites(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("precious\n")
    result = CliRunner().invoke(cli, ["keygen", str(tmp_path / "backup")])
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert (tmp_path / existing).read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]


def test_keygen_into_a_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["keygen", str(tmp_path / "nope" / "backup")])
    assert result.exit_code == 2
    assert "cannot create" in result.output


def test_loading_missing_or_odd_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        load_signing_key(str(tmp_path / "missing.key"))
    with pytest.raises(KeyFileError, match="is a directory"):
        load_verify_keys(str(tmp_path))
    big = tmp_path / "big.pub"
    big.write_bytes(b"#" * 70_000)
    with pytest.raises(KeyFileError, match="larger than"):
        load_verify_keys(str(big))
    binary = tmp_path / "bin.identity"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(KeyFileError, match="not a text file"):
        load_identities(str(binary))


@pytest.mark.parametrize(
    "error, code",
    [
        (KeyFileError("x"), 2),
        (SignatureError("x"), 5),
        (IdentityMismatch("x"), 5),
        (CiphertextDamaged("x"), 5),
        (EncryptionFailed("x"), 1),
    ],
)
def test_exit_codes_of_seal_errors(error: Exception, code: int) -> None:
    assert exit_code_for(error) == code  # type: ignore[arg-type]
