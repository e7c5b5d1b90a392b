"""The assistant's actions, as plain async functions of a `Turn`.

Agents reach them through LangChain tools (`serving.tools.langchain_tools`) and buttons reach
them directly (`serving.assistant.buttons`), so both paths run the same code. Each returns an
`ActionResult` whose `text` is already written in the patient's language from the bundle's
catalog; changes to the practice system happen only in `confirm_pending`, after the patient
confirmed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from typing import Literal

from serving.clinic import ClinicTopic, ProfileTopic
from serving.conversation.state import (
    AppointmentChoice,
    CallbackOffer,
    OfferedSlot,
    PendingAction,
    SlotOffer,
)
from serving.conversation.turn import Button, EscalationRequest, Turn
from serving.memory.records import OutcomeKind
from serving.memory.turn_outcomes import visit
from serving.practice.errors import (
    AppointmentNotFound,
    InvalidRequest,
    InvoiceNotFound,
    SlotUnavailable,
    UnknownTreatmentType,
)
from serving.practice.models import Allergy, Appointment, Patient, Provider, TreatmentPlan
from serving.scheduling.opening import ClinicHours, Opening
from serving.scheduling.request import (
    WEEKDAY_CODES,
    SlotRequest,
    Weekday,
    earlier_in_the_day,
    later_in_the_day,
)
from serving.tools import slot_search
from serving.tools.preferences import Habit, habitual_request
from serving.tools.slot_search import SearchResult

TreatmentTopic = Literal["prices", "duration"]
"""Clinic topics answered from the practice system's treatment types, not from the profile."""


@dataclass(frozen=True)
class ActionResult:
    kind: str
    text: str


async def clinic_info(
    turn: Turn,
    topic: ClinicTopic | TreatmentTopic | None,
    *,
    treatment: str | None = None,
    day: date | None = None,
) -> ActionResult:
    """The clinic's information on one topic, or on all of the profile's.

    Prices and appointment lengths come from the practice system's treatment types: the one
    `treatment` names, or all of them when it names none (or one the clinic does not have,
    with a short note first). The hours come from the practice system too, from the working
    hours and closures the slot search uses: the regular week, or with a `day` that date's
    (a holiday or closure on it closes it).
    """
    if topic == "prices" or topic == "duration":
        return ActionResult("clinic_info", await _treatment_info(turn, topic, treatment))
    if topic == "hours":
        return ActionResult("clinic_info", await _hours_text(turn, day))
    if topic is not None:
        return ActionResult("clinic_info", _profile_text(turn, topic))
    texts = [await _hours_text(turn, None)]
    texts += [_profile_text(turn, t) for t in PROFILE_TOPICS]
    return ActionResult("clinic_info", "\n".join(texts))


PROFILE_TOPICS: tuple[ProfileTopic, ...] = ("address", "parking", "insurance", "payment")


def _profile_text(turn: Turn, topic: ProfileTopic) -> str:
    return turn.clinic.topic(topic, turn.language) or turn.message("clinic_info_unset")


def _periods(periods: tuple[Opening, ...]) -> str:
    return ", ".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in periods)


async def _hours_text(turn: Turn, day: date | None) -> str:
    """The opening hours, written from the records: "Sun-Thu 08:00-20:00, Fri 08:00-13:00."
    and what closes the clinic; with a `day`, that date's hours or that it is closed."""
    hours = await turn.backend.clinic_hours()
    if not hours.is_open_some_day:
        return turn.message("hours_not_set")
    if day is not None:
        weekday = turn.message("weekday_names").split()[day.weekday()]
        periods = hours.on(day)
        if not periods:
            return turn.message("closed_on_day", weekday=weekday)
        return turn.message("open_on_day", weekday=weekday, hours=_periods(periods))
    return week_text(hours, turn.message)


