"""S3 (and S3-compatible) storage: multipart streaming, no temp files.

A writer buffers at most ``part_size`` bytes, uploads each full buffer as one
part of a multipart upload (started lazily on the first full part), and
completes the upload on ``commit``. Objects smaller than one part go up with a
single PUT at commit. Any failure, and ``abort``, aborts the multipart upload,
so a failed export leaves no partial object and no orphaned upload behind.
Nothing is visible under the name before ``commit``.

Checksums (``S3Config.checksums``): against AWS every upload carries one
scheme, CRC32, named on CreateMultipartUpload, sent with every UploadPart and
repeated per part in CompleteMultipartUpload (real S3 rejects a mix, e.g. parts
with CRC32 of an upload created without an algorithm, with "Checksum Type
mismatch"). Against any other store no checksum header is sent unless the API
requires one (DeleteObjects): several S3-compatible stores reject boto3's
default CRC32 headers. "AWS or not" is decided on the endpoint the client
really uses (``--s3-endpoint-url``, else ``AWS_ENDPOINT_URL_S3``,
``AWS_ENDPOINT_URL`` or the profile's ``endpoint_url``), not on the flag alone.
Reads are not checked by S3 checksums: every chunk's sha256 is checked anyway.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions

from ..errors import ConfigError, ObjectNotFound, StorageError
from .base import Storage, WriteStream, validate_name

if TYPE_CHECKING:  # boto3-stubs (a test extra) types the client; nothing at run time
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MiB = 1024 * 1024
MIN_PART = 5 * MiB  # S3's minimum for every part but the last
MAX_PART = 5 * 1024 * MiB  # S3's maximum part size
MAX_PARTS = 10_000  # S3's maximum number of parts in one upload
DEFAULT_PART = 16 * MiB
CHECKSUM_MODES = ("auto", "crc32", "off")
SSE_MODES = ("AES256", "aws:kms")
DELETE_BATCH = 1000  # S3's maximum keys in one DeleteObjects request

# Legacy (us-east-1) bucket names allow upper case and "_"; S3-compatible stores
# differ again. Only refuse what can never be a bucket, and let S3 judge the rest.
_BUCKET = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
# Hosts of AWS's own S3 endpoints: s3.amazonaws.com, s3.<region>.amazonaws.com(.cn),
# bucket.s3..., s3-fips..., s3.dualstack..., and the newer *.api.aws names.
_AWS_HOST = re.compile(r"(^|\.)amazonaws\.com(\.cn)?$|(^|\.)api\.aws$")


def is_aws_endpoint(endpoint_url: str) -> bool:
    """Whether ``endpoint_url`` (as the client resolved it) is AWS's own S3."""
    host = urlsplit(endpoint_url).hostname or ""
    return bool(_AWS_HOST.search(host.lower()))


