"""How closely ``export --max-rate`` holds its cap (issue 13 item 5).

    python -m benchmarks.max_rate --scale 0.1 --rates 2M,4M,8M

Starts a throwaway MariaDB, builds the benchmark dataset (``dataset.py``),
warms the buffer pool, then exports it in-process once without a cap and once
per rate, two workers each. A sampler thread reads the export's row-byte
counter (``ExportProgress.raw_bytes``, the bytes read from the server) every
50 ms. The held rate is the bytes read between the first sample that saw a
row and the last one, over that time; so the snapshot, the chunk planning and
the manifest are left out, and the bucket's initial burst (one batch, 256 KiB)
is in. A cap is held when it is within 10% of the target. The uncapped run
shows that every cap was below what the machine does unthrottled (else the
cap would not be what limits the export).

Writes ``max_rate.md`` and ``max_rate.json`` to --output-dir.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from typing import Any

from benchmarks import dataset

TOLERANCE = 0.10


def _parse(text: str) -> int:
    from osidump.cli.export_cmd import parse_size

    return parse_size(text)


def _one(server: Any, workdir: str, rate: int | None, threads: int) -> dict[str, Any]:
    from osidump.engine.config import ExportConfig
    from osidump.engine.export.run import Export, ExportProgress
    from osidump.engine.storage.base import LocalStorage

    out = os.path.join(workdir, f"dump-{rate or 'uncapped'}")
    progress = ExportProgress()
    config = ExportConfig(databases=("bench",), threads=threads, max_rate=rate)
    job = Export(server.connection_config(), config, LocalStorage(out), progress=progress)
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.monotonic(), progress.raw_bytes))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    manifest = job.run()
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    samples.append((time.monotonic(), progress.raw_bytes))
    shutil.rmtree(out, ignore_errors=True)
    raw = sum(t.raw_bytes for d in manifest.databases for t in d.tables)
    reading = [(t, b) for t, b in samples if b > 0]
    first = reading[0]
    last = next((t, b) for t, b in reading if b == raw)
    held = (last[1] - first[1]) / (last[0] - first[0])
    # One-second windows inside the reading phase: how steady the cap is.
    windows: list[float] = []
    start = 0
    for i, (t, b) in enumerate(reading):
        while reading[start][0] < t - 1.0:
            start += 1
        if t - reading[start][0] >= 0.95 and i > start:
            windows.append((b - reading[start][1]) / (t - reading[start][0]))
    return {
        "rate": rate,
        "raw_bytes": raw,
        "wall_s": round(wall, 3),
        "reading_s": round(last[0] - first[0], 3),
        "held_bytes_per_s": round(held),
        "ratio": round(held / rate, 4) if rate else None,
        "window_min": round(min(windows)) if windows else None,
        "window_max": round(max(windows)) if windows else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--rates", default="2M,4M,8M")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output-dir", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args(argv)
    rates = [_parse(r) for r in args.rates.split(",") if r]

    from tests.support.servers import ThrowawayServer

    server = ThrowawayServer(binlog=True, buffer_pool="1G")
    server.start()
    workdir = tempfile.mkdtemp(prefix="osidump-rate-")
    try:
        conn = server.connect()
        dataset.build(conn, "bench", args.scale)
        _one(server, workdir, None, args.threads)  # warms the buffer pool
        runs = [_one(server, workdir, None, args.threads)]
        runs += [_one(server, workdir, rate, args.threads) for rate in rates]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        server.cleanup()
    uncapped = runs[0]["held_bytes_per_s"]
    lines = [
        "# export --max-rate: the rate held",
        "",
        f"Dataset scale {args.scale} ({runs[0]['raw_bytes'] / 2**20:.1f} MiB of rows), "
        f"{args.threads} workers, MariaDB throwaway server on this machine; "
        f"unthrottled: {uncapped / 2**20:.1f} MiB/s. Method: benchmarks/max_rate.py.",
        "",
        "| --max-rate | held (MiB/s) | held / cap | 1 s windows (MiB/s) | reading time | held within 10% |",
        "|---|---|---|---|---|---|",
    ]
    ok = True
    for r in runs[1:]:
        within = abs(r["ratio"] - 1) <= TOLERANCE
        ok = ok and (within or r["rate"] >= uncapped)
        verdict = "yes" if within else "NO"
        if r["rate"] >= uncapped:
            verdict += " (cap above the unthrottled rate: not what limits)"
        lines.append(
            f"| {r['rate'] / 2**20:g}M | {r['held_bytes_per_s'] / 2**20:.2f} | {r['ratio']:.3f} | "
            f"{(r['window_min'] or 0) / 2**20:.2f}-{(r['window_max'] or 0) / 2**20:.2f} | "
            f"{r['reading_s']:.1f} s | {verdict} |"
        )
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "max_rate.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(args.output_dir, "max_rate.json"), "w") as fh:
        json.dump({"scale": args.scale, "threads": args.threads, "runs": runs}, fh, indent=1)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
