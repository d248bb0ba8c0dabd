"""age encryption as a storage writer and decryption as a reader: exact round
trips for any write and read boundaries; truncation, tampering and a wrong
identity always refused (never a clean EOF); storage errors surface as
themselves; no pump thread outlives its stream."""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from osidump.cli.errors import exit_code_for
from osidump.engine.errors import StorageError
from osidump.engine.seal import (
    CiphertextDamaged,
    EncryptingStream,
    IdentityMismatch,
    KeyFileError,
    decrypting_reader,
    parse_identities,
    recipients,
    require_identity,
)
from osidump.engine.seal.age_keys import generate_identity
from osidump.engine.seal.encryption import PIECE
from osidump.engine.storage.base import MemoryStorage

IDENTITY_TEXT, RECIPIENT = generate_identity()
IDENTITIES = parse_identities(IDENTITY_TEXT, source="test.identity")
RECIPIENTS = recipients([RECIPIENT])
OTHER_TEXT, OTHER_RECIPIENT = generate_identity()
OTHER = parse_identities(OTHER_TEXT, source="other.identity")
AGE_CHUNK = 64 * 1024  # age's payload chunk: boundaries around it matter

sizes = st.one_of(
    st.integers(0, 300),
    st.sampled_from([AGE_CHUNK - 1, AGE_CHUNK, AGE_CHUNK + 1, PIECE - 1, PIECE, PIECE + 1]),
    st.integers(0, 3 * AGE_CHUNK),
)