@dataclass(frozen=True, kw_only=True)
class S3Config:
    """Where and how to talk to S3.

    ``prefix`` is normalized: no leading or trailing ``/``; a dump's names map
    to keys ``prefix + "/" + name``.

    Memory ceiling: ``open writers * part_size``. Each open writer holds one
    part buffer that grows to ``part_size`` and is handed to boto3 as the part
    body without a copy; the export has one writer per worker thread, so
    ``--threads 8`` at the default 16 MiB is at most 128 MiB of part buffers.
    Readers stream and hold only the block asked for.

    Largest object: ``MAX_PARTS * part_size`` (10,000 parts; 156 GiB at the
    default), refused with a clear error beyond that.
    """

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    part_size: int = DEFAULT_PART
    max_attempts: int = 5
    # "auto": CRC32 on AWS endpoints, none elsewhere; "crc32" or "off" to force.
    checksums: str = "auto"
    profile: str | None = None  # a profile of ~/.aws/config (credentials, region, endpoint)
    # Applied to every object written (CreateMultipartUpload / PutObject).
    sse: str | None = None  # "AES256" (SSE-S3) or "aws:kms" (SSE-KMS)
    sse_kms_key_id: str | None = None  # KMS key id or ARN; only with sse="aws:kms"
    storage_class: str | None = None  # e.g. STANDARD_IA for 30-day retention

    def __post_init__(self) -> None:
        if not isinstance(self.bucket, str) or not _BUCKET.match(self.bucket):
            raise ConfigError(
                f"invalid S3 bucket name {self.bucket!r}", hint="use s3://bucket/prefix"
            )
        prefix = self.prefix.strip("/")
        if prefix and any(seg in ("", ".", "..") for seg in prefix.split("/")):
            raise ConfigError(
                f"invalid S3 prefix {self.prefix!r} (empty, '.' or '..' segment)",
                hint="use s3://bucket/some/prefix",
            )
        object.__setattr__(self, "prefix", prefix)
        if type(self.part_size) is not int or not MIN_PART <= self.part_size <= MAX_PART:
            raise ConfigError(
                f"S3 part size {self.part_size!r} is out of range",
                hint="choose a part size between 5 MiB and 5 GiB",
            )
        if type(self.max_attempts) is not int or not 1 <= self.max_attempts <= 20:
            raise ConfigError(
                f"S3 max attempts {self.max_attempts!r} is out of range",
                hint="choose between 1 and 20 attempts",
            )
        if self.sse is not None and self.sse not in SSE_MODES:
            raise ConfigError(
                f"unknown S3 server-side encryption {self.sse!r}",
                hint=f"use one of {', '.join(SSE_MODES)}",
            )
        if self.sse_kms_key_id is not None and self.sse != "aws:kms":
            raise ConfigError(
                "--s3-sse-kms-key-id needs --s3-sse aws:kms",
                hint="add --s3-sse aws:kms (or drop the key id to use SSE-S3)",
            )
        if self.storage_class is not None and not re.match(
            r"^[A-Z][A-Z0-9_]*$", self.storage_class
        ):
            raise ConfigError(
                f"invalid S3 storage class {self.storage_class!r}",
                hint="use an S3 storage class name, e.g. STANDARD, STANDARD_IA, GLACIER_IR",
            )
        if self.checksums not in CHECKSUM_MODES:
            raise ConfigError(
                f"unknown S3 checksum mode {self.checksums!r}",
                hint=f"use one of {', '.join(CHECKSUM_MODES)}",
            )
        if self.endpoint_url is not None and not re.match(r"^https?://[^\s/]+", self.endpoint_url):
            raise ConfigError(
                f"invalid S3 endpoint URL {self.endpoint_url!r}",
                hint="use http://host:port or https://host",
            )

    @classmethod
    def from_url(cls, url: str, **settings: Any) -> S3Config:
        """``s3://bucket`` or ``s3://bucket/some/prefix/``; ``settings`` are the
        other fields (endpoint_url, region, profile, sse, ...)."""
        if not url.startswith("s3://"):
            raise ConfigError(f"not an S3 URL: {url!r}", hint="use s3://bucket/prefix")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        return cls(bucket=bucket, prefix=prefix, **settings)

    def key(self, name: str) -> str:
        """The object key of a dump name (validated first)."""
        name = validate_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# Error codes that may pass if tried again later (after botocore's own retries).
_RETRYABLE_CODES = {"SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable", "503"}
_HINTS = {
    "NoSuchBucket": "create the bucket first, or check its name",
    "AccessDenied": "check the credentials and the bucket policy",
    "InvalidAccessKeyId": "check AWS_ACCESS_KEY_ID / the AWS profile",
    "SignatureDoesNotMatch": "check AWS_SECRET_ACCESS_KEY / the AWS profile",
}


