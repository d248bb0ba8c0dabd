"""One suite that every storage backend passes (after litestream's
replica_client_test.go): local directories, memory, and S3 over the real
protocol (moto's server on 127.0.0.1, fixtures in tests/conftest.py).

S3 runs with the smallest part size S3 allows (5 MiB), so a 12 MiB object is
three parts, the last one short."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from osidump.engine.errors import DestinationNotEmpty, ManifestError, ObjectNotFound
from osidump.engine.storage import s3 as storage_s3
from osidump.engine.storage.base import LocalStorage, MemoryStorage, Storage, open_storage
from osidump.engine.storage.s3 import MIN_PART, S3Config, S3Storage

from tests.support.faults import FailingS3Client
from tests.support.s3 import CREDENTIALS, new_bucket

_S3RVER_URLS: set[str] = set()  # endpoints of s3rver storages, for its known differences

UNSAFE = ["../x", "/abs", "a//b", "a/./b", "a\\b", "", "a/../../b", "data/..", "x/", "a\x00b", "a b"]


@pytest.fixture(params=["local", "memory", "s3-moto", "s3-s3rver"])
def storage(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(str(tmp_path / "dump"))
    elif request.param == "memory":
        yield MemoryStorage()
    else:
        server = request.getfixturevalue("moto_s3" if request.param == "s3-moto" else "s3rver")
        if request.param == "s3-s3rver":
            _S3RVER_URLS.add(server.endpoint_url)
        for key, value in CREDENTIALS.items():
            monkeypatch.setenv(key, value)
        bucket = new_bucket(server)
        config = S3Config(bucket=bucket, prefix="backups/nightly", endpoint_url=server.endpoint_url,
                          part_size=MIN_PART)
        # Never fails (no such operation); counts calls, to prove "no I/O".
        counting = FailingS3Client(S3Storage(config).client, operation="(none)")
        yield S3Storage(config, client=counting)


def _io_done(storage: Storage) -> int:
    """How much the backend has touched: files, objects, or S3 calls."""
    if isinstance(storage, S3Storage):
        return sum(storage.client.calls.values())  # type: ignore[attr-defined]
    if isinstance(storage, LocalStorage):
        return sum(len(files) + 1 for _d, _s, files in os.walk(storage.root))
    assert isinstance(storage, MemoryStorage)
    return len(storage.objects)


def _odd_sizes(total: int) -> Iterator[tuple[int, int]]:
    """Write boundaries that never line up with a part: 1 byte, primes, a part
    plus one, then whatever is left."""
    pos = 0
    for size in [1, 1000, 3 * 1024 * 1024 + 17, 7, MIN_PART + 1, 999_983]:
        yield pos, min(size, total - pos)
        pos += size
        if pos >= total:
            return
    yield pos, total - pos


def test_put_get_round_trip(storage: Storage) -> None:
    storage.put("manifest.json", b'{"a": 1}')
    assert storage.get("manifest.json") == b'{"a": 1}'
    assert storage.exists("manifest.json")
    storage.put("manifest.json", b"replaced")
    assert storage.get("manifest.json") == b"replaced"


def test_empty_object(storage: Storage) -> None:
    stream = storage.open_write("data/empty")
    stream.commit()
    assert storage.exists("data/empty")
    assert storage.get("data/empty") == b""


def test_large_object_streams_in_parts(storage: Storage) -> None:
    data = os.urandom(12 * 1024 * 1024 + 12345)
    name = "data/db/t/000000-0000.sql.zst"
    stream = storage.open_write(name)
    for pos, size in _odd_sizes(len(data)):
        stream.write(data[pos : pos + size])
    stream.commit()
    chunks = []
    with storage.open_read(name) as fh:
        while block := fh.read(777_777):
            chunks.append(block)
    assert b"".join(chunks) == data
    assert storage.list("data/") == [name]


def test_nothing_visible_before_commit(storage: Storage, request: pytest.FixtureRequest) -> None:
    name = "data/db/t/000001-0000.sql.zst"
    stream = storage.open_write(name)
    stream.write(b"a few bytes")
    stream.write(os.urandom(MIN_PART + 3))  # on S3, one part has gone up by now
    assert not storage.exists(name)
    with pytest.raises(ObjectNotFound):
        storage.open_read(name)
    try:
        assert storage.list() == []
    finally:
        stream.abort()


def test_nothing_visible_under_the_name_before_commit(storage: Storage) -> None:
    """Nothing is visible under the name before commit, then it is."""
    name = "data/db/t/000001-0000.sql.zst"
    stream = storage.open_write(name)
    stream.write(os.urandom(MIN_PART + 3))
    assert not storage.exists(name)
    assert name not in storage.list()
    with pytest.raises(ObjectNotFound):
        storage.open_read(name)
    stream.commit()
    assert storage.exists(name)


def test_abort_leaves_nothing(storage: Storage) -> None:
    for size in (10, MIN_PART + 10):  # before and after the first full part
        stream = storage.open_write("data/x.sql.zst")
        stream.write(os.urandom(size))
        stream.abort()
        stream.abort()  # twice is harmless
        assert not storage.exists("data/x.sql.zst")
        assert storage.list() == []


def test_put_that_fails_midway_leaves_nothing(storage: Storage) -> None:
    def chunks() -> Iterator[bytes]:
        yield os.urandom(MIN_PART + 1)
        raise RuntimeError("producer failed")

    stream = storage.open_write("data/x.sql.zst")
    with pytest.raises(RuntimeError):
        try:
            for block in chunks():
                stream.write(block)
        except BaseException:
            stream.abort()
            raise
    assert storage.list() == []


def test_list_prefix_sorted(storage: Storage) -> None:
    # "a-b" sorts before "a/b" ('-' < '/'): the order is plain string order.
    names = ["schema/b.json", "data/z/1", "data/a/2", "manifest.json", "data/a-b", "data/a/10"]
    for name in names:
        storage.put(name, b"x")
    assert storage.list() == sorted(names)
    assert storage.list("data/") == ["data/a-b", "data/a/10", "data/a/2", "data/z/1"]
    assert storage.list("data/a/") == ["data/a/10", "data/a/2"]
    assert storage.list("nothing/") == []


def test_exists_and_delete(storage: Storage) -> None:
    storage.put("data/z/1", b"x")
    storage.put("data/z/2", b"y")
    assert storage.exists("data/z/1")
    storage.delete("data/z/1")
    assert not storage.exists("data/z/1")
    assert storage.list() == ["data/z/2"]
    storage.delete("data/z/1")  # deleting what is gone is not an error
    with pytest.raises(ObjectNotFound):
        storage.get("data/z/1")


def test_missing_object(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound):
        storage.open_read("data/nope")
    assert not storage.exists("data/nope")


def test_ensure_empty(storage: Storage) -> None:
    storage.ensure_empty()
    storage.put("data/a/1", b"x")
    with pytest.raises(DestinationNotEmpty, match="not empty"):
        storage.ensure_empty()


def test_concurrent_writers_share_one_storage(storage: Storage) -> None:
    """Export workers each own a writer on one shared storage (one S3 client)."""
    blobs = {f"data/t/{i:06d}": os.urandom(MIN_PART + 1000 * i) for i in range(4)}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            stream = storage.open_write(name)
            data = blobs[name]
            for pos in range(0, len(data), 1 << 20):
                stream.write(data[pos : pos + (1 << 20)])
            stream.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in blobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert storage.list() == sorted(blobs)
    for name, data in blobs.items():
        assert storage.get(name) == data


@pytest.mark.parametrize("name", UNSAFE)
def test_unsafe_names_refused_before_any_io(storage: Storage, name: str) -> None:
    before = _io_done(storage)
    calls: list[Callable[[], object]] = [
        lambda: storage.open_read(name),
        lambda: storage.open_write(name),
        lambda: storage.exists(name),
        lambda: storage.delete(name),
        lambda: storage.put(name, b"x"),
        lambda: storage.get(name),
        lambda: storage.child(name),
    ]
    for call in calls:
        with pytest.raises(ManifestError):
            call()
    assert _io_done(storage) == before


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


def test_s3_keys_are_prefix_plus_name(s3_endpoint_url: str, s3_bucket: str) -> None:
    s3 = S3Storage(S3Config.from_url(f"s3://{s3_bucket}/backups/nightly/", endpoint_url=s3_endpoint_url))
    s3.put("data/a/1", b"x")
    # A sibling prefix that shares the first characters is not part of this dump.
    s3.client.put_object(Bucket=s3_bucket, Key="backups/nightly2/data/a/1", Body=b"y")
    keys = [o["Key"] for o in s3.client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert sorted(keys) == ["backups/nightly/data/a/1", "backups/nightly2/data/a/1"]
    assert s3.list() == ["data/a/1"]
    assert s3.describe() == f"s3://{s3_bucket}/backups/nightly"


def test_open_storage_dispatches_on_the_scheme(tmp_path: Path, s3_endpoint_url: str) -> None:
    assert isinstance(open_storage(str(tmp_path)), LocalStorage)
    s3 = open_storage("s3://bucket/some/prefix/", s3_endpoint_url=s3_endpoint_url)
    assert isinstance(s3, S3Storage) and s3.describe() == "s3://bucket/some/prefix"


def test_list_children_names_the_first_level_that_holds_objects(storage: Storage) -> None:
    # Every dump osidump writes has an object at its top (export-started.json,
    # manifest.json), as "b-dump" and "a-dump" do here.
    for name in ["b-dump/manifest.json", "a-dump/export-started.json", "a-dump/data/t/1", "top-level-file"]:
        storage.put(name, b"x")
    assert storage.list_children() == ["a-dump", "b-dump"]
    assert storage.child("nothing").list_children() == []
    # A name whose objects all lie two or more levels down: s3rver 3.7.1 leaves
    # it out of delimited listings (docs/S3.md); everyone else lists it.
    storage.put("c/d/e/f", b"x")
    s3rver = _is_s3rver(storage)
    assert storage.list_children() == (["a-dump", "b-dump"] if s3rver else ["a-dump", "b-dump", "c"])
    assert storage.child("a-dump").list_children() == ([] if s3rver else ["data"])


def test_delete_many_in_batches(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_s3, "DELETE_BATCH", 3)  # S3 allows 1,000; 3 shows the batching
    names = [f"data/t/{i:03d}" for i in range(8)]
    for name in names:
        storage.put(name, b"x")
    storage.delete_many([*names[:7], "data/t/missing"])  # a missing name is not an error
    assert storage.list() == ["data/t/007"]
    storage.delete_many([])
    if isinstance(storage, S3Storage):
        assert storage.client.calls["delete_objects"] == 3  # type: ignore[attr-defined]


def test_clear_removes_objects_and_open_uploads(storage: Storage) -> None:
    storage.put("data/a", b"x")
    stream = storage.open_write("data/b")
    stream.write(os.urandom(MIN_PART + 1))  # S3: an open multipart upload, as a killed writer leaves
    storage.clear()
    assert storage.list() == []
    if isinstance(storage, S3Storage) and not _is_s3rver(storage):
        # s3rver cannot list uploads (501) nor abort them (405): docs/S3.md.
        uploads = storage.client.list_multipart_uploads(Bucket=storage.config.bucket)
        assert uploads.get("Uploads", []) == []


def _is_s3rver(storage: Storage) -> bool:
    return isinstance(storage, S3Storage) and storage.endpoint_url in _S3RVER_URLS
