"""Measure osidump against mariadb-dump and mydumper on the same data, in one run.

    python -m benchmarks.run --scale 1.0 --reps 3

Starts a throwaway MariaDB (tests/support/servers.py: binlog on, 2 GiB buffer
pool), builds the dataset, reads it once to warm the buffer pool, then for each
repetition runs every tool's dump and restore in turn (interleaved, so machine
noise hits all alike), checks every restore with CHECKSUM TABLE and the list of
views, triggers, routines and events, and writes {md,json,png} to --output-dir.
A tool that cannot run shows as "not available: <why>"; the others still run.
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
from benchmarks.tools import (
    Context,
    Floor,
    KeysFloor,
    LoadFloor,
    MariadbDump,
    Mydumper,
    OsidumpEncrypted,
    OsidumpLocal,
    OsidumpS3,
    OsidumpSigned,
    Tool,
)


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


TOOL_KEYS = (
    "floor",
    "load-floor",
    "osidump",
    "keys-floor",  # restores the osidump row's dump: runs right after it
    "osidump-signed",
    "osidump-encrypted",
    "osidump-s3",
    "mariadb-dump",
    "mydumper",
)


def _entry(rep: int, m: Measurement) -> dict[str, Any]:
    return {
        "rep": rep,
        "seconds": m.seconds,
        "peak_rss_kb": m.peak_rss_kb,
        "tree_rss_kb": m.tree_rss_kb,
        "cpu_seconds": m.cpu_seconds,
        "ok": m.returncode == 0,
        "error": m.stderr_tail if m.returncode == 0 else m.stderr_tail or f"exit {m.returncode}",
    }


def _failure(rep: int, exc: Exception) -> dict[str, Any]:
    """The harness's own step around a tool raised: a failed run, not a crash of the run."""
    return {
        "rep": rep,
        "seconds": 0.0,
        "peak_rss_kb": 0,
        "tree_rss_kb": 0,
        "ok": False,
        "error": f"{type(exc).__name__}: {exc}",
    }


def _record(results: dict[str, Any], tool: str, phase: str, entry: dict[str, Any]) -> None:
    results[tool][phase].append(entry)
    outcome = "" if entry["ok"] else f" FAILED: {entry['error']}"
    print(
        f"rep {entry['rep']} {tool} {phase}: {entry['seconds']:.2f} s, "
        f"{entry['peak_rss_kb'] / 1024:.0f} MB (tree {entry['tree_rss_kb'] / 1024:.0f} MB)"
        f"{outcome}",
        flush=True,
    )


def _target(rep: int, tool: Tool) -> str:
    slug = "".join(c if c.isalnum() else "_" for c in tool.name).strip("_")
    return f"bench_r{rep}_{slug}"


def quiesce(conn: Any, limit_s: float = 120.0) -> None:
    """Let the server finish the last step's background work (flushing dirty
    pages, purging a dropped database's undo) before the next timed step, so
    a tool does not pay for the one before it: the order of tools in a round
    moved restore times by 30% without this. Polls the server's own counters;
    bounded in time."""
    cur = conn.cursor()
    cur.execute("SELECT @@GLOBAL.innodb_max_dirty_pages_pct")
    saved = cur.fetchone()[0]
    cur.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
    deadline = time.monotonic() + limit_s
    try:
        while time.monotonic() < deadline:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
            dirty = int(cur.fetchone()[1])
            cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'")
            row = cur.fetchone()
            history = int(row[1]) if row else 0
            if dirty < 100 and history < 1000:
                return
            time.sleep(0.2)  # polling the server's counters, not timing anything
    finally:
        cur.execute(f"SET GLOBAL innodb_max_dirty_pages_pct = {float(saved)}")