def week_text(hours: ClinicHours, message: Callable[..., str]) -> str:
    """The regular week in the words of `message` (a catalog in one language), e.g. "We are
    open Sun-Thu 08:00-20:00, Fri 08:00-13:00. Closed on Shabbat and public holidays." """
    runs = []
    for weekdays, periods in hours.week():
        first, last = (message(f"weekday_{weekdays[i]}") for i in (0, -1))
        days = first if len(weekdays) == 1 else message("hours_days", first=first, last=last)
        runs.append(message("hours_run", days=days, hours=_periods(periods)))
    text = message("hours_week", week=", ".join(runs))
    calendar = hours.calendar
    closed = (
        "hours_closed_shabbat_holidays"
        if calendar.observe_shabbat and calendar.holiday_calendar is not None
        else "hours_closed_shabbat"
        if calendar.observe_shabbat
        else "hours_closed_holidays"
        if calendar.holiday_calendar is not None
        else None
    )
    return f"{text} {message(closed)}" if closed else text


async def _booking_unavailable(turn: Turn) -> ActionResult | None:
    """The answer of a clinic not set up yet (no treatments, or nobody taking patients):
    nothing can be booked, whoever asks, so it comes before asking who the patient is."""
    if await turn.treatments() and await turn.providers():
        return None
    turn.state.awaiting_treatment = False
    return ActionResult("booking_unavailable", turn.message("booking_unavailable"))


async def list_treatments(turn: Turn) -> ActionResult:
    """Ask which treatment to book (booking needs a verified patient, so that comes first)."""
    if (unavailable := await _booking_unavailable(turn)) is not None:
        return unavailable
    if (refusal := _require_identity(turn)) is not None:
        return refusal
    turn.state.awaiting_treatment = True
    for treatment in (await turn.treatments()).values():
        name = treatment.name_he if turn.language == "he" else treatment.name
        turn.buttons.append(_button(name, f"treat:{treatment.code}"))
    return ActionResult("ask_treatment", turn.message("ask_treatment"))


async def find_slots(
    turn: Turn,
    request: SlotRequest,
    *,
    later: bool = False,
    earlier: bool = False,
    other_provider: bool = False,
    new_request: bool = False,
    appointment_id: int | None = None,
) -> ActionResult:
    """Offer up to three free times as buttons that honour everything the patient asked for
    so far (`request` refines the conversation's draft); when nothing does, say what could
    not be met and offer the nearest times that keep the rest. `later`, `earlier` and
    `other_provider` refine the times just offered; `new_request` starts over."""
    offer = turn.state.offer
    if offer is not None and (later or earlier or other_provider or not request.treatment):
        appointment_id = appointment_id or offer.appointment_id
        request = request.model_copy(update={"treatment": request.treatment or offer.treatment})
    if new_request:
        turn.state.draft, turn.state.offer = SlotRequest(), None
    request = _refined_by_offer(turn, request, later=later, earlier=earlier, other=other_provider)
    draft = turn.state.draft = turn.state.draft.refined(request)
    if (unavailable := await _booking_unavailable(turn)) is not None:
        return unavailable
    if (refusal := _require_identity(turn)) is not None:
        return refusal  # what was asked is kept for after the patient is verified
    if draft.treatment is None:
        return await list_treatments(turn)
    turn.state.awaiting_treatment = False
    try:
        habit, found = await _search_habit_first(turn, draft)
    except UnknownTreatmentType:
        draft.treatment = None
        return await list_treatments(turn)
    name = await turn.treatment_name(draft.treatment)
    notes = await _unmet_notes(turn, draft, found, name)
    if not found.slots:
        turn.state.offer = None
        return ActionResult(
            "no_slots", "\n".join([*notes, turn.message("no_slots", treatment=name)])
        )
    offer = SlotOffer(
        treatment=draft.treatment,
        appointment_id=appointment_id,
        relaxed=list(found.unmet),
        slots=[
            OfferedSlot(
                starts_at=s.starts_at,
                provider_id=s.provider_id,
                provider_name=s.provider_name,
                provider_name_he=s.provider_name_he,
                treatment=s.treatment_code,
            )
            for s in found.slots
        ],
    )
    turn.state.offer, turn.state.pending = offer, None
    lines = []
    for index, slot in enumerate(offer.slots):
        label = turn.message(
            "slot_line",
            when=turn.when(slot.starts_at),
            provider=turn.provider(slot.provider_name, slot.provider_name_he),
        )
        lines.append(f"{index + 1}. {label}")
        turn.buttons.append(_button(label, f"slot:{offer.ref(index)}"))
    if found.unmet:
        return ActionResult(
            "slots_alternatives", "\n".join([*notes, turn.message("alternatives"), *lines])
        )
    key = "slots_offer_reschedule" if appointment_id else "slots_offer"
    if habit is not None:
        described = " ".join(filter(None, [_described(turn, draft, []), habit.words]))
        heading = turn.message(f"memory_{key}", treatment=name, request=described)
        return ActionResult("slots_offered", "\n".join([heading, *lines]))
    described = _described(turn, draft, found.providers)
    heading = (
        turn.message(f"{key}_matching", treatment=name, request=described)
        if described
        else turn.message(key, treatment=name)
    )
    return ActionResult("slots_offered", "\n".join([heading, *lines]))


