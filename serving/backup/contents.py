"""What a backup set holds, as its manifest's `contents` section (manifest schema 2).

A set either holds a database, and is a restore point, or it does not (the CI job backs up the
repository and sessions on every push, with no app database), and is code only: restore and
the drill never take a code-only set for the clinic's latest state. The section records
versions, counts, output paths and session ids, never patient data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RESTORE_POINT = "restore_point"
CODE_ONLY = "code_only"


@dataclass(frozen=True)
class DatabaseContents:
    """The database part: whether the set has one, and as of when and how many rows."""

    present: bool
    engine: str | None = None
    snapshot_at: str | None = None
    row_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GraphContents:
    """Where the memory graph is: `part` is "database" (its tables are in the database part)
    or the graph part's name."""

    backend: str
    part: str


@dataclass(frozen=True)
class Contents:
    kind: str
    """`restore_point` (the set holds a database) or `code_only`."""
    database: DatabaseContents
    bundle: str | None
    """The prompts bundle at the backed-up commit (`name@version+hash`); None if it had none
    or the set predates schema 2."""
    dvc_pushed: bool
    dvc_outputs: list[str] | None
    """DVC outputs whose data was pushed with the set; None when not recorded (schema 1)."""
    sessions: list[str]
    """Ids of the AI development sessions exported into the set."""
    memory_graph: GraphContents | None

    @property
    def holds_database(self) -> bool:
        return self.database.present

    def describe(self) -> str:
        """One short line, e.g. `restore point: sqlite database as of ... (1,234 rows);
        bundle ...; 2 DVC outputs; 1 session export; memory graph in the database`."""
        database = self.database
        if database.present:
            rows = sum(database.row_counts.values())
            head = (
                f"restore point: {database.engine} database as of {database.snapshot_at} "
                f"({rows:,} rows)"
            )
        else:
            head = "code only: no database"
        items = [head, f"bundle {self.bundle}" if self.bundle else "no prompts bundle"]
        if not self.dvc_pushed:
            items.append("no DVC data")
        elif self.dvc_outputs is None:
            items.append("DVC data pushed")
        else:
            items.append(_count(len(self.dvc_outputs), "DVC output"))
        items.append(_count(len(self.sessions), "session export"))
        if self.memory_graph is not None:
            where = "in the database" if self.memory_graph.part == "database" else "as a part"
            items.append(f"memory graph ({self.memory_graph.backend}) {where}")
        return "; ".join(items)


def build_contents(
    database: DatabaseContents,
    *,
    bundle: str | None,
    dvc: Mapping[str, Any],
    sessions: list[str],
    memory: Mapping[str, Any],
) -> Contents:
    """The section from what a manifest records elsewhere (`dvc`, `sessions`, `memory`): the
    same for a new set and for reading a schema-1 manifest, which has no `contents`."""
    outputs = dvc.get("outputs")
    part = memory.get("part")
    return Contents(
        kind=RESTORE_POINT if database.present else CODE_ONLY,
        database=database,
        bundle=bundle,
        dvc_pushed=bool(dvc.get("remotes")),
        dvc_outputs=None if outputs is None else [str(o) for o in outputs],
        sessions=list(sessions),
        memory_graph=GraphContents(str(memory["backend"]), str(part)) if part else None,
    )


def contents_from_dict(data: Mapping[str, Any]) -> Contents:
    """A schema-2 manifest's `contents`; a malformed one raises KeyError, TypeError or
    ValueError (the manifest reader names the file)."""
    kind = str(data["kind"])
    if kind not in (RESTORE_POINT, CODE_ONLY):
        raise ValueError(f"unknown set kind {kind!r}")
    database = DatabaseContents(**data["database"])
    if (kind == RESTORE_POINT) != database.present:
        raise ValueError(f"kind {kind!r} contradicts database.present={database.present}")
    graph = data.get("memory_graph")
    outputs = data.get("dvc_outputs")
    return Contents(
        kind=kind,
        database=database,
        bundle=None if data.get("bundle") is None else str(data["bundle"]),
        dvc_pushed=bool(data["dvc_pushed"]),
        dvc_outputs=None if outputs is None else [str(o) for o in outputs],
        sessions=[str(s) for s in data.get("sessions", [])],
        memory_graph=GraphContents(**graph) if graph else None,
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
