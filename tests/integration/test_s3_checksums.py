"""Which checksum scheme S3 uploads use, seen on the wire: every request is
recorded through botocore's ``before-send`` event, over the real protocol to
moto. Against AWS one scheme (CRC32) runs through CreateMultipartUpload,
UploadPart and CompleteMultipartUpload; against other stores no checksum
header at all. AWS or not is decided on the endpoint the client really uses,
wherever it came from (flag, AWS_ENDPOINT_URL(_S3), the profile)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from osidump.engine.storage.s3 import MIN_PART, S3Config, S3Storage, is_aws_endpoint

from tests.support.s3 import Recorder

CHECKSUM_HEADER = re.compile(r"^x-amz-(sdk-)?checksum-")


@pytest.fixture
def clean_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No endpoint from the machine's environment or ~/.aws; returns the path
    of an (empty) AWS config file the test may fill."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "aws-config"
    config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    return config


def _write_and_read(storage: S3Storage, name: str, size: int) -> None:
    data = os.urandom(size)
    stream = storage.open_write(name)
    for pos in range(0, size, 1 << 20):
        stream.write(data[pos : pos + (1 << 20)])
    stream.commit()
    assert storage.get(name) == data


def test_aws_scheme_is_crc32_on_every_multipart_call(s3_endpoint_url: str, s3_bucket: str) -> None:
    storage = S3Storage(S3Config(bucket=s3_bucket, prefix="p", endpoint_url=s3_endpoint_url, part_size=MIN_PART,
                                 checksums="crc32"))
    rec = Recorder(storage.client)
    _write_and_read(storage, "data/big", 2 * MIN_PART + 1234)  # three parts, the last short
    _write_and_read(storage, "data/small", 1000)  # one PUT

    [(create, _)] = rec.of("CreateMultipartUpload")
    assert create["x-amz-checksum-algorithm"] == "CRC32"
    parts = rec.of("UploadPart")
    assert len(parts) == 3
    for headers, _body in parts:
        assert headers["x-amz-sdk-checksum-algorithm"] == "CRC32"
        assert re.fullmatch(r"[A-Za-z0-9+/]{6}==", headers["x-amz-checksum-crc32"])
    [(_complete_headers, complete_body)] = rec.of("CompleteMultipartUpload")
    assert complete_body.count(b"<ChecksumCRC32>") == 3
    [(put, _)] = rec.of("PutObject")
    assert put["x-amz-checksum-crc32"]
    # One scheme: no other algorithm appears on any upload call.
    for op, headers, body in rec.requests:
        for name, value in headers.items():
            if CHECKSUM_HEADER.match(name) and name != "x-amz-checksum-crc32":
                assert value == "CRC32", (op, name, value)
        assert not re.search(rb"<Checksum(CRC32C|CRC64NVME|SHA1|SHA256)>", body), op


def test_other_stores_get_no_checksum_headers(s3_endpoint_url: str, s3_bucket: str) -> None:
    storage = S3Storage(S3Config(bucket=s3_bucket, prefix="p", endpoint_url=s3_endpoint_url, part_size=MIN_PART))
    assert storage.checksum_algorithm is None  # auto, and 127.0.0.1 is not AWS
    rec = Recorder(storage.client)
    _write_and_read(storage, "data/big", MIN_PART + 10)
    _write_and_read(storage, "data/small", 10)
    uploads = {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "PutObject"}
    assert {op for op, _h, _b in rec.requests} >= uploads
    for op, headers, body in rec.requests:
        if op in uploads:
            assert not [h for h in headers if CHECKSUM_HEADER.match(h)], (op, headers)
            assert b"<Checksum" not in body, op


@pytest.mark.parametrize("source", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "profile", "profile services"])
def test_the_endpoint_boto3_resolves_decides(
    source: str, s3_endpoint_url: str, s3_bucket: str, clean_aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --s3-endpoint-url: the endpoint comes from the environment or the
    AWS config file, and the checksum decision follows it (moto: no headers)."""
    if source.startswith("AWS_"):
        monkeypatch.setenv(source, s3_endpoint_url)
    elif source == "profile":
        clean_aws_env.write_text(f"[default]\nendpoint_url = {s3_endpoint_url}\n")
    else:
        clean_aws_env.write_text(
            f"[default]\nservices = local\n\n[services local]\ns3 =\n  endpoint_url = {s3_endpoint_url}\n"
        )
    storage = S3Storage(S3Config(bucket=s3_bucket, prefix="p"))
    assert storage.endpoint_url == s3_endpoint_url
    assert storage.checksum_algorithm is None
    rec = Recorder(storage.client)
    _write_and_read(storage, "data/x", 100)  # really talks to moto
    assert not [h for _op, headers, _b in rec.requests for h in headers if CHECKSUM_HEADER.match(h)
                and _op == "PutObject"]


def test_aws_endpoints_from_anywhere_choose_crc32(clean_aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert S3Storage(S3Config(bucket="b-1")).checksum_algorithm == "CRC32"  # boto3's default: AWS
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://s3.eu-west-1.amazonaws.com")
    storage = S3Storage(S3Config(bucket="b-1"))
    assert storage.endpoint_url == "https://s3.eu-west-1.amazonaws.com" and storage.checksum_algorithm == "CRC32"
    # The flag wins over the environment, and forcing "off" is honoured.
    assert S3Storage(S3Config(bucket="b-1", endpoint_url="http://127.0.0.1:9")).checksum_algorithm is None
    assert S3Storage(S3Config(bucket="b-1", checksums="off")).checksum_algorithm is None


@pytest.mark.parametrize(
    ("url", "aws"),
    [
        ("https://s3.amazonaws.com", True),
        ("https://s3.eu-west-1.amazonaws.com", True),
        ("https://bucket.s3.us-east-2.amazonaws.com", True),
        ("https://s3-fips.us-gov-west-1.amazonaws.com", True),
        ("https://s3.cn-north-1.amazonaws.com.cn", True),
        ("https://s3.dualstack.eu-west-1.amazonaws.com", True),
        ("https://s3.eu-west-1.api.aws", True),
        ("http://127.0.0.1:9000", False),
        ("https://minio.example.com", False),
        ("https://fra1.digitaloceanspaces.com", False),
        ("https://s3.amazonaws.com.evil.example", False),
        ("https://notamazonaws.com", False),
    ],
)
def test_is_aws_endpoint(url: str, aws: bool) -> None:
    assert is_aws_endpoint(url) is aws
