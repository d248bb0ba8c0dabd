"""S3 under failure, over the real protocol (moto's server on 127.0.0.1): any
failed part, tail or completion aborts the multipart upload, so no object and
no orphaned upload is left; network and missing-object errors are one line."""

from __future__ import annotations

import os
from typing import Any

import botocore.exceptions
import pytest
from osidump.engine.errors import ObjectNotFound, StorageError
from osidump.engine.storage import s3 as storage_s3
from osidump.engine.storage.s3 import MIN_PART, S3Config, S3Storage

from tests.support.faults import (
    FailingS3Client,
    InjectedFault,
    StorageWithFailingWrites,
    StreamWithError,
)
from tests.support.s3 import CREDENTIALS
from tests.support.servers import free_port

NAME = "data/db/t/000001-0000.sql.zst"


def _s3(endpoint: str, bucket: str, **kw: Any) -> S3Storage:
    return S3Storage(S3Config(bucket=bucket, prefix="nightly", endpoint_url=endpoint, part_size=MIN_PART), **kw)


def _nothing_left(s3: S3Storage, real_client: Any) -> None:
    uploads = real_client.list_multipart_uploads(Bucket=s3.config.bucket).get("Uploads", [])
    assert uploads == [], f"orphaned multipart uploads: {uploads}"
    assert not s3.exists(NAME)
    assert s3.list() == []


