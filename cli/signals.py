"""SIGINT, SIGTERM and SIGHUP all stop a command the way Ctrl-C does.

cron, systemd (``systemctl stop``), ``timeout`` and a closed terminal send
SIGTERM or SIGHUP, not SIGINT. Python only turns SIGINT into
KeyboardInterrupt, so without this a SIGTERM killed the process on the spot
and an export left its files behind. Each of the three now raises
:class:`StopSignal`, a KeyboardInterrupt, in the main thread, so every
cleanup written for Ctrl-C (abort uploads, remove partial files, keep resume
state) runs for all of them. The exit code is the shell's 128 + signal number.

SIGINT is handled even when the process inherited it as ignored: a
non-interactive shell starts ``osidump export ... &`` with SIGINT ignored, and
an explicit ``kill -INT`` was then dropped and the export ran to the end (exit
0). An inherited ignored SIGHUP is respected: that is what ``nohup`` asks for.

The first signal starts the cleanup; later ones are reported and do not cut it
short (the cleanup is bounded: workers get at most 60 s), since a cleanup cut
short is what leaves partial objects behind. SIGKILL still stops at once.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
INTERRUPTED = 128 + signal.SIGINT  # 130, also for a plain KeyboardInterrupt


class StopSignal(KeyboardInterrupt):
    """A stop request from a signal; Ctrl-C handling applies unchanged."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_first: int | None = None


def _handler(signum: int, frame: FrameType | None) -> None:
    global _first
    if _first is not None:
        sys.stderr.write(
            f"osidump: {signal.Signals(signum).name} received; still cleaning up after "
            f"{signal.Signals(_first).name} (kill -9 stops at once but leaves files behind)\n"
        )
        return
    _first = signum
    raise StopSignal(signum)


def install() -> None:
    """Route the stop signals through :class:`StopSignal` (main thread only)."""
    global _first
    _first = None
    for signum in HANDLED:
        if signum == signal.SIGHUP and signal.getsignal(signum) == signal.SIG_IGN:
            continue  # nohup
        signal.signal(signum, _handler)


def _stop_signal(exc: BaseException) -> StopSignal | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, StopSignal):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def interrupt_exit_code(exc: BaseException) -> int:
    """128 + the signal that stopped the command (130 for Ctrl-C)."""
    found = _stop_signal(exc)
    return 128 + found.signum if found is not None else INTERRUPTED


def interrupt_name(exc: BaseException) -> str:
    """``Ctrl-C`` or the signal's name, for the one-line message."""
    found = _stop_signal(exc)
    if found is None or found.signum == signal.SIGINT:
        return "Ctrl-C"
    return signal.Signals(found.signum).name
