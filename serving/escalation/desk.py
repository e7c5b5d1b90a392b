"""The dentist's side of an escalated conversation: read the history and the patient's card,
write to the patient on the conversation's own channel, book for the patient (who is told,
under the dentist's name), and hand the conversation back. Every message the desk stores
queues the conversation for memory (`Memory.remember_later`), so the graph keeps up with what
dentists and staff write, not only with the turns.

Who acts (an `Author`: a name, and whether they write as a dentist or as staff) is separate
from how they were let in: the token methods (`open`, `post`, `close`, ...) serve a private
link; `join` and `close_escalation` serve a signed-in staff member (`serving.console`), whose
permission the staff API checked.

Milestones, each recorded once on the escalation: `opened_at` (the first time a link is
opened: status `claimed`, the EMERGENCY repeats stop), `joined_at` (the dentist's first
message: the patient is told the dentist joined, and the assistant goes quiet), `closed_at`
(handed back: the patient is told, the links stop working, the transcript goes to the patient
record).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from serving.assistant import Author, NoChannel, Outbox, outbound_text
from serving.conversation.turn import local_when
from serving.db import models as db
from serving.db.engine import Database
from serving.db.escalation_models import DoctorLink
from serving.db.types import utcnow
from serving.escalation.events import StaffFeed, announce
from serving.escalation.links import DoctorLinks, LinkAccess, LinkRefusal, LinkRefused
from serving.escalation.records import escalation_with_conversation
from serving.escalation.views import (
    AllergyView,
    AppointmentView,
    DeskView,
    DoctorView,
    EscalationView,
    MessageView,
    PatientView,
    ProviderView,
    SlotView,
    TreatmentView,
)
from serving.memory.records import OutcomeKind
from serving.memory.service import Memory
from serving.memory.turn_outcomes import visit, whole_conversation_facts
from serving.observability.metrics import AppMetrics
from serving.practice.backend import PracticeBackend
from serving.practice.models import Appointment
from serving.pubsub import PushHub

logger = logging.getLogger(__name__)


HISTORY_LIMIT = 300
"""Messages a page shows (the newest); a conversation is rarely longer."""
SLOT_LIMIT = 40
Catalog = Callable[..., str]
"""(language, key, **values) -> the bundle's text, for what the patient is told."""
REPORTS: dict[OutcomeKind, str] = {
    "booked": "booked",
    "moved": "rescheduled",
    "cancelled": "cancelled",
}
"""The catalog text telling the patient of a visit the dentist booked, moved or cancelled: the
one the assistant sends when it does the same."""


class PatientNotIdentified(LookupError):
    """The conversation's patient never proved who they are: nothing can be booked for them."""


class EscalationClosed(LookupError):
    """The escalation was handed back already (or never existed): nothing to join or close."""