async def _search_habit_first(turn: Turn, draft: SlotRequest) -> tuple[Habit | None, SearchResult]:
    """Times for the returning patient's request with their habits added, when that finds
    some honouring all of it; otherwise (or without memory) times for the request itself."""
    today = turn.now.astimezone(turn.tz).date()
    providers = await turn.providers()
    habit = await habitual_request(turn, draft)
    if habit is not None:
        found = await slot_search.search(
            turn.backend, habit.request, providers=providers, today=today, tz=turn.tz
        )
        if found.slots and not found.unmet:
            return habit, found
    found = await slot_search.search(
        turn.backend, draft, providers=providers, today=today, tz=turn.tz
    )
    return None, found


async def propose_booking(turn: Turn, slot_ref: str) -> ActionResult:
    """Ask the patient to confirm one of the offered slots (books nothing yet)."""
    if (refusal := _require_identity(turn)) is not None:
        return refusal
    offer = turn.state.offer
    slot = offer.slot(slot_ref) if offer else None
    if offer is None or slot is None:
        return ActionResult("unknown_slot", turn.message("nothing_pending"))
    name = await turn.treatment_name(slot.treatment)
    provider = turn.provider(slot.provider_name, slot.provider_name_he)
    if offer.appointment_id is not None:
        current = await _own_appointment(turn, offer.appointment_id)
        if current is None:
            return ActionResult("unknown_appointment", turn.message("nothing_pending"))
        pending = PendingAction(
            action="reschedule",
            treatment=slot.treatment,
            starts_at=slot.starts_at,
            provider_id=slot.provider_id,
            appointment_id=current.id,
            old_starts_at=current.starts_at,
        )
        text = turn.message(
            "confirm_reschedule",
            treatment=name,
            old_when=turn.when(current.starts_at),
            when=turn.when(slot.starts_at),
            provider=provider,
        )
    else:
        pending = PendingAction(
            action="book",
            treatment=slot.treatment,
            starts_at=slot.starts_at,
            provider_id=slot.provider_id,
        )
        text = turn.message(
            "confirm_booking", treatment=name, when=turn.when(slot.starts_at), provider=provider
        )
    turn.state.pending = pending
    _confirmation_buttons(turn, pending)
    return ActionResult("confirmation_requested", text)


async def confirm_pending(turn: Turn) -> ActionResult:
    """Carry out the action the patient just confirmed."""
    patient = turn.patient
    pending = turn.state.pending
    if patient is None:
        return _identity_refusal(turn)
    if pending is None:
        return ActionResult("nothing_pending", turn.message("nothing_pending"))
    turn.state.pending = None
    name = await turn.treatment_name(pending.treatment)
    kind: OutcomeKind
    try:
        if pending.action == "book":
            done = await turn.backend.create_appointment(
                patient.id, pending.treatment, pending.starts_at, provider_id=pending.provider_id
            )
            key, kind = "booked", "booked"
        elif pending.action == "reschedule" and pending.appointment_id is not None:
            done = await turn.backend.reschedule_appointment(
                patient.id,
                pending.appointment_id,
                pending.starts_at,
                provider_id=pending.provider_id,
            )
            key, kind = "rescheduled", "moved"
        elif pending.appointment_id is not None:
            done = await turn.backend.cancel_appointment(
                patient.id, pending.appointment_id, reason="cancelled by the patient in chat"
            )
            key, kind = "cancelled", "cancelled"
        else:
            return ActionResult("nothing_pending", turn.message("nothing_pending"))
    except SlotUnavailable:
        turn.state.offer = None
        again = await find_slots(
            turn, SlotRequest(treatment=pending.treatment), appointment_id=pending.appointment_id
        )
        return ActionResult("slot_taken", f"{turn.message('slot_taken')}\n{again.text}")
    except (AppointmentNotFound, InvalidRequest) as refused:
        return ActionResult("refused", turn.message("booking_refused", reason=str(refused)))
    turn.state.offer = turn.state.choice = None
    turn.state.draft = type(turn.state.draft)()
    turn.outcomes.append(
        visit(
            kind,
            provider_id=done.provider_id,
            provider_name=done.provider_name,
            visit_at=done.starts_at,
            appointment_id=done.id,
        )
    )
    text = turn.message(
        key,
        treatment=name,
        when=turn.when(done.starts_at),
        provider=turn.provider(done.provider_name, done.provider_name_he),
    )
    return ActionResult(key, text)