def _payload(n: int, seed: int) -> bytes:
    return (seed.to_bytes(4, "big") * (n // 4 + 1))[:n] if n else b""


def encrypt(pieces: list[bytes]) -> bytes:
    storage = MemoryStorage()
    stream = EncryptingStream(storage.open_write("obj"), RECIPIENTS, name="obj")
    for piece in pieces:
        stream.write(piece)
    stream.commit()
    data = storage.objects["obj"]
    assert stream.stored_bytes == len(data)
    return data


def decrypt(data: bytes, read_sizes: Iterator[int] | None = None) -> bytes:
    out = bytearray()
    with decrypting_reader(io.BytesIO(data), IDENTITIES, name="obj") as reader:
        while True:
            block = reader.read(next(read_sizes) if read_sizes else 1 << 20)
            if not block:
                return bytes(out)
            out += block


SAMPLE = encrypt([_payload(5 * AGE_CHUNK + 123, 7)])


@settings(max_examples=60)
@given(st.lists(sizes, max_size=8), st.lists(st.integers(1, 3 * AGE_CHUNK), min_size=1))
def test_round_trip_for_any_write_and_read_boundaries(
    write_sizes: list[int], read_sizes: list[int]
) -> None:
    pieces = [_payload(n, i) for i, n in enumerate(write_sizes)]
    ciphertext = encrypt(pieces)
    assert ciphertext.startswith(b"age-encryption.org/v1\n")
    assert decrypt(ciphertext, itertools.cycle(read_sizes)) == b"".join(pieces)


def test_bytearray_and_memoryview_writes_are_copied() -> None:
    buffer = bytearray(b"a" * 1000)
    storage = MemoryStorage()
    stream = EncryptingStream(storage.open_write("obj"), RECIPIENTS)
    stream.write(buffer)  # type: ignore[arg-type]
    buffer[:] = b"b" * 1000  # the caller reuses its buffer at once
    stream.write(memoryview(buffer))  # type: ignore[arg-type]
    stream.commit()
    assert decrypt(storage.objects["obj"]) == b"a" * 1000 + b"b" * 1000


@settings(max_examples=60)
@given(st.integers(0, len(SAMPLE) - 1))
def test_any_truncation_is_refused(cut: int) -> None:
    with pytest.raises(CiphertextDamaged) as info:
        decrypt(SAMPLE[:cut])
    assert exit_code_for(info.value) == 5
    assert "obj" in info.value.message


def test_truncation_at_an_age_chunk_boundary_is_refused() -> None:
    """The cut that a naive chunked format would miss: whole chunks dropped
    from the end, leaving only authentic chunks."""
    header_end = SAMPLE.index(b"\n---") + 1
    header_end = SAMPLE.index(b"\n", header_end) + 1 + 16  # mac line, then the nonce
    for chunks in (1, 2, 5):
        with pytest.raises(CiphertextDamaged):
            decrypt(SAMPLE[: header_end + chunks * (AGE_CHUNK + 16)])


@settings(max_examples=80)
@given(st.integers(0, len(SAMPLE) - 1), st.integers(1, 255))
def test_any_changed_byte_is_refused(index: int, flip: int) -> None:
    tampered = bytearray(SAMPLE)
    tampered[index] ^= flip
    # In the header's recipient stanza, age cannot tell an altered stanza from
    # one for another key; everywhere else it is damage. Both are exit 5.
    with pytest.raises((CiphertextDamaged, IdentityMismatch)) as info:
        decrypt(bytes(tampered))
    assert exit_code_for(info.value) == 5
    if index > SAMPLE.index(b"\n---"):
        assert isinstance(info.value, CiphertextDamaged)


def test_appended_bytes_are_refused() -> None:
    with pytest.raises(CiphertextDamaged):
        decrypt(SAMPLE + b"\x00")


def test_plain_data_is_not_mistaken_for_ciphertext() -> None:
    with pytest.raises(CiphertextDamaged):
        decrypt(b"(\xb5/\xfd" + b"zstd frame, not age" * 10)


def test_wrong_identity_is_refused_naming_the_keys() -> None:
    reader = decrypting_reader(io.BytesIO(SAMPLE), OTHER, name="data/db/t/0.zst")
    with pytest.raises(IdentityMismatch) as info, reader:
        reader.read(10)
    message = info.value.message
    assert "other.identity" in message and OTHER_RECIPIENT in message
    assert "data/db/t/0.zst" in message
    assert exit_code_for(info.value) == 5


def test_missing_identity_is_refused_before_reading() -> None:
    inner = io.BytesIO(SAMPLE)
    with pytest.raises(IdentityMismatch, match="obj is encrypted, and no --identity"):
        decrypting_reader(inner, None, name="obj")
    assert inner.closed


def test_several_recipients_each_decrypt() -> None:
    both = recipients([RECIPIENT, OTHER_RECIPIENT, RECIPIENT])
    assert both.names == (RECIPIENT, OTHER_RECIPIENT)
    storage = MemoryStorage()
    stream = EncryptingStream(storage.open_write("obj"), both)
    stream.write(b"shared")
    stream.commit()
    for identity in (IDENTITIES, OTHER):
        with decrypting_reader(io.BytesIO(storage.objects["obj"]), identity) as reader:
            assert reader.read() == b"shared"


def test_require_identity_names_what_is_missing() -> None:
    require_identity([OTHER_RECIPIENT, RECIPIENT], IDENTITIES)
    with pytest.raises(IdentityMismatch, match="no --identity was given"):
        require_identity([RECIPIENT], None)
    with pytest.raises(IdentityMismatch) as info:
        require_identity([OTHER_RECIPIENT], IDENTITIES)
    assert OTHER_RECIPIENT in info.value.message and RECIPIENT in info.value.message


class FailingWriter:
    """A storage writer that fails once more than ``limit`` bytes were written
    (as a full disk does), and records what happened to it."""

    def __init__(self, limit: int):
        self.limit = limit
        self.written = 0
        self.committed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        if self.written + len(data) > self.limit:
            raise StorageError("writing obj: No space left on device")
        self.written += len(data)

    def commit(self) -> None:
        self.committed = True

    def abort(self) -> None:
        self.aborted = True


@pytest.mark.parametrize("limit", [0, 100, AGE_CHUNK, 3 * AGE_CHUNK, 5 * AGE_CHUNK + 200])
def test_storage_errors_surface_as_themselves_and_abort(limit: int) -> None:
    """Including a failure in the very last bytes, which pyrage's own final
    flush would swallow (limit = total ciphertext - a few bytes)."""
    inner = FailingWriter(limit)
    stream = EncryptingStream(inner, RECIPIENTS, name="obj")
    with pytest.raises(StorageError, match="No space left"):
        for piece in (
            _payload(5 * AGE_CHUNK + 123, 7)[i : i + 4096]
            for i in range(0, 5 * AGE_CHUNK + 123, 4096)
        ):
            stream.write(piece)
        stream.commit()
    assert inner.aborted and not inner.committed
    stream.abort()  # idempotent after a failure


def pumps() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("age-")]


def test_abort_leaves_nothing_and_stops_the_pump() -> None:
    storage = MemoryStorage()
    stream = EncryptingStream(storage.open_write("obj"), RECIPIENTS)
    stream.write(_payload(3 * PIECE, 1))
    stream.abort()
    stream.abort()
    assert storage.objects == {}
    assert pumps() == []
    with pytest.raises(StorageError, match="after commit or abort"):
        stream.write(b"x")


def test_reader_closed_early_stops_its_pump_and_closes_inner() -> None:
    inner = io.BytesIO(SAMPLE)
    reader = decrypting_reader(inner, IDENTITIES)
    assert len(reader.read(10)) == 10
    reader.close()
    assert inner.closed
    assert pumps() == []


class FailingReader(io.RawIOBase):
    def __init__(self, data: bytes, fail_at: int):
        self._data = io.BytesIO(data)
        self._fail_at = fail_at

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._data.tell() >= self._fail_at:
            raise StorageError("S3 read of s3://b/obj failed: connection reset", retryable=True)
        return self._data.read(min(n, self._fail_at - self._data.tell()) if n >= 0 else -1)


def test_a_failing_source_surfaces_as_itself() -> None:
    reader = decrypting_reader(FailingReader(SAMPLE, 3 * AGE_CHUNK), IDENTITIES)  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="connection reset") as info:
        while reader.read(1 << 16):
            pass
    assert info.value.retryable
    reader.close()


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "holds no identity"),
        (f"# public key: {RECIPIENT}\n", "holds no identity"),
        (f"{RECIPIENT}\n", "line 1 .* \\(it is a recipient"),
        ("# c\nAGE-PLUGIN-YUBIKEY-1QQQ\n", "line 2 .* \\(plugin identities are not supported"),
        ("AGE-SECRET-KEY-1NOTVALIDBECH32XYZ\n", "line 1 .* not a valid age identity"),
    ],
)
def test_bad_identity_files_name_the_line(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message) as info:
        parse_identities(text, source="id.txt")
    assert "NOTVALIDBECH32" not in info.value.message
    assert exit_code_for(info.value) == 2


