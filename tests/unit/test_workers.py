"""WorkerPool: the calling thread never returns while a worker is still busy,
even when Ctrl-C interrupts its wait (Python 3.10-3.12's interrupted
Thread.join reported running threads as dead)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest
from osidump.engine.errors import Interrupted
from osidump.engine.workers import WorkerPool


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt here, even if the test run inherited it
    as ignored (a background job of a non-interactive shell)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_waits_for_the_busy_worker(sigint_raises: None) -> None:
    cancel = threading.Event()
    finished: list[str] = []

    def work(_state: None, job: str) -> None:
        if job == "upload":
            time.sleep(0.3)  # let the calling thread reach its wait for the workers
            # A real signal, so the calling thread's wait is interrupted inside
            # a lock acquire (where the 3.10-3.12 join bug lived).
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            assert cancel.wait(30), "the calling thread never saw the interrupt"
            time.sleep(0.5)  # the slow part upload still in flight after Ctrl-C
            finished.append(job)

    pool: WorkerPool[None, str] = WorkerPool(
        name="t", count=1, start=lambda i: None, work=work, cancel=cancel
    )
    interrupted: list[bool] = []
    with pytest.raises(KeyboardInterrupt):
        pool.run(["upload"], on_interrupt=lambda: interrupted.append(True))
    assert interrupted == [True]
    assert finished == ["upload"], "run() returned while a worker was still uploading"


def test_a_worker_error_cancels_the_rest_and_is_raised() -> None:
    cancel = threading.Event()
    done: list[int] = []

    def work(_state: None, job: int) -> None:
        if job == 0:
            raise ValueError("boom")
        if cancel.is_set():
            raise Interrupted("cancelled")
        done.append(job)

    pool: WorkerPool[None, int] = WorkerPool(name="t", count=1, start=lambda i: None, work=work, cancel=cancel)
    with pytest.raises(ValueError, match="boom"):
        pool.run(list(range(5)))
    assert done == [] and cancel.is_set()


def test_every_job_runs_once_and_stop_is_called_per_worker() -> None:
    cancel = threading.Event()
    seen: list[int] = []
    stopped: list[int] = []
    lock = threading.Lock()

    def work(state: int, job: int) -> None:
        with lock:
            seen.append(job)

    pool: WorkerPool[int, int] = WorkerPool(
        name="t", count=3, start=lambda i: i, work=work, stop=stopped.append, cancel=cancel
    )
    pool.run(list(range(100)))
    assert sorted(seen) == list(range(100))
    assert sorted(stopped) == [0, 1, 2]
