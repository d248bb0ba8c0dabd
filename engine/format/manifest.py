"""The manifest: what a dump holds, and the proof that it is complete.

``manifest.json`` is written last, atomically, after every chunk and schema
file has been committed and fsynced. A dump without it is an incomplete dump
for every command. Its format is documented in docs/FORMAT.md; readers refuse
a newer ``format_version`` instead of guessing.

Loading validates everything before any other file is opened: types, counts,
and every path (``storage.validate_name``), so a damaged or hostile manifest
cannot point osidump outside the dump. With verify keys, the signature
(``manifest.json.sig``, ``seal.signing``) is checked on the exact bytes read
before they are even parsed.

An encrypted dump (``encryption`` set: age recipients) records nothing taken
from the rows in the clear: no key-range bounds and no digest of the plaintext
(see docs/SECURITY.md); its digests and sizes are of the stored ciphertext.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from ..errors import IncompleteDump, ManifestError, ObjectNotFound
from ..seal.signing import MAX_SIGNATURE_FILE, SIGNATURE_NAME, VerifyKey, verify_manifest
from ..storage.base import Storage, validate_name

MANIFEST_NAME = "manifest.json"
USERS_NAME = "users.json"  # export --users: accounts, roles and grants (users_file.py)
MAX_ACCOUNTS = 1_000_000
FORMAT_NAME = "osidump-dump"
FORMAT_VERSION = 2  # 1: SQL INSERT chunks (osidump 0.1); 2: LOAD DATA rows
READABLE_VERSIONS = (1, 2)
# Chunk file names end in the encoding: version 1 ".sql.zst", version 2 ".tsv.zst".
CHUNK_SUFFIX = {1: ".sql.zst", 2: ".tsv.zst"}
COLUMN_KINDS = ("number", "bit", "temporal", "text", "json", "binary", "other")
MAX_ROW_LIMIT = 1 << 30  # no row can be larger than the server's largest packet
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
# An age X25519 recipient: "age1" and 58 Bech32 characters (pyrage checks the rest).
_AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
ENCRYPTION_SCHEMES = ("age",)
MAX_RECIPIENTS = 64


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
    sha256: str  # of the stored bytes (the ciphertext, when encrypted)
    content_sha256: str | None  # of the decompressed bytes; None when encrypted
    # Key bounds (None = unbounded; always None when encrypted: they are row values)
    lower: list[Any] | None = None  # inclusive key bound
    upper: list[Any] | None = None  # exclusive key bound
    max_row_bytes: int | None = None  # longest row, newline included (version 2)


@dataclass(frozen=True, kw_only=True)
class ColumnEntry:
    name: str
    type: str
    generated: bool = False
    kind: str | None = None  # how the value is encoded and loaded (version 2; rows.py)


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
    # Objects of the database the export did not take, with the reason
    # ("view v: reads table t, which is not in the dump").
    left_out: list[str] = field(default_factory=list)

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
class Encryption:
    """How every chunk, schema file and users.json is encrypted: one age file each, to
    these X25519 recipients (public keys, ``age1...``)."""

    scheme: str  # "age"
    recipients: list[str]


@dataclass(frozen=True, kw_only=True)
class UsersEntry:
    """The dump's accounts, roles and grants (``export --users``): one file,
    ``users.json``, and how many accounts it holds."""

    file: FileEntry
    accounts: int


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
    encryption: Encryption | None = None  # None: chunks and schema files are plaintext
    users: UsersEntry | None = None  # None: exported without --users

    @property
    def encoding(self) -> str:
        """How chunks hold rows: "sql" (version 1) or "tsv" (version 2)."""
        return "sql" if self.format_version == 1 else "tsv"

    def database(self, name: str) -> DatabaseEntry:
        for d in self.databases:
            if d.name == name:
                return d
        raise ObjectNotFound(f"database {name} is not in this dump")

    def all_paths(self) -> list[str]:
        paths = [self.users.file.path] if self.users is not None else []
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


def _list(raw: Any, key: str, where: str) -> list[Any]:
    value: list[Any] = _req(raw, key, list, where)
    return value


def _bound(raw: dict[str, Any], key: str, where: str) -> list[str] | None:
    value: list[str] | None = _opt(raw, key, list, where)
    if value is not None and not all(isinstance(v, str) for v in value):
        raise ManifestError(f"manifest field {where}.{key} has the wrong type")
    return value


def _content_digest(raw: dict[str, Any], where: str, encrypted: bool) -> str | None:
    """The plaintext digest: required in a plaintext dump, absent in an
    encrypted one (it would let a reader confirm a guess of a chunk's rows)."""
    if encrypted:
        if raw.get("content_sha256") is not None:
            raise ManifestError(f"manifest field {where}.content_sha256 is set, but encrypted")
        return None
    return _hex64(_req(raw, "content_sha256", str, where), f"{where}.content_sha256")


def _chunk(raw: Any, where: str, version: int, position: int, encrypted: bool) -> ChunkEntry:
    if not isinstance(raw, dict):
        raise ManifestError(f"manifest field {where} is not an object")
    if encrypted and (raw.get("lower") is not None or raw.get("upper") is not None):
        raise ManifestError(f"manifest field {where} has key bounds, which are null when encrypted")
    path = validate_name(_req(raw, "path", str, where))
    if not path.endswith(CHUNK_SUFFIX[version]):
        raise ManifestError(f"manifest names chunk {path} with the wrong file type")
    entry = ChunkEntry(
        index=_count(raw, "index", where),
        path=path,
        rows=_count(raw, "rows", where),
        raw_bytes=_count(raw, "raw_bytes", where),
        stored_bytes=_count(raw, "stored_bytes", where),
        sha256=_hex64(_req(raw, "sha256", str, where), f"{where}.sha256"),
        content_sha256=_content_digest(raw, where, encrypted),
        lower=_bound(raw, "lower", where),
        upper=_bound(raw, "upper", where),
        max_row_bytes=_count(raw, "max_row_bytes", where) if version >= 2 else None,
    )
    if entry.index != position:
        raise ManifestError(f"manifest field {where}.index is {entry.index}, expected {position}")
    if version >= 2:
        assert entry.max_row_bytes is not None
        if entry.rows > entry.raw_bytes or entry.max_row_bytes > MAX_ROW_LIMIT:
            raise ManifestError(f"manifest field {where} has impossible sizes")
        if entry.rows and not 1 <= entry.max_row_bytes <= entry.raw_bytes:
            raise ManifestError(f"manifest field {where}.max_row_bytes is impossible")
    return entry


def _column(raw: Any, where: str, version: int) -> ColumnEntry:
    if not isinstance(raw, dict):
        raise ManifestError(f"manifest field {where} is not an object")
    generated = raw.get("generated", False)
    if not isinstance(generated, bool):
        raise ManifestError(f"manifest field {where}.generated has the wrong type")
    kind = _opt(raw, "kind", str, where)
    if version >= 2 and not generated and kind not in COLUMN_KINDS:
        raise ManifestError(f"manifest field {where}.kind is unknown: {kind!r}")
    name = _req(raw, "name", str, where)
    if not name or len(name) > 64:
        raise ManifestError(f"manifest field {where}.name is not a column name")
    return ColumnEntry(
        name=name, type=_req(raw, "type", str, where), generated=generated, kind=kind
    )


def _identifier(value: str, where: str) -> str:
    if not value or len(value) > 64 or "\x00" in value:
        raise ManifestError(f"manifest field {where} is not a valid name")
    return value


def _table(raw: Any, where: str, version: int, encrypted: bool) -> TableEntry:
    name = _identifier(_req(raw, "name", str, where), f"{where}.name")
    where = f"{where}[{name}]"
    columns = [_column(c, f"{where}.columns", version) for c in _list(raw, "columns", where)]
    names = [c.name for c in columns]
    if not columns or len(set(names)) != len(names):
        raise ManifestError(f"manifest field {where}.columns is empty or names a column twice")
    if all(c.generated for c in columns):
        raise ManifestError(f"manifest field {where}.columns has no stored column")
    chunks = [
        _chunk(c, f"{where}.chunks", version, i, encrypted)
        for i, c in enumerate(_list(raw, "chunks", where))
    ]
    key = _req(raw, "key", list, where)
    if not all(isinstance(k, str) and k in names for k in key):
        raise ManifestError(f"manifest field {where}.key names a column the table does not have")
    kind = _req(raw, "key_kind", str, where)
    if kind not in ("primary", "unique", "none"):
        raise ManifestError(f"manifest field {where}.key_kind is unknown: {kind!r}")
    return TableEntry(name=name, columns=columns, key=key, key_kind=kind, chunks=chunks)


def _names(raw: dict[str, Any], key: str, where: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(f"manifest field {where}.{key} has the wrong type")
    return value


def _database(raw: Any, version: int, encrypted: bool) -> DatabaseEntry:
    name = _identifier(_req(raw, "name", str, "databases"), "databases.name")
    where = f"databases[{name}]"
    sf = _req(raw, "schema_file", dict, where)
    tables = [_table(t, where, version, encrypted) for t in _list(raw, "tables", where)]
    if len({t.name for t in tables}) != len(tables):
        raise ManifestError(f"manifest lists a table of {name} twice")
    return DatabaseEntry(
        name=name,
        schema_file=FileEntry(
            path=validate_name(_req(sf, "path", str, where)),
            sha256=_hex64(_req(sf, "sha256", str, where), f"{where}.schema_file.sha256"),
            bytes=_count(sf, "bytes", where),
        ),
        tables=tables,
        views=_names(raw, "views", where),
        triggers=_names(raw, "triggers", where),
        routines=_names(raw, "routines", where),
        events=_names(raw, "events", where),
        left_out=_names(raw, "left_out", where),
    )


# Fields osidump writes from the server's own answers, with their shapes: a
# dump is untrusted, and to-sql and inspect --replica-setup print these next
# to SQL, so a line break or a quote here must never pass for a real value.
_FIELD_SHAPES = {
    "server_flavor": re.compile(r"(mariadb|mysql)\Z"),
    "consistency": re.compile(r"(lock|snapshot-check|single)\Z"),
    "server_version": re.compile(r"[\w.+~-]{1,100}\Z", re.ASCII),
    "tool_version": re.compile(r"[\w.+~-]{1,100}\Z", re.ASCII),
    "binlog_file": re.compile(r"[\w.+-]{1,512}\Z", re.ASCII),
    # MySQL writes ",\n" between UUID sets; 8.3+ tags are letters and _.
    "gtid_executed": re.compile(r"[\w:,\s-]{0,65536}\Z", re.ASCII),
}


def _shaped(value: Any, key: str, where: str) -> Any:
    if value is not None and not _FIELD_SHAPES[key].match(value):
        raise ManifestError(
            f"manifest field {where}.{key} is not what a server reports: {value[:40]!r}"
        )
    return value


def _time(raw: dict[str, Any], key: str) -> str:
    value: str = _req(raw, key, str, "manifest")
    if not _TIMESTAMP.match(value):
        raise ManifestError(f"manifest field {key} is not a UTC timestamp: {value[:40]!r}")
    return value


def _options(raw: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = _req(raw, "options", dict, "manifest")
    for key in ("databases", "tables", "exclude_tables", "include_users", "exclude_users"):
        value = options.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ManifestError(f"manifest field options.{key} has the wrong type")
    for key in ("all_databases", "users"):
        if not isinstance(options.get(key, False), bool):
            raise ManifestError(f"manifest field options.{key} has the wrong type")
    # Export filters (recorded for people; restore never runs them).
    table_where = options.get("table_where", [])
    if (
        not isinstance(options.get("where") or "", str)
        or not isinstance(options.get("no_data", False), bool)
        or not isinstance(table_where, list)
        or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p)
            for p in table_where
        )
    ):
        raise ManifestError("manifest field options.where/table_where/no_data has the wrong type")
    return options


def _encryption(raw: dict[str, Any]) -> Encryption | None:
    value = raw.get("encryption")
    if value is None:
        return None
    scheme = _req(value, "scheme", str, "encryption")
    if scheme not in ENCRYPTION_SCHEMES:
        raise ManifestError(f"manifest field encryption.scheme is unknown: {scheme[:20]!r}")
    recipients = _list(value, "recipients", "encryption")
    if not 1 <= len(recipients) <= MAX_RECIPIENTS or not all(
        isinstance(r, str) and _AGE_RECIPIENT.match(r) for r in recipients
    ):
        raise ManifestError("manifest field encryption.recipients is not a list of age recipients")
    return Encryption(scheme=scheme, recipients=list(recipients))


def _exact_keys(raw: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ManifestError(f"manifest field {where} is not an object")
    if set(raw) != keys:
        odd = sorted(set(raw) ^ keys)[0]
        raise ManifestError(f"manifest field {where} has an unknown or missing field {odd[:40]!r}")
    return raw


def _users(raw: dict[str, Any], options: dict[str, Any]) -> UsersEntry | None:
    """The users file, present exactly when the export was asked for users
    (``options.users``); its fields are checked like every other, and no
    field beyond them is accepted."""
    value = raw.get("users")
    if value is None:
        if options.get("users") is True:
            raise ManifestError("manifest field options.users is set, but no users file is listed")
        return None
    if options.get("users") is not True:
        raise ManifestError("manifest lists a users file, but options.users is not set")
    value = _exact_keys(value, {"file", "accounts"}, "users")
    f = _exact_keys(value["file"], {"path", "sha256", "bytes"}, "users.file")
    if _req(f, "path", str, "users.file") != USERS_NAME:
        raise ManifestError(f"manifest field users.file.path is not {USERS_NAME}")
    accounts = _count(value, "accounts", "users")
    if accounts > MAX_ACCOUNTS:
        raise ManifestError("manifest field users.accounts is impossible")
    return UsersEntry(
        file=FileEntry(
            path=USERS_NAME,
            sha256=_hex64(_req(f, "sha256", str, "users.file"), "users.file.sha256"),
            bytes=_count(f, "bytes", "users.file"),
        ),
        accounts=accounts,
    )


def parse_manifest(data: bytes) -> Manifest:
    """Parse and validate manifest bytes; raises ManifestError on any problem."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except RecursionError as exc:
        raise ManifestError("manifest.json is nested too deeply to be a manifest") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(
            f"manifest.json is not valid JSON ({exc.__class__.__name__} at byte "
            f"{getattr(exc, 'pos', getattr(exc, 'start', '?'))}): truncated or damaged",
        ) from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise ManifestError("manifest.json is not an osidump manifest")
    version: int = _req(raw, "format_version", int, "manifest")
    if version > FORMAT_VERSION:
        raise ManifestError(
            f"dump format version {version} is newer than this osidump understands "
            f"({FORMAT_VERSION})",
            hint="upgrade osidump to read this dump",
        )
    if version not in READABLE_VERSIONS:
        raise ManifestError(f"unknown dump format version {version}")
    if raw.get("status") != "complete":
        raise IncompleteDump(f"manifest status is {raw.get('status')!r}, not complete")
    snap = _req(raw, "snapshot", dict, "manifest")
    session = _req(raw, "session", dict, "manifest")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in session.items()):
        raise ManifestError("manifest field session has the wrong type")
    encryption = _encryption(raw)
    encrypted = encryption is not None
    options = _options(raw)
    manifest = Manifest(
        tool_version=_shaped(
            _req(raw, "tool_version", str, "manifest"), "tool_version", "manifest"
        ),
        started_at=_time(raw, "started_at"),
        finished_at=_time(raw, "finished_at"),
        server_flavor=_shaped(
            _req(raw, "server_flavor", str, "manifest"), "server_flavor", "manifest"
        ),
        server_version=_shaped(
            _req(raw, "server_version", str, "manifest"), "server_version", "manifest"
        ),
        snapshot=SnapshotInfo(
            consistency=_shaped(
                _req(snap, "consistency", str, "snapshot"), "consistency", "snapshot"
            ),
            reason=_req(snap, "reason", str, "snapshot"),
            workers=_count(snap, "workers", "snapshot"),
            binlog_file=_shaped(
                _opt(snap, "binlog_file", str, "snapshot"), "binlog_file", "snapshot"
            ),
            binlog_position=_opt(snap, "binlog_position", int, "snapshot"),
            gtid_executed=_shaped(
                _opt(snap, "gtid_executed", str, "snapshot"), "gtid_executed", "snapshot"
            ),
            lock_held_ms=_opt(snap, "lock_held_ms", (int, float), "snapshot"),
            attempts=_count(snap, "attempts", "snapshot") if "attempts" in snap else 1,
        ),
        session=session,
        options=options,
        databases=[
            _database(d, version, encrypted) for d in _req(raw, "databases", list, "manifest")
        ],
        format_version=version,
        encryption=encryption,
        users=_users(raw, options),
    )
    if len({d.name for d in manifest.databases}) != len(manifest.databases):
        raise ManifestError("manifest lists a database twice")
    seen: set[str] = set()
    for path in manifest.all_paths():
        if path in seen or path == MANIFEST_NAME:
            raise ManifestError(f"manifest names {path} twice")
        seen.add(path)
    return manifest


def load_manifest(storage: Storage, *, verify_keys: Sequence[VerifyKey] = ()) -> Manifest:
    """The validated manifest of the dump in ``storage``.

    No manifest means an export that never finished (or not a dump at all):
    IncompleteDump, whatever else is there. With ``verify_keys``, the bytes
    read must carry a signature by one of them (``manifest.json.sig``), checked
    before they are parsed and before any other object of the dump is opened:
    SignatureError (exit 5) for an unsigned or wrongly signed dump.
    """
    if not storage.exists(MANIFEST_NAME):
        if storage.list():
            raise IncompleteDump(
                f"{storage.describe()} has no manifest.json: the export did not finish,"
                " so nothing proves its files complete",
                hint="take a new export; to salvage rows by hand see 'Recovering rows from an"
                " incomplete dump' in docs/FORMAT.md",
            )
        raise ObjectNotFound(
            f"no dump at {storage.describe()}", hint="check the path or s3:// location"
        )
    data = read_bounded(storage, MANIFEST_NAME, MAX_MANIFEST_BYTES)
    if verify_keys:
        verify_manifest(data, read_signature(storage), verify_keys)
    return parse_manifest(data)


def read_signature(storage: Storage) -> bytes | None:
    """The dump's ``manifest.json.sig``, or None if it has none. A file larger
    than any signature is returned cut, for ``verify_manifest`` to refuse."""
    try:
        with storage.open_read(SIGNATURE_NAME) as stream:
            data: bytes = stream.read(MAX_SIGNATURE_FILE + 1)
            return data
    except ObjectNotFound:
        return None


# Manifests and schema files are parsed whole, so their size bounds the memory
# a hostile one can take: 64 MiB is ~120,000 chunks (7 TB of rows at the
# default chunk size; larger dumps want a larger --chunk-size), 16 MiB ~10,000
# tables with their objects.
MAX_MANIFEST_BYTES = 64 << 20
MAX_SCHEMA_BYTES = 16 << 20


def read_bounded(storage: Storage, name: str, limit: int) -> bytes:
    """A whole small object (manifest, schema file), refusing one larger than
    ``limit`` without reading it all."""
    with storage.open_read(name) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise ManifestError(f"{name} is larger than {limit >> 20} MiB: not an osidump file")
    return data
