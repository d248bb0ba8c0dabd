"""``osidump load-sql`` against the stock client replaying the same mariadb-dump file.

    python -m benchmarks.load_sql --scale 0.1 --reps 5

Starts a throwaway MariaDB (tests/support/servers.py, binary log on), builds the
benchmark dataset (benchmarks/dataset.py) and dumps it twice with
``mariadb-dump --single-transaction --routines --triggers --events`` (the
default extended INSERTs, as an old backup holds them): once as a single
database, once with ``--databases``. Then, ``--reps`` times and interleaved,
each tool replays each file:

- **as written** (the ``--databases`` file): ``mariadb < dump.sql`` against
  ``osidump load-sql dump.sql``; both recreate ``bench`` from the script.
- **-d** (the single-database file): ``mariadb -D target < dump.sql`` (target
  created first) against ``osidump load-sql dump.sql -d target``, which also
  surveys the file before running it (issue 8 item 6).

Every replay is checked against an untimed first replay of the same file by
the client (which also warms the new server)
(CHECKSUM TABLE of every table, and the names of the views, triggers, routines
and events; not against the source, since mariadb-dump prints FLOAT with six
digits) and dropped, and the binary log reset. ``--compression gzip|zstd``
compresses the files first (the client then reads ``zcat file |``).

Prints the medians, the time ratios and osidump's peak RSS and writes
``load_sql.json`` to --output-dir. Exit status 1 if a run failed or a target
(--max-ratio, --max-rss-mb) was missed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import zstandard

from benchmarks import dataset
from benchmarks.measure import run
from benchmarks.tools import osidump_argv

MODES = ("as written", "-d")


def _dump(server: Any, path: str, *extra: str) -> None:
    dumper = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    if dumper is None:
        raise SystemExit("mariadb-dump is missing: apt-get install -y mariadb-client")
    with open(path, "wb") as fh:
        subprocess.run(
            [dumper, "-h", server.host, "-P", str(server.port), "-u", "root",
             "--single-transaction", "--routines", "--triggers", "--events", *extra],
            stdout=fh, check=True,
        )


def _compress(path: str, how: str) -> str:
    if how == "none":
        return path
    with open(path, "rb") as fh:
        data = fh.read()
    packed = gzip.compress(data, 6) if how == "gzip" else zstandard.ZstdCompressor(3).compress(data)
    out = f"{path}.{'gz' if how == 'gzip' else 'zst'}"
    with open(out, "wb") as fh:
        fh.write(packed)
    return out


def _client_argv(client: str, base: list[str], path: str, how: str, database: str | None) -> list[str]:
    command = shlex.join([client, *base, *([database] if database else [])])
    if how == "none":
        return ["sh", "-c", f"exec {command} < {shlex.quote(path)}"]
    reader = {"gzip": "zcat", "zstd": "zstdcat"}[how]
    return ["sh", "-c", f"{reader} {shlex.quote(path)} | {command}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=0.1, help="dataset scale; 0.1 is a ~38 MB dump")
    parser.add_argument("--reps", type=int, default=5, help="repetitions; medians are quoted")
    parser.add_argument("--compression", choices=("none", "gzip", "zstd"), default="none")
    parser.add_argument("--max-ratio", type=float, default=1.2, help="target: osidump / mariadb time")
    parser.add_argument("--max-rss-mb", type=float, default=100.0, help="target: osidump peak RSS")
    parser.add_argument("--output-dir", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args(argv)
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client is None:
        raise SystemExit("the mariadb client is missing: apt-get install -y mariadb-client")
    if args.compression == "zstd" and shutil.which("zstdcat") is None:
        raise SystemExit("zstdcat is missing: apt-get install -y zstd")

    from tests.support.servers import ThrowawayServer

    server = ThrowawayServer(binlog=True, buffer_pool="1G")
    server.start()
    workdir = tempfile.mkdtemp(prefix="osidump-bench-load-sql-")
    try:
        conn = server.connect()
        counts = dataset.build(conn, "bench", args.scale)
        files = {"-d": os.path.join(workdir, "single.sql"),
                 "as written": os.path.join(workdir, "databases.sql")}
        _dump(server, files["-d"], "bench")
        _dump(server, files["as written"], "--databases", "bench")
        sizes = {mode: os.path.getsize(path) for mode, path in files.items()}
        files = {mode: _compress(path, args.compression) for mode, path in files.items()}
        print(f"dump: {sizes['-d'] / 1e6:.1f} MB of SQL ({args.compression}), rows {counts}",
              flush=True)
        base = ["-h", server.host, "-P", str(server.port), "-u", "root"]
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            mode: {"mariadb": [], "osidump": []} for mode in MODES}
        expected: dict[str, tuple[dict[str, int], dict[str, list[str]]]] = {}
        cur = conn.cursor()
        # One untimed replay by the client per file: it warms the new server
        # (its first bulk load grows the InnoDB files) and is the reference.
        for mode in MODES:
            target = "bench" if mode == "as written" else "bench_reference"
            cur.execute(f"DROP DATABASE IF EXISTS `{target}`")
            if mode == "-d":
                cur.execute(f"CREATE DATABASE `{target}`")
            warm = run(_client_argv(client, base, files[mode], args.compression,
                                    target if mode == "-d" else None))
            if warm.returncode != 0:
                raise SystemExit(f"the client could not replay the {mode} file: {warm.stderr_tail}")
            expected[mode] = (dataset.checksums(conn, target), dataset.objects(conn, target))
            cur.execute(f"DROP DATABASE IF EXISTS `{target}`")
            cur.execute("RESET MASTER")
        load_before = os.getloadavg()[0]
        for rep in range(1, args.reps + 1):
            for mode in MODES:
                for tool in ("mariadb", "osidump"):
                    target = "bench" if mode == "as written" else f"bench_load_{tool}_{rep}"
                    cur.execute(f"DROP DATABASE IF EXISTS `{target}`")
                    if tool == "mariadb":
                        if mode == "-d":
                            cur.execute(f"CREATE DATABASE `{target}`")
                        argv_ = _client_argv(client, base, files[mode], args.compression,
                                             target if mode == "-d" else None)
                    else:
                        argv_ = [*osidump_argv(), "load-sql", files[mode], *base]
                        argv_ += ["-d", target] if mode == "-d" else []
                    m = run(argv_)
                    if m.returncode != 0:
                        problems = [m.stderr_tail or f"exit {m.returncode}"]
                    else:
                        got = (dataset.checksums(conn, target), dataset.objects(conn, target))
                        problems = [] if got == expected[mode] else [
                            f"differs from the client's replay: {got}"]
                    runs[mode][tool].append({"rep": rep, "seconds": m.seconds,
                                             "peak_rss_kb": m.peak_rss_kb,
                                             "ok": not problems, "problems": problems})
                    print(f"rep {rep} {mode:>10} {tool:<8} {m.seconds:6.2f} s, "
                          f"{m.peak_rss_kb / 1024:4.0f} MB"
                          + (f" FAILED: {'; '.join(problems)}" if problems else ""), flush=True)
                    cur.execute(f"DROP DATABASE IF EXISTS `{target}`")
                    cur.execute("RESET MASTER")
        summary_modes: dict[str, Any] = {}
        met = True
        for mode in MODES:
            med = {t: statistics.median(r["seconds"] for r in rs) for t, rs in runs[mode].items()}
            rss = max(r["peak_rss_kb"] for r in runs[mode]["osidump"]) / 1024
            ratio = med["osidump"] / med["mariadb"]
            ok = all(r["ok"] for rs in runs[mode].values() for r in rs)
            mode_met = ok and ratio <= args.max_ratio and rss < args.max_rss_mb
            met = met and mode_met
            summary_modes[mode] = {"median_seconds": med, "ratio": ratio,
                                   "osidump_peak_rss_mb": rss, "all_correct": ok, "met": mode_met}
            print(f"{mode:>10}: mariadb {med['mariadb']:.2f} s, osidump {med['osidump']:.2f} s "
                  f"(ratio {ratio:.2f}, target <= {args.max_ratio}); osidump peak RSS {rss:.0f} MB "
                  f"(target < {args.max_rss_mb:.0f}); {'met' if mode_met else 'NOT met'}",
                  flush=True)
        summary = {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "sql_bytes": sizes, "compression": args.compression, "scale": args.scale,
            "reps": args.reps, "rows": counts, "modes": summary_modes,
            "target": {"max_ratio": args.max_ratio, "max_rss_mb": args.max_rss_mb, "met": met},
            "load_average": {"before": load_before, "after": os.getloadavg()[0]},
            "cores": os.cpu_count(), "runs": runs,
        }
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, "load_sql.json"), "w") as fh:
            json.dump(summary, fh, indent=1)
        return 0 if met else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        server.cleanup()


if __name__ == "__main__":
    sys.exit(main())