async def decline_pending(turn: Turn) -> ActionResult:
    had_pending = turn.state.pending is not None
    turn.state.pending = None
    return ActionResult("declined", turn.message("declined" if had_pending else "nothing_pending"))


async def my_appointments(turn: Turn) -> ActionResult:
    if (patient := turn.patient) is None:
        return _identity_refusal(turn)
    appointments = await turn.backend.list_patient_appointments(patient.id)
    if not appointments:
        turn.button("button_book", "quick:book")
        return ActionResult("no_appointments", turn.message("no_appointments"))
    lines = [turn.message("appointments_list")]
    lines += [await _appointment_line(turn, a) for a in appointments]
    return ActionResult("appointments", "\n".join(lines))


async def start_reschedule(
    turn: Turn, request: SlotRequest | None = None, appointment_id: int | None = None
) -> ActionResult:
    """Offer new times for the patient's appointment that honour `request` (kept while the
    patient is asked which appointment, when they have several)."""
    if request is not None:
        turn.state.draft = request.model_copy(update={"treatment": None})
    chosen = await _choose_appointment(turn, "reschedule", appointment_id)
    if isinstance(chosen, ActionResult):
        return chosen
    wanted = turn.state.draft.model_copy(update={"treatment": chosen.treatment_code})
    turn.state.draft = SlotRequest()
    return await find_slots(turn, wanted, appointment_id=chosen.id)


async def start_cancellation(turn: Turn, appointment_id: int | None = None) -> ActionResult:
    chosen = await _choose_appointment(turn, "cancel", appointment_id)
    if isinstance(chosen, ActionResult):
        return chosen
    pending = PendingAction(
        action="cancel",
        treatment=chosen.treatment_code,
        starts_at=chosen.starts_at,
        provider_id=chosen.provider_id,
        appointment_id=chosen.id,
    )
    turn.state.pending = pending
    _confirmation_buttons(turn, pending)
    text = turn.message(
        "confirm_cancel",
        treatment=await turn.treatment_name(chosen.treatment_code),
        when=turn.when(chosen.starts_at),
        provider=turn.provider(chosen.provider_name, chosen.provider_name_he),
    )
    return ActionResult("confirmation_requested", text)


async def my_invoices(turn: Turn) -> ActionResult:
    if turn.patient is None:
        return _identity_refusal(turn)
    invoices = await turn.patient_invoices()
    if not invoices:
        return ActionResult("no_invoices", turn.message("no_invoices"))
    lines = [turn.message("invoices_list")]
    for invoice in invoices:
        lines.append(
            "• "
            + turn.message(
                "invoice_line",
                number=invoice.number,
                issued=_date(turn, invoice.issued_on),
                total=_money(invoice.amount_total),
                currency=invoice.currency,
                status=turn.message(f"status_{invoice.status}"),
            )
        )
    due = sum((i.amount_due for i in invoices), Decimal(0))
    currency = invoices[0].currency
    lines.append(
        turn.message("balance_due", amount=_money(due), currency=currency)
        if due > 0
        else turn.message("balance_clear")
    )
    return ActionResult("invoices", "\n".join(lines))


