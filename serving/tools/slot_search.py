"""Free times that honour a whole `SlotRequest`, or the nearest ones and what could not be met.

`search(backend, request, ...)` resolves the provider the patient named and asks the practice
system for the times that satisfy every constraint (the backend filters by weekday and start
time before its limit, so a late-evening or Friday-only request is not crowded out by earlier
times). When
none does, it relaxes the request one part at a time, in the order a receptionist would ask
("not at that hour, but that day?", "not that day, but soon after?", "someone else?"), and
returns the nearest times that keep the rest, with the parts it had to give up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from serving.practice.backend import PracticeBackend
from serving.practice.errors import InvalidRequest, UnknownProvider
from serving.practice.models import Provider, Slot
from serving.practice.providers import match_providers
from serving.scheduling.request import Constraint, SlotRequest

SEARCH_DAYS = 14
"""Days searched from the first allowed day when the request names no end."""
WIDER_DAYS = 21
"""How far past the requested days the nearest alternatives are looked for."""
MAX_DAYS = 60
"""The longest window asked of the practice system at once (the booking horizon limits how
far ahead it may start)."""
OFFERED = 3
_LIMIT = 100


@dataclass(frozen=True)
class SearchResult:
    slots: list[Slot]
    """Up to `OFFERED` times, spread over the day(s)."""
    unmet: list[Constraint] = field(default_factory=list)
    """What the offered times do not honour; empty when they honour everything."""
    providers: list[Provider] = field(default_factory=list)
    """The providers the request named (empty: anyone, or a name the clinic does not have)."""
    provider_unknown: bool = False
    """The request named someone the clinic does not have."""
    provider_cannot: bool = False
    """The named provider does not do this treatment."""


async def search(
    backend: PracticeBackend,
    request: SlotRequest,
    *,
    providers: Sequence[Provider],
    today: date,
    tz: ZoneInfo,
) -> SearchResult:
    """Times for `request.treatment` (which must be set) honouring `request`; `providers`:
    the clinic's, among whom the one the patient named is looked for."""
    if request.treatment is None:
        raise ValueError("a slot search needs a treatment")
    named: list[Provider] = []
    unknown = False
    if request.provider:
        named = match_providers(request.provider, providers)
        unknown = not named
    allowed = [p for p in named if p.id not in request.not_providers]
    search = _Search(backend, request, today=today, tz=tz)
    ids = [p.id for p in allowed] if named else None
    slots = await search.find(ids, request)
    cannot = bool(ids) and search.refused >= set(ids or ())
    if cannot:
        ids = None  # nobody named does it: look at everyone, and say so
        slots = await search.find(ids, request)
    unmet: list[Constraint] = []
    if unknown or cannot or (named and not allowed):
        unmet.append("provider")
    if not slots:
        slots, relaxed = await search.nearest(ids, request)
        unmet += relaxed
    return SearchResult(
        slots=slots,
        unmet=unmet,
        providers=named,
        provider_unknown=unknown,
        provider_cannot=cannot,
    )


class _Search:
    def __init__(
        self, backend: PracticeBackend, request: SlotRequest, *, today: date, tz: ZoneInfo
    ) -> None:
        self._backend = backend
        self._treatment = request.treatment or ""
        self._today = today
        self._tz = tz
        self.refused: set[int] = set()
        """Providers the practice system said do not do the treatment."""

    async def find(self, ids: list[int] | None, request: SlotRequest) -> list[Slot]:
        first = max(request.date_from or self._today, self._today)
        last = request.date_to or first + timedelta(days=SEARCH_DAYS)
        last = min(max(last, first), first + timedelta(days=MAX_DAYS))
        return await self._days(ids, request, first, last)

    async def nearest(
        self, ids: list[int] | None, request: SlotRequest
    ) -> tuple[list[Slot], list[Constraint]]:
        """The nearest times when nothing honours everything, and the parts given up."""
        wider = request.model_copy(
            update={
                "date_to": (request.date_to or self._today) + timedelta(days=WIDER_DAYS),
            }
        )
        relaxations: list[tuple[list[Constraint], SlotRequest, list[int] | None]] = [
            (["time"], request.model_copy(update={"time_from": None, "time_to": None}), ids),
            (
                ["weekdays"],
                request.model_copy(update={"weekdays": [], "not_weekdays": []}),
                ids,
            ),
            (["dates"], wider, ids),
        ]
        if ids is not None:
            relaxations.append((["provider"], request, None))
        relaxations.append(
            (["dates", "weekdays", "time"], SlotRequest(treatment=request.treatment), ids)
        )
        for given_up, relaxed, who in relaxations:
            if given_up == ["time"] and not (request.time_from or request.time_to):
                continue
            if given_up == ["weekdays"] and not (request.weekdays or request.not_weekdays):
                continue
            slots = await self.find(who, relaxed)
            if slots:
                return slots, [c for c in given_up if _said(request, c)] or given_up
        return [], []

    async def _days(
        self, ids: list[int] | None, request: SlotRequest, first: date, last: date
    ) -> list[Slot]:
        found: list[Slot] = []
        who: list[int | None] = [*ids] if ids else [None]
        for provider_id in who:
            try:
                found += await self._backend.get_available_slots(
                    self._treatment,
                    first,
                    last,
                    provider_id=provider_id,
                    limit=_LIMIT,
                    matching=request,
                )
            except UnknownProvider:
                if provider_id is not None:
                    self.refused.add(provider_id)
            except InvalidRequest:
                continue
        declined = set(request.not_providers)
        return spread([s for s in found if s.provider_id not in declined], OFFERED)


def _said(request: SlotRequest, constraint: Constraint) -> bool:
    if constraint == "time":
        return bool(request.time_from or request.time_to)
    if constraint == "weekdays":
        return bool(request.weekdays or request.not_weekdays)
    if constraint == "dates":
        return bool(request.date_from or request.date_to)
    return True


def spread(slots: Sequence[Slot], count: int) -> list[Slot]:
    """The earliest slot, then ones at least two hours apart, so the choice is real."""
    chosen: list[Slot] = []
    for slot in sorted(slots, key=lambda s: (s.starts_at, s.provider_id)):
        if all(abs(slot.starts_at - c.starts_at) >= timedelta(hours=2) for c in chosen):
            chosen.append(slot)
        if len(chosen) == count:
            break
    return chosen
