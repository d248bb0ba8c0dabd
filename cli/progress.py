"""Progress for long commands: a redrawn line on a terminal, nothing otherwise
(with ``--log-format json`` the commands emit JSON events instead: messages.py)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_seconds(s: float) -> str:
    s = max(0, int(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


class ProgressLine:
    """Redraws ``render()`` on stderr every ``interval`` seconds while running,
    only when stderr is a terminal. Use as a context manager."""

    def __init__(
        self,
        render: Callable[[float], str],
        *,
        stream: TextIO | None = None,
        interval: float = 0.5,
        enabled: bool | None = None,
    ):
        self._render = render
        self._stream = stream or sys.stderr
        self._interval = interval
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = time.monotonic()

    def __enter__(self) -> ProgressLine:
        if self._enabled:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="progress")
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._draw()

    def _draw(self) -> None:
        line = self._render(time.monotonic() - self._start)
        self._stream.write("\r\x1b[K" + line)
        self._stream.flush()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._stream.write("\r\x1b[K")
            self._stream.flush()
