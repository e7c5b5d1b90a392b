"""LangChain tools over `serving.tools.actions`, for both agent architectures.

The turn (verified patient, backend, dialogue state) reaches a tool through the run's config
(`configurable["turn"]`), never through its arguments: nothing a model writes can choose
whose data a tool touches. Tools return JSON `{"kind", "text"}`; `text` is ready for the
patient, in their language.
"""

from __future__ import annotations

import json
from datetime import date, time
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, tool
from pydantic import BaseModel, Field

from serving.conversation.turn import Turn
from serving.scheduling.request import PART_OF_DAY_WINDOWS, PartOfDay, SlotRequest, Weekday
from serving.tools import actions
from serving.tools.actions import ActionResult

TURN_KEY = "turn"


def turn_of(config: RunnableConfig) -> Turn:
    turn = config.get("configurable", {}).get(TURN_KEY)
    if not isinstance(turn, Turn):
        raise RuntimeError("tools run only inside an assistant turn")
    return turn


def _out(turn: Turn, result: ActionResult) -> str:
    turn.actions.append(result.kind)
    return json.dumps({"kind": result.kind, "text": result.text}, ensure_ascii=False)


def _day(value: str | None) -> date | None:
    """A model's date argument, or None when it is not an ISO date (never an error)."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@tool
async def clinic_info(
    topic: Literal[
        "hours", "address", "parking", "prices", "duration", "insurance", "payment", "all"
    ],
    config: RunnableConfig,
    treatment: str | None = None,
    day: str | None = None,
) -> str:
    """The clinic's own information on one topic (or all): opening hours, address, parking,
    treatment prices, how long a treatment's appointment is (duration), accepted insurance
    plans, payment methods. For the price or duration of one treatment, give its code as
    `treatment` (cleaning, checkup, filling, root_canal, extraction, whitening,
    implant_consultation, emergency_visit); leave it out for the whole list. For the hours of
    one day, give that day as an ISO date in `day`."""
    turn = turn_of(config)
    result = await actions.clinic_info(
        turn, None if topic == "all" else topic, treatment=treatment, day=_day(day)
    )
    return _out(turn, result)


@tool
async def list_treatments(config: RunnableConfig) -> str:
    """The treatments that can be booked, offered to the patient as buttons."""
    turn = turn_of(config)
    return _out(turn, await actions.list_treatments(turn))


class SlotRequestArgs(BaseModel):
    """What the patient asked for, as the booking tools take it (docs/BOOKING_REQUESTS.md).
    Leave out what the patient did not say; each message's fields refine the earlier ones."""

    provider: str | None = Field(
        default=None,
        description="The dentist or hygienist the patient named, as written: a name, surname, "
        'title or role ("Dr. Mizrahi", "רבקה", "hygienist").',
    )
    date_from: str | None = Field(default=None, description="First acceptable day, ISO date.")
    date_to: str | None = Field(default=None, description="Last acceptable day, ISO date.")
    weekdays: list[Weekday] | None = Field(
        default=None, description='Only these weekdays (e.g. ["thu"] for Thursdays).'
    )
    not_weekdays: list[Weekday] | None = Field(
        default=None, description='Never these weekdays ("not Sunday": ["sun"]).'
    )
    time_from: str | None = Field(
        default=None,
        description="Start at or after this clinic-local time, HH:MM (after 5pm: 17:00).",
    )
    time_to: str | None = Field(
        default=None, description="Start before this clinic-local time, HH:MM (before 10: 10:00)."
    )
    part_of_day: PartOfDay | None = Field(
        default=None, description="A part of the day, when no hours were given."
    )
    later: bool = Field(default=False, description="Later in the day than the times offered.")
    earlier: bool = Field(default=False, description="Earlier than the times offered.")
    other_provider: bool = Field(
        default=False, description="Someone else than the provider(s) of the times offered."
    )
    new_request: bool = Field(
        default=False,
        description="True when the patient starts a new request rather than changing the last.",
    )


class FindSlotsArgs(SlotRequestArgs):
    treatment: str | None = Field(
        default=None,
        description="Treatment code: cleaning, checkup, filling, root_canal, extraction, "
        "whitening, implant_consultation, emergency_visit.",
    )


def _request(args: SlotRequestArgs, treatment: str | None = None) -> SlotRequest:
    """The request a model wrote; a value it got wrong (a date that is not ISO, a time out of
    order) is left out rather than failing the turn."""
    start, end = _clock(args.time_from), _clock(args.time_to)
    if args.part_of_day and not (start or end):
        start, end = PART_OF_DAY_WINDOWS[args.part_of_day]
    first, last = _day(args.date_from), _day(args.date_to)
    if first and last and last < first:
        last = None
    if start and end and end <= start:
        end = None
    return SlotRequest(
        treatment=treatment,
        provider=args.provider or None,
        date_from=first,
        date_to=last,
        weekdays=args.weekdays or [],
        not_weekdays=args.not_weekdays or [],
        time_from=start,
        time_to=end,
    )


def _clock(value: str | None) -> time | None:
    try:
        return time.fromisoformat(value) if value else None
    except ValueError:
        return None


@tool(args_schema=FindSlotsArgs)
async def find_slots(config: RunnableConfig, **arguments: Any) -> str:
    """Find up to 3 free times for a treatment that honour everything the patient asked for
    (provider, days, weekdays, hours); they are offered as buttons. When nothing matches, the
    result says what could not be met and offers the nearest times."""
    turn = turn_of(config)
    args = FindSlotsArgs.model_validate(arguments)
    result = await actions.find_slots(
        turn,
        _request(args, args.treatment),
        later=args.later,
        earlier=args.earlier,
        other_provider=args.other_provider,
        new_request=args.new_request,
    )
    return _out(turn, result)