def _one_round(
    rep: int, tool: Tool, ctx: Context, conn: Any, env: dict[str, str], results: dict[str, Any]
) -> None:
    """Dump with ``tool``, restore into a fresh database, verify it, drop it."""
    if tool.exports:
        try:
            tool.clean(ctx)
            quiesce(conn)
            m = run(tool.dump(ctx), env=env)
            entry = _entry(rep, m)
            if m.returncode == 0:
                entry["output_bytes"] = tool.output_bytes(ctx)
        except Exception as exc:  # a broken tool must not take the peers' rows with it
            entry = _failure(rep, exc)
        _record(results, tool.name, "export", entry)
        if not tool.restores or not entry["ok"]:
            return
    target = _target(rep, tool)
    cur = conn.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS `{target}`")
    quiesce(conn)
    try:
        r = run(tool.restore(ctx, target), env=env)
        entry = _entry(rep, r)
        if r.returncode == 0 and getattr(tool, "checked", True):
            problems = dataset.differences(conn, ctx.db, target)
            if problems:
                entry.update(ok=False, wrong_result=True, error="; ".join(problems))
    except Exception as exc:
        entry = _failure(rep, exc)
    _record(results, tool.name, "restore", entry)
    cur.execute(f"DROP DATABASE IF EXISTS `{target}`")
    # The restore went through the binlog like a real one; drop it so disk use stays flat.
    cur.execute("RESET MASTER")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0 is ~430 MB raw; 0.05 for a smoke run"
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions; the median is quoted")
    parser.add_argument("--threads", type=int, default=2, help="workers for every parallel tool")
    parser.add_argument(
        "--tools", default=",".join(TOOL_KEYS), help=f"comma-separated subset of {TOOL_KEYS}"
    )
    parser.add_argument(
        "--keep-server", action="store_true", help="leave the server and dataset running"
    )
    parser.add_argument("--output-dir", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args(argv)
    wanted = [t for t in args.tools.split(",") if t]
    unknown = sorted(set(wanted) - set(TOOL_KEYS))
    if unknown or args.reps < 1 or args.scale <= 0 or args.threads < 1:
        parser.error(f"unknown tools {unknown}" if unknown else "reps, scale, threads must be > 0")
    if "keys-floor" in wanted and "osidump" not in wanted:
        parser.error("keys-floor restores the osidump row's dump: add osidump to --tools")

    from tests.support.servers import ThrowawayServer

    server = ThrowawayServer(binlog=True, buffer_pool="2G", die_with_parent=not args.keep_server)
    server.start()
    workdir = tempfile.mkdtemp(prefix="osidump-bench-")
    moto: Any = None
    try:
        if "osidump-s3" in wanted:
            import logging

            from tests.support.s3 import MotoS3

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
            moto = MotoS3()  # in-process: its CPU is shared like the server's
            moto.client().create_bucket(Bucket="bench")
        results, meta = _bench(args, wanted, server, workdir, moto)
    finally:
        if moto is not None:
            moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if args.keep_server:
            print(
                f"server kept: mariadb -h {server.host} -P {server.port} -u root bench\n"
                f"stop it with: kill {server.process.pid if server.process else '?'}; "
                f"rm -rf {server.basedir}",
                flush=True,
            )
        else:
            server.cleanup()
    print(report.write(results, meta, args.output_dir))
    osidump_runs = [
        e
        for name in results
        if name.startswith("osidump")
        for runs in results[name].values()
        for e in runs
    ]
    asked_osidump = any(t.startswith("osidump") for t in wanted)
    return (
        1 if asked_osidump and (not osidump_runs or not all(e["ok"] for e in osidump_runs)) else 0
    )


def _bench(
    args: argparse.Namespace, wanted: list[str], server: Any, workdir: str, moto: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    conn = server.connect()
    print(f"server {server.host}:{server.port}; building the dataset at scale {args.scale} ...")
    started = time.monotonic()
    counts = dataset.build(conn, "bench", args.scale)
    raw = dataset.raw_bytes(conn, "bench")
    print(f"dataset: {raw / 1e6:.0f} MB in {time.monotonic() - started:.0f} s, rows {counts}")
    env: dict[str, str] = {}
    ctx = Context(
        host=server.host, port=server.port, db="bench", workdir=workdir, threads=args.threads
    )
    if moto is not None:
        from tests.support.s3 import CREDENTIALS

        env.update(CREDENTIALS)
        ctx.env = dict(CREDENTIALS)
        ctx.s3_endpoint, ctx.s3_bucket = moto.endpoint_url, "bench"
    floor = Floor()
    floor.tables = tuple(dataset.table_bytes(conn, "bench"))
    catalog: dict[str, Tool] = {
        "floor": floor,
        "load-floor": LoadFloor(),
        "osidump": OsidumpLocal(),
        "keys-floor": KeysFloor(),
        "osidump-signed": OsidumpSigned(),
        "osidump-encrypted": OsidumpEncrypted(),
        "osidump-s3": OsidumpS3(),
        "mariadb-dump": MariadbDump(),
        "mydumper": Mydumper(),
    }
    tools: list[Tool] = []
    unavailable: dict[str, str] = {}
    for key in TOOL_KEYS:
        if key not in wanted:
            continue
        why = catalog[key].available(ctx)
        if why:
            print(f"{catalog[key].name}: {why}", flush=True)
            unavailable[catalog[key].name] = why
        else:
            tools.append(catalog[key])
    results: dict[str, Any] = {
        t.name: {
            **({"export": []} if t.exports else {}),
            **({"restore": []} if t.restores else {}),
        }
        for t in tools
    }
    run(floor.dump(ctx))  # warm the buffer pool before the first timing
    load_before = os.getloadavg()
    for rep in range(1, args.reps + 1):
        for tool in tools:
            _one_round(rep, tool, ctx, conn, env, results)
        for tool in tools:
            try:
                tool.clean(ctx)
            except Exception as exc:
                print(f"cleaning {tool.name}: {exc}", flush=True)
    cur = conn.cursor()
    cur.execute("SELECT VERSION()")
    server_version = cur.fetchone()[0]
    from osidump.engine import __version__

    meta = {
        "scale": args.scale,
        "reps": args.reps,
        "threads": args.threads,
        "dataset_bytes": raw,
        "dataset_mb": raw / 1e6,
        "rows": counts,
        "table_bytes": dataset.table_bytes(conn, "bench"),
        "unavailable": unavailable,
        "machine": machine(),
        "cores": os.cpu_count(),
        # Other work on the machine skews every tool alike (runs are interleaved) but
        # widens the spread; the 1-minute load before and after says how much there was.
        "load_average": {"before": load_before[0], "after": os.getloadavg()[0]},
        "server": f"MariaDB {server_version} (throwaway, 2 GiB buffer pool, binlog on)",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": {
            "osidump": __version__,
            "python": sys.version.split()[0],
            "mariadb-dump": _version(["mariadb-dump", "--version"]),
            "mariadb client": _version(["mariadb", "--version"]),
            "mydumper": _version(["mydumper", "--version"]),
            "myloader": _version(["myloader", "--version"]),
            "zstd": _version(["zstd", "--version"]),
        },
    }
    conn.close()
    return results, meta


if __name__ == "__main__":
    sys.exit(main())
