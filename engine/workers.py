"""A fixed set of worker threads draining one shared job list.

Export and restore both run "N connections, each taking the next job until
none is left"; this is that loop, once. The first error cancels the rest (each
worker stops before its next job; a job checks ``cancel`` itself between
statements), and it is the error re-raised to the caller, not the
``Interrupted`` errors of the workers that stopped because of it.

The job list is the plan (metadata, not rows), so its size is bounded by the
plan; rows never queue between threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from .errors import Interrupted

STOP_TIMEOUT = 60.0  # seconds a worker gets to stop after a cancel

S = TypeVar("S")  # per-worker state, e.g. a connection
J = TypeVar("J")  # a job


class WorkerPool(Generic[S, J]):
    def __init__(
        self,
        *,
        name: str,
        count: int,
        start: Callable[[int], S],
        work: Callable[[S, J], None],
        stop: Callable[[S], None] = lambda state: None,
        cancel: threading.Event,
    ):
        self.name = name
        self.count = count
        self._start = start
        self._work = work
        self._stop = stop
        self.cancel = cancel
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()

    def run(self, jobs: Sequence[J], *, on_interrupt: Callable[[], None] | None = None) -> None:
        """Run every job; raise the first real error. On KeyboardInterrupt in
        the calling thread: cancel, call ``on_interrupt`` (e.g. close sockets so
        blocked reads return), wait for the workers, re-raise."""
        pending = list(reversed(jobs))  # pop() from the end keeps the plan's order

        def next_job() -> J | None:
            with self._lock:
                return pending.pop() if pending and not self.cancel.is_set() else None

        def loop(index: int) -> None:
            state: S | None = None
            try:
                state = self._start(index)
                while (job := next_job()) is not None:
                    self._work(state, job)
            except BaseException as exc:  # handed to the calling thread
                with self._lock:
                    self._errors.append(exc)
                self.cancel.set()
            finally:
                if state is not None:
                    self._stop(state)

        threads = [
            threading.Thread(target=loop, args=(i,), name=f"{self.name}-{i}", daemon=True)
            for i in range(min(self.count, len(jobs)))
        ]
        try:
            # Starting is inside the try: Ctrl-C may arrive between two starts.
            for t in threads:
                t.start()
            for t in threads:
                # A timed join keeps the calling thread responsive to Ctrl-C.
                while t.is_alive():
                    t.join(0.2)
        except BaseException:
            self.cancel.set()
            if on_interrupt is not None:
                on_interrupt()
            # Every started worker finishes its cleanup (aborting half-written
            # files) before the caller cleans up or the process exits.
            for t in threads:
                if t.ident is not None:
                    t.join(STOP_TIMEOUT)
            raise
        for exc in self._errors:
            if not isinstance(exc, Interrupted):
                raise exc
        if self._errors:
            raise self._errors[0]
