"""A rate cap shared by every export worker (``export --max-rate``).

One token bucket for the whole export: a worker that has read a block of rows
from the server takes its size in tokens before it reads on; when the bucket
is short, the worker waits until the tokens will have accrued. While it waits
it does not read its socket, so the server's send buffer fills and the server
stops producing rows for that query: the cap applies to what is read from the
server, not only to what is written.

The bucket may go into debt: a taker reserves its tokens at once and sleeps
for the debt, so workers are served in the order they asked and a block larger
than the bucket is still admitted (after its time). Over any interval from the
start, bytes taken <= ``burst + rate * elapsed``; with every worker busy the
rate is held from the first second (``burst`` is one batch of rows).

Memory: nothing beyond two numbers; the lock is held only for arithmetic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Throttle(Protocol):
    def take(self, n: int, *, cancelled: threading.Event | None = None) -> None: ...


class RateLimiter:
    """``take(n)`` blocks until ``n`` more bytes fit under ``rate`` bytes/s.

    ``clock`` and ``wait`` are injectable so tests can run the bucket on a
    fake clock; ``wait(seconds)`` returns early when the export is cancelled.
    """

    def __init__(
        self,
        rate: int,
        *,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()
        self.taken = 0  # bytes admitted so far (for tests and reports)

    def reserve(self, n: int) -> float:
        """Take ``n`` tokens now (possibly into debt); the seconds to wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= n
            self.taken += n
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def take(self, n: int, *, cancelled: threading.Event | None = None) -> None:
        """Wait until ``n`` bytes are within the rate (or the export is cancelled)."""
        delay = self.reserve(n)
        if delay <= 0:
            return
        if cancelled is not None:
            cancelled.wait(delay)
        else:
            time.sleep(delay)
