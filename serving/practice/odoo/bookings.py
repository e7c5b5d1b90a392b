"""Appointments written to Odoo's calendar so that none is double-booked or half-made.

Odoo has no transaction that spans calls, and another booking (the assistant in another
process, reception in Odoo) may take the same time between the check and the write. So an
event is written, then the time is read again: when any other busy event of the provider or
the patient overlaps it, ours yields, a new event removed, a moved one moved back. Ids say
nothing about who came first (reception's bookings, a moved event keeping its old id, ids
taken at insert rather than commit), so two racing bookings may both yield: one slot is then
refused twice, but never booked twice. A write whose answer is lost may still be carried out
by Odoo: a new event is found by its booking reference and removed, a move undone, after
waiting out the call's timeout. An undo that fails is tried once more; if that fails too, the
event is logged for an operator to remove and the caller told Odoo is unavailable.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from serving.practice.booking import (
    JUST_TAKEN,
    PATIENT_BUSY,
    TAKEN,
    bookable_until,
    most_telling,
    overlaps,
    with_closures,
)
from serving.practice.errors import (
    AppointmentNotFound,
    ClinicClosed,
    OutsideWorkingHours,
    PracticeError,
    PracticeUnavailable,
    SlotUnavailable,
)
from serving.practice.odoo.client import OdooClient
from serving.practice.odoo.connection import MissingRecord, OdooUnreachable
from serving.practice.odoo.schedule import OdooProvider, read_busy, read_events
from serving.practice.odoo.setup_cache import OdooSetup
from serving.scheduling.slots import BookingRules

log = logging.getLogger(__name__)

EVENT_CONTEXT = {"no_mail_to_attendees": True, "mail_create_nolog": True}
"""Odoo would e-mail every attendee an invitation, the patient included."""
BOOKING_REFERENCE = "dental-booking:"
UNDO_RETRY_SECONDS = 1.0
"""How long to wait before trying a failed undo once more."""


def booking_reference() -> str:
    """A new booking's reference, written in its event's description."""
    return f"{BOOKING_REFERENCE}{uuid.uuid4()}"


async def first_bookable(
    client: OdooClient,
    setup: OdooSetup,
    providers: Sequence[OdooProvider],
    starts_at: datetime,
    duration: timedelta,
    patient_id: int,
    *,
    rules: BookingRules,
    now: datetime,
    exclude_event: int | None,
) -> tuple[OdooProvider, datetime]:
    """The first provider free at `starts_at`; the most telling refusal otherwise. The
    clinic's own rules are checked first, so a refused time costs no call to Odoo."""
    day = starts_at.astimezone(rules.calendar.tz).date()
    refusals: list[SlotUnavailable] = []
    open_ones = []
    for provider in providers:
        try:
            bookable_until(
                starts_at=starts_at,
                duration=duration,
                windows=provider.windows_on(day),
                rules=rules,
                now=now,
            )
        except (OutsideWorkingHours, ClinicClosed) as closed:
            refusals.append(closed)
            continue
        open_ones.append(provider)
    if not open_ones:
        raise most_telling(refusals)
    ends_at = starts_at + duration
    busy, closures = await read_busy(
        client,
        start=starts_at,
        end=ends_at,
        providers=open_ones,
        resource_users=setup.resource_users,
        patient_ids=[patient_id],
        exclude_event=exclude_event,
        tz=rules.calendar.tz,
    )
    with_leaves = with_closures(rules, closures)
    for provider in open_ones:
        try:
            bookable_until(
                starts_at=starts_at,
                duration=duration,
                windows=provider.windows_on(day),
                rules=with_leaves,
                now=now,
            )
        except ClinicClosed as closed:
            refusals.append(closed)
            continue
        if overlaps(starts_at, ends_at, busy.partners.get(patient_id, [])):
            raise SlotUnavailable(PATIENT_BUSY)
        if not overlaps(starts_at, ends_at, busy.providers.get(provider.id, [])):
            return provider, ends_at
        refusals.append(SlotUnavailable(TAKEN))
    raise most_telling(refusals)


