"""The order the restore's loaders take chunks in: an estimate of each
chunk's load cost, then a list schedule that keeps every loader busy to the end.

The loaders (``apply.py``) take chunks from one queue in this order, each the
next one when it is free, and the loader that commits a table's last chunk
builds that table's secondary indexes. The server does the work (on the
benchmark's 2 cores it used 9.5 of the 11.7 core-seconds a restore took), so a
restore ends early only if no loader idles while another still has work: the
order decides that. The old order (round-robin over the tables, largest first)
put the last chunk of the one indexed table near the end, and its index build
then ran alone while the other loader had nothing left (0.5 of 5.6 s in a
trace).

The schedule is simulated with ``threads`` loaders over estimated costs:
whenever a loader is free, it takes the next chunk of the table with the most
work left, counting the table's index build as part of it (critical path
first), so an index build starts while other tables still have chunks to
overlap it, and the small pieces of work come last to fill the gaps. Between
tables with about as much work left, one that no other loader is on wins:
on MariaDB the server takes one LOAD DATA at a time into a table with an
AUTO_INCREMENT column (apply.py keeps a second loader off it), so loaders
spread over tables are loaders that never wait.

Estimated costs, fitted on the benchmark's tables (MariaDB 10.11, 2 cores;
per-row work dominates narrow rows, per-byte work wide ones): a chunk costs
``rows * ROW_COST + raw_bytes * BYTE_COST``, an index build
``rows * INDEX_ROW_COST`` per deferred index. Only their ratios matter; a
wrong estimate makes a worse order, never a wrong restore.

Memory: one entry per chunk.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # plan.py builds the jobs and calls schedule()
    from .plan import ChunkJob, TablePlan

ROW_COST = 2.5e-6  # seconds per row (order_items: 1M rows, 51 MB, 3.5 s)
BYTE_COST = 2.4e-8  # seconds per raw byte (documents: 17K rows, 42 MB, 1.0 s)
INDEX_ROW_COST = 0.6e-6  # seconds per row per deferred index (orders: 450K rows, 2, 0.5 s)
# Tables whose work left is within this fraction of the most are "about as much".
NEAR = 0.5


def chunk_cost(job: ChunkJob) -> float:
    return job.chunk.rows * ROW_COST + job.chunk.raw_bytes * BYTE_COST


def index_cost(table: TablePlan) -> float:
    """The deferred index build after the table's last chunk (none when
    loading straight into the target's tables)."""
    if table.direct:
        return 0.0
    count = len(table.index_clauses)
    return table.entry.rows * INDEX_ROW_COST * count


@dataclass
class _Queue:
    jobs: deque[ChunkJob]  # in key order
    left: float  # estimated work: the chunks not yet taken, and the index build
    position: int  # in the tables' given order, which breaks ties
    loading_until: float = 0.0  # a loader is on this table until then

    def key(self) -> tuple[float, int]:
        return (-self.left, self.position)


def schedule(tables: Sequence[Sequence[ChunkJob]], threads: int) -> list[ChunkJob]:
    """Every job of ``tables`` (each table's chunk jobs, in key order) once,
    in the order the loaders should take them; each table's chunks stay in
    key order. O(chunks * threads * log tables): a dump of 10,000 tables
    plans in well under a second."""
    waiting: list[tuple[tuple[float, int], _Queue]] = []  # heap: most work left first
    for position, jobs in enumerate(tables):
        if jobs:
            left = sum(map(chunk_cost, jobs)) + index_cost(jobs[0].table)
            q = _Queue(deque(jobs), left, position)
            waiting.append((q.key(), q))
    heapq.heapify(waiting)
    order: list[ChunkJob] = []
    loaders = max(threads, 1)
    free = [(0.0, n) for n in range(loaders)]  # (free at, loader)
    while waiting:
        now, loader = heapq.heappop(free)
        # The table with the most work left, unless another loader is on it
        # and a table with about as much is free: at most loaders - 1 tables
        # are busy, so one of the first ``loaders`` is free if any near one is.
        looked = [heapq.heappop(waiting)[1] for _ in range(min(loaders, len(waiting)))]
        most = looked[0].left
        alone = [q for q in looked if q.loading_until <= now and q.left >= most * NEAR]
        chosen = alone[0] if alone else looked[0]
        job = chosen.jobs.popleft()
        took = chunk_cost(job)
        if not chosen.jobs:
            took += index_cost(job.table)
        chosen.left -= took
        chosen.loading_until = now + took
        order.append(job)
        heapq.heappush(free, (now + took, loader))
        for q in looked:
            if q.jobs:
                heapq.heappush(waiting, (q.key(), q))
    return order