def _status(exc: botocore.exceptions.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _error(action: str, where: str, exc: Exception) -> StorageError:
    """A one-line StorageError naming the bucket/key, for any botocore error."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "?"))
        text = _one_line(err.get("Message") or code)
        status = _status(exc)
        return StorageError(
            f"S3 {action} {where} failed: {code}: {text}",
            hint=_HINTS.get(code, "check the bucket exists, the credentials and --s3-endpoint-url"),
            retryable=code in _RETRYABLE_CODES or status >= 500,
        )
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return StorageError(
            f"S3 {action} {where}: no credentials found",
            hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile",
        )
    return StorageError(
        f"S3 {action} {where} failed: {_one_line(exc)}",
        hint="check --s3-endpoint-url and the network",
        retryable=True,
    )


_BOTO_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


class _S3WriteStream:
    """One pending object. Used by one thread at a time (the worker that opened it)."""

    def __init__(self, storage: S3Storage, name: str):
        self._client = storage.client
        self._bucket = storage.config.bucket
        self._part_size = storage.config.part_size
        self._key = storage.config.key(name)
        algorithm = storage.checksum_algorithm
        self._checksum: dict[str, Any] = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        # Object-level settings go on the calls that create the object.
        c = storage.config
        self._create: dict[str, Any] = dict(self._checksum)
        if c.sse:
            self._create["ServerSideEncryption"] = c.sse
        if c.sse_kms_key_id:
            self._create["SSEKMSKeyId"] = c.sse_kms_key_id
        if c.storage_class:
            self._create["StorageClass"] = c.storage_class
        self._where = f"s3://{self._bucket}/{self._key}"
        # Never longer than part_size: full parts leave as soon as they fill.
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._closed = False

    def write(self, data: bytes) -> None:
        self._check_open("write to")
        view = memoryview(data)  # slicing the caller's bytes copies nothing
        try:
            while view:
                room = self._part_size - len(self._buffer)
                self._buffer += view[:room]
                view = view[room:]
                if len(self._buffer) == self._part_size:
                    self._send_part()
        except BaseException:
            self.abort()  # also on KeyboardInterrupt: no orphaned upload
            raise

    def _send_part(self) -> None:
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise StorageError(
                f"S3 upload of {self._where} failed: more than {MAX_PARTS} parts",
                hint="raise the S3 part size",
            )
        # The buffer itself is the body (boto3 accepts a bytearray), and a fresh
        # one takes its place: one part in memory per writer, not two.
        body, self._buffer = self._buffer, bytearray()
        try:
            if self._upload_id is None:
                created = self._client.create_multipart_upload(
                    Bucket=self._bucket, Key=self._key, **self._create
                )
                self._upload_id = created["UploadId"]
            result = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=cast(bytes, body),  # botocore accepts bytearray; the stubs say bytes
                **self._checksum,
            )
        except _BOTO_ERRORS as exc:
            raise _error("upload of", self._where, exc) from exc
        part: CompletedPartTypeDef = {"PartNumber": number, "ETag": result["ETag"]}
        if self._checksum:
            # CompleteMultipartUpload repeats each part's checksum (same scheme).
            if "ChecksumCRC32" not in result:
                raise StorageError(
                    f"S3 upload of {self._where}: part {number} came back without its CRC32",
                    hint="the store does not support S3 checksums; use an endpoint "
                    "that does, or report this store",
                )
            part["ChecksumCRC32"] = result["ChecksumCRC32"]
        self._parts.append(part)

    def commit(self) -> None:
        self._check_open("commit of")
        try:
            if self._upload_id is None:
                self._client.put_object(
                    Bucket=self._bucket,
                    Key=self._key,
                    Body=cast(bytes, self._buffer),
                    **self._create,
                )
            else:
                if self._buffer:
                    self._send_part()  # the last part may be smaller than MIN_PART
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except _BOTO_ERRORS as exc:
            self.abort()
            raise _error("upload of", self._where, exc) from exc
        except BaseException:
            self.abort()
            raise
        self._buffer = bytearray()
        self._closed = True

    def abort(self) -> None:
        """Drop the buffer and abort the multipart upload, if one was started.
        Safe to call more than once, and after a failed write or commit."""
        self._buffer = bytearray()
        self._closed = True
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            # Best effort: the original error matters more than this one, and a
            # bucket lifecycle rule (AbortIncompleteMultipartUpload) is the backstop.
            with contextlib.suppress(*_BOTO_ERRORS):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=upload_id
                )

    def _check_open(self, action: str) -> None:
        if self._closed:
            raise StorageError(
                f"{action} {self._where} after commit or abort",
                hint="this is a bug in osidump; please report it",
            )


class _S3Reader:
    """A streaming object body with read(n), close() and the context protocol."""

    def __init__(self, body: Any, where: str):
        self._body = body  # botocore StreamingBody
        self._where = where

    def read(self, n: int = -1) -> bytes:
        try:
            return cast(bytes, self._body.read(None if n is None or n < 0 else n))
        except _BOTO_ERRORS as exc:
            raise _error("read of", self._where, exc) from exc
        except OSError as exc:
            raise StorageError(
                f"S3 read of {self._where} failed: {_one_line(exc)}", retryable=True
            ) from exc

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _S3Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class S3Storage(Storage):
    """A dump under ``s3://bucket/prefix``.

    One boto3 client, created here, is shared by every thread and every
    :meth:`child` (boto3 clients are thread-safe; sessions are not, so the
    session is private to the constructor). Credentials come from boto3's own
    chain (environment, profile, instance role). ``client`` replaces the client,
    e.g. with a fault-injecting wrapper in tests.
    """

    def __init__(self, config: S3Config, *, client: S3Client | None = None):
        self.config = config
        if client is None:
            try:
                session = boto3.session.Session(profile_name=config.profile)
            except botocore.exceptions.ProfileNotFound as exc:
                raise ConfigError(
                    f"AWS profile {config.profile!r} not found",
                    hint="check --s3-profile against ~/.aws/config (or AWS_CONFIG_FILE)",
                ) from exc
            client = session.client(
                "s3",
                endpoint_url=config.endpoint_url,  # None: boto3 resolves env and profile
                region_name=config.region,
                config=botocore.config.Config(
                    retries={"max_attempts": config.max_attempts, "mode": "standard"},
                    max_pool_connections=32,  # enough for --threads up to 32 without waiting
                    # Only where the API requires one, or where a call names an
                    # algorithm itself (the AWS scheme below): boto3's default adds
                    # CRC32 to some calls only, which mixes schemes.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                ),
            )
        self.client: S3Client = client
        # What the client resolved; a test's fake client may have no ``meta``.
        meta = getattr(client, "meta", None)
        self.endpoint_url: str = getattr(meta, "endpoint_url", None) or config.endpoint_url or ""
        mode = config.checksums
        if mode == "auto":
            mode = "crc32" if is_aws_endpoint(self.endpoint_url) else "off"
        # Passed as ChecksumAlgorithm on every upload call, or nothing at all.
        self.checksum_algorithm: str | None = "CRC32" if mode == "crc32" else None

    def settings(self) -> dict[str, str]:
        """Region (as resolved), encryption and storage class; no credentials,
        no profile or endpoint (local details that may name hosts or users)."""
        c = self.config
        meta = getattr(self.client, "meta", None)
        region = getattr(meta, "region_name", None) or c.region
        found = {
            "region": region,
            "sse": c.sse,
            "sse_kms_key_id": c.sse_kms_key_id,
            "storage_class": c.storage_class,
        }
        return {k: v for k, v in found.items() if v}

    def describe(self) -> str:
        prefix = f"/{self.config.prefix}" if self.config.prefix else ""
        return f"s3://{self.config.bucket}{prefix}"

    def _where(self, key: str) -> str:
        return f"s3://{self.config.bucket}/{key}"

    def open_write(self, name: str) -> WriteStream:
        return _S3WriteStream(self, name)

    def open_read(self, name: str) -> BinaryIO:
        key = self.config.key(name)
        try:
            obj = self.client.get_object(Bucket=self.config.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectNotFound(
                    f"{name} is missing from {self.describe()}",
                    hint="the dump is damaged or incomplete",
                ) from exc
            raise _error("read of", self._where(key), exc) from exc
        except _BOTO_ERRORS as exc:
            raise _error("read of", self._where(key), exc) from exc
        return cast(BinaryIO, _S3Reader(obj["Body"], self._where(key)))

    def exists(self, name: str) -> bool:
        """Whether ``name`` is committed. HEAD has no body, so a missing bucket
        is also a 404 here (False); list() and writes name the bucket instead."""
        key = self.config.key(name)
        try:
            self.client.head_object(Bucket=self.config.bucket, Key=key)
            return True
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise _error("lookup of", self._where(key), exc) from exc
        except _BOTO_ERRORS as exc:
            raise _error("lookup of", self._where(key), exc) from exc

    def list_children(self) -> list[str]:
        """One delimited listing (``/``): the common prefixes directly under
        this prefix, one request per 1,000 of them however many objects each holds."""
        base = self._base()
        names: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=base, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    names.append(common["Prefix"][len(base) :].rstrip("/"))
        except _BOTO_ERRORS as exc:
            raise _error("listing of", self.describe(), exc) from exc
        return sorted(n for n in names if n)

    def list(self, prefix: str = "") -> list[str]:
        base = self._base()
        names: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=base + prefix):
                names.extend(item["Key"][len(base) :] for item in page.get("Contents", []))
        except _BOTO_ERRORS as exc:
            raise _error("listing of", self.describe(), exc) from exc
        return sorted(names)

    def delete(self, name: str) -> None:
        key = self.config.key(name)
        try:
            self.client.delete_object(Bucket=self.config.bucket, Key=key)
        except _BOTO_ERRORS as exc:
            raise _error("delete of", self._where(key), exc) from exc

    def delete_many(self, names: Sequence[str]) -> None:
        """DeleteObjects, up to 1,000 keys a request (S3's limit), quiet mode:
        the answer lists only failures, and any failure is an error."""
        keys = [self.config.key(name) for name in names]  # all validated first
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.config.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except _BOTO_ERRORS as exc:
                where = f"{len(batch)} objects in {self.describe()}"
                raise _error("delete of", where, exc) from exc
            failed = answer.get("Errors", [])
            if failed:
                first = failed[0]
                raise StorageError(
                    f"S3 delete of {len(failed)} objects in {self.describe()} failed, e.g. "
                    f"{first.get('Key')}: {first.get('Code')}: {_one_line(first.get('Message'))}",
                    hint=_HINTS.get(str(first.get("Code")), "run the command again"),
                    retryable=True,
                )

    def clear(self) -> None:
        """Delete every object, then abort any multipart upload still open
        under the prefix (a writer that never got to abort its own: the process
        was killed, or the network failed during the abort)."""
        self.delete_many(self.list())
        base = self._base()
        try:
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.config.bucket, Prefix=base):
                for upload in page.get("Uploads", []):
                    self.client.abort_multipart_upload(
                        Bucket=self.config.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
        except botocore.exceptions.ClientError as exc:
            if _status(exc) in (405, 501):
                return  # the store cannot list uploads (s3rver); see docs/S3.md
            raise _error("abort of uploads under", self.describe(), exc) from exc
        except _BOTO_ERRORS as exc:
            raise _error("abort of uploads under", self.describe(), exc) from exc

    def _base(self) -> str:
        return f"{self.config.prefix}/" if self.config.prefix else ""

    def child(self, name: str) -> Storage:
        return S3Storage(replace(self.config, prefix=self.config.key(name)), client=self.client)