async def invoice_details(turn: Turn, invoice_number: str) -> ActionResult:
    if (patient := turn.patient) is None:
        return _identity_refusal(turn)
    if invoice_number.strip().isdigit():
        # "invoice 42": the patient's own invoice whose sequence number is 42, if exactly one.
        sequence = int(invoice_number)
        matches = [
            i.number
            for i in await turn.patient_invoices()
            if i.number.rsplit("/", 1)[-1].isdigit()
            and int(i.number.rsplit("/", 1)[-1]) == sequence
        ]
        invoice_number = matches[0] if len(matches) == 1 else invoice_number
    try:
        invoice = await turn.backend.get_invoice_details(patient.id, invoice_number)
    except (InvoiceNotFound, InvalidRequest):
        # The number is not echoed: it may be someone else's, and the guard would rightly stop it.
        return ActionResult("invoice_not_found", turn.message("invoice_not_found"))
    lines = [
        turn.message(
            "invoice_details",
            number=invoice.number,
            issued=_date(turn, invoice.issued_on),
            due=_date(turn, invoice.due_on),
        )
    ]
    lines += [
        "• "
        + turn.message(
            "invoice_detail_line",
            description=line.description,
            quantity=line.quantity,
            subtotal=_money(line.subtotal),
            currency=invoice.currency,
        )
        for line in invoice.lines
    ]
    lines.append(
        turn.message(
            "invoice_total",
            total=_money(invoice.amount_total),
            paid=_money(invoice.amount_paid),
            due_amount=_money(invoice.amount_due),
            currency=invoice.currency,
            status=turn.message(f"status_{invoice.status}"),
        )
    )
    return ActionResult("invoice_details", "\n".join(lines))


# --- the patient's own record: read out as it is on file, never interpreted -------------------

MAX_NOTES = 5
"""The newest notes read out; older ones stay with the clinic's record."""
SEVERITIES = frozenset({"mild", "moderate", "severe"})
"""Severities the catalogs name in each language; another is shown as the record writes it."""


async def my_notes(turn: Turn) -> ActionResult:
    """The notes the clinic wrote for the patient to read, newest first. Staff notes and
    transcripts are on the same record and are never read out."""
    if (patient := turn.patient) is None:
        return _identity_refusal(turn)
    notes = [n for n in await turn.backend.get_patient_notes(patient.id) if n.for_patient]
    if not notes:
        return ActionResult("no_notes", turn.message("no_notes"))
    lines = [turn.message("notes_list")]
    for note in reversed(notes[-MAX_NOTES:]):
        written = _date(turn, note.created_at.astimezone(turn.tz).date())
        lines.append(
            "• " + turn.message("note_line", date=written, author=note.author, body=note.body)
        )
    lines.append(turn.message("record_questions"))
    return ActionResult("notes", "\n".join(lines))


async def my_treatment_plan(turn: Turn) -> ActionResult:
    """What the patient's plan holds (each treatment, its tooth, how far it is) and what of it
    is booked next; a treatment still to book is offered as a button."""
    if (patient := turn.patient) is None:
        return _identity_refusal(turn)
    plan = await turn.backend.get_treatment_plan(patient.id)
    if plan is None or not plan.items:
        return ActionResult("no_treatment_plan", turn.message("no_treatment_plan"))
    lines = [turn.message("plan_heading", status=turn.message(f"plan_status_{plan.status}"))]
    for item in plan.items:
        name = item.treatment_name_he if turn.language == "he" else item.treatment_name
        status = turn.message(f"plan_item_{item.status}")
        line = (
            turn.message("plan_item_tooth", treatment=name, tooth=item.tooth, status=status)
            if item.tooth
            else turn.message("plan_item", treatment=name, status=status)
        )
        lines.append(f"• {line}")
    lines += await _plan_bookings(turn, patient, plan)
    lines.append(turn.message("record_questions"))
    return ActionResult("treatment_plan", "\n".join(lines))


async def _plan_bookings(turn: Turn, patient: Patient, plan: TreatmentPlan) -> list[str]:
    """The upcoming appointments for the plan's treatments not done yet; when there are none,
    a booking button for each of those treatments."""
    to_do = list(dict.fromkeys(i.treatment_code for i in plan.items if i.status != "done"))
    if not to_do:
        return []
    upcoming = await turn.backend.list_patient_appointments(patient.id)
    booked = [a for a in upcoming if a.treatment_code in to_do]
    if booked:
        return [turn.message("plan_booked")] + [
            "• " + await _appointment_line(turn, appointment) for appointment in booked
        ]
    bookable = await turn.treatments()
    for code in to_do:
        if code in bookable:
            name = await turn.treatment_name(code)
            turn.buttons.append(
                _button(turn.message("button_book_treatment", treatment=name), f"treat:{code}")
            )
    return [turn.message("plan_nothing_booked")]


