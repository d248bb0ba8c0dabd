"""The floor of osidump's own restore plan: the C client's ``LOAD DATA LOCAL
INFILE`` of an osidump dump's chunks (``zstd -dc CHUNK | mariadb``), in the
order and on as many sessions as osidump's schedule gives, into tables created
with their primary key only, each table's secondary indexes added after its
last chunk, as osidump does. Nothing is verified (no digest, no row count, no
shadow swap, no view or routine): what is left is the server's bulk-load work
for exactly the rows, order and index builds of an osidump restore, so
osidump's restore over this row is what its own Python costs.

    python -m benchmarks.keys_floor DUMP_DIR TARGET_DB --host H --port P --threads N
"""

from __future__ import annotations

import argparse
import os
import queue
import shlex
import subprocess
import threading

from osidump.engine.config import RestoreConfig
from osidump.engine.format.manifest import load_manifest
from osidump.engine.format.tsv import load_data_sql
from osidump.engine.restore.apply import LOAD_CHECKS
from osidump.engine.restore.plan import ChunkJob, plan_restore
from osidump.engine.storage.base import open_storage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dump")
    parser.add_argument("target")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    storage = open_storage(args.dump)
    manifest = load_manifest(storage)
    plan = plan_restore(
        storage, manifest, RestoreConfig(database=args.target, threads=args.threads)
    )
    client = ["mariadb", "-h", args.host, "-P", str(args.port), "-u", "root"]

    def sql(statements: str, db: str | None = None) -> None:
        subprocess.run([*client, *([db] if db else []), "-e", statements], check=True)

    sql(f"CREATE DATABASE `{args.target}`")
    left: dict[str, int] = {}
    for t in plan.tables:
        sql(t.create.build(t.entry.name, without=t.deferred), args.target)
        left[t.entry.name] = len(t.entry.chunks)
    session = ", ".join(f"{name} = '{value}'" for name, value in plan.session)
    jobs: queue.Queue[ChunkJob] = queue.Queue()
    for job in plan.chunks:
        jobs.put(job)
    lock = threading.Lock()
    failed: list[BaseException] = []

    def loader() -> None:
        while not failed:
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                return
            t = job.table
            load = load_data_sql(t.entry.name, t.columns, file="/dev/stdin")
            command = (
                f"zstd -qdc {shlex.quote(os.path.join(args.dump, job.chunk.path))} | "
                f"{shlex.join([*client, '--local-infile=1', args.target])}"
                f" -e {shlex.quote(f'SET SESSION {session}; {LOAD_CHECKS}; {load}')}"
            )
            try:
                subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True)
                with lock:
                    left[t.entry.name] -= 1
                    last = left[t.entry.name] == 0
                if last and t.index_clauses:
                    adds = ", ".join(f"ADD {clause}" for clause in t.index_clauses)
                    sql(f"ALTER TABLE `{t.entry.name}` {adds}", args.target)
            except BaseException as exc:  # the first failure stops every loader
                failed.append(exc)

    threads = [threading.Thread(target=loader) for _ in range(args.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if failed:
        raise SystemExit(f"keys floor failed: {failed[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
