"""Buttons: `kind:value` data (at most 64 bytes, Telegram's limit) resolved against the
conversation's own state, and run through the same actions the agents' tools use.

A button whose value is not in this conversation's current state (an old offer, another
conversation's button, something made up) is refused with `StaleButton`: it never acts.
"""

from __future__ import annotations

import re

from serving.assistant.turn import Turn
from serving.tools import actions
from serving.tools.actions import ActionResult

BUTTON_PATTERN = re.compile(r"^(quick|treat|slot|appt|confirm|decline):[A-Za-z0-9._-]{1,48}$")
INTENT_OF_BUTTON = {
    "quick:book": "book_appointment",
    "quick:invoices": "invoice_inquiry",
    "quick:doctor": "talk_to_doctor",
    "treat": "book_appointment",
    "slot": "book_appointment",
}
INTENT_OF_ACTION = {
    "book": "book_appointment",
    "reschedule": "reschedule_appointment",
    "cancel": "cancel_appointment",
}


class InvalidButton(ValueError):
    """The button data is malformed."""


class StaleButton(LookupError):
    """The button does not belong to this conversation's current state."""


def button_intent(turn: Turn, data: str) -> str:
    """The intent a button continues, for labelling the turn."""
    kind = data.partition(":")[0]
    if data in INTENT_OF_BUTTON:
        return INTENT_OF_BUTTON[data]
    if kind in INTENT_OF_BUTTON:
        return INTENT_OF_BUTTON[kind]
    if kind == "appt" and turn.state.choice is not None:
        return INTENT_OF_ACTION[turn.state.choice.purpose]
    if kind in {"confirm", "decline"} and turn.state.pending is not None:
        return INTENT_OF_ACTION[turn.state.pending.action]
    return "other"


def validate_button(data: str) -> str:
    if len(data.encode()) > 64 or not BUTTON_PATTERN.match(data):
        raise InvalidButton("button data must look like `kind:value` (at most 64 bytes)")
    return data


async def press_button(turn: Turn, data: str) -> ActionResult:
    kind, _, value = validate_button(data).partition(":")
    state = turn.state
    result: ActionResult | None = None
    if kind == "quick" and value == "book":
        result = await actions.list_treatments(turn)
    elif kind == "quick" and value == "invoices":
        result = await actions.my_invoices(turn)
    elif kind == "quick" and value == "doctor":
        result = await actions.escalate_to_dentist(
            turn, "The patient asked to talk to a dentist (button)."
        )
    elif kind == "treat" and value in await turn.treatments():
        result = await actions.find_slots(turn, value)
    elif kind == "slot" and state.offer is not None and state.offer.slot(value) is not None:
        result = await actions.propose_booking(turn, value)
    elif kind == "appt" and state.choice is not None:
        appointment_id = state.choice.appointment_id(value)
        if appointment_id is not None:
            if state.choice.purpose == "reschedule":
                result = await actions.start_reschedule(turn, appointment_id)
            else:
                result = await actions.start_cancellation(turn, appointment_id)
    elif kind in {"confirm", "decline"} and state.pending and state.pending.nonce == value:
        if kind == "confirm":
            result = await actions.confirm_pending(turn)
        else:
            result = await actions.decline_pending(turn)
    if result is None:
        raise StaleButton(
            "this button is no longer valid (the offer changed or it belongs to another "
            "conversation); please choose from the latest message"
        )
    turn.actions.append(result.kind)
    return result
