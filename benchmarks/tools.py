"""The tools under test, each as the commands a user would type."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any

from benchmarks.measure import dir_bytes


@dataclass
class Context:
    host: str
    port: int
    db: str
    workdir: str
    threads: int
    s3_endpoint: str | None = None
    s3_bucket: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def osidump_argv() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "osidump")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "osidump.cli.main"]


class Tool:
    name = ""
    restores = True

    def available(self) -> str | None:
        """None if the tool can run here, else why not."""
        return None

    def out(self, ctx: Context) -> str:
        return os.path.join(ctx.workdir, self.name.replace(" ", "_").replace("|", ""))

    def dump(self, ctx: Context) -> list[str]:
        raise NotImplementedError

    def restore(self, ctx: Context, target: str) -> list[str]:
        raise NotImplementedError

    def output_bytes(self, ctx: Context) -> int:
        path = self.out(ctx)
        return dir_bytes(path) if os.path.isdir(path) else os.path.getsize(path)

    def clean(self, ctx: Context) -> None:
        path = self.out(ctx)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)


def _conn(ctx: Context) -> list[str]:
    return ["-h", ctx.host, "-P", str(ctx.port), "-u", "root"]


class OsidumpLocal(Tool):
    name = "osidump"

    def dump(self, ctx: Context) -> list[str]:
        return [
            *osidump_argv(),
            "export",
            ctx.db,
            "-o",
            self.out(ctx),
            "--threads",
            str(ctx.threads),
            *_conn(ctx),
        ]

    def restore(self, ctx: Context, target: str) -> list[str]:
        return [
            *osidump_argv(),
            "restore",
            self.out(ctx),
            "-d",
            target,
            "--threads",
            str(ctx.threads),
            *_conn(ctx),
        ]


class OsidumpS3(Tool):
    name = "osidump (S3)"

    def available(self) -> str | None:
        return None if self.url_base else "no S3 endpoint"

    url_base: str | None = None

    def url(self, ctx: Context) -> str:
        return f"s3://{ctx.s3_bucket}/{ctx.db}"

    def dump(self, ctx: Context) -> list[str]:
        return [
            *osidump_argv(),
            "export",
            ctx.db,
            "-o",
            self.url(ctx),
            "--threads",
            str(ctx.threads),
            "--s3-endpoint-url",
            str(ctx.s3_endpoint),
            *_conn(ctx),
        ]

    def restore(self, ctx: Context, target: str) -> list[str]:
        return [
            *osidump_argv(),
            "restore",
            self.url(ctx),
            "-d",
            target,
            "--threads",
            str(ctx.threads),
            "--s3-endpoint-url",
            str(ctx.s3_endpoint),
            *_conn(ctx),
        ]

    def _objects(self, ctx: Context) -> list[dict[str, Any]]:
        import boto3

        s3 = boto3.client("s3", endpoint_url=ctx.s3_endpoint)
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=ctx.s3_bucket, Prefix=ctx.db + "/"
        )
        return [o for page in pages for o in page.get("Contents", [])]

    def output_bytes(self, ctx: Context) -> int:
        return sum(int(o["Size"]) for o in self._objects(ctx))

    def clean(self, ctx: Context) -> None:
        import boto3

        s3 = boto3.client("s3", endpoint_url=ctx.s3_endpoint)
        for o in self._objects(ctx):
            s3.delete_object(Bucket=ctx.s3_bucket, Key=o["Key"])


class MariadbDump(Tool):
    name = "mariadb-dump|zstd"

    def available(self) -> str | None:
        missing = [t for t in ("mariadb-dump", "mariadb", "zstd") if shutil.which(t) is None]
        return f"not installed: {', '.join(missing)}" if missing else None

    def out(self, ctx: Context) -> str:
        return os.path.join(ctx.workdir, "mariadb-dump.sql.zst")

    def dump(self, ctx: Context) -> list[str]:
        conn = " ".join(_conn(ctx))
        return [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"mariadb-dump {conn} --single-transaction --routines --triggers --events {ctx.db}"
            f" | zstd -q -f -o {self.out(ctx)}",
        ]

    def restore(self, ctx: Context, target: str) -> list[str]:
        conn = " ".join(_conn(ctx))
        return [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"mariadb {conn} -e 'CREATE DATABASE `{target}`' && zstd -dc {self.out(ctx)} | mariadb {conn} {target}",
        ]


class Mydumper(Tool):
    name = "mydumper"

    def available(self) -> str | None:
        missing = [t for t in ("mydumper", "myloader") if shutil.which(t) is None]
        return f"not installed: {', '.join(missing)}" if missing else None

    def dump(self, ctx: Context) -> list[str]:
        return [
            "mydumper",
            *_conn(ctx),
            "-B",
            ctx.db,
            "-t",
            str(ctx.threads),
            "-c",
            "-o",
            self.out(ctx),
        ]

    def restore(self, ctx: Context, target: str) -> list[str]:
        return ["myloader", *_conn(ctx), "-d", self.out(ctx), "-B", target, "-t", str(ctx.threads)]


class Floor(Tool):
    """The floor: every table read through the C client into /dev/null."""

    name = "floor (SELECT *)"
    restores = False
    tables: tuple[str, ...] = ()

    def available(self) -> str | None:
        return None if shutil.which("mariadb") else "not installed: mariadb"

    def dump(self, ctx: Context) -> list[str]:
        selects = "; ".join(f"SELECT * FROM `{t}`" for t in self.tables)
        conn = " ".join(_conn(ctx))
        return ["bash", "-c", f"mariadb {conn} --quick {ctx.db} -e '{selects}' > /dev/null"]

    def output_bytes(self, ctx: Context) -> int:
        return 0

    def clean(self, ctx: Context) -> None:
        return None
