"""The tools under test, each as the commands a user would type."""

from __future__ import annotations

import os
import shutil
import subprocess
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
    exports = True  # False: restores another tool's dump, which that tool's export timed

    def available(self, ctx: Context) -> str | None:
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


def _osidump_available() -> str | None:
    try:
        proc = subprocess.run(
            [*osidump_argv(), "export", "--help"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"not available: {exc}"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"not available: {tail[0]}"
    return None


class OsidumpLocal(Tool):
    name = "osidump"

    def available(self, ctx: Context) -> str | None:
        return _osidump_available()

    def location(self, ctx: Context) -> str:
        return self.out(ctx)

    def storage_args(self, ctx: Context) -> list[str]:
        return []

    def export_args(self, ctx: Context) -> list[str]:
        """Flags of export only (sealing)."""
        return []

    def restore_args(self, ctx: Context) -> list[str]:
        """Flags of restore only (sealing)."""
        return []

    def dump(self, ctx: Context) -> list[str]:
        return [
            *osidump_argv(),
            "export",
            ctx.db,
            "--output",
            self.location(ctx),
            "--threads",
            str(ctx.threads),
            *self.storage_args(ctx),
            *self.export_args(ctx),
            *_conn(ctx),
        ]

    def restore(self, ctx: Context, target: str) -> list[str]:
        return [
            *osidump_argv(),
            "restore",
            self.location(ctx),
            "--database",
            target,
            "--threads",
            str(ctx.threads),
            *self.storage_args(ctx),
            *self.restore_args(ctx),
            *_conn(ctx),
        ]


def _keygen(ctx: Context, *flags: str) -> str | None:
    """``osidump keygen [flags] WORKDIR/bench-keys``, once per run (it never
    overwrites, so a second call finds the files there)."""
    prefix = os.path.join(ctx.workdir, "bench-age" if flags else "bench-sign")
    if os.path.exists(prefix + (".identity" if flags else ".key")):
        return None
    proc = subprocess.run(
        [*osidump_argv(), "keygen", *flags, prefix], capture_output=True, text=True, timeout=60
    )
    return None if proc.returncode == 0 else f"not available: keygen failed: {proc.stderr.strip()}"


class OsidumpSigned(OsidumpLocal):
    """osidump with the manifest signed at export and checked at restore."""

    name = "osidump (signed)"

    def available(self, ctx: Context) -> str | None:
        return _osidump_available() or _keygen(ctx)

    def export_args(self, ctx: Context) -> list[str]:
        return ["--sign-key", os.path.join(ctx.workdir, "bench-sign.key")]

    def restore_args(self, ctx: Context) -> list[str]:
        return ["--verify-key", os.path.join(ctx.workdir, "bench-sign.pub")]


class OsidumpEncrypted(OsidumpLocal):
    """osidump with every chunk and schema file age-encrypted (not signed, so
    the row shows the encryption's cost alone)."""

    name = "osidump (encrypted)"

    def available(self, ctx: Context) -> str | None:
        return _osidump_available() or _keygen(ctx, "--age")

    def export_args(self, ctx: Context) -> list[str]:
        return ["--encrypt-to-file", os.path.join(ctx.workdir, "bench-age.recipient")]

    def restore_args(self, ctx: Context) -> list[str]:
        return ["--identity", os.path.join(ctx.workdir, "bench-age.identity")]


class OsidumpS3(OsidumpLocal):
    name = "osidump (S3)"

    def available(self, ctx: Context) -> str | None:
        return _osidump_available() if ctx.s3_endpoint else "not available: no S3 endpoint"

    def location(self, ctx: Context) -> str:
        return f"s3://{ctx.s3_bucket}/{ctx.db}"

    def storage_args(self, ctx: Context) -> list[str]:
        return ["--s3-endpoint-url", str(ctx.s3_endpoint)]

    def _client(self, ctx: Context) -> Any:
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=ctx.s3_endpoint,
            region_name=ctx.env.get("AWS_DEFAULT_REGION"),
            aws_access_key_id=ctx.env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=ctx.env.get("AWS_SECRET_ACCESS_KEY"),
        )

    def _objects(self, ctx: Context) -> list[dict[str, Any]]:
        s3 = self._client(ctx)
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=ctx.s3_bucket, Prefix=ctx.db + "/"
        )
        return [o for page in pages for o in page.get("Contents", [])]

    def output_bytes(self, ctx: Context) -> int:
        return sum(int(o["Size"]) for o in self._objects(ctx))

    def clean(self, ctx: Context) -> None:
        s3 = self._client(ctx)
        for o in self._objects(ctx):
            s3.delete_object(Bucket=ctx.s3_bucket, Key=o["Key"])


