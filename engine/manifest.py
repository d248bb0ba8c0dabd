"""The manifest: what a dump holds, and the proof that it is complete.

``manifest.json`` is written last, atomically, after every chunk and schema
file has been committed and fsynced. A dump without it is an incomplete dump
for every command. Its format is documented in docs/FORMAT.md; readers refuse
a newer ``format_version`` instead of guessing.

Loading validates everything before any other file is opened: types, counts,
and every path (``storage.validate_name``), so a damaged or hostile manifest
cannot point osidump outside the dump.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from .errors import IncompleteDump, ManifestError, ObjectNotFound
from .storage import Storage, validate_name

MANIFEST_NAME = "manifest.json"
FORMAT_NAME = "osidump-dump"
FORMAT_VERSION = 1


MAX_SEGMENT = 160


def encode_name(identifier: str) -> str:
    """A database or table name as one safe path segment (percent-encoded).

    A 64-character identifier of 3-byte characters percent-encodes to 576
    characters, and two of them would make a chunk name longer than S3's
    1024-byte key limit; long encodings are cut (never inside a %XX) and made
    unique again with a digest of the identifier. The manifest records every
    path, so names are never decoded."""
    encoded = quote(identifier, safe="")
    encoded = encoded.replace(".", "%2E").replace("~", "%7E")
    if len(encoded) > MAX_SEGMENT:
        cut = encoded[: MAX_SEGMENT - 18]
        if "%" in cut[-2:]:
            cut = cut[: cut.rindex("%")]
        digest = hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:16]
        encoded = f"{cut}-{digest}"
    return encoded or "%00"


def table_dir(schema: str, table: str) -> str:
    return f"data/{encode_name(schema)}/{encode_name(table)}"


def schema_file_name(schema: str) -> str:
    return f"schema/{encode_name(schema)}.json"


@dataclass(frozen=True, kw_only=True)
class ChunkEntry:
    index: int
    path: str
    rows: int
    raw_bytes: int  # decompressed size
    stored_bytes: int  # size of the stored (compressed) file
    sha256: str  # of the stored bytes
    content_sha256: str  # of the decompressed bytes
    lower: list[Any] | None = None  # inclusive key bound, None = unbounded
    upper: list[Any] | None = None  # exclusive key bound, None = unbounded


@dataclass(frozen=True, kw_only=True)
class ColumnEntry:
    name: str
    type: str
    generated: bool = False


@dataclass(frozen=True, kw_only=True)
class TableEntry:
    name: str
    columns: list[ColumnEntry]
    key: list[str]
    key_kind: str  # "primary" | "unique" | "none"
    chunks: list[ChunkEntry]

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.chunks)

    @property
    def raw_bytes(self) -> int:
        return sum(c.raw_bytes for c in self.chunks)

    @property
    def stored_bytes(self) -> int:
        return sum(c.stored_bytes for c in self.chunks)


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    path: str
    sha256: str
    bytes: int


@dataclass(frozen=True, kw_only=True)
class DatabaseEntry:
    name: str
    schema_file: FileEntry
    tables: list[TableEntry]
    views: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    routines: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def table(self, name: str) -> TableEntry:
        for t in self.tables:
            if t.name == name:
                return t
        raise ObjectNotFound(f"table {self.name}.{name} is not in this dump")


@dataclass(frozen=True, kw_only=True)
class SnapshotInfo:
    consistency: str  # the mode used: "lock" | "snapshot-check" | "single"
    reason: str  # why this mode (auto's choice, or "requested")
    workers: int
    binlog_file: str | None = None
    binlog_position: int | None = None
    gtid_executed: str | None = None
    lock_held_ms: float | None = None
    attempts: int = 1


@dataclass(frozen=True, kw_only=True)
class Manifest:
    tool_version: str
    started_at: str
    finished_at: str
    server_flavor: str
    server_version: str
    snapshot: SnapshotInfo
    session: dict[str, str]
    options: dict[str, Any]
    databases: list[DatabaseEntry]
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    status: str = "complete"

    def database(self, name: str) -> DatabaseEntry:
        for d in self.databases:
            if d.name == name:
                return d
        raise ObjectNotFound(f"database {name} is not in this dump")

    def all_paths(self) -> list[str]:
        paths = []
        for d in self.databases:
            paths.append(d.schema_file.path)
            for t in d.tables:
                paths.extend(c.path for c in t.chunks)
        return paths

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=1, sort_keys=False) + "\n").encode("utf-8")


# --- loading, with validation -------------------------------------------------


def _req(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ManifestError(f"manifest is missing {where}.{key}")
    value = obj[key]
    if kind is int and isinstance(value, bool):
        raise ManifestError(f"manifest field {where}.{key} has the wrong type")
    if not isinstance(value, kind):
        raise ManifestError(f"manifest field {where}.{key} has the wrong type")
    return value


def _opt(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise ManifestError(f"manifest field {where}.{key} has the wrong type")
    return value


def _hex64(value: str, where: str) -> str:
    if len(value) != 64 or any(ch not in "0123456789abcdef" for ch in value):
        raise ManifestError(f"manifest field {where} is not a sha256 digest")
    return value


def _count(obj: Any, key: str, where: str) -> int:
    value: int = _req(obj, key, int, where)
    if value < 0:
        raise ManifestError(f"manifest field {where}.{key} is negative")
    return value


def _chunk(raw: Any, where: str) -> ChunkEntry:
    return ChunkEntry(
        index=_count(raw, "index", where),
        path=validate_name(_req(raw, "path", str, where)),
        rows=_count(raw, "rows", where),
        raw_bytes=_count(raw, "raw_bytes", where),
        stored_bytes=_count(raw, "stored_bytes", where),
        sha256=_hex64(_req(raw, "sha256", str, where), f"{where}.sha256"),
        content_sha256=_hex64(_req(raw, "content_sha256", str, where), f"{where}.content_sha256"),
        lower=_opt(raw, "lower", list, where),
        upper=_opt(raw, "upper", list, where),
    )


def _table(raw: Any, where: str) -> TableEntry:
    name = _req(raw, "name", str, where)
    where = f"{where}[{name}]"
    columns = [
        ColumnEntry(
            name=_req(c, "name", str, f"{where}.columns"),
            type=_req(c, "type", str, f"{where}.columns"),
            generated=bool(c.get("generated", False)),
        )
        for c in _req(raw, "columns", list, where)
    ]
    chunks = [_chunk(c, f"{where}.chunks") for c in _req(raw, "chunks", list, where)]
    key = _req(raw, "key", list, where)
    if not all(isinstance(k, str) for k in key):
        raise ManifestError(f"manifest field {where}.key has the wrong type")
    kind = _req(raw, "key_kind", str, where)
    if kind not in ("primary", "unique", "none"):
        raise ManifestError(f"manifest field {where}.key_kind is unknown: {kind!r}")
    return TableEntry(name=name, columns=columns, key=key, key_kind=kind, chunks=chunks)


def _names(raw: dict[str, Any], key: str, where: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(f"manifest field {where}.{key} has the wrong type")
    return value


def _database(raw: Any) -> DatabaseEntry:
    name = _req(raw, "name", str, "databases")
    where = f"databases[{name}]"
    sf = _req(raw, "schema_file", dict, where)
    return DatabaseEntry(
        name=name,
        schema_file=FileEntry(
            path=validate_name(_req(sf, "path", str, where)),
            sha256=_hex64(_req(sf, "sha256", str, where), f"{where}.schema_file.sha256"),
            bytes=_count(sf, "bytes", where),
        ),
        tables=[_table(t, where) for t in _req(raw, "tables", list, where)],
        views=_names(raw, "views", where),
        triggers=_names(raw, "triggers", where),
        routines=_names(raw, "routines", where),
        events=_names(raw, "events", where),
    )


def parse_manifest(data: bytes) -> Manifest:
    """Parse and validate manifest bytes; raises ManifestError on any problem."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(
            f"manifest.json is not valid JSON ({exc.__class__.__name__} at byte "
            f"{getattr(exc, 'pos', getattr(exc, 'start', '?'))}): truncated or damaged",
        ) from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise ManifestError("manifest.json is not an osidump manifest")
    version = _req(raw, "format_version", int, "manifest")
    if version > FORMAT_VERSION:
        raise ManifestError(
            f"dump format version {version} is newer than this osidump understands "
            f"({FORMAT_VERSION})",
            hint="upgrade osidump to read this dump",
        )
    if version < 1:
        raise ManifestError(f"unknown dump format version {version}")
    if raw.get("status") != "complete":
        raise IncompleteDump(f"manifest status is {raw.get('status')!r}, not complete")
    snap = _req(raw, "snapshot", dict, "manifest")
    manifest = Manifest(
        tool_version=_req(raw, "tool_version", str, "manifest"),
        started_at=_req(raw, "started_at", str, "manifest"),
        finished_at=_req(raw, "finished_at", str, "manifest"),
        server_flavor=_req(raw, "server_flavor", str, "manifest"),
        server_version=_req(raw, "server_version", str, "manifest"),
        snapshot=SnapshotInfo(
            consistency=_req(snap, "consistency", str, "snapshot"),
            reason=_req(snap, "reason", str, "snapshot"),
            workers=_count(snap, "workers", "snapshot"),
            binlog_file=_opt(snap, "binlog_file", str, "snapshot"),
            binlog_position=_opt(snap, "binlog_position", int, "snapshot"),
            gtid_executed=_opt(snap, "gtid_executed", str, "snapshot"),
            lock_held_ms=_opt(snap, "lock_held_ms", (int, float), "snapshot"),
            attempts=int(snap.get("attempts", 1)),
        ),
        session=_req(raw, "session", dict, "manifest"),
        options=_req(raw, "options", dict, "manifest"),
        databases=[_database(d) for d in _req(raw, "databases", list, "manifest")],
    )
    seen: set[str] = set()
    for path in manifest.all_paths():
        if path in seen or path == MANIFEST_NAME:
            raise ManifestError(f"manifest names {path} twice")
        seen.add(path)
    return manifest


def load_manifest(storage: Storage) -> Manifest:
    """The validated manifest of the dump in ``storage``.

    No manifest means an export that never finished (or not a dump at all):
    IncompleteDump, whatever else is there.
    """
    if not storage.exists(MANIFEST_NAME):
        if storage.list():
            raise IncompleteDump(
                f"{storage.describe()} has no manifest.json: the export did not finish",
                hint="this dump is incomplete and unusable; take a new export",
            )
        raise ObjectNotFound(
            f"no dump at {storage.describe()}", hint="check the path or s3:// location"
        )
    return parse_manifest(storage.get(MANIFEST_NAME))
