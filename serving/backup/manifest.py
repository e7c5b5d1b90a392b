"""The manifest of a backup set: what it holds, where it came from, and how to check it.

The manifest is stored unencrypted next to the encrypted parts so that every object can be
verified before anything is decrypted; it therefore holds hashes, sizes, counts and versions,
never patient data or secrets.

Schema 2 adds `contents` (`serving.backup.contents`): what the set holds, and so whether it is a
restore point. Schema-1 manifests are still read: their contents are derived from what they
record (a set whose `source.database_engine` is "none" holds no database).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from serving.backup.contents import (
    Contents,
    DatabaseContents,
    build_contents,
    contents_from_dict,
)
from serving.backup.errors import IncompatibleSet, IntegrityFailure

SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)
MANIFEST_NAME = "manifest.json"
HASH_CHUNK_BYTES = 1024 * 1024
NO_DATABASE = "none"
"""`Source.database_engine` of a set made without the database (`--no-database`)."""


@dataclass(frozen=True)
class Part:
    """One file of the set: its plaintext hash and size, and those of its encrypted object."""

    name: str
    kind: str
    sha256: str
    size: int
    object: str
    object_sha256: str
    object_size: int


@dataclass(frozen=True)
class Source:
    """The state of the data the set was taken from."""

    database_engine: str
    snapshot_at: str
    """UTC time the database snapshot is consistent as of; the data's recovery point."""
    transaction_id: str | None
    """PostgreSQL: the exported snapshot's `pg_current_snapshot()`; SQLite: None."""
    newest_record_at: str | None
    row_counts: dict[str, int]


@dataclass(frozen=True)
class Encryption:
    scheme: str
    key_id: str
    recipients: list[str]


@dataclass(frozen=True)
class Manifest:
    schema_version: int
    set_id: str
    app_version: str
    commit: str
    created_at: str
    source: Source
    encryption: Encryption
    parts: list[Part]
    contents: Contents
    dvc: dict[str, Any] = field(default_factory=dict)
    sessions: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Parts not in this set and why (e.g. MLflow on a tracking server backs up itself)."""
    memory: dict[str, Any] = field(default_factory=dict)
    """Where the memory graph is (`serving.backup.memory_graph`): `backend` (sql, neo4j),
    `part` ("database" when its tables are in the database part, its part's name, or None
    when it is not in the set) and, for a graph part, its `counts` of nodes per label and
    `edges`. Empty in sets made without a database or before the graph existed."""

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, where: str) -> Manifest:
        """Parse a manifest; a damaged one is an `IntegrityFailure` naming `where`."""
        try:
            data = json.loads(text)
            source = Source(**data["source"])
            dvc = dict(data.get("dvc", {}))
            sessions = list(data.get("sessions", []))
            memory = dict(data.get("memory", {}))
            contents = (
                contents_from_dict(data["contents"])
                if "contents" in data
                else build_contents(
                    database_contents(source),
                    bundle=None,
                    dvc=dvc,
                    sessions=sessions,
                    memory=memory,
                )
            )
            return cls(
                schema_version=int(data["schema_version"]),
                set_id=str(data["set_id"]),
                app_version=str(data["app_version"]),
                commit=str(data["commit"]),
                created_at=str(data["created_at"]),
                source=source,
                encryption=Encryption(**data["encryption"]),
                parts=[Part(**p) for p in data["parts"]],
                contents=contents,
                dvc=dvc,
                sessions=sessions,
                skipped=dict(data.get("skipped", {})),
                memory=memory,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IntegrityFailure(
                f"{where} is not a readable backup manifest ({type(exc).__name__})"
            ) from None


def database_contents(source: Source) -> DatabaseContents:
    """The `contents.database` section of a set taken from `source`."""
    if source.database_engine == NO_DATABASE:
        return DatabaseContents(present=False)
    return DatabaseContents(True, source.database_engine, source.snapshot_at, source.row_counts)


def describe_contents(manifest: Manifest) -> str:
    """What the set holds, in one short line (for `dental backup list` and reports)."""
    return manifest.contents.describe()


def check_compatible(manifest: Manifest, *, app_version: str, allow_other_version: bool) -> None:
    """Refuse a set this code cannot restore faithfully.

    A schema this code does not know cannot be read. Another app version may have another
    database schema; restoring it with this code could migrate or misread it, so it is refused
    unless the operator says otherwise (the bundle holds the matching code: check it out first).
    """
    if manifest.schema_version not in READABLE_SCHEMAS:
        raise IncompatibleSet(
            f"set {manifest.set_id} has manifest schema {manifest.schema_version}; this "
            f"version of dental-clinic-ai reads schemas "
            f"{', '.join(str(v) for v in READABLE_SCHEMAS)}"
        )
    if manifest.app_version != app_version and not allow_other_version:
        raise IncompatibleSet(
            f"set {manifest.set_id} was made by dental-clinic-ai {manifest.app_version} "
            f"(commit {manifest.commit[:12]}); this is {app_version}. Install the version that "
            "made it (its commit is in the set's git bundle), or pass --allow-other-version"
        )


def new_set_id(now: datetime | None = None) -> str:
    """Sortable by time: `20261130T024500Z-1a2b3c`."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