class MariadbDump(Tool):
    name = "mariadb-dump|zstd"

    def available(self, ctx: Context) -> str | None:
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
    """``mydumper -t N -c``, plus -G -E -R: mydumper 0.10 leaves triggers, events and
    routines out unless asked, and mariadb-dump is asked for them, so both do the same work."""

    name = "mydumper"

    def available(self, ctx: Context) -> str | None:
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
            "-G",
            "-E",
            "-R",
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

    def available(self, ctx: Context) -> str | None:
        return None if shutil.which("mariadb") else "not installed: mariadb"

    def dump(self, ctx: Context) -> list[str]:
        selects = "; ".join(f"SELECT * FROM `{t}`" for t in self.tables)
        conn = " ".join(_conn(ctx))
        return ["bash", "-c", f"mariadb {conn} --quick {ctx.db} -e '{selects}' > /dev/null"]

    def output_bytes(self, ctx: Context) -> int:
        return 0

    def clean(self, ctx: Context) -> None:
        return None


class LoadFloor(Tool):
    """The restore floor: the C client's ``LOAD DATA LOCAL INFILE`` of the same
    rows (``mariadb-dump --tab`` files), ``threads`` tables at a time, into
    tables created from ``mariadb-dump --no-data``. No verification, no
    triggers or routines: the fastest a plain client can put the rows back."""

    name = "floor (LOAD DATA)"
    checked = False

    def out(self, ctx: Context) -> str:
        return os.path.join(ctx.workdir, "load_floor")

    def available(self, ctx: Context) -> str | None:
        missing = [t for t in ("mariadb-dump", "mariadb", "xargs") if shutil.which(t) is None]
        return f"not installed: {', '.join(missing)}" if missing else None

    def dump(self, ctx: Context) -> list[str]:
        out = self.out(ctx)
        conn = " ".join(_conn(ctx))
        return [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"rm -rf {out} && mkdir -p {out} && chmod 777 {out}"
            f" && mariadb-dump {conn} --no-create-info --skip-triggers --tab={out} {ctx.db}"
            f" && mariadb-dump {conn} --no-data --skip-triggers {ctx.db} > {out}/schema.sql",
        ]

    def restore(self, ctx: Context, target: str) -> list[str]:
        out = self.out(ctx)
        conn = " ".join(_conn(ctx))
        script = os.path.join(ctx.workdir, "load_floor.sh")
        with open(script, "w") as fh:
            fh.write(
                "set -euo pipefail\n"
                f'mariadb {conn} -e "CREATE DATABASE \\`$1\\`"\n'
                f'mariadb {conn} "$1" < {out}/schema.sql\n'
                f"ls {out}/*.txt | xargs -P {ctx.threads} -n 1 bash -c '"
                f'mariadb {conn} --local-infile=1 "$0" -e "SET foreign_key_checks = 0,'
                " unique_checks = 1; LOAD DATA LOCAL INFILE '\\''$1'\\''"
                ' INTO TABLE \\`$(basename "$1" .txt)\\`"'
                '\' "$1"\n'
            )
        return ["bash", script, target]


class KeysFloor(Tool):
    """The floor of osidump's own restore plan (``benchmarks/keys_floor.py``):
    the C client's ``LOAD DATA`` of the osidump row's dump, in osidump's chunk
    order on as many sessions, into key-only tables with their indexes added
    after, and nothing verified. Restores the dump the osidump row exported in
    the same round, so it has no export of its own."""

    name = "floor (LOAD DATA, keys after)"
    checked = False
    exports = False

    def out(self, ctx: Context) -> str:
        return OsidumpLocal().out(ctx)

    def available(self, ctx: Context) -> str | None:
        missing = [t for t in ("mariadb", "zstd") if shutil.which(t) is None]
        return f"not installed: {', '.join(missing)}" if missing else _osidump_available()

    def restore(self, ctx: Context, target: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "benchmarks.keys_floor",
            self.out(ctx),
            target,
            "--host",
            ctx.host,
            "--port",
            str(ctx.port),
            "--threads",
            str(ctx.threads),
        ]

    def clean(self, ctx: Context) -> None:
        """The dump is the osidump row's, cleaned with it."""