async def my_allergies(turn: Turn) -> ActionResult:
    """The allergies on the patient's file, as recorded (substance, reaction, severity)."""
    if (patient := turn.patient) is None:
        return _identity_refusal(turn)
    allergies = await turn.backend.get_patient_allergies(patient.id)
    if not allergies:
        return ActionResult("no_allergies", turn.message("no_allergies"))
    lines = [turn.message("allergies_list")]
    lines += [f"• {_allergy_line(turn, allergy)}" for allergy in allergies]
    lines.append(turn.message("allergies_footer"))
    return ActionResult("allergies", "\n".join(lines))


def _allergy_line(turn: Turn, allergy: Allergy) -> str:
    written = allergy.severity.strip().lower()
    severity = turn.message(f"severity_{written}") if written in SEVERITIES else allergy.severity
    if allergy.reaction:
        return turn.message(
            "allergy_line",
            substance=allergy.substance,
            reaction=allergy.reaction,
            severity=severity,
        )
    return turn.message("allergy_line_no_reaction", substance=allergy.substance, severity=severity)


# --- the practice system out of reach: a call-back instead --------------------------------------

CALLBACK_ACTIVITIES = {
    "book_appointment": "book an appointment",
    "reschedule_appointment": "move an appointment",
    "cancel_appointment": "cancel an appointment",
    "my_appointments": "see their appointments",
    "invoice_inquiry": "see their invoices",
    "clinic_info": "read the clinic's information",
    "treatment_plan": "see their treatment plan",
    "my_allergies": "see the allergies on their file",
    "my_notes": "read the clinic's notes for them",
}
"""What the patient was doing, for the call-back request reception reads (by intent; the
patient's own words are not repeated, so no clinical content travels with it)."""


def offer_callback(turn: Turn, intent: str, *, cannot_show: bool = False) -> ActionResult:
    """Tell the patient that the clinic's system cannot be reached (or, `cannot_show`, cannot
    show that) right now, and offer a call-back button. Whatever the failed step had offered
    is dropped: the button is the one way on."""
    offer = turn.state.callback = CallbackOffer(intent=intent, cannot_show=cannot_show)
    turn.buttons.clear()
    turn.button("button_callback", f"callback:{offer.nonce}")
    key = "practice_cannot_show" if cannot_show else "practice_unavailable"
    return ActionResult("practice_unavailable", turn.message(key))


async def request_callback(turn: Turn) -> ActionResult:
    """The call-back button: an escalation to reception (staff, not a dentist) saying what the
    patient was trying to do when the system failed, and a confirmation."""
    offer, turn.state.callback = turn.state.callback, None
    if offer is None:
        return ActionResult("nothing_pending", turn.message("nothing_pending"))
    activity = CALLBACK_ACTIVITIES.get(offer.intent, "use the chat")
    problem = "could not show what was asked" if offer.cannot_show else "could not be reached"
    summary = (
        f"Call-back requested: the clinic's practice system {problem} while the patient "
        f"was trying to {activity}."
    )
    await escalate_to_dentist(turn, summary, staff=True)
    return ActionResult("callback_requested", turn.message("callback_requested"))


async def escalate_to_dentist(turn: Turn, summary: str, *, staff: bool = False) -> ActionResult:
    """Ask a dentist (or the front desk) to join the conversation."""
    urgency = "ROUTINE" if staff else "DOCTOR_REQUIRED"
    turn.escalations.append(EscalationRequest(urgency=urgency, summary=summary[:500]))
    key = "escalated_staff" if staff else "escalated_doctor"
    return ActionResult("escalated", turn.message(key))


def quick_actions(turn: Turn) -> None:
    """The three quick actions a patient always has."""
    turn.button("button_book", "quick:book")
    turn.button("button_invoices", "quick:invoices")
    turn.button("button_doctor", "quick:doctor")


