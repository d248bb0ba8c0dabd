"""Run a restore and SIGKILL this very process when the Nth chunk is opened.

Used by test_resume: a real, uncatchable kill at a known point, with earlier
chunks committed and later ones not, and no timing involved.
Usage: python restore_and_die.py DUMP_DIR HOST PORT TARGET_DB KILL_AT THREADS
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import BinaryIO

from osidump.engine.config import ConnectionConfig, RestoreConfig
from osidump.engine.format.manifest import load_manifest
from osidump.engine.restore.apply import run_restore
from osidump.engine.restore.plan import plan_restore
from osidump.engine.storage.base import LocalStorage


class DieOnNthChunk(LocalStorage):
    def __init__(self, root: str, kill_at: int):
        super().__init__(root)
        self.kill_at = kill_at
        self.opened = 0
        self.lock = threading.Lock()

    def open_read(self, name: str) -> BinaryIO:
        if name.startswith("data/"):
            with self.lock:
                self.opened += 1
                if self.opened == self.kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
        return super().open_read(name)


def main() -> None:
    root, host, port, target, kill_at, threads = sys.argv[1:7]
    storage = DieOnNthChunk(root, int(kill_at))
    config = RestoreConfig(database=target, threads=int(threads))
    plan = plan_restore(storage, load_manifest(storage), config)
    run_restore(ConnectionConfig(host=host, port=int(port), user="root"), config, storage, plan)


if __name__ == "__main__":
    main()