def test_identity_file_as_age_keygen_writes_it() -> None:
    text = f"# created: 2026-11-29T00:00:00Z\n# public key: {RECIPIENT}\n{IDENTITY_TEXT.splitlines()[-1]}\n"
    parsed = parse_identities(text, source="key.txt")
    assert parsed.recipients == (RECIPIENT,)
    assert "AGE-SECRET" not in repr(parsed)


@pytest.mark.parametrize(
    "value, message",
    [
        ("age1notbech32", "not a valid age recipient"),
        ("ssh-ed25519 AAAA", "is not an age X25519 recipient"),
        ("AGE-SECRET-KEY-1QQQQ", "an age identity \\(secret key\\) is not"),
    ],
)
def test_bad_recipients_are_refused(value: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message) as info:
        recipients([value])
    assert "QQQQ" not in info.value.message


def test_recipients_file(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "r.txt")
    with open(path, "w") as f:
        f.write(f"# team\n{RECIPIENT}\n\n{OTHER_RECIPIENT}\n")
    assert recipients(files=[path]).names == (RECIPIENT, OTHER_RECIPIENT)
    with open(path, "w") as f:
        f.write("# nobody\n")
    with pytest.raises(KeyFileError, match="holds no recipient"):
        recipients(files=[path])
    with pytest.raises(KeyFileError, match="does not exist"):
        recipients(files=[path + ".missing"])
    with pytest.raises(KeyFileError, match="no age recipient given"):
        recipients()


def test_memory_stays_bounded_for_a_64_mib_object() -> None:
    """Encrypt and decrypt 64 MiB in 1 MiB writes and reads, in a fresh
    process: peak RSS grows by far less than the object (whole-buffer age
    would need two copies, 128 MiB)."""
    script = """
import io, os, resource, tempfile
from osidump.engine.seal import EncryptingStream, decrypting_reader, parse_identities, recipients
from osidump.engine.seal.age_keys import generate_identity
text, pub = generate_identity()
ids, rcpt = parse_identities(text, source="t"), recipients([pub])
block = os.urandom(1 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
class ToFile:
    def __init__(self, f): self.f = f
    def write(self, d): self.f.write(d)
    def commit(self): self.f.flush()
    def abort(self): pass
with tempfile.TemporaryFile() as f:
    s = EncryptingStream(ToFile(f), rcpt)
    for _ in range(64):
        s.write(block)
    s.commit()
    f.seek(0)
    n = 0
    with decrypting_reader(f, ids) as r:
        while b := r.read(1 << 20):
            n += len(b)
assert n == 64 << 20, n
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    growth_mib = int(out.strip())
    assert growth_mib < 24, f"peak RSS grew by {growth_mib} MiB for a 64 MiB object"