# --- helpers ----------------------------------------------------------------------------------


def _require_identity(turn: Turn) -> ActionResult | None:
    return _identity_refusal(turn) if turn.patient is None else None


def _identity_refusal(turn: Turn) -> ActionResult:
    return ActionResult("identity_required", turn.message("identity_required"))


def _button(text: str, data: str) -> Button:
    return Button(text=text, data=data)


def _confirmation_buttons(turn: Turn, pending: PendingAction) -> None:
    turn.button("button_confirm", f"confirm:{pending.nonce}")
    turn.button("button_decline", f"decline:{pending.nonce}")


async def _own_appointment(turn: Turn, appointment_id: int) -> Appointment | None:
    patient: Patient | None = turn.patient
    if patient is None:
        return None
    upcoming = await turn.backend.list_patient_appointments(patient.id)
    return next((a for a in upcoming if a.id == appointment_id), None)


async def _choose_appointment(
    turn: Turn, purpose: Literal["reschedule", "cancel"], appointment_id: int | None
) -> Appointment | ActionResult:
    """The appointment meant, or a result asking which one (or saying there is none)."""
    if (patient := turn.patient) is None:
        return _identity_refusal(turn)
    upcoming = await turn.backend.list_patient_appointments(patient.id)
    if appointment_id is not None:
        chosen = next((a for a in upcoming if a.id == appointment_id), None)
        if chosen is None:
            return ActionResult("unknown_appointment", turn.message("nothing_pending"))
        return chosen
    if not upcoming:
        turn.button("button_book", "quick:book")
        return ActionResult("no_appointments", turn.message("no_appointments"))
    if len(upcoming) == 1:
        return upcoming[0]
    choice = AppointmentChoice(purpose=purpose, appointment_ids=[a.id for a in upcoming])
    turn.state.choice = choice
    for index, appointment in enumerate(upcoming):
        turn.buttons.append(
            _button(await _appointment_line(turn, appointment), f"appt:{choice.ref(index)}")
        )
    return ActionResult("choose_appointment", turn.message("choose_appointment"))


async def _appointment_line(turn: Turn, appointment: Appointment) -> str:
    return turn.message(
        "appointment_line",
        when=turn.when(appointment.starts_at),
        treatment=await turn.treatment_name(appointment.treatment_code),
        provider=turn.provider(appointment.provider_name, appointment.provider_name_he),
    )


async def _treatment_info(turn: Turn, topic: TreatmentTopic, code: str | None) -> str:
    """One treatment's price or appointment length, or every treatment's."""
    treatments = await turn.treatments()
    chosen = treatments.get(code) if code else None
    if chosen is not None:
        name = await turn.treatment_name(chosen.code)
        if topic == "prices":
            price = _money(chosen.price)
            return turn.message(
                "treatment_price", treatment=name, price=price, currency=chosen.currency
            )
        return turn.message("treatment_duration", treatment=name, minutes=chosen.duration_minutes)
    lines = [turn.message("treatment_not_found")] if code else []
    if topic == "duration":
        lines.append(turn.message("durations_list"))
    for treatment in treatments.values():
        name = treatment.name_he if turn.language == "he" else treatment.name
        if topic == "prices":
            lines.append(f"• {name}: {_money(treatment.price)} {treatment.currency}")
        else:
            line = turn.message("duration_line", treatment=name, minutes=treatment.duration_minutes)
            lines.append(f"• {line}")
    return "\n".join(lines)


def _refined_by_offer(
    turn: Turn, request: SlotRequest, *, later: bool, earlier: bool, other: bool
) -> SlotRequest:
    """ "Later", "earlier", "someone else": relative to the times just offered."""
    offer = turn.state.offer
    if offer is None or not offer.slots or not (later or earlier or other):
        return request
    turn.state.draft = _without(turn.state.draft, offer.relaxed)  # reacting to those times
    update: dict[str, object] = {}
    offered = [s.starts_at.astimezone(turn.tz) for s in offer.slots]
    if later:
        update |= {"time_from": later_in_the_day(offered), "time_to": None}
    if earlier:
        update |= {"time_to": earlier_in_the_day(offered), "time_from": None}
    if other:
        declined = {s.provider_id for s in offer.slots}
        update["not_providers"] = sorted(declined | set(turn.state.draft.not_providers))
        update["provider"] = None
        turn.state.draft.provider = None
    return request.model_copy(update=update)


