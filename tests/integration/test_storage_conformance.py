"""One suite that every storage backend passes: local directories, memory, and
S3 over the real protocol (moto's server on 127.0.0.1)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from osidump.engine.errors import DestinationNotEmpty, ManifestError, ObjectNotFound, StorageError
from osidump.engine.storage import LocalStorage, MemoryStorage, Storage, open_storage
from osidump.engine.storage_s3 import MIN_PART, S3Config, S3Storage


@pytest.fixture(params=["local", "memory", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(str(tmp_path / "dump"))
    elif request.param == "memory":
        yield MemoryStorage()
    else:
        endpoint = request.getfixturevalue("s3_endpoint_url")
        bucket = request.getfixturevalue("s3_bucket")
        yield S3Storage(S3Config(bucket=bucket, prefix="backups/nightly", endpoint_url=endpoint,
                                 part_size=MIN_PART))


def test_put_get_round_trip(storage: Storage) -> None:
    storage.put("manifest.json", b'{"a": 1}')
    assert storage.get("manifest.json") == b'{"a": 1}'
    assert storage.exists("manifest.json")


def test_large_object_streams_in_parts(storage: Storage) -> None:
    data = os.urandom(MIN_PART * 2 + 12345)
    stream = storage.open_write("data/db/t/000000-0000.sql.zst")
    pos = 0
    for size in [1, 1000, 3 * 1024 * 1024, 7, MIN_PART, len(data)]:
        stream.write(data[pos : pos + size])
        pos += size
    assert not storage.exists("data/db/t/000000-0000.sql.zst")  # nothing before commit
    stream.commit()
    with storage.open_read("data/db/t/000000-0000.sql.zst") as fh:
        chunks = []
        while block := fh.read(1 << 20):
            chunks.append(block)
    assert b"".join(chunks) == data


def test_abort_leaves_nothing(storage: Storage) -> None:
    stream = storage.open_write("data/x.sql.zst")
    stream.write(os.urandom(MIN_PART + 10))
    stream.abort()
    assert not storage.exists("data/x.sql.zst")
    assert storage.list() == []


def test_list_prefix_sorted_and_delete(storage: Storage) -> None:
    for name in ["schema/b.json", "data/z/1", "data/a/2", "manifest.json"]:
        storage.put(name, b"x")
    assert storage.list() == ["data/a/2", "data/z/1", "manifest.json", "schema/b.json"]
    assert storage.list("data/") == ["data/a/2", "data/z/1"]
    storage.delete("data/z/1")
    assert not storage.exists("data/z/1")
    with pytest.raises(DestinationNotEmpty):
        storage.ensure_empty()


def test_missing_object(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound):
        storage.open_read("data/nope")
    assert not storage.exists("data/nope")
    storage.ensure_empty()


@pytest.mark.parametrize("name", ["../x", "/abs", "a//b", "a/./b", "a\\b", "", "a/../../b"])
def test_unsafe_names_refused_before_any_io(storage: Storage, name: str) -> None:
    with pytest.raises(ManifestError):
        storage.open_read(name)
    with pytest.raises(ManifestError):
        storage.open_write(name)


def test_s3_failed_part_aborts_the_multipart_upload(s3_endpoint_url: str, s3_bucket: str) -> None:
    s3 = S3Storage(S3Config(bucket=s3_bucket, endpoint_url=s3_endpoint_url, part_size=MIN_PART))

    class FailSecondPart:
        """A named fake around the real client: the second upload_part fails."""

        def __init__(self, real: Any):
            self.real = real
            self.parts = 0

        def upload_part(self, **kw: Any) -> Any:
            self.parts += 1
            if self.parts == 2:
                import botocore.exceptions

                raise botocore.exceptions.EndpointConnectionError(endpoint_url="injected")
            return self.real.upload_part(**kw)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    real = s3.client
    s3.client = FailSecondPart(real)
    stream = s3.open_write("data/big.sql.zst")
    with pytest.raises(StorageError, match="big.sql.zst"):
        stream.write(os.urandom(MIN_PART * 3))
    assert real.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert not s3.exists("data/big.sql.zst")


def test_s3_unreachable_endpoint_is_a_one_line_storage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.servers import free_port

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    s3 = S3Storage(S3Config(bucket="b", endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1))
    with pytest.raises(StorageError) as info:
        s3.list()
    assert "\n" not in info.value.message


def test_open_storage_dispatches_on_the_scheme(tmp_path: Path, s3_endpoint_url: str) -> None:
    assert isinstance(open_storage(str(tmp_path)), LocalStorage)
    s3 = open_storage("s3://bucket/some/prefix/", s3_endpoint_url=s3_endpoint_url)
    assert isinstance(s3, S3Storage) and s3.describe() == "s3://bucket/some/prefix"


def test_child_is_a_storage_under_a_name(storage: Storage) -> None:
    child = storage.child("shop-2026-11-28")
    child.put("manifest.json", b"m")
    child.put("data/t/1", b"d")
    assert child.list() == ["data/t/1", "manifest.json"]
    assert storage.list() == ["shop-2026-11-28/data/t/1", "shop-2026-11-28/manifest.json"]
    assert child.get("data/t/1") == b"d"
    child.delete("manifest.json")
    assert not storage.exists("shop-2026-11-28/manifest.json")
    with pytest.raises(ManifestError):
        storage.child("../escape")
