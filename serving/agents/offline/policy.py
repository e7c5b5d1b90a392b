"""The offline model's dialogue policy: from what the patient said (the NLU's
`Understanding`) and what the dialogue awaits (the turn context), choose tool calls, or a
templated reply when no tool is needed.

It plays every role: Alex with all tools, Dana routing with transfer tools, and the team's
specialists with their subsets; a tool the role does not have is never called.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from serving.agents.context import TurnContext
from serving.agents.offline.dates import WeekdayMismatch
from serving.agents.offline.nlu import Intent, Understanding

SCHEDULING_INTENTS = {
    Intent.BOOK_APPOINTMENT,
    Intent.RESCHEDULE_APPOINTMENT,
    Intent.CANCEL_APPOINTMENT,
    Intent.MY_APPOINTMENTS,
}
MEDICAL_INTENTS = {Intent.MEDICAL_QUESTION, Intent.TALK_TO_DOCTOR, Intent.EMERGENCY}
RECORD_TOOLS = {
    Intent.TREATMENT_PLAN: "my_treatment_plan",
    Intent.MY_ALLERGIES: "my_allergies",
    Intent.MY_NOTES: "my_notes",
}
"""The patient's own record, read out by the tool of each request."""
RECORD_MEMBERS = {
    Intent.TREATMENT_PLAN: "transfer_to_sarah",
    Intent.MY_ALLERGIES: "transfer_to_michal",
    Intent.MY_NOTES: "transfer_to_michal",
}
"""Who of the team holds each record tool: the plan goes with the bookings (Sarah), the
allergies and notes with the medical boundaries (Michal)."""


@dataclass(frozen=True)
class Decision:
    """Tool calls to make, or (when there are none) a catalog key to reply with."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    reply_key: str | None = None
    days: WeekdayMismatch | None = None
    """The two days a `which_day` reply asks the patient to choose between."""


def decide(u: Understanding, context: TurnContext, tools: frozenset[str]) -> Decision:
    if "transfer_to_sarah" in tools:
        return _route(u, context, tools)
    return _act(u, context, tools)


def _call(name: str, tools: frozenset[str], **args: Any) -> Decision:
    if name not in tools:
        return Decision(reply_key="fallback")
    return Decision(calls=[(name, {k: v for k, v in args.items() if v is not None})])


def _request(u: Understanding) -> dict[str, Any]:
    """The booking tools' arguments for what the message asked (`SlotRequestArgs`)."""
    return {
        "provider": u.provider,
        "date_from": u.date_from.isoformat() if u.date_from else None,
        "date_to": u.date_to.isoformat() if u.date_to else None,
        "weekdays": list(u.weekdays) or None,
        "not_weekdays": list(u.not_weekdays) or None,
        "time_from": u.time_from.strftime("%H:%M") if u.time_from else None,
        "time_to": u.time_to.strftime("%H:%M") if u.time_to else None,
        "later": u.later or None,
        "earlier": u.earlier or None,
        "other_provider": u.other_provider or None,
    }


def _asks_something(u: Understanding) -> bool:
    """The message says something about the visit: a treatment, provider, day or time."""
    return any(v is not None for v in _request(u).values()) or u.treatment is not None


def _clinic_info(u: Understanding, tools: frozenset[str]) -> Decision:
    """The topic asked about, narrowed to what the message names: one treatment's price or
    appointment length (unless it asks for the whole list), one day's hours."""
    topic = u.clinic_topic or "all"
    treatment = u.treatment if topic in ("prices", "duration") and not u.whole_list else None
    day = u.date_from if topic == "hours" and u.date_from == u.date_to else None
    iso_day = day.isoformat() if day else None
    return _call("clinic_info", tools, topic=topic, treatment=treatment, day=iso_day)


def _continues_booking(u: Understanding, context: TurnContext) -> bool:
    """A bare answer ("cleaning", "next Tuesday", "the second one") to an open question, or
    a refinement of the times offered ("later in the day", "not Sunday")."""
    if context.offer_refs and (u.later or u.earlier or u.other_provider):
        return True
    open_question = context.awaiting_treatment or context.offer_refs or context.pending
    return bool(open_question) and u.intent in {Intent.OTHER, Intent.BOOK_APPOINTMENT}


