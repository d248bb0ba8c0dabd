"""Run a command; measure wall time and the peak RSS of its largest process.

RSS comes from GNU time (``/usr/bin/time -f %M``): measuring with wait4 from
this process would count the forked copy of the harness itself (ru_maxrss
includes the moments between fork and exec). For a shell pipeline the figure
is the biggest member's, since the shell waits for every member."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass


@dataclass
class Measurement:
    seconds: float
    peak_rss_kb: int
    returncode: int
    stderr_tail: str


GNU_TIME = "/usr/bin/time"
_MARK = "osidump-bench-rss-kb="


def run(
    argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 3600
) -> Measurement:
    if not os.access(GNU_TIME, os.X_OK):
        raise SystemExit("benchmarks need GNU time at /usr/bin/time (apt-get install time)")
    started = time.monotonic()
    proc = subprocess.run(
        [GNU_TIME, "-f", _MARK + "%M", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    elapsed = time.monotonic() - started
    lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    rss = 0
    for line in lines:
        if line.startswith(_MARK):
            rss = int(line[len(_MARK) :])
    rest = [line for line in lines if not line.startswith(_MARK) and "exit status" not in line]
    return Measurement(elapsed, rss, proc.returncode, " | ".join(rest[-3:]))


def dir_bytes(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total