@pytest.mark.parametrize("fail_on", [1, 2])
def test_failed_part_aborts_the_multipart_upload(s3_endpoint_url: str, s3_bucket: str, fail_on: int) -> None:
    real = _s3(s3_endpoint_url, s3_bucket).client
    client = FailingS3Client(real, operation="upload_part", fail_on=fail_on)
    s3 = _s3(s3_endpoint_url, s3_bucket, client=client)
    stream = s3.open_write(NAME)
    with pytest.raises(StorageError) as info:
        for _ in range(7):
            stream.write(os.urandom(MIN_PART // 2 + 1))
    assert f"s3://{s3_bucket}/nightly/{NAME}" in info.value.message
    assert "\n" not in info.value.message
    assert info.value.retryable
    assert client.calls["create_multipart_upload"] == 1
    assert client.calls["abort_multipart_upload"] == 1
    _nothing_left(s3, real)
    # The stream is finished: a later write can't start a new, orphaned upload.
    with pytest.raises(StorageError, match="after commit or abort"):
        stream.write(b"more")
    stream.abort()  # and abort stays safe to call
    assert client.calls["create_multipart_upload"] == 1


def test_failed_tail_part_at_commit_aborts(s3_endpoint_url: str, s3_bucket: str) -> None:
    real = _s3(s3_endpoint_url, s3_bucket).client
    client = FailingS3Client(real, operation="upload_part", fail_on=2)
    s3 = _s3(s3_endpoint_url, s3_bucket, client=client)
    stream = s3.open_write(NAME)
    stream.write(os.urandom(MIN_PART + 10))  # one full part goes up; 10 bytes wait for commit
    with pytest.raises(StorageError):
        stream.commit()
    assert client.calls["abort_multipart_upload"] == 1
    _nothing_left(s3, real)


def test_failed_completion_aborts(s3_endpoint_url: str, s3_bucket: str) -> None:
    real = _s3(s3_endpoint_url, s3_bucket).client
    client = FailingS3Client(real, operation="complete_multipart_upload")
    s3 = _s3(s3_endpoint_url, s3_bucket, client=client)
    stream = s3.open_write(NAME)
    stream.write(os.urandom(2 * MIN_PART))
    with pytest.raises(StorageError, match="upload of"):
        stream.commit()
    assert client.calls["abort_multipart_upload"] == 1
    _nothing_left(s3, real)


def test_interrupt_during_a_part_aborts(s3_endpoint_url: str, s3_bucket: str) -> None:
    real = _s3(s3_endpoint_url, s3_bucket).client
    client = FailingS3Client(real, operation="upload_part", fail_on=2, exc=KeyboardInterrupt())
    s3 = _s3(s3_endpoint_url, s3_bucket, client=client)
    stream = s3.open_write(NAME)
    with pytest.raises(KeyboardInterrupt):
        stream.write(os.urandom(3 * MIN_PART))
    _nothing_left(s3, real)


def test_caller_failure_mid_object_aborts_through_put(s3_endpoint_url: str, s3_bucket: str) -> None:
    """The failure is in the producer, not in S3: Storage.put still aborts,
    after one part has already gone up."""
    s3 = _s3(s3_endpoint_url, s3_bucket)
    failing = StorageWithFailingWrites(s3, fail_after=MIN_PART + 100)
    with pytest.raises(InjectedFault):
        failing.put(NAME, os.urandom(2 * MIN_PART))
    assert failing.streams[0].aborted and failing.streams[0].bytes_written == MIN_PART + 100
    _nothing_left(s3, s3.client)


def test_explicit_abort_after_parts_leaves_no_upload(s3_endpoint_url: str, s3_bucket: str) -> None:
    s3 = _s3(s3_endpoint_url, s3_bucket)
    stream = s3.open_write(NAME)
    stream.write(os.urandom(2 * MIN_PART + 1))
    assert s3.client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")  # in flight
    stream.abort()
    _nothing_left(s3, s3.client)


def test_too_many_parts_is_refused_and_aborted(
    s3_endpoint_url: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S3 allows 10,000 parts; lowered here so the test does not write 50 GB.
    monkeypatch.setattr(storage_s3, "MAX_PARTS", 2)
    s3 = _s3(s3_endpoint_url, s3_bucket)
    stream = s3.open_write(NAME)
    with pytest.raises(StorageError, match="more than 2 parts") as info:
        stream.write(os.urandom(3 * MIN_PART))
    assert "part size" in info.value.hint
    _nothing_left(s3, s3.client)


@pytest.mark.parametrize("action", ["list", "put", "get", "exists", "delete"])
def test_unreachable_endpoint_is_a_one_line_storage_error(monkeypatch: pytest.MonkeyPatch, action: str) -> None:
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    closed = f"http://127.0.0.1:{free_port()}"  # bound, then released: nothing listens
    s3 = S3Storage(S3Config(bucket="osi-nowhere", endpoint_url=closed, max_attempts=1))
    with pytest.raises(StorageError) as info:
        {"list": lambda: s3.list(), "put": lambda: s3.put(NAME, b"x"), "get": lambda: s3.get(NAME),
         "exists": lambda: s3.exists(NAME), "delete": lambda: s3.delete(NAME)}[action]()
    assert "\n" not in info.value.message
    assert "osi-nowhere" in info.value.message
    assert "endpoint" in info.value.hint
    assert info.value.retryable


def test_missing_key_is_object_not_found(s3_endpoint_url: str, s3_bucket: str) -> None:
    s3 = _s3(s3_endpoint_url, s3_bucket)
    with pytest.raises(ObjectNotFound, match="manifest.json is missing from s3://"):
        s3.open_read("manifest.json")


def test_missing_bucket_names_the_bucket(s3_endpoint_url: str, s3_bucket: str) -> None:
    s3 = _s3(s3_endpoint_url, s3_bucket + "-gone")
    for attempt in (lambda: s3.list(), lambda: s3.put("manifest.json", b"{}"), lambda: s3.get("manifest.json")):
        with pytest.raises(StorageError, match="NoSuchBucket") as info:
            attempt()
        assert s3_bucket + "-gone" in info.value.message
        assert "create the bucket" in info.value.hint
        assert not isinstance(info.value, ObjectNotFound)


class _BodyBreaksAfter:
    """A named fake around the real client: object bodies fail after N bytes,
    as when the connection drops mid-download."""

    def __init__(self, real: Any, fail_after: int):
        self.real = real
        self.fail_after = fail_after

    def get_object(self, **kw: Any) -> Any:
        response = dict(self.real.get_object(**kw))
        exc = botocore.exceptions.ResponseStreamingError(error="connection reset by peer")
        response["Body"] = StreamWithError(response["Body"], fail_after=self.fail_after, exc=exc)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_read_failure_mid_object_is_a_retryable_storage_error(s3_endpoint_url: str, s3_bucket: str) -> None:
    s3 = _s3(s3_endpoint_url, s3_bucket)
    s3.put(NAME, os.urandom(100_000))
    broken = _s3(s3_endpoint_url, s3_bucket, client=_BodyBreaksAfter(s3.client, 60_000))
    with broken.open_read(NAME) as fh:
        assert len(fh.read(50_000)) == 50_000
        with pytest.raises(StorageError, match=f"read of s3://{s3_bucket}/nightly/{NAME}") as info:
            while fh.read(50_000):
                pass
    assert info.value.retryable