def _wants_a_day(u: Understanding, context: TurnContext) -> bool:
    """A verified patient looking for a time (unverified ones are asked who they are first)."""
    looking = u.intent in {Intent.BOOK_APPOINTMENT, Intent.RESCHEDULE_APPOINTMENT}
    return context.verified and (looking or _continues_booking(u, context))


def _act(u: Understanding, context: TurnContext, tools: frozenset[str]) -> Decision:
    if context.pending and u.affirm and not u.deny:
        return _call("confirm_pending", tools)
    if context.pending and u.deny:
        return _call("decline_pending", tools)
    if context.offer_refs and u.ordinal and 1 <= u.ordinal <= len(context.offer_refs):
        return _call("propose_booking", tools, slot_ref=context.offer_refs[u.ordinal - 1])
    if u.date_mismatch is not None and _wants_a_day(u, context):
        return Decision(reply_key="which_day", days=u.date_mismatch)
    if _continues_booking(u, context) and _asks_something(u):
        treatment = u.treatment or context.draft_treatment
        other_treatment = context.draft_treatment not in (None, u.treatment)
        new_request = u.treatment is not None and other_treatment and not context.pending
        if treatment or context.offer_refs:
            return _call(
                "find_slots",
                tools,
                treatment=treatment,
                new_request=new_request or None,
                **_request(u),
            )
    intent = u.intent
    if intent is Intent.BOOK_APPOINTMENT:
        return _call("find_slots", tools, treatment=u.treatment, new_request=True, **_request(u))
    if intent is Intent.RESCHEDULE_APPOINTMENT:
        return _call("start_reschedule", tools, **_request(u))
    if intent is Intent.CANCEL_APPOINTMENT:
        return _call("start_cancellation", tools)
    if intent is Intent.MY_APPOINTMENTS:
        return _call("my_appointments", tools)
    if intent in RECORD_TOOLS:
        return _call(RECORD_TOOLS[intent], tools)
    if intent is Intent.INVOICE_INQUIRY:
        if u.invoice_number:
            return _call("invoice_details", tools, invoice_number=u.invoice_number)
        return _call("my_invoices", tools)
    if intent is Intent.CLINIC_INFO:
        return _clinic_info(u, tools)
    if intent is Intent.TALK_TO_DOCTOR:
        return _call(
            "escalate_to_dentist", tools, summary="The patient asked to talk to a dentist."
        )
    if intent in MEDICAL_INTENTS:
        return Decision(reply_key="medical_boundary")
    if intent is Intent.GREETING:
        return Decision(reply_key="greeting")
    if intent is Intent.THANKS_GOODBYE:
        return Decision(reply_key="thanks_goodbye")
    return Decision(reply_key="fallback")


def _route(u: Understanding, context: TurnContext, tools: frozenset[str]) -> Decision:
    """Dana: hand the message to the member who owns it, or answer small talk herself."""
    dialogue_open = context.pending or context.offer_refs or context.awaiting_treatment
    answers_it = _continues_booking(u, context) or u.affirm or u.deny or u.ordinal
    if dialogue_open and answers_it:
        return _call("transfer_to_sarah", tools)
    if u.intent in SCHEDULING_INTENTS:
        return _call("transfer_to_sarah", tools)
    if u.intent is Intent.INVOICE_INQUIRY:
        return _call("transfer_to_yosef", tools)
    if u.intent in RECORD_MEMBERS:
        return _call(RECORD_MEMBERS[u.intent], tools)
    if u.intent in MEDICAL_INTENTS:
        return _call("transfer_to_michal", tools)
    if u.intent is Intent.CLINIC_INFO:
        return _clinic_info(u, tools)
    if u.intent is Intent.GREETING:
        return Decision(reply_key="greeting")
    if u.intent is Intent.THANKS_GOODBYE:
        return Decision(reply_key="thanks_goodbye")
    return Decision(reply_key="fallback")
