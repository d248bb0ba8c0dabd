"""``verify``: check a dump without a server.

Every schema file and every chunk is read in full: present, sha256 of the
stored bytes, digest of the decompressed content, sizes, row count and the
statement shape. All problems are collected (not just the first), so the
report names every damaged chunk.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .chunk_reader import ChunkReader
from .errors import OsidumpError
from .manifest import ChunkEntry, Manifest, load_manifest
from .storage import Storage


@dataclass
class TableReport:
    database: str
    table: str
    chunks: int
    rows: int
    stored_bytes: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class VerifyReport:
    manifest: Manifest
    tables: list[TableReport]
    problems: list[str]  # dump-level: schema files

    @property
    def ok(self) -> bool:
        return not self.problems and all(t.ok for t in self.tables)

    def all_problems(self) -> list[str]:
        return self.problems + [p for t in self.tables for p in t.problems]


def _check_chunk(storage: Storage, db: str, table: str, chunk: ChunkEntry) -> str | None:
    label = f"{db}.{table} chunk {chunk.index} ({chunk.path})"
    reader = ChunkReader(storage, chunk, table=table, label=label)
    try:
        for _ in reader.statements():
            pass
        reader.check()
    except OsidumpError as exc:
        return exc.message
    return None


def verify_dump(storage: Storage, *, threads: int = 2) -> VerifyReport:
    manifest = load_manifest(storage)  # raises for missing / invalid manifests
    problems: list[str] = []
    for db in manifest.databases:
        entry = db.schema_file
        try:
            data = storage.get(entry.path)
        except OsidumpError as exc:
            problems.append(f"schema file {entry.path}: {exc.message}")
            continue
        if hashlib.sha256(data).hexdigest() != entry.sha256 or len(data) != entry.bytes:
            problems.append(f"schema file {entry.path} does not match the manifest's sha256")
    reports: list[TableReport] = []
    jobs: list[tuple[TableReport, ChunkEntry]] = []
    for db in manifest.databases:
        for t in db.tables:
            report = TableReport(db.name, t.name, len(t.chunks), t.rows, t.stored_bytes)
            reports.append(report)
            jobs.extend((report, c) for c in t.chunks)
    lock = threading.Lock()

    def run(job: tuple[TableReport, ChunkEntry]) -> None:
        report, chunk = job
        problem = _check_chunk(storage, report.database, report.table, chunk)
        if problem:
            with lock:
                report.problems.append(problem)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(run, jobs))
    for r in reports:
        r.problems.sort()
    return VerifyReport(manifest=manifest, tables=reports, problems=problems)
