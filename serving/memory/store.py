"""`MemoryStore`: the one protocol of both graph stores, SQL tables in the app database
(`MEMORY_BACKEND=sql`, the default) and Neo4j over Bolt (`MEMORY_BACKEND=neo4j`). One contract
suite (tests/test_memory_contract.py) holds both to the same answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from serving.memory.records import GraphExport, PatientHistory, PatternOutcomes, TurnFacts


class MemoryUnavailable(Exception):
    """The store could not be reached or refused the request (a message safe to log)."""


class MemoryStore(Protocol):
    kind: str
    """"sql" or "neo4j"."""

    async def prepare(self) -> None:
        """Create what the store needs before its first write (constraints and indexes on
        Neo4j; the SQL tables come with the app database's migrations). Idempotent."""

    async def record(self, facts: TurnFacts) -> None:
        """Add one turn's (or an escalation close's) facts; an upsert by id."""

    async def history(self, patient_id: int, *, limit: int = 50) -> PatientHistory:
        """The patient's conversations and outcomes, newest first, at most `limit` of each."""

    async def pattern_outcomes(
        self, *, since: datetime, idle_before: datetime
    ) -> list[PatternOutcomes]:
        """Per pattern matched by a patient message at or after `since`, sorted by name."""

    async def export(self, patient_id: int) -> GraphExport:
        """Every node and edge the store holds about the patient: the Patient, their
        Conversations, Messages and Outcomes, and the edges between them and to Pattern and
        Doctor nodes (which are shared and not the patient's own)."""

    async def erase(self, patient_id: int, conversation_ids: Sequence[str] = ()) -> int:
        """Remove the Patient, their conversations (HAD, and `conversation_ids` whether bound
        or not), those conversations' messages and outcomes. Returns the nodes removed."""

    async def clear(self) -> None:
        """Remove everything (before a rebuild or a restore)."""

    async def dump(self) -> GraphExport:
        """The whole graph, for a backup."""

    async def load(self, graph: GraphExport) -> None:
        """Write a dump back (after `clear`): a restore."""

    async def counts(self) -> dict[str, int]:
        """Nodes per label, for checks and the drill."""

    async def close(self) -> None: ...
