"""Buttons: `kind:value` data (at most 64 bytes, Telegram's limit) resolved against the
conversation's own state, and run through the same actions the agents' tools use.

A button whose value is not in this conversation's current state (an old offer, another
conversation's button, something made up) is refused with `StaleButton`: it never acts. The
one exception is the safety question's "Yes" (`safety:yes`): someone in danger is never
answered "stale", so it always leads to the emergency reply. The assistant answers the safety
buttons itself (`Assistant.respond`), not `press_button`.

`callback:<nonce>` is the call-back offered when the practice system could not be used (it
asks reception to get back to the patient, once); it needs nothing from the practice system.
"""

from __future__ import annotations

import re

from serving.conversation.turn import Turn
from serving.scheduling.request import SlotRequest
from serving.tools import actions
from serving.tools.actions import ActionResult

BUTTON_PATTERN = re.compile(
    r"^(quick|treat|slot|appt|confirm|decline|safety|callback):[A-Za-z0-9._-]{1,48}$"
)
SAFETY_YES = "safety:yes"
SAFETY_NO = "safety:no"
INTENT_OF_BUTTON = {
    "quick:book": "book_appointment",
    "quick:invoices": "invoice_inquiry",
    "quick:doctor": "talk_to_doctor",
    "treat": "book_appointment",
    "slot": "book_appointment",
    "callback": "talk_to_doctor",
    SAFETY_YES: "emergency",
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


STALE = (
    "this button is no longer valid (the offer changed or it belongs to another "
    "conversation); please choose from the latest message"
)


async def button_applies(turn: Turn, data: str) -> bool:
    """Whether the button belongs to the conversation's current state (checked before anything
    is stored, and again when it is pressed)."""
    kind, _, value = data.partition(":")
    state = turn.state
    if kind == "quick":
        return value in {"book", "invoices", "doctor"}
    if kind == "treat":
        return value in await turn.treatments()
    if kind == "slot":
        return state.offer is not None and state.offer.slot(value) is not None
    if kind == "appt":
        return state.choice is not None and state.choice.appointment_id(value) is not None
    if kind in {"confirm", "decline"}:
        return state.pending is not None and state.pending.nonce == value
    if kind == "callback":
        return state.callback is not None and state.callback.nonce == value
    if data == SAFETY_YES:
        return True
    if data == SAFETY_NO:
        return state.safety_check is not None
    return False


async def press_button(turn: Turn, data: str) -> ActionResult:
    kind, _, value = validate_button(data).partition(":")
    if kind == "safety":
        raise InvalidButton("the safety question's buttons are answered by the assistant")
    if not await button_applies(turn, data):
        raise StaleButton(STALE)
    state = turn.state
    if data == "quick:book":
        state.draft, state.offer = SlotRequest(), None  # a new request starts from nothing
        result = await actions.list_treatments(turn)
    elif data == "quick:invoices":
        result = await actions.my_invoices(turn)
    elif data == "quick:doctor":
        result = await actions.escalate_to_dentist(
            turn, "The patient asked to talk to a dentist (button)."
        )
    elif kind == "treat":
        result = await actions.find_slots(turn, SlotRequest(treatment=value))
    elif kind == "slot":
        result = await actions.propose_booking(turn, value)
    elif kind == "appt" and state.choice is not None:
        appointment_id = state.choice.appointment_id(value)
        if state.choice.purpose == "reschedule":
            result = await actions.start_reschedule(turn, appointment_id=appointment_id)
        else:
            result = await actions.start_cancellation(turn, appointment_id)
    elif kind == "confirm":
        result = await actions.confirm_pending(turn)
    elif kind == "callback":
        result = await actions.request_callback(turn)
    else:
        result = await actions.decline_pending(turn)
    turn.actions.append(result.kind)
    return result
