"""A returning patient's habits as a soft booking preference: their usual dentist and part of
the day (`PatientMemory`), added to a booking request only where the patient said nothing of
their own. The slot search tries the request with them first; when that finds nothing, the
request as the patient made it is searched as usual (`actions.find_slots`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from serving.conversation.turn import Turn
from serving.memory.recall import PARTS_OF_DAY
from serving.scheduling.request import PART_OF_DAY_WINDOWS, PartOfDay, SlotRequest

REMEMBERED_PARTS = frozenset(name for name, _, _ in PARTS_OF_DAY)
"""The parts of the day memory learns (each a `SlotRequest` part of day)."""


@dataclass(frozen=True)
class Habit:
    request: SlotRequest
    """The patient's request with their habits filled in."""
    words: str
    """The habits as the offer names them: "with Dr. Rivka Mizrahi in the evening"."""


async def habitual_request(turn: Turn, request: SlotRequest) -> Habit | None:
    """`request` with the remembered provider (when it names and declines nobody) and part of
    the day (when it names no hours); None when memory adds nothing to it."""
    memory = turn.memory
    if memory is None:
        return None
    update: dict[str, Any] = {}
    words: list[str] = []
    if memory.preferred_provider_id is not None and not request.provider:
        providers = await turn.providers()
        usual = next((p for p in providers if p.id == memory.preferred_provider_id), None)
        if usual is not None and usual.id not in request.not_providers:
            update["provider"] = usual.name
            name = turn.provider(usual.name, usual.name_he)
            words.append(turn.message("request_provider", provider=name))
    part = memory.preferred_part_of_day
    if part in REMEMBERED_PARTS and not (request.time_from or request.time_to):
        update["time_from"], update["time_to"] = PART_OF_DAY_WINDOWS[cast(PartOfDay, part)]
        words.append(turn.message(f"memory_part_{part}"))
    if not update:
        return None
    return Habit(request=request.model_copy(update=update), words=" ".join(words))
