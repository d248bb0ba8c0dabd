"""Run a command; measure its wall time and two memory figures.

``peak_rss_kb`` is exact: the largest resident set any single process of the
command reached (``ru_maxrss`` over waited-for children). It comes from GNU
time (``/usr/bin/time -f %M``) because measuring with wait4 from this process
would count the forked copy of the harness (ru_maxrss includes the moments
between fork and exec). For a shell pipeline the figure is the biggest
member's, since the shell waits for every member. Without GNU time a fresh
Python wrapper does the same job, at the cost of a ~10 MB floor (its own
vfork'd image).

``tree_rss_kb`` is the sum over the whole process tree, sampled every 50 ms
from /proc: what the job as a whole held, pipelines included. Sampling can
miss a peak shorter than the interval, so it is a lower bound.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass


@dataclass
class Measurement:
    seconds: float
    peak_rss_kb: int
    tree_rss_kb: int
    returncode: int
    stderr_tail: str
    # user + system CPU of the command (GNU time %U + %S; children included):
    # the tool's own work, which the server's share and other load on the
    # machine do not inflate the way they inflate wall time.
    cpu_seconds: float = 0.0


GNU_TIME = "/usr/bin/time"
_MARK = "osidump-bench-rss-kb="
_SAMPLE_S = 0.05
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# Fallback when GNU time is missing: wait for the command, print ru_maxrss of children.
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[1:])\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    f"print('{_MARK}%d %.2f %.2f' % (u.ru_maxrss, u.ru_utime, u.ru_stime), file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_kb(root: int) -> int:
    """Resident memory of every descendant of ``root`` (not ``root`` itself)."""
    total, stack = 0, _children(root)
    while stack:
        pid = stack.pop()
        total += _rss_kb(pid)
        stack.extend(_children(pid))
    return total


class _TreeSampler(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak = root, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(_SAMPLE_S):
            self.peak = max(self.peak, tree_rss_kb(self.root))


def run(
    argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 3600
) -> Measurement:
    """Run ``argv`` (stdout discarded); never raises for the command's own failures."""
    if os.access(GNU_TIME, os.X_OK):
        wrapped = [GNU_TIME, "-f", _MARK + "%M %U %S", *argv]
    else:
        wrapped = [sys.executable, "-c", _WRAPPER, *argv]
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            wrapped,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # one process group, so a timeout kills pipelines too
        )
    except OSError as exc:
        return Measurement(0.0, 0, 0, -1, f"cannot start: {exc}")
    sampler = _TreeSampler(proc.pid)
    sampler.start()
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        err += f"\ntimed out after {timeout:.0f} s".encode()
    elapsed = time.monotonic() - started
    sampler.done.set()
    sampler.join()
    lines = err.decode("utf-8", "replace").strip().splitlines()
    rss, cpu = 0, 0.0
    for line in lines:
        if line.startswith(_MARK):
            fields = line[len(_MARK) :].split()
            rss = int(fields[0])
            cpu = sum(float(f) for f in fields[1:3])
    rest = [
        line
        for line in lines
        if not line.startswith(_MARK)
        and not line.startswith(("Command exited", "Command terminated"))
    ]
    return Measurement(
        elapsed, rss, max(sampler.peak, rss), proc.returncode, " | ".join(rest[-3:]), cpu
    )


def dir_bytes(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total
