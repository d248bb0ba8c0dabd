"""Export straight to S3 (multipart, no temp files) and restore from it, on
both S3 implementations of the test bed (moto and s3rver)."""

from __future__ import annotations

from typing import Any

from osidump.engine.restore.verify import verify_dump
from osidump.engine.storage.s3 import MIN_PART, S3Config, S3Storage

from tests.integration.helpers import checksums, export, restore, sql


def test_export_to_s3_and_restore(server: Any, make_database: Any, any_s3: Any, any_s3_bucket: str) -> None:
    src, dst = make_database(), make_database()
    conn = server.connect()
    sql(conn, f"USE `{src}`")
    sql(conn, "CREATE TABLE t (id INT PRIMARY KEY, b BLOB)")
    # Random bytes do not compress, so chunks exceed one 5 MiB part.
    sql(conn, "INSERT INTO t SELECT seq, RANDOM_BYTES(1024) FROM seq_1_to_12000")
    storage = S3Storage(S3Config(bucket=any_s3_bucket, prefix="nightly/2026-11-28", endpoint_url=any_s3.endpoint_url,
                                 part_size=MIN_PART))
    manifest = export(server.connection_config(), storage, src, threads=2)
    assert max(c.stored_bytes for c in manifest.database(src).table("t").chunks) > MIN_PART
    assert storage.list()[-1] == "schema/" + src + ".json"
    assert storage.exists("manifest.json")
    assert verify_dump(storage).ok
    restore(server.connection_config(), storage, database=dst)
    assert checksums(conn, dst) == checksums(conn, src)


def test_s3_objects_are_private(server: Any, make_database: Any, moto_s3: Any, s3_bucket: str) -> None:
    """A dump holds the database's data: no object gets an ACL of its own, so
    every one stays private to the bucket owner (moto reports the grants)."""
    src = make_database()
    sql(server.connect(), f"CREATE TABLE `{src}`.t (id INT PRIMARY KEY)")
    sql(server.connect(), f"INSERT INTO `{src}`.t VALUES (1), (2)")
    storage = S3Storage(S3Config(bucket=s3_bucket, prefix="p", endpoint_url=moto_s3.endpoint_url))
    export(server.connection_config(), storage, src)
    client = moto_s3.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert any(k.endswith("manifest.json") for k in keys)
    for key in keys:
        grants = client.get_object_acl(Bucket=s3_bucket, Key=key)["Grants"]
        assert [g["Permission"] for g in grants] == ["FULL_CONTROL"], (key, grants)
        assert all(g["Grantee"].get("Type") == "CanonicalUser" for g in grants)
