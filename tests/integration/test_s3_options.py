"""The production S3 options: --s3-region, --s3-profile, --s3-sse,
--s3-sse-kms-key-id, --s3-storage-class (each also OSIDUMP_S3_*), seen in the
requests sent to moto (botocore's before-send event) and in what moto stored;
recorded in the manifest without secrets, and shown by inspect."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from osidump.cli.main import cli
from osidump.engine.errors import ConfigError
from osidump.engine.storage.s3 import MIN_PART, S3Config, S3Storage

from tests.integration.helpers import sql
from tests.support.s3 import CREDENTIALS, Recorder

S3_FLAGS = {"--s3-endpoint-url", "--s3-region", "--s3-profile", "--s3-sse", "--s3-sse-kms-key-id",
            "--s3-storage-class"}
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def conn_args(server: Any) -> list[str]:
    return ["-h", server.host, "-P", str(server.port), "-u", server.user]


def test_every_s3_command_takes_every_s3_option() -> None:
    for name in ("export", "restore", "verify", "inspect", "list", "prune", "drill", "to-sql"):
        command = cli.commands[name]
        flags = {opt for p in command.params for opt in p.opts}
        assert flags >= S3_FLAGS, (name, S3_FLAGS - flags)
        envvars = {p.envvar for p in command.params if p.name and p.name.startswith("s3_")}
        assert envvars == {"OSIDUMP_" + f[2:].upper().replace("-", "_") for f in S3_FLAGS}, name


def test_sse_kms_and_storage_class_go_on_the_calls_that_create_objects(s3_endpoint_url: str, s3_bucket: str) -> None:
    storage = S3Storage(S3Config(bucket=s3_bucket, prefix="p", endpoint_url=s3_endpoint_url, part_size=MIN_PART,
                                 sse="aws:kms", sse_kms_key_id=KEY_ARN, storage_class="STANDARD_IA"))
    rec = Recorder(storage.client)
    storage.put("data/big", os.urandom(MIN_PART + 5))
    storage.put("data/small", b"x")
    creating = rec.of("CreateMultipartUpload") + rec.of("PutObject")
    assert len(creating) == 2
    for headers, _body in creating:
        assert headers["x-amz-server-side-encryption"] == "aws:kms"
        assert headers["x-amz-server-side-encryption-aws-kms-key-id"] == KEY_ARN
        assert headers["x-amz-storage-class"] == "STANDARD_IA"
    for headers, _body in rec.of("UploadPart") + rec.of("CompleteMultipartUpload"):
        assert not any(h.startswith(("x-amz-server-side", "x-amz-storage-class")) for h in headers)
    for key in ("p/data/big", "p/data/small"):
        head = storage.client.head_object(Bucket=s3_bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["StorageClass"] == "STANDARD_IA"
    assert storage.settings() == {"region": "us-east-1", "sse": "aws:kms", "sse_kms_key_id": KEY_ARN,
                                  "storage_class": "STANDARD_IA"}


def test_defaults_send_nothing_extra(s3_endpoint_url: str, s3_bucket: str) -> None:
    storage = S3Storage(S3Config(bucket=s3_bucket, prefix="p", endpoint_url=s3_endpoint_url))
    rec = Recorder(storage.client)
    storage.put("data/small", b"x")
    [(headers, _)] = rec.of("PutObject")
    assert not any(h.startswith(("x-amz-server-side", "x-amz-storage-class")) for h in headers)
    assert storage.settings() == {"region": "us-east-1"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sse": "aws:kms2"}, "server-side encryption"),
        ({"sse_kms_key_id": KEY_ARN}, "needs --s3-sse aws:kms"),
        ({"sse": "AES256", "sse_kms_key_id": KEY_ARN}, "needs --s3-sse aws:kms"),
        ({"storage_class": "standard ia"}, "storage class"),
    ],
)
def test_bad_settings_are_config_errors(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        S3Config(bucket="b-1", **settings)


def test_cli_options_from_the_environment_reach_objects_manifest_and_inspect(
    server: Any, make_database: Any, moto_s3: Any, s3_bucket: str
) -> None:
    db = make_database()
    conn = server.connect()
    sql(conn, f"USE `{db}`")
    sql(conn, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
    sql(conn, "INSERT INTO t SELECT seq, 'x' FROM seq_1_to_1000")
    env = {"OSIDUMP_S3_ENDPOINT_URL": moto_s3.endpoint_url, "OSIDUMP_S3_REGION": "eu-central-1",
           "OSIDUMP_S3_SSE": "AES256", "OSIDUMP_S3_STORAGE_CLASS": "STANDARD_IA"}
    location = f"s3://{s3_bucket}/nightly/d1"
    runner = CliRunner()
    result = runner.invoke(cli, ["export", db, "-o", location, *conn_args(server)], env=env)
    assert result.exit_code == 0, result.output
    client = moto_s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket, Prefix="nightly/d1/")["Contents"]]
    assert len(keys) >= 4  # marker, schema, chunk, manifest
    for key in keys:
        head = client.head_object(Bucket=s3_bucket, Key=key)
        assert head["ServerSideEncryption"] == "AES256" and head["StorageClass"] == "STANDARD_IA", key
    manifest = json.loads(client.get_object(Bucket=s3_bucket, Key="nightly/d1/manifest.json")["Body"].read())
    assert manifest["options"]["storage"] == {"region": "eu-central-1", "sse": "AES256",
                                              "storage_class": "STANDARD_IA"}
    result = runner.invoke(cli, ["inspect", location], env={"OSIDUMP_S3_ENDPOINT_URL": moto_s3.endpoint_url})
    assert result.exit_code == 0, result.output
    assert "storage:     region eu-central-1, sse AES256, storage_class STANDARD_IA" in result.output
    # A flag wins over its variable.
    bad = runner.invoke(cli, ["verify", location, "--s3-sse-kms-key-id", KEY_ARN], env=env)
    assert bad.exit_code == 2 and "needs --s3-sse aws:kms" in bad.output


def test_profile_gives_credentials_and_region(
    moto_s3: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[profile backup]\nregion = eu-west-3\n")
    credentials.write_text(f"[backup]\naws_access_key_id = {CREDENTIALS['AWS_ACCESS_KEY_ID']}\n"
                           f"aws_secret_access_key = {CREDENTIALS['AWS_SECRET_ACCESS_KEY']}\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    storage = S3Storage(S3Config(bucket=s3_bucket, prefix="p", endpoint_url=moto_s3.endpoint_url, profile="backup"))
    storage.put("data/x", b"x")  # signed with the profile's keys
    assert storage.get("data/x") == b"x"
    assert storage.settings() == {"region": "eu-west-3"}
    assert "backup" not in json.dumps(storage.settings())  # the profile name is local, not recorded
    result = CliRunner().invoke(cli, ["list", f"s3://{s3_bucket}/p", "--s3-profile", "nope",
                                      "--s3-endpoint-url", moto_s3.endpoint_url])
    assert result.exit_code == 2 and "AWS profile 'nope' not found" in result.output
    # Without the profile there are no credentials at all.
    missing = CliRunner().invoke(cli, ["list", f"s3://{s3_bucket}/p", "--s3-endpoint-url", moto_s3.endpoint_url])
    assert missing.exit_code == 6 and "no credentials" in missing.output
