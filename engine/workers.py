"""A fixed set of worker threads draining one shared job list.

Export and restore both run "N connections, each taking the next job until
none is left"; this is that loop, once. The first error cancels the rest (each
worker stops before its next job; a job checks ``cancel`` itself between
statements), and it is the error re-raised to the caller, not the
``Interrupted`` errors of the workers that stopped because of it.

Workers are awaited through a counter under one condition, never through
``Thread.join``/``is_alive``: on Python 3.10 to 3.12 a ``join`` interrupted by
Ctrl-C marks the thread stopped while it still runs (``_wait_for_tstate_lock``
releases the thread's lock on any exception; fixed in 3.13), so the caller
used to clean up while a worker was still uploading a part, and the upload or
a just-completed object outlived the cleanup. Each worker counts itself in
before its first job and out after its last cleanup; once the pool is closed
no worker counts itself in, so "count is zero" means no worker will touch
storage again.

Jobs may name a key (``exclusive``): two jobs of one key never run at once.
A free worker takes the first job in order whose key no other worker holds,
and waits while every job left waits for a held key. Restore uses it for
tables whose loads the server would serialize anyway (an AUTO_INCREMENT
table on MariaDB), so the second loader does other work instead of sitting
in a lock wait that can time out.

The job list is the plan (metadata, not rows), so its size is bounded by the
plan; rows never queue between threads.
"""

from __future__ import annotations

import functools
import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

from .errors import Interrupted

STOP_TIMEOUT = 60.0  # seconds the workers get to stop after a cancel
_POLL = 0.2  # the calling thread wakes this often, so it stays responsive to signals

S = TypeVar("S")  # per-worker state, e.g. a connection
J = TypeVar("J")  # a job


class _KeyedJobs(Generic[J]):
    """Jobs in their given order, where two jobs of one key are never out at
    once. Taking a job is O(workers * log keys): at most workers - 1 keys are
    held, so at most that many queue heads are skipped."""

    FREE = -1  # the queue of jobs without a key: never held

    def __init__(self, jobs: Sequence[J], key: Callable[[J], Hashable | None]):
        ids: dict[Hashable, int] = {}
        self._queues: dict[int, deque[tuple[int, J]]] = {}
        for position, job in enumerate(jobs):
            k = key(job)
            kid = self.FREE if k is None else ids.setdefault(k, len(ids))
            self._queues.setdefault(kid, deque()).append((position, job))
        self._heads = [(q[0][0], kid) for kid, q in self._queues.items()]
        heapq.heapify(self._heads)
        self._held: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self._queues)

    def take(self) -> tuple[int, J] | None:
        """The first job whose key nobody holds, with its key; None if every
        job left waits for a held key."""
        skipped: list[tuple[int, int]] = []
        found: tuple[int, int] | None = None
        while self._heads:
            head = heapq.heappop(self._heads)
            if head[1] in self._held:
                skipped.append(head)
            else:
                found = head
                break
        for head in skipped:
            heapq.heappush(self._heads, head)
        if found is None:
            return None
        kid = found[1]
        queue = self._queues[kid]
        _, job = queue.popleft()
        if queue:
            heapq.heappush(self._heads, (queue[0][0], kid))
        else:
            del self._queues[kid]
        if kid != self.FREE:
            self._held.add(kid)
        return kid, job

    def release(self, kid: int) -> None:
        self._held.discard(kid)


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
        self._changed = threading.Condition(self._lock)
        self._active = 0  # workers between their count-in and their last cleanup
        self._exited = 0  # workers whose thread function has returned
        self._closed = False  # no worker may count itself in any more

    def run(
        self,
        jobs: Sequence[J],
        *,
        on_interrupt: Callable[[], None] | None = None,
        exclusive: Callable[[J], Hashable | None] | None = None,
    ) -> None:
        """Run every job; raise the first real error. On KeyboardInterrupt in
        the calling thread: cancel, call ``on_interrupt`` (e.g. close sockets so
        blocked reads return), wait until no worker is busy, re-raise.
        ``exclusive``: a job's key, or None; two jobs of one key never run at
        once (the module docstring)."""
        keyed = _KeyedJobs(jobs, exclusive or (lambda job: None))

        def next_job() -> tuple[J, Callable[[], None]] | None:
            with self._changed:
                while keyed and not self.cancel.is_set() and not self._closed:
                    taken = keyed.take()
                    if taken is not None:
                        kid, job = taken
                        return job, functools.partial(self._release, keyed, kid)
                    # Every job left waits for a key another worker holds.
                    self._changed.wait(_POLL)
                return None

        def loop(index: int) -> None:
            try:
                with self._lock:
                    if self._closed:
                        return  # started after an interrupt: touch nothing
                    self._active += 1
                try:
                    self._one_worker(index, next_job)
                finally:
                    with self._changed:
                        self._active -= 1
                        self._changed.notify_all()
            finally:
                with self._changed:
                    self._exited += 1
                    self._changed.notify_all()

        threads = [
            threading.Thread(target=loop, args=(i,), name=f"{self.name}-{i}", daemon=True)
            for i in range(min(self.count, len(jobs)))
        ]
        try:
            # Starting is inside the try: Ctrl-C may arrive between two starts.
            for t in threads:
                t.start()
            with self._changed:
                # A timed wait keeps the calling thread responsive to Ctrl-C.
                while self._exited < len(threads):
                    self._changed.wait(_POLL)
        except BaseException:
            self.cancel.set()
            if on_interrupt is not None:
                on_interrupt()
            # Every worker that took a job finishes its cleanup (aborting
            # half-written files and uploads) before the caller cleans up or
            # the process exits.
            self._await_idle()
            raise
        for exc in self._errors:
            if not isinstance(exc, Interrupted):
                raise exc
        if self._errors:
            raise self._errors[0]

    def _release(self, keyed: _KeyedJobs[J], kid: int) -> None:
        with self._changed:
            keyed.release(kid)
            self._changed.notify_all()

    def _one_worker(
        self, index: int, next_job: Callable[[], tuple[J, Callable[[], None]] | None]
    ) -> None:
        state: S | None = None
        try:
            state = self._start(index)
            while (taken := next_job()) is not None:
                job, release = taken
                try:
                    self._work(state, job)
                finally:
                    release()
        except BaseException as exc:  # handed to the calling thread
            with self._lock:
                self._errors.append(exc)
            self.cancel.set()
        finally:
            if state is not None:
                self._stop(state)

    def _await_idle(self) -> None:
        """Close the pool and wait (at most STOP_TIMEOUT) until no worker is
        busy. A second Ctrl-C does not cut this short: the wait is bounded, and
        leaving early is what left uploads behind."""
        deadline = time.monotonic() + STOP_TIMEOUT
        while True:
            try:
                with self._changed:
                    self._closed = True
                    while self._active and time.monotonic() < deadline:
                        self._changed.wait(_POLL)
                return
            except KeyboardInterrupt:
                continue
