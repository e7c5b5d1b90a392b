"""`PatientData`: a patient's rights over what the assistant holds about them, for a staff
member with the permission or the patient through their own link: see what is remembered,
take a copy of everything (export), have it erased (docs/PRIVACY.md). Every call is audited
with who asked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from serving.db.engine import Database
from serving.db.types import utcnow
from serving.memory.records import OutcomeFacts
from serving.memory.service import Memory
from serving.memory.store import MemoryUnavailable
from serving.practice.backend import PracticeBackend
from serving.privacy.erasure import PatientErasure, Receipt, check_patient_id
from serving.privacy.export import PatientExport
from serving.privacy.holdings import patient_phone_key
from serving.privacy.requester import Requester, read_store
from serving.staff.audit import AuditLog

ERASURE_WAIT_SECONDS = 10.0
"""How long an erasure waits for this process's queued memory writes."""


class PatientData:
    def __init__(
        self,
        database: Database,
        *,
        memory: Memory,
        audit: AuditLog,
        backend: PracticeBackend,
        phone_region: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._memory = memory
        self._audit = audit
        self._backend = backend
        self._region = phone_region
        self._export = PatientExport(database, store=memory.store, audit=audit, clock=clock)
        self._erasure = PatientErasure(
            database, store=memory.store, audit=audit, on_erased=memory.forget, clock=clock
        )

    async def remembered(self, requester: Requester, patient_id: int) -> dict[str, Any]:
        """What the assistant recalls before answering the patient, and the conversations and
        patterns it learnt that from; MemoryUnavailable when the store cannot say."""
        check_patient_id(patient_id)
        memory = await self._memory.recall(patient_id)
        if memory is None:  # Memory.recall logged and counted the failure
            raise MemoryUnavailable("the memory store could not be read")
        history = await read_store(self._memory.store.history(patient_id))
        await self._audit.record(requester, "memory.read", patient_id=patient_id)
        return {
            "patient_id": patient_id,
            "conversations": memory.conversations,
            "last_seen": _time(memory.last_seen),
            "language": memory.language,
            "usual_dentist": memory.preferred_provider_name,
            "usual_part_of_day": memory.preferred_part_of_day,
            "recent_outcomes": [_outcome(o) for o in memory.recent_outcomes],
            "open_escalations": list(memory.open_escalations),
            "patterns": dict(sorted(history.patterns.items())),
            "conversation_list": [
                {
                    "id": c.id,
                    "channel": c.channel,
                    "language": c.language,
                    "started_at": _time(c.started_at),
                    "last_at": _time(c.last_at),
                }
                for c in history.conversations
            ],
        }

    async def export(self, requester: Requester, patient_id: int) -> dict[str, Any]:
        check_patient_id(patient_id)
        phone_key = await patient_phone_key(self._backend, patient_id, region=self._region)
        return await self._export.export(requester, patient_id, phone_key=phone_key)

    async def erase(self, requester: Requester, patient_id: int) -> Receipt:
        check_patient_id(patient_id)
        phone_key = await patient_phone_key(self._backend, patient_id, region=self._region)
        # Turns of theirs still queued for the memory writer would put nodes back after the
        # erasure: let this process's queue run dry first (the erasure's second pass on the
        # store catches what is written meanwhile).
        await self._memory.settled(ERASURE_WAIT_SECONDS)
        return await self._erasure.erase(requester, patient_id, phone_key=phone_key)


def _outcome(outcome: OutcomeFacts) -> dict[str, Any]:
    return {
        "kind": outcome.kind,
        "at": _time(outcome.at),
        "dentist": outcome.provider_name,
        "visit_at": _time(outcome.visit_at),
        "escalation_id": outcome.escalation_id,
        "resolved_at": _time(outcome.resolved_at),
    }


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
