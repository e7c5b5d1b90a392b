"""The per-turn context message every agent sees: who is asking, in which language, what the
dialogue is waiting for. The offline model reads it as data; an LLM reads it as text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage

from serving.conversation.turn import Turn
from serving.memory.records import PatientMemory

MARKER = "<context>"


@dataclass(frozen=True)
class TurnContext:
    agent: str
    language: str
    today: date
    verified: bool
    urgency: str
    pending: str | None
    offer_refs: tuple[str, ...]
    awaiting_treatment: bool
    draft_treatment: str | None
    providers: tuple[str, ...] = ()
    """The clinic's providers' names, English and Hebrew: who a patient may ask for."""
    memory: dict[str, Any] | None = None
    """What is remembered of the verified patient (`memory_summary`); None: nothing."""

    def to_message(self) -> SystemMessage:
        data = {
            "agent": self.agent,
            "language": self.language,
            "today": self.today.isoformat(),
            "weekday": self.today.strftime("%A"),
            "identity_verified": self.verified,
            "urgency": self.urgency,
            "pending_confirmation": self.pending,
            "offered_slot_refs": list(self.offer_refs),
            "awaiting_treatment": self.awaiting_treatment,
            "treatment_in_progress": self.draft_treatment,
            "clinic_providers": list(self.providers),
            "patient_memory": self.memory,
        }
        return SystemMessage(f"{MARKER}{json.dumps(data)}</context>")

    def for_agent(self, agent: str) -> TurnContext:
        return TurnContext(**{**self.__dict__, "agent": agent})

    @classmethod
    def of_turn(
        cls, turn: Turn, *, agent: str, urgency: str, providers: Sequence[str] = ()
    ) -> TurnContext:
        offer = turn.state.offer
        return cls(
            agent=agent,
            language=turn.language,
            today=turn.now.astimezone(turn.tz).date(),
            verified=turn.patient is not None,
            urgency=urgency,
            pending=turn.state.pending.action if turn.state.pending else None,
            offer_refs=tuple(offer.ref(i) for i in range(len(offer.slots))) if offer else (),
            awaiting_treatment=turn.state.awaiting_treatment,
            draft_treatment=turn.state.draft.treatment,
            providers=tuple(providers),
            memory=memory_summary(turn.memory),
        )

    @classmethod
    def find(cls, messages: list[BaseMessage]) -> TurnContext | None:
        for message in messages:
            content = message.content
            if (
                isinstance(message, SystemMessage)
                and isinstance(content, str)
                and content.startswith(MARKER)
            ):
                data: dict[str, Any] = json.loads(content[len(MARKER) : -len("</context>")])
                return cls(
                    agent=data["agent"],
                    language=data["language"],
                    today=date.fromisoformat(data["today"]),
                    verified=data["identity_verified"],
                    urgency=data["urgency"],
                    pending=data["pending_confirmation"],
                    offer_refs=tuple(data["offered_slot_refs"]),
                    awaiting_treatment=data["awaiting_treatment"],
                    draft_treatment=data["treatment_in_progress"],
                    providers=tuple(data.get("clinic_providers", ())),
                    memory=data.get("patient_memory"),
                )
        return None


def memory_summary(memory: PatientMemory | None) -> dict[str, Any] | None:
    """The few remembered facts a model may use: who the patient usually sees and when,
    whether they have been here before, how many of their questions a dentist still has."""
    if memory is None:
        return None
    return {
        "usual_dentist": memory.preferred_provider_name,
        "usual_part_of_day": memory.preferred_part_of_day,
        "returning": memory.returning,
        "open_escalations": len(memory.open_escalations),
    }