class CalendarWrites:
    """Creates, moves and cancels appointment events, checked as the module says."""

    def __init__(self, client: OdooClient, tz: ZoneInfo) -> None:
        self._client = client
        self._tz = tz

    async def create(
        self,
        values: dict[str, Any],
        reference: str,
        *,
        provider: OdooProvider,
        patient_id: int,
        starts_at: datetime,
        ends_at: datetime,
    ) -> int:
        """The new event's id; `values` carry `reference` in the description."""
        try:
            event_id: int = await self._client.call(
                "calendar.event", "create", [values], {"context": EVENT_CONTEXT}
            )
        except OdooUnreachable as lost:
            if lost.maybe_done:
                await self._remove_booking(reference)
            raise
        await self._yield_to_others(
            event_id, provider, patient_id, starts_at, ends_at, reference=reference
        )
        return event_id

    async def move(
        self,
        event_id: int,
        before: dict[str, Any],
        after: dict[str, Any],
        *,
        provider: OdooProvider,
        patient_id: int,
        starts_at: datetime,
        ends_at: datetime,
    ) -> None:
        """Write `after` on the event; `before` puts it back."""
        try:
            await self._write(event_id, after)
        except MissingRecord:
            raise _gone(event_id) from None
        except OdooUnreachable as lost:
            if lost.maybe_done:
                # Odoo may still make the move: wait it out, then move the event back.
                await asyncio.sleep(self._client.timeout)
                await self._undo(event_id, before)
            raise
        await self._yield_to_others(event_id, provider, patient_id, starts_at, ends_at, undo=before)

    async def cancel(self, event_id: int, reason: str | None) -> None:
        """Archive the event, with a note on it saying why."""
        try:
            await self._write(event_id, {"active": False})
        except MissingRecord:
            raise _gone(event_id) from None
        note = "Cancelled through the assistant" + (f": {reason}" if reason else ".")
        try:
            await self._client.call(
                "calendar.event",
                "message_post",
                [[event_id]],
                {"body": note, "message_type": "comment", "subtype_xmlid": "mail.mt_note"},
            )
        except PracticeError as error:
            # The appointment is cancelled; only the note saying why is missing.
            log.warning("cancelled event %s without its note (%s)", event_id, type(error).__name__)

    async def _write(self, event_id: int, values: dict[str, Any]) -> None:
        await self._client.call(
            "calendar.event", "write", [[event_id], values], {"context": EVENT_CONTEXT}
        )

    async def _yield_to_others(
        self,
        event_id: int,
        provider: OdooProvider,
        patient_id: int,
        starts_at: datetime,
        ends_at: datetime,
        *,
        undo: dict[str, Any] | None = None,
        reference: str | None = None,
    ) -> None:
        """Read the time again; yield to any other overlapping busy event of the provider or
        the patient (`undo` puts a moved event back; None: remove the new one)."""
        try:
            rivals = await read_events(
                self._client,
                start=starts_at,
                end=ends_at,
                user_ids=[provider.id],
                partner_ids=[provider.partner_id, patient_id],
                tz=self._tz,
            )
        except PracticeError as error:
            await self._undo(event_id, undo, reference)
            if isinstance(error, PracticeUnavailable):
                raise
            raise PracticeUnavailable(
                "Odoo failed while checking a booking; nothing was booked"
            ) from None
        if any(row["id"] != event_id for row in rivals):
            await self._undo(event_id, undo, reference)
            raise SlotUnavailable(JUST_TAKEN)

    async def _undo(
        self, event_id: int, before: dict[str, Any] | None, reference: str | None = None
    ) -> None:
        """Remove a new event (`before` None), or put a moved one back; tried twice. When both
        fail the booking may be half-made: logged for an operator, PracticeUnavailable."""
        failure = ""
        for wait in (0.0, UNDO_RETRY_SECONDS):
            await asyncio.sleep(wait)
            try:
                if before is None:
                    await self._client.call("calendar.event", "unlink", [[event_id]])
                else:
                    await self._write(event_id, before)
            except MissingRecord:
                return  # removed meanwhile: nothing left to undo
            except PracticeError as error:
                failure = type(error).__name__
                continue
            return
        log.error(
            "could not undo a booking in Odoo (%s): remove or move back calendar.event %s "
            "(booking reference %s)",
            failure,
            event_id,
            reference or "none: a moved appointment",
        )
        raise PracticeUnavailable("Odoo failed while undoing a booking; the clinic will check it")

    async def _remove_booking(self, reference: str) -> None:
        """Remove the event carrying a booking reference: a create whose answer was lost.
        Odoo may still be making it, so when none is there yet, look once more later."""
        try:
            for wait in (0.0, self._client.timeout):
                await asyncio.sleep(wait)
                rows = await self._client.call(
                    "calendar.event",
                    "search_read",
                    [[("description", "ilike", reference)]],
                    {"fields": ["id"], "context": {"active_test": False}},
                )
                if rows:
                    await self._client.call("calendar.event", "unlink", [[r["id"] for r in rows]])
                    return
        except PracticeError as error:
            log.error("a booking may be half-made in Odoo (%s): %s", reference, error)


def _gone(event_id: int) -> AppointmentNotFound:
    """An event removed in Odoo since it was read."""
    return AppointmentNotFound(f"no appointment {event_id} for this patient")
