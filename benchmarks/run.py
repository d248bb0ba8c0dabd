"""Measure osidump against mariadb-dump and mydumper on the same data, in one run.

    python -m benchmarks.run --scale 1.0 --reps 3

Starts a throwaway MariaDB (tests/support/servers.py), builds the dataset,
then for each repetition runs every tool's dump and restore in turn
(interleaved, so machine noise hits all alike), checks every restore with
CHECKSUM TABLE, and writes benchmarks/results/latest.{md,json,png}.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks import dataset, report
from benchmarks.measure import Measurement, run
from benchmarks.tools import Context, Floor, MariadbDump, Mydumper, OsidumpLocal, OsidumpS3, Tool


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "not installed"


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def _entry(rep: int, m: Measurement) -> dict[str, Any]:
    return {
        "rep": rep,
        "seconds": m.seconds,
        "peak_rss_kb": m.peak_rss_kb,
        "ok": m.returncode == 0,
        "error": m.stderr_tail,
    }


def _record(results: dict[str, Any], tool: str, phase: str, entry: dict[str, Any]) -> None:
    results[tool][phase].append(entry)
    outcome = "" if entry["ok"] else f" FAILED: {entry['error']}"
    print(
        f"rep {entry['rep']} {tool} {phase}: {entry['seconds']:.2f} s, "
        f"{entry['peak_rss_kb'] / 1024:.0f} MB{outcome}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0 is ~450 MB raw; 0.05 for a smoke run"
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tools", default="osidump,osidump-s3,mariadb-dump,mydumper,floor")
    parser.add_argument("--output-dir", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args(argv)

    from tests.support.servers import ThrowawayServer

    wanted = set(args.tools.split(","))
    tools: list[Tool] = []
    floor = Floor()
    catalog: list[tuple[str, Tool]] = [
        ("floor", floor),
        ("osidump", OsidumpLocal()),
        ("osidump-s3", OsidumpS3()),
        ("mariadb-dump", MariadbDump()),
        ("mydumper", Mydumper()),
    ]
    moto = None
    env: dict[str, str] = {}
    workdir = tempfile.mkdtemp(prefix="osidump-bench-")
    with ThrowawayServer(binlog=False, buffer_pool="2G") as server:
        conn = server.connect()
        print(
            f"server {server.host}:{server.port}; building the dataset at scale {args.scale} ...",
            flush=True,
        )
        started = time.monotonic()
        counts = dataset.build(conn, "bench", args.scale)
        raw = dataset.raw_bytes(conn, "bench")
        source_sums = dataset.checksums(conn, "bench")
        print(
            f"dataset: {raw / 1e6:.0f} MB in {time.monotonic() - started:.0f} s, rows {counts}",
            flush=True,
        )
        floor.tables = tuple(source_sums)
        ctx = Context(
            host=server.host, port=server.port, db="bench", workdir=workdir, threads=args.threads
        )
        if "osidump-s3" in wanted:
            import logging

            from tests.support.s3 import CREDENTIALS, MotoS3

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
            moto = MotoS3()
            env.update(CREDENTIALS)
            os.environ.update(CREDENTIALS)
            moto.client().create_bucket(Bucket="bench")
            ctx.s3_endpoint, ctx.s3_bucket = moto.endpoint_url, "bench"
            OsidumpS3.url_base = moto.endpoint_url
        for key, tool in catalog:
            if key not in wanted:
                continue
            why = tool.available()
            if why:
                print(f"skipping {tool.name}: {why}", flush=True)
                continue
            tools.append(tool)
        results: dict[str, Any] = {
            t.name: {"export": [], **({"restore": []} if t.restores else {})} for t in tools
        }
        run(floor.dump(ctx))  # warm the buffer pool before the first timing
        for rep in range(1, args.reps + 1):
            for tool in tools:
                tool.clean(ctx)
                m = run(tool.dump(ctx), env=env)
                entry = _entry(rep, m)
                if m.returncode == 0:
                    entry["output_bytes"] = tool.output_bytes(ctx)
                _record(results, tool.name, "export", entry)
                if not tool.restores or m.returncode != 0:
                    continue
                target = f"bench_r{rep}_{tool.name.split()[0].replace('-', '_').replace('|', '_')}"
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{target}`")
                r = run(tool.restore(ctx, target), env=env)
                entry = _entry(rep, r)
                if r.returncode == 0:
                    got = dataset.checksums(conn, target)
                    if got != source_sums:
                        bad = sorted(t for t in source_sums if got.get(t) != source_sums[t])
                        entry.update(
                            ok=False,
                            wrong_result=True,
                            error=f"CHECKSUM TABLE differs: {', '.join(bad)}",
                        )
                _record(results, tool.name, "restore", entry)
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{target}`")
            for tool in tools:
                tool.clean(ctx)
        cur = conn.cursor()
        cur.execute("SELECT VERSION()")
        server_version = cur.fetchone()[0]
    if moto is not None:
        moto.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    from osidump.engine import __version__

    meta = {
        "scale": args.scale,
        "reps": args.reps,
        "threads": args.threads,
        "dataset_bytes": raw,
        "dataset_mb": raw / 1e6,
        "rows": counts,
        "machine": machine(),
        "server": f"MariaDB {server_version} (throwaway, 2 GiB buffer pool)",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": {
            "osidump": __version__,
            "python": sys.version.split()[0],
            "mariadb-dump": _version(["mariadb-dump", "--version"]),
            "mydumper": _version(["mydumper", "--version"]),
            "zstd": _version(["zstd", "--version"]),
        },
    }
    print(report.write(results, meta, args.output_dir))
    failed = any(
        not e["ok"]
        for t in results.values()
        for runs in t.values()
        for e in runs
        if t is results.get("osidump") or t is results.get("osidump (S3)")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
