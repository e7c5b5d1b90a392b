"""LangChain tools over `serving.tools.actions`, for both agent architectures.

The turn (verified patient, backend, dialogue state) reaches a tool through the run's config
(`configurable["turn"]`), never through its arguments: nothing a model writes can choose
whose data a tool touches. Tools return JSON `{"kind", "text"}`; `text` is ready for the
patient, in their language.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Literal

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, tool

from serving.conversation.turn import Turn
from serving.tools import actions
from serving.tools.actions import ActionResult, PartOfDay

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


@tool
async def find_slots(
    treatment: str,
    config: RunnableConfig,
    date_from: str | None = None,
    date_to: str | None = None,
    part_of_day: PartOfDay | None = None,
) -> str:
    """Find up to 3 free times for a treatment code (cleaning, checkup, filling, root_canal,
    extraction, whitening, implant_consultation, emergency_visit), optionally between two ISO
    dates and in a part of the day. They are offered to the patient as buttons."""
    turn = turn_of(config)
    result = await actions.find_slots(
        turn, treatment, date_from=_day(date_from), date_to=_day(date_to), part_of_day=part_of_day
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


@tool
async def start_reschedule(
    config: RunnableConfig,
    date_from: str | None = None,
    date_to: str | None = None,
    part_of_day: PartOfDay | None = None,
) -> str:
    """Start moving the patient's appointment: offers new times (or asks which appointment)."""
    turn = turn_of(config)
    result = await actions.start_reschedule(
        turn, date_from=_day(date_from), date_to=_day(date_to), part_of_day=part_of_day
    )
    return _out(turn, result)


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
async def escalate_to_dentist(summary: str, config: RunnableConfig, staff: bool = False) -> str:
    """Ask a dentist (or, with staff=true, the front desk) to join this chat. The summary is
    one factual line of what the patient asked, without interpretation."""
    turn = turn_of(config)
    return _out(turn, await actions.escalate_to_dentist(turn, summary, staff=staff))


@tool
def transfer_to_sarah() -> str:
    """Hand this message to Sarah: booking, moving, cancelling or looking up appointments."""
    return "sarah"


@tool
def transfer_to_yosef() -> str:
    """Hand this message to Yosef: invoices, balances and payments."""
    return "yosef"


@tool
def transfer_to_michal() -> str:
    """Hand this message to Michal: symptoms, medication or after-care questions, or a wish to
    talk to a dentist or a person."""
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
ALL_TOOLS: list[BaseTool] = [clinic_info, *SCHEDULING, *BILLING, escalate_to_dentist]
TEAM_TOOLS: dict[str, list[BaseTool]] = {
    "dana": [transfer_to_sarah, transfer_to_yosef, transfer_to_michal, clinic_info],
    "sarah": [*SCHEDULING, clinic_info],
    "yosef": [*BILLING, escalate_to_dentist],
    "michal": [escalate_to_dentist, clinic_info],
}
TRANSFERS = {
    "transfer_to_sarah": "sarah",
    "transfer_to_yosef": "yosef",
    "transfer_to_michal": "michal",
}
