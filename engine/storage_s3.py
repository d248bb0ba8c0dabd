"""S3 (and S3-compatible) storage: multipart streaming, no temp files.

A writer buffers at most ``part_size`` bytes, uploads each full buffer as one
part of a multipart upload (started lazily on the first full part), and
completes the upload on ``commit``. Objects smaller than one part go up with a
single PUT at commit. Any failure, and ``abort``, aborts the multipart upload,
so a failed export leaves no partial object and no orphaned upload behind.
Nothing is visible under the name before ``commit``.

Memory ceiling: ``open writers * part_size`` (one buffer per writer; the export
has one writer per worker thread), plus boto3's own buffers for one part.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import boto3
import botocore.config
import botocore.exceptions

from .errors import ConfigError, ObjectNotFound, StorageError
from .storage import Storage, WriteStream, validate_name

MIN_PART = 5 * 1024 * 1024  # S3's minimum for all parts but the last
MAX_PART = 5 * 1024 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class S3Config:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    part_size: int = 16 * 1024 * 1024
    max_attempts: int = 5

    def __post_init__(self) -> None:
        if not self.bucket or "/" in self.bucket:
            raise ConfigError(
                f"invalid S3 bucket name {self.bucket!r}", hint="use s3://bucket/prefix"
            )
        if not MIN_PART <= self.part_size <= MAX_PART:
            raise ConfigError("S3 part size must be between 5 MiB and 5 GiB")
        if not 1 <= self.max_attempts <= 20:
            raise ConfigError("S3 max attempts must be 1-20")
        object.__setattr__(self, "prefix", self.prefix.strip("/"))

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None) -> S3Config:
        if not url.startswith("s3://"):
            raise ConfigError(f"not an S3 URL: {url!r}", hint="use s3://bucket/prefix")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        return cls(bucket=bucket, prefix=prefix, endpoint_url=endpoint_url)

    def key(self, name: str) -> str:
        name = validate_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name


def _error(action: str, where: str, exc: Exception) -> StorageError:
    if isinstance(exc, botocore.exceptions.ClientError):
        code = exc.response.get("Error", {}).get("Code", "?")
        text = exc.response.get("Error", {}).get("Message", "") or code
        hint = {
            "NoSuchBucket": "create the bucket first, or check its name",
            "AccessDenied": "check the credentials and the bucket policy",
            "InvalidAccessKeyId": "check AWS_ACCESS_KEY_ID / the AWS profile",
            "SignatureDoesNotMatch": "check AWS_SECRET_ACCESS_KEY / the AWS profile",
        }.get(code, "check the bucket, credentials and --s3-endpoint-url")
        return StorageError(f"S3 {action} {where} failed: {code}: {text}", hint=hint)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return StorageError(
            f"S3 {action} {where}: no credentials found",
            hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile",
        )
    return StorageError(
        f"S3 {action} {where} failed: {exc}",
        hint="check --s3-endpoint-url and the network",
        retryable=True,
    )


_BOTO_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


class _S3WriteStream:
    def __init__(self, storage: S3Storage, name: str):
        self._s3 = storage
        self._key = storage.config.key(name)
        self._where = f"s3://{storage.config.bucket}/{self._key}"
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._done = False

    def write(self, data: bytes) -> None:
        self._buffer += data
        part_size = self._s3.config.part_size
        while len(self._buffer) >= part_size:
            self._upload_part(bytes(self._buffer[:part_size]))
            del self._buffer[:part_size]

    def _upload_part(self, body: bytes) -> None:
        client, bucket = self._s3.client, self._s3.config.bucket
        try:
            if self._upload_id is None:
                created = client.create_multipart_upload(Bucket=bucket, Key=self._key)
                self._upload_id = str(created["UploadId"])
            number = len(self._parts) + 1
            result = client.upload_part(
                Bucket=bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
            )
            self._parts.append({"PartNumber": number, "ETag": result["ETag"]})
        except _BOTO_ERRORS as exc:
            self.abort()
            raise _error("upload of", self._where, exc) from exc

    def commit(self) -> None:
        client, bucket = self._s3.client, self._s3.config.bucket
        try:
            if self._upload_id is None:
                client.put_object(Bucket=bucket, Key=self._key, Body=bytes(self._buffer))
            else:
                if self._buffer:
                    self._upload_part(bytes(self._buffer))
                client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except _BOTO_ERRORS as exc:
            self.abort()
            raise _error("upload of", self._where, exc) from exc
        self._buffer = bytearray()
        self._done = True

    def abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is not None and not self._done:
            upload_id, self._upload_id = self._upload_id, None
            # Best effort; a bucket lifecycle rule cleans up whatever is left.
            with contextlib.suppress(*_BOTO_ERRORS):
                self._s3.client.abort_multipart_upload(
                    Bucket=self._s3.config.bucket, Key=self._key, UploadId=upload_id
                )
        self._done = True


class _S3Reader:
    """A streaming body with read(n), close() and the context protocol."""

    def __init__(self, body: Any, where: str):
        self._body = body
        self._where = where

    def read(self, n: int = -1) -> bytes:
        try:
            return cast(bytes, self._body.read(None if n < 0 else n))
        except _BOTO_ERRORS as exc:
            raise _error("read of", self._where, exc) from exc
        except OSError as exc:
            raise StorageError(f"S3 read of {self._where} failed: {exc}", retryable=True) from exc

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _S3Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class S3Storage(Storage):
    def __init__(self, config: S3Config):
        self.config = config
        session = boto3.session.Session()
        self.client: Any = session.client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            config=botocore.config.Config(
                retries={"max_attempts": config.max_attempts, "mode": "standard"},
                max_pool_connections=32,
            ),
        )

    def describe(self) -> str:
        prefix = f"/{self.config.prefix}" if self.config.prefix else ""
        return f"s3://{self.config.bucket}{prefix}"

    def open_write(self, name: str) -> WriteStream:
        return _S3WriteStream(self, name)

    def open_read(self, name: str) -> BinaryIO:
        key = self.config.key(name)
        where = f"s3://{self.config.bucket}/{key}"
        try:
            obj = self.client.get_object(Bucket=self.config.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectNotFound(
                    f"{name} is missing from {self.describe()}",
                    hint="the dump is damaged or incomplete",
                ) from exc
            raise _error("read of", where, exc) from exc
        except _BOTO_ERRORS as exc:
            raise _error("read of", where, exc) from exc
        return cast(BinaryIO, _S3Reader(obj["Body"], where))

    def exists(self, name: str) -> bool:
        key = self.config.key(name)
        try:
            self.client.head_object(Bucket=self.config.bucket, Key=key)
            return True
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise _error("lookup of", f"s3://{self.config.bucket}/{key}", exc) from exc
        except _BOTO_ERRORS as exc:
            raise _error("lookup of", f"s3://{self.config.bucket}/{key}", exc) from exc

    def list(self, prefix: str = "") -> list[str]:
        base = f"{self.config.prefix}/" if self.config.prefix else ""
        names: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=base + prefix):
                for item in page.get("Contents", []):
                    names.append(str(item["Key"])[len(base) :])
        except _BOTO_ERRORS as exc:
            raise _error("listing of", self.describe(), exc) from exc
        return sorted(names)

    def child(self, name: str) -> Storage:
        from dataclasses import replace

        return S3Storage(replace(self.config, prefix=self.config.key(name)))

    def delete(self, name: str) -> None:
        key = self.config.key(name)
        try:
            self.client.delete_object(Bucket=self.config.bucket, Key=key)
        except _BOTO_ERRORS as exc:
            raise _error("delete of", f"s3://{self.config.bucket}/{key}", exc) from exc
