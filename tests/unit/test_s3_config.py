"""S3Config: validated on construction, parsed from s3:// URLs. And how S3
errors become one-line StorageErrors, through an offline fake client."""

from __future__ import annotations

import dataclasses
from typing import Any

import botocore.exceptions
import pytest
from osidump.engine.errors import ConfigError, ObjectNotFound, StorageError
from osidump.engine.storage.s3 import DEFAULT_PART, MAX_PART, MIN_PART, S3Config, S3Storage

# ---- S3Config ---------------------------------------------------------------


def test_defaults() -> None:
    config = S3Config(bucket="backups")
    assert (config.prefix, config.part_size, config.max_attempts) == ("", 16 * 1024 * 1024, 5)
    assert config.part_size == DEFAULT_PART
    assert config.endpoint_url is None and config.region is None


def test_frozen_and_keyword_only() -> None:
    config = S3Config(bucket="backups")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.bucket = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        S3Config("backups")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://backups", "backups", ""),
        ("s3://backups/", "backups", ""),
        ("s3://backups/nightly", "backups", "nightly"),
        ("s3://backups/some/prefix/", "backups", "some/prefix"),
        ("s3://backups//leading", "backups", "leading"),
        ("s3://Legacy_Bucket.1/x", "Legacy_Bucket.1", "x"),
    ],
)
def test_from_url(url: str, bucket: str, prefix: str) -> None:
    config = S3Config.from_url(url, endpoint_url="http://127.0.0.1:9000", region="eu-west-1")
    assert (config.bucket, config.prefix) == (bucket, prefix)
    assert config.endpoint_url == "http://127.0.0.1:9000" and config.region == "eu-west-1"


@pytest.mark.parametrize(
    "url", ["backups/x", "S3://backups", "s3:/backups", "s3://", "s3:///prefix", "s3://my bucket/x",
            "s3://b/a//b", "s3://b/a/../b", "s3://b/./x"],
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        S3Config.from_url(url)
    assert "\n" not in info.value.message and info.value.hint


def test_prefix_is_normalized() -> None:
    assert S3Config(bucket="b-1", prefix="/a/b/").prefix == "a/b"
    assert S3Config(bucket="b-1", prefix="///").prefix == ""


@pytest.mark.parametrize("part_size", [MIN_PART, DEFAULT_PART, MAX_PART])
def test_part_sizes_s3_allows(part_size: int) -> None:
    assert S3Config(bucket="b-1", part_size=part_size).part_size == part_size


@pytest.mark.parametrize("part_size", [0, -1, MIN_PART - 1, MAX_PART + 1, True, 5.5 * 1024 * 1024, "16M"])
def test_part_sizes_s3_refuses(part_size: Any) -> None:
    with pytest.raises(ConfigError, match="part size") as info:
        S3Config(bucket="b-1", part_size=part_size)
    assert "5 MiB and 5 GiB" in info.value.hint


@pytest.mark.parametrize("attempts", [0, -3, 21, False, 2.0])
def test_bad_attempts(attempts: Any) -> None:
    with pytest.raises(ConfigError, match="attempts"):
        S3Config(bucket="b-1", max_attempts=attempts)


@pytest.mark.parametrize("url", ["127.0.0.1:9000", "ftp://host", "http://", "http:// host"])
def test_bad_endpoint_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="endpoint"):
        S3Config(bucket="b-1", endpoint_url=url)


def test_key_is_prefix_plus_validated_name() -> None:
    assert S3Config(bucket="b-1", prefix="p/q").key("data/x") == "p/q/data/x"
    assert S3Config(bucket="b-1").key("manifest.json") == "manifest.json"


def test_memory_ceiling_is_documented_as_a_formula() -> None:
    assert "open writers * part_size" in (S3Config.__doc__ or "")


# ---- errors, through an offline fake client ---------------------------------


class _RaisingClient:
    """A named fake S3 client: every call raises ``exc``. No network."""

    def __init__(self, exc: Exception):
        self.exc = exc

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            raise self.exc

        return call


def _client_error(code: str, message: str, status: int) -> botocore.exceptions.ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, "GetObject")


def _storage(exc: Exception) -> S3Storage:
    return S3Storage(S3Config(bucket="backups", prefix="p"), client=_RaisingClient(exc))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "hint_has", "retryable"),
    [
        (_client_error("AccessDenied", "Access Denied", 403), "credentials", False),
        (_client_error("NoSuchBucket", "The specified bucket\ndoes not exist", 404), "create the bucket", False),
        (_client_error("InvalidAccessKeyId", "no such key id", 403), "AWS_ACCESS_KEY_ID", False),
        (_client_error("SlowDown", "Please reduce your request rate", 503), "", True),
        (_client_error("WeirdVendorError", "", 500), "bucket exists", True),
        (botocore.exceptions.NoCredentialsError(), "AWS_ACCESS_KEY_ID", False),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x:1"), "endpoint", True),
    ],
)
def test_errors_are_one_line_with_a_hint(exc: Exception, hint_has: str, retryable: bool) -> None:
    with pytest.raises(StorageError) as info:
        _storage(exc).get("data/x")
    err = info.value
    assert not isinstance(err, ObjectNotFound)
    assert "\n" not in err.message
    assert "s3://backups/p/data/x" in err.message
    assert hint_has in err.hint
    assert err.retryable is retryable


@pytest.mark.parametrize("code", ["NoSuchKey", "404"])
def test_missing_key_is_object_not_found(code: str) -> None:
    with pytest.raises(ObjectNotFound, match="data/x is missing from s3://backups/p"):
        _storage(_client_error(code, "Not Found", 404)).get("data/x")


def test_a_404_on_head_is_false_not_an_error() -> None:
    assert _storage(_client_error("404", "Not Found", 404)).exists("data/x") is False
    with pytest.raises(StorageError, match="lookup of s3://backups/p/data/x"):
        _storage(_client_error("403", "Forbidden", 403)).exists("data/x")
