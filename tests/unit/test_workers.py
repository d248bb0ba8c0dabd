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


def test_a_keyed_job_waits_while_its_key_is_held_and_other_work_goes_first() -> None:
    """Jobs A1, A2 (one key) and B1: the second worker skips A2 for B1 while
    A1 runs, then waits for A1 to end before it takes A2. A1 ends only once B1
    has ended, so without the key the second worker would take A2 first and
    A1 would never see B1 (the control is the timeout below)."""
    cancel = threading.Event()
    events: list[str] = []
    lock = threading.Lock()
    b_done = threading.Event()

    def work(state: None, job: str) -> None:
        with lock:
            events.append(f"start {job}")
        if job == "A1":
            assert b_done.wait(10), "B1 never ran beside A1"
        if job == "B1":
            b_done.set()
        with lock:
            events.append(f"end {job}")

    pool: WorkerPool[None, str] = WorkerPool(
        name="t", count=2, start=lambda i: None, work=work, cancel=cancel
    )
    pool.run(["A1", "A2", "B1"], exclusive=lambda job: job[0])
    assert events.index("start B1") < events.index("end A1")
    assert events.index("end A1") < events.index("start A2")
    assert sorted(e for e in events if e.startswith("end")) == ["end A1", "end A2", "end B1"]


def test_no_two_jobs_of_one_key_ever_run_at_once() -> None:
    cancel = threading.Event()
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    seen: list[int] = []
    lock = threading.Lock()
    keys = ["a", "b", "c", None]

    def key(job: int) -> str | None:
        return keys[job % 4]

    def work(state: None, job: int) -> None:
        k = key(job) or f"none{job}"
        with lock:
            running[k] = running.get(k, 0) + 1
            most[k] = max(most.get(k, 0), running[k])
            seen.append(job)
        for _ in range(2000):  # a little work, so the workers overlap
            pass
        with lock:
            running[k] -= 1

    pool: WorkerPool[None, int] = WorkerPool(
        name="t", count=4, start=lambda i: None, work=work, cancel=cancel
    )
    pool.run(list(range(400)), exclusive=key)
    assert sorted(seen) == list(range(400))
    assert max(most.values()) == 1


def test_a_worker_waiting_for_a_key_stops_when_another_fails() -> None:
    cancel = threading.Event()
    ran: list[str] = []

    def work(state: None, job: str) -> None:
        ran.append(job)
        if job == "A1":
            raise ValueError("boom")

    pool: WorkerPool[None, str] = WorkerPool(
        name="t", count=2, start=lambda i: None, work=work, cancel=cancel
    )
    with pytest.raises(ValueError, match="boom"):
        pool.run(["A1", "A2"], exclusive=lambda job: job[0])
    assert ran == ["A1"] and cancel.is_set()