@tool
async def propose_booking(slot_ref: str, config: RunnableConfig) -> str:
    """Ask the patient to confirm one offered slot, by its reference (e.g. "3fa2b1c0.2")."""
    turn = turn_of(config)
    return _out(turn, await actions.propose_booking(turn, slot_ref))


@tool
async def confirm_pending(config: RunnableConfig) -> str:
    """Carry out the booking, move or cancellation the patient has just confirmed."""
    turn = turn_of(config)
    return _out(turn, await actions.confirm_pending(turn))


@tool
async def decline_pending(config: RunnableConfig) -> str:
    """Drop the action awaiting confirmation; nothing changes."""
    turn = turn_of(config)
    return _out(turn, await actions.decline_pending(turn))


@tool
async def my_appointments(config: RunnableConfig) -> str:
    """The patient's upcoming appointments."""
    turn = turn_of(config)
    return _out(turn, await actions.my_appointments(turn))


@tool(args_schema=SlotRequestArgs)
async def start_reschedule(config: RunnableConfig, **arguments: Any) -> str:
    """Start moving the patient's appointment: offers new times that honour what the patient
    asked for (or asks which appointment)."""
    turn = turn_of(config)
    args = SlotRequestArgs.model_validate(arguments)
    return _out(turn, await actions.start_reschedule(turn, _request(args)))


@tool
async def start_cancellation(config: RunnableConfig) -> str:
    """Start cancelling the patient's appointment: asks them to confirm (or which one)."""
    turn = turn_of(config)
    return _out(turn, await actions.start_cancellation(turn))


@tool
async def my_invoices(config: RunnableConfig) -> str:
    """The patient's invoices and the balance due."""
    turn = turn_of(config)
    return _out(turn, await actions.my_invoices(turn))


@tool
async def invoice_details(invoice_number: str, config: RunnableConfig) -> str:
    """The lines and totals of one of the patient's invoices, e.g. INV/2026/0042."""
    turn = turn_of(config)
    return _out(turn, await actions.invoice_details(turn, invoice_number))


@tool
async def my_treatment_plan(config: RunnableConfig) -> str:
    """The patient's treatment plan as it is on file (each treatment, its tooth and how far it
    is) and what of it is booked next. Facts only: what a treatment is for, or whether it is
    needed, is a question for the dentist."""
    turn = turn_of(config)
    return _out(turn, await actions.my_treatment_plan(turn))


@tool
async def my_allergies(config: RunnableConfig) -> str:
    """The allergies on the patient's file, as recorded (substance, reaction, severity). Never
    say what a patient may take or avoid: that is for the dentist."""
    turn = turn_of(config)
    return _out(turn, await actions.my_allergies(turn))


@tool
async def my_notes(config: RunnableConfig) -> str:
    """The notes the clinic wrote for the patient to read (reminders, what to bring). Staff
    notes are never shown."""
    turn = turn_of(config)
    return _out(turn, await actions.my_notes(turn))


@tool
async def escalate_to_dentist(summary: str, config: RunnableConfig, staff: bool = False) -> str:
    """Ask a dentist (or, with staff=true, the front desk) to join this chat. The summary is
    one factual line of what the patient asked, without interpretation."""
    turn = turn_of(config)
    return _out(turn, await actions.escalate_to_dentist(turn, summary, staff=staff))


@tool
def transfer_to_sarah() -> str:
    """Hand this message to Sarah: booking, moving, cancelling or looking up appointments, and
    the patient's treatment plan (what is planned and booked next)."""
    return "sarah"


@tool
def transfer_to_yosef() -> str:
    """Hand this message to Yosef: invoices, balances and payments."""
    return "yosef"


@tool
def transfer_to_michal() -> str:
    """Hand this message to Michal: symptoms, medication or after-care questions, a wish to
    talk to a dentist or a person, and reading out the allergies on the patient's file or the
    notes the clinic left for the patient."""
    return "michal"


SCHEDULING: list[BaseTool] = [
    list_treatments,
    find_slots,
    propose_booking,
    confirm_pending,
    decline_pending,
    my_appointments,
    start_reschedule,
    start_cancellation,
]
BILLING: list[BaseTool] = [my_invoices, invoice_details]
MEDICAL_RECORD: list[BaseTool] = [my_allergies, my_notes]
"""The record a dentist explains: read out by Michal, who keeps the medical boundaries."""
ALL_TOOLS: list[BaseTool] = [
    clinic_info,
    *SCHEDULING,
    my_treatment_plan,
    *BILLING,
    *MEDICAL_RECORD,
    escalate_to_dentist,
]
TEAM_TOOLS: dict[str, list[BaseTool]] = {
    "dana": [transfer_to_sarah, transfer_to_yosef, transfer_to_michal, clinic_info],
    "sarah": [*SCHEDULING, my_treatment_plan, clinic_info],
    "yosef": [*BILLING, escalate_to_dentist],
    "michal": [*MEDICAL_RECORD, escalate_to_dentist, clinic_info],
}
TRANSFERS = {
    "transfer_to_sarah": "sarah",
    "transfer_to_yosef": "yosef",
    "transfer_to_michal": "michal",
}