class DoctorDesk:
    def __init__(
        self,
        database: Database,
        *,
        links: DoctorLinks,
        backend: PracticeBackend,
        outbox: Outbox,
        hub: PushHub,
        feed: StaffFeed,
        metrics: AppMetrics,
        catalog: Catalog,
        timezone: str,
        clock: Callable[[], datetime] = utcnow,
        memory: Memory | None = None,
    ) -> None:
        self._db = database
        self._memory = memory
        self._links = links
        self._backend = backend
        self._outbox = outbox
        self._hub = hub
        self._feed = feed
        self._metrics = metrics
        self.catalog = catalog
        """What the patient is told (the bundle's message catalog)."""
        self._tz = ZoneInfo(timezone)
        self._now = clock

    async def access(self, token: str) -> LinkAccess:
        """What the token opens; LinkRefused otherwise."""
        return await self._links.resolve(token)

    async def open(self, token: str) -> tuple[LinkAccess, DeskView]:
        """The page's data; the first opening claims the escalation (repeats stop)."""
        access = await self.access(token)
        await self._mark_opened(access, self._now())
        return access, await self.view(access)

    async def _mark_opened(self, access: LinkAccess, now: datetime) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(DoctorLink)
                .where(DoctorLink.id == access.link_id, DoctorLink.opened_at.is_(None))
                .execution_options(synchronize_session=False)
                .values(opened_at=now)
            )
        await self._claim(access.escalation_id, access.conversation_id, now)

    async def _claim(self, escalation_id: str, conversation_id: str, now: datetime) -> None:
        """The escalation's first opening: status `claimed`, the EMERGENCY repeats stop."""
        async with self._db.transaction() as session:
            first = await session.execute(
                update(db.Escalation)
                .where(db.Escalation.id == escalation_id, db.Escalation.opened_at.is_(None))
                .execution_options(synchronize_session=False)
                .values(opened_at=now, status="claimed", notify_at=None)
            )
            created, urgency = (
                await session.execute(
                    select(db.Escalation.created_at, db.Escalation.urgency).where(
                        db.Escalation.id == escalation_id
                    )
                )
            ).one()
        if getattr(first, "rowcount", 0) == 1:
            self._metrics.escalation_time_to_open.labels(urgency).observe(
                max(0.0, (now - created).total_seconds())
            )
            await announce(self._hub, conversation_id)
            await self._feed.escalation_changed(escalation_id)

    async def view(self, access: LinkAccess) -> DeskView:
        language = "he" if access.doctor_language == "he" else "en"
        async with self._db.transaction() as session:
            found = await escalation_with_conversation(session, access.escalation_id)
        assert found is not None  # the link was just resolved; escalations are not deleted
        escalation, conversation = found
        patient = await self._patient(conversation, language)
        providers = await self._backend.list_providers()
        treatments = await self._backend.list_treatment_types()
        return DeskView(
            escalation=_escalation_view(escalation, self._tz),
            doctor=DoctorView(name=access.doctor_name or "", language=language),
            patient=patient,
            messages=await self.messages_after(access.conversation_id, 0),
            treatments=[
                TreatmentView(
                    code=t.code,
                    name=t.name_he if language == "he" else t.name,
                    duration_minutes=t.duration_minutes,
                )
                for t in treatments
            ],
            providers=[
                ProviderView(id=p.id, name=p.name_he if language == "he" else p.name)
                for p in providers
            ],
        )

    async def _patient(self, conversation: db.Conversation, language: str) -> PatientView:
        if conversation.patient_id is None:
            return PatientView(
                id=None,
                name=None,
                phone=None,
                language=conversation.language,
                channel=conversation.channel,
                appointments=[],
                allergies=[],
            )
        patient = await self._backend.get_patient(conversation.patient_id)
        name = f"{patient.first_name} {patient.last_name}".strip()
        if language == "he" and patient.name_he:
            name = patient.name_he
        appointments = await self._backend.list_patient_appointments(patient.id)
        allergies = await self._backend.get_patient_allergies(patient.id)
        return PatientView(
            id=patient.id,
            name=name,
            phone=patient.phone,
            language=conversation.language,
            channel=conversation.channel,
            appointments=[_appointment_view(a, language, self._tz) for a in appointments],
            allergies=[
                AllergyView(substance=a.substance, reaction=a.reaction, severity=a.severity)
                for a in allergies
            ],
        )

    async def messages_after(self, conversation_id: str, after: int) -> list[MessageView]:
        """The conversation's messages after message id `after`, oldest first (the newest
        HISTORY_LIMIT when there are more)."""
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(db.Message)
                .where(db.Message.conversation_id == conversation_id, db.Message.id > after)
                .order_by(db.Message.id.desc())
                .limit(HISTORY_LIMIT)
            )
            return [_message_view(m, self._tz) for m in reversed(rows.all())]

    async def deliveries(self, conversation_id: str, message_ids: list[int]) -> dict[int, str]:
        """The delivery results known so far for the given messages."""
        if not message_ids:
            return {}
        async with self._db.transaction() as session:
            rows = await session.execute(
                select(db.Message.id, db.Message.delivery).where(
                    db.Message.conversation_id == conversation_id,
                    db.Message.id.in_(message_ids),
                    db.Message.delivery.is_not(None),
                )
            )
            return {int(i): str(d) for i, d in rows}

    async def state(self, escalation_id: str) -> tuple[str, str]:
        """The escalation's (status, urgency) now."""
        async with self._db.transaction() as session:
            status, urgency = (
                await session.execute(
                    select(db.Escalation.status, db.Escalation.urgency).where(
                        db.Escalation.id == escalation_id
                    )
                )
            ).one()
        return str(status), str(urgency)

    async def post(self, token: str, text: str) -> tuple[MessageView, bool]:
        """The dentist's message, sent to the patient on the conversation's channel (the
        first one tells the patient the dentist joined). InvalidOutbound for an empty or
        too long text (nothing sent)."""
        access = await self.access(token)
        doctor = _dentist(access)
        text = outbound_text(text)  # checked before anything is marked or sent
        now = self._now()
        await self._mark_opened(access, now)
        await self._join(access.escalation_id, doctor, now)
        return await self.send(access.conversation_id, text, doctor)

    async def join(self, escalation_id: str, author: Author) -> str:
        """`author` joins the escalation (claimed, joined, the patient told), as a dentist's
        first message through a link does; the conversation's id. EscalationClosed when it
        is closed or unknown."""
        async with self._db.transaction() as session:
            found = await escalation_with_conversation(session, escalation_id)
        if found is None or found[0].status == "closed":
            raise EscalationClosed("the escalation is closed")
        conversation_id = found[1].id
        now = self._now()
        await self._claim(escalation_id, conversation_id, now)
        await self._join(escalation_id, author, now)
        return conversation_id

    async def _join(self, escalation_id: str, author: Author, now: datetime) -> None:
        """The escalation's first join: recorded with the joiner's name, and the patient is
        told who joined (a dentist, or the clinic's staff) and that the assistant is quiet."""
        async with self._db.transaction() as session:
            joined = await session.execute(
                update(db.Escalation)
                .where(db.Escalation.id == escalation_id, db.Escalation.joined_at.is_(None))
                .execution_options(synchronize_session=False)
                .values(joined_at=now, doctor_name=author.name)
            )
            created, urgency, language, conversation_id = (
                await session.execute(
                    select(
                        db.Escalation.created_at,
                        db.Escalation.urgency,
                        db.Conversation.language,
                        db.Conversation.id,
                    )
                    .join(db.Conversation, db.Conversation.id == db.Escalation.conversation_id)
                    .where(db.Escalation.id == escalation_id)
                )
            ).one()
        if getattr(joined, "rowcount", 0) == 1:
            self._metrics.escalation_time_to_reply.labels(urgency).observe(
                max(0.0, (now - created).total_seconds())
            )
            notice = (
                self.catalog(language, "doctor_joined", doctor=author.name)
                if author.role == "doctor"
                else self.catalog(language, "staff_joined", staff=author.name)
            )
            await self._outbox.send(conversation_id, notice)
            await self._remember(conversation_id)
            await self._feed.escalation_changed(escalation_id)

    async def send(
        self, conversation_id: str, text: str, author: Author
    ) -> tuple[MessageView, bool]:
        """`author`'s message to the patient on the conversation's channel, as stored, and
        whether the channel took it. InvalidOutbound (nothing sent), NoChannel."""
        sent = await self._outbox.send(conversation_id, text, author=author)
        await self._remember(conversation_id)
        await announce(self._hub, conversation_id)
        [message] = [
            m
            for m in await self.messages_after(conversation_id, sent.message_id - 1)
            if m.id == sent.message_id
        ]
        return message, sent.delivered

    async def send_notice(self, conversation_id: str, text: str) -> None:
        """A notice from the clinic (who joined or left) to the patient."""
        await self._outbox.send(conversation_id, text)
        await self._remember(conversation_id)
        await announce(self._hub, conversation_id)

    async def close(self, token: str) -> bool:
        """Hand the conversation back through a link (see `close_escalation`)."""
        access = await self.access(token)
        try:
            return await self.close_escalation(
                access.escalation_id, author=access.doctor_name or "On-call dentist"
            )
        except EscalationClosed:
            raise LinkRefused(LinkRefusal.CLOSED) from None

    async def close_escalation(self, escalation_id: str, *, author: str) -> bool:
        """Hand the conversation back to the assistant (a staff member's hold ends too): the
        patient is told (when someone had joined), every link of the escalation stops
        working, and the transcript is saved to the patient record (`author` signs it when
        nobody joined). Whether the transcript was saved (not for a patient who never proved
        who they are: it stays in the conversation). EscalationClosed when it was closed
        already."""
        now = self._now()
        async with self._db.transaction() as session:
            closed = await session.execute(
                update(db.Escalation)
                .where(db.Escalation.id == escalation_id, db.ESCALATION_UNCLOSED)
                .execution_options(synchronize_session=False)
                .values(status="closed", closed_at=now, notify_at=None)
            )
            if getattr(closed, "rowcount", 0) != 1:
                raise EscalationClosed("the escalation is closed")
            found = await escalation_with_conversation(session, escalation_id)
            assert found is not None  # closed just now, in this transaction
            escalation, conversation = found
            # Whoever held the conversation (a staff member who joined) lets it go with it.
            await session.execute(
                update(db.Conversation)
                .where(db.Conversation.id == conversation.id)
                .execution_options(synchronize_session=False)
                .values(held_by_staff_id=None, held_by=None, held_since=None)
            )
            opening = await session.scalar(
                select(db.Message.id)
                .where(
                    db.Message.conversation_id == conversation.id,
                    db.Message.role == "patient",
                    db.Message.created_at <= escalation.created_at,
                )
                .order_by(db.Message.id.desc())
                .limit(1)
            )
        await self._links.revoke(escalation_id)
        if escalation.joined_at is not None:
            notice = self.catalog(
                conversation.language, "doctor_left", doctor=escalation.doctor_name or ""
            )
            await self._outbox.send(conversation.id, notice)
        await announce(self._hub, conversation.id)
        await self._feed.escalation_changed(escalation_id)
        transcript = _transcript(
            escalation,
            await self.messages_after(conversation.id, (opening or 1) - 1),
            self._tz,
        )
        async with self._db.transaction() as session:
            await session.execute(
                update(db.Escalation)
                .where(db.Escalation.id == escalation.id)
                .execution_options(synchronize_session=False)
                .values(transcript=transcript)
            )
        await self._remember(conversation.id)
        if conversation.patient_id is None:
            return False
        await self._backend.add_patient_note(
            conversation.patient_id,
            transcript,
            author=escalation.doctor_name or author,
        )
        return True

    async def _remember(self, conversation_id: str) -> None:
        """Queue the whole conversation for memory after the desk stored a message in it (a
        dentist's or staff member's, a notice of who joined or left, a visit's report) or
        closed its escalation: the upsert adds the new messages and outcomes, and gives the
        escalated outcome its close (when, and which dentist). Written after the request, in
        order with the turns' writes; a failure is memory's own (counted, never raised)."""
        if self._memory is None:
            return
        facts = await whole_conversation_facts(self._db, conversation_id)
        if facts is not None:
            self._memory.remember_later(facts)

    # --- booking for the patient ---------------------------------------------------------

    async def slots(
        self, token: str, treatment: str, day: date, provider_id: int | None, language: str
    ) -> list[SlotView]:
        access = await self.access(token)
        await self._identified_patient(access)
        found = await self._backend.get_available_slots(
            treatment, day, day, provider_id=provider_id, limit=SLOT_LIMIT
        )
        return [
            SlotView(
                starts_at=s.starts_at.astimezone(self._tz),
                ends_at=s.ends_at.astimezone(self._tz),
                provider_id=s.provider_id,
                provider=s.provider_name_he if language == "he" else s.provider_name,
            )
            for s in found
        ]

    async def book(
        self, token: str, treatment: str, starts_at: datetime, provider_id: int | None
    ) -> AppointmentView:
        access = await self.access(token)
        patient_id = await self._identified_patient(access)
        appointment = await self._backend.create_appointment(
            patient_id,
            treatment,
            starts_at,
            provider_id=provider_id,
            notes=f"Booked by {access.doctor_name or 'the on-call dentist'} from an escalation",
        )
        await self._report(access, "booked", appointment)
        return _appointment_view(appointment, access.doctor_language or "en", self._tz)

    async def move(
        self, token: str, appointment_id: int, starts_at: datetime, provider_id: int | None
    ) -> AppointmentView:
        access = await self.access(token)
        patient_id = await self._identified_patient(access)
        appointment = await self._backend.reschedule_appointment(
            patient_id, appointment_id, starts_at, provider_id=provider_id
        )
        await self._report(access, "moved", appointment)
        return _appointment_view(appointment, access.doctor_language or "en", self._tz)

    async def cancel(self, token: str, appointment_id: int) -> AppointmentView:
        access = await self.access(token)
        patient_id = await self._identified_patient(access)
        appointment = await self._backend.cancel_appointment(
            patient_id, appointment_id, reason=f"Cancelled by {access.doctor_name or 'a dentist'}"
        )
        await self._report(access, "cancelled", appointment)
        return _appointment_view(appointment, access.doctor_language or "en", self._tz)

    async def _report(
        self, access: LinkAccess, kind: OutcomeKind, appointment: Appointment
    ) -> None:
        """Tell the patient, under the dentist's name, of the visit the dentist booked, moved
        or cancelled. That message carries the outcome, as a turn's reply carries the turn's,
        and the conversation goes to memory. A conversation no channel reaches (the keyed
        chat API) is not told, and memory learns nothing of it (logged)."""
        async with self._db.read() as session:
            language = await session.scalar(
                select(db.Conversation.language).where(db.Conversation.id == access.conversation_id)
            )
        he = language == "he"

        def text(key: str, **values: object) -> str:
            return self.catalog(language, key, **values)

        report = text(
            REPORTS[kind],
            treatment=appointment.treatment_name_he if he else appointment.treatment_name.lower(),
            when=local_when(text, appointment.starts_at.astimezone(self._tz)),
            provider=appointment.provider_name_he if he else appointment.provider_name,
        )
        outcome = visit(
            kind,
            provider_id=appointment.provider_id,
            provider_name=appointment.provider_name,
            visit_at=appointment.starts_at,
            appointment_id=appointment.id,
        )
        try:
            await self._outbox.send(
                access.conversation_id, report, author=_dentist(access), outcomes=(outcome,)
            )
        except NoChannel:
            logger.warning("a visit the dentist %s was not reported: no channel", kind)
        else:
            await self._remember(access.conversation_id)
        await announce(self._hub, access.conversation_id)

    async def _identified_patient(self, access: LinkAccess) -> int:
        async with self._db.transaction() as session:
            patient_id = await session.scalar(
                select(db.Conversation.patient_id).where(
                    db.Conversation.id == access.conversation_id
                )
            )
        if patient_id is None:
            raise PatientNotIdentified(
                "the patient has not proved who they are in this conversation"
            )
        return int(patient_id)