def _without(request: SlotRequest, parts: list[str]) -> SlotRequest:
    """`request` without the parts named ("time", "weekdays", "dates", "provider")."""
    cleared: dict[str, object] = {}
    if "time" in parts:
        cleared |= {"time_from": None, "time_to": None}
    if "weekdays" in parts:
        cleared |= {"weekdays": [], "not_weekdays": []}
    if "dates" in parts:
        cleared |= {"date_from": None, "date_to": None}
    if "provider" in parts:
        cleared |= {"provider": None}
    return request.model_copy(update=cleared)


async def _unmet_notes(
    turn: Turn, request: SlotRequest, found: SearchResult, treatment: str
) -> list[str]:
    """One sentence per part of the request the offered times cannot honour."""
    notes: list[str] = []
    if found.provider_unknown and request.provider:
        team = ", ".join(turn.provider(p.name, p.name_he) for p in await turn.providers())
        notes.append(turn.message("unmet_provider_unknown", name=request.provider, team=team))
    elif found.provider_cannot:
        for provider in found.providers:
            notes.append(
                turn.message(
                    "unmet_provider_treatment",
                    provider=turn.provider(provider.name, provider.name_he),
                    treatment=treatment,
                )
            )
    elif "provider" in found.unmet and request.not_providers:
        notes.append(turn.message("unmet_provider_other", treatment=treatment))
    time_parts = [c for c in found.unmet if c != "provider"]
    if time_parts or (not found.slots and request.constrains_time):
        providers = [] if found.provider_unknown or found.provider_cannot else found.providers
        described = _described(turn, request, providers)
        notes.append(turn.message("unmet_request", treatment=treatment, request=described))
    return notes


def _described(turn: Turn, request: SlotRequest, providers: list[Provider]) -> str:
    """The request in the patient's words: "with Noa Peretz, not on Sun, from 15:00"."""
    parts: list[str] = []
    if len(providers) == 1:
        parts.append(
            turn.message(
                "request_provider", provider=turn.provider(providers[0].name, providers[0].name_he)
            )
        )
    if request.date_from and request.date_from == request.date_to:
        parts.append(turn.message("request_day", day=turn.day(request.date_from)))
    elif request.date_from and request.date_to:
        parts.append(
            turn.message(
                "request_days",
                first=turn.day(request.date_from),
                last=turn.day(request.date_to),
            )
        )
    if request.weekdays:
        parts.append(turn.message("request_weekdays", weekdays=_weekdays(turn, request.weekdays)))
    if request.not_weekdays:
        parts.append(
            turn.message("request_not_weekdays", weekdays=_weekdays(turn, request.not_weekdays))
        )
    start, end = request.time_from, request.time_to
    if start and end:
        parts.append(turn.message("request_between_times", start=_hhmm(start), end=_hhmm(end)))
    elif start:
        parts.append(turn.message("request_after", time=_hhmm(start)))
    elif end:
        parts.append(turn.message("request_before", time=_hhmm(end)))
    return " ".join(parts)


def _weekdays(turn: Turn, days: list[Weekday]) -> str:
    return ", ".join(turn.message(f"weekday_{WEEKDAY_CODES.index(d)}") for d in days)


def _hhmm(moment: time) -> str:
    return moment.strftime("%H:%M")


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _date(turn: Turn, day: date) -> str:
    months = turn.message("month_names").split()
    return turn.message(
        "date", day=day.day, month=months[day.month - 1], month_num=day.month, year=day.year
    )


__all__ = [
    "ActionResult",
    "clinic_info",
    "confirm_pending",
    "decline_pending",
    "escalate_to_dentist",
    "find_slots",
    "invoice_details",
    "list_treatments",
    "my_allergies",
    "my_appointments",
    "my_invoices",
    "my_notes",
    "my_treatment_plan",
    "offer_callback",
    "propose_booking",
    "quick_actions",
    "request_callback",
    "start_cancellation",
    "start_reschedule",
]