def _dentist(access: LinkAccess) -> Author:
    """Who writes to the patient through the link."""
    return Author(access.doctor_name or "Dentist", "doctor")


def _escalation_view(row: db.Escalation, tz: ZoneInfo) -> EscalationView:
    def local(moment: datetime | None) -> datetime | None:
        return None if moment is None else moment.astimezone(tz)

    return EscalationView(
        id=row.id,
        urgency=row.urgency,
        status=row.status,
        summary=row.summary,
        created_at=row.created_at.astimezone(tz),
        opened_at=local(row.opened_at),
        joined_at=local(row.joined_at),
        closed_at=local(row.closed_at),
    )


def _appointment_view(appointment: Appointment, language: str, tz: ZoneInfo) -> AppointmentView:
    he = language == "he"
    return AppointmentView(
        id=appointment.id,
        starts_at=appointment.starts_at.astimezone(tz),
        ends_at=appointment.ends_at.astimezone(tz),
        treatment_code=appointment.treatment_code,
        treatment=appointment.treatment_name_he if he else appointment.treatment_name,
        provider_id=appointment.provider_id,
        provider=appointment.provider_name_he if he else appointment.provider_name,
    )


def _message_view(message: db.Message, tz: ZoneInfo) -> MessageView:
    return MessageView(
        id=message.id,
        role=message.role,
        text=message.text or (f"[{message.button}]" if message.button else ""),
        created_at=message.created_at.astimezone(tz),
        author=message.author,
        delivery=message.delivery,
    )


def _transcript(escalation: db.Escalation, messages: list[MessageView], tz: ZoneInfo) -> str:
    """The escalation's conversation as a plain-text note for the patient record."""
    opened = escalation.created_at.astimezone(tz)
    lines = [
        f"Escalation {escalation.id} ({escalation.urgency}), opened {opened:%Y-%m-%d %H:%M}, "
        f"handed back {_local(escalation.closed_at, tz)} by {escalation.doctor_name or '-'}.",
        "",
    ]
    for message in messages:
        who = {"patient": "Patient", "assistant": "Assistant"}.get(
            message.role, message.author or "Dentist"
        )
        lines.append(f"[{message.created_at.astimezone(tz):%H:%M}] {who}: {message.text}")
    return "\n".join(lines)


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return "-" if moment is None else f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"
