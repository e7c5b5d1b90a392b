"""Notifying the on-call dentist: every escalation due a notice gets one round, on every
channel the dentist can be reached on, with a private link.

An escalation is due when `escalations.notify_at` has passed: the turn that opens it sets it to
now, and so does a turn that raises its urgency. Every serving process runs a dispatcher: each
due escalation is claimed by moving its `notify_at` forward in one conditional UPDATE, so one
process sends each round. After a round, `notify_at` is the next repeat (an EMERGENCY nobody has
opened yet, or a round nothing was delivered by) or None. Opening a link sets it to None, so
the repeats stop.

The channels of a round are sent to at the same time, each with its own retries: a channel
that fails or hangs never holds up the others. Every notice and what became of it is recorded
in `escalation_notifications`; failures are counted by channel in the metrics and logged with
their provider code, never with the address, the link or the patient's words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from serving.db import models as db
from serving.db.engine import Database
from serving.db.escalation_models import EscalationNotification
from serving.db.types import utcnow
from serving.escalation.links import DoctorLinks
from serving.escalation.notices import EscalationFacts, compose
from serving.escalation.records import escalation_with_conversation
from serving.escalation.rota import Doctor, OnCallRota
from serving.notify import Delivery, Notice, Transport
from serving.observability.metrics import AppMetrics
from serving.practice.backend import PracticeBackend
from serving.practice.errors import PracticeError

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
CLAIM = timedelta(minutes=2)
"""How long a claimed round is another process's: a process that dies mid-round leaves the
escalation due again after this."""
BATCH = 20


@dataclass(frozen=True)
class DispatchPolicy:
    repeat_every: timedelta = timedelta(minutes=5)
    """Between EMERGENCY reminders (and between rounds that reached nobody)."""
    attempts: int = 3
    """Sends of one notice on one channel at most, within a round."""
    backoff_seconds: tuple[float, ...] = (1.0, 4.0)
    poll_seconds: float = 2.0
    """How often the queue is read when no turn of this process pokes it."""


class EscalationDispatcher:
    def __init__(
        self,
        database: Database,
        *,
        rota: OnCallRota,
        links: DoctorLinks,
        transports: Sequence[Transport],
        backend: PracticeBackend,
        metrics: AppMetrics,
        public_base_url: str,
        clinic_name: Callable[[str], str],
        policy: DispatchPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._db = database
        self._rota = rota
        self._links = links
        self._transports = tuple(transports)
        self._backend = backend
        self._metrics = metrics
        self._base_url = public_base_url.rstrip("/")
        self._clinic_name = clinic_name
        self._policy = policy or DispatchPolicy()
        self._now = clock
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(t.channel for t in self._transports)

    async def start(self) -> None:
        if not self._transports:
            logger.warning(
                "no notification channel is configured (SMTP, Twilio, Telegram): escalations "
                "notify no dentist; see docs/ESCALATION.md"
            )
            return
        self._task = asyncio.create_task(self._loop(), name="escalation dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for transport in self._transports:
            await transport.close()

    def poke(self) -> None:
        """A turn raised an escalation: look now rather than at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:  # a database blip must not end the dispatcher
                logger.exception("escalation dispatch failed; retrying at the next poll")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._policy.poll_seconds)
            self._wake.clear()

    async def run_due(self) -> int:
        """Run every due round this process can claim; how many ran."""
        ran = 0
        while True:
            claimed = await self._claim_due()
            if not claimed:
                return ran
            await asyncio.gather(
                *(self._round(escalation_id, claim) for escalation_id, claim in claimed)
            )
            ran += len(claimed)

    async def _claim_due(self) -> list[tuple[str, datetime]]:
        now = self._now()
        async with self._db.transaction() as session:
            due = (
                await session.execute(
                    select(db.Escalation.id, db.Escalation.notify_at)
                    .where(db.Escalation.notify_at <= now, db.ESCALATION_UNCLOSED)
                    .order_by(db.Escalation.notify_at)
                    .limit(BATCH)
                )
            ).all()
        claimed: list[tuple[str, datetime]] = []
        for escalation_id, notify_at in due:
            claim = now + CLAIM
            async with self._db.transaction() as session:
                result = await session.execute(
                    update(db.Escalation)
                    .where(db.Escalation.id == escalation_id, db.Escalation.notify_at == notify_at)
                    .execution_options(synchronize_session=False)
                    .values(notify_at=claim)
                )
            if getattr(result, "rowcount", 0) == 1:
                claimed.append((escalation_id, claim))
        return claimed

    async def _round(self, escalation_id: str, claim: datetime) -> None:
        async with self._db.transaction() as session:
            row = await escalation_with_conversation(session, escalation_id)
        if row is None:
            return
        escalation, conversation = row
        round_number = escalation.notified_rounds + 1
        if round_number == 1:
            self._metrics.escalations_opened.labels(escalation.urgency).inc()
        doctors = await self._rota.on_call(self._now())
        reachable = [d for d in doctors if any(_address(d, t.channel) for t in self._transports)]
        delivered = False
        if not reachable:
            logger.error(
                "no on-call dentist can be notified of an escalation",
                extra={"escalation": escalation_id, "doctors": len(doctors)},
            )
            self._metrics.notification_failures.labels("none").inc()
        else:
            patient_name = await self._patient_name(conversation.patient_id)
            facts = EscalationFacts(
                urgency=escalation.urgency,
                patient_name=patient_name,
                channel=conversation.channel,
                summary=escalation.last_summary,
                message_count=escalation.message_count,
                round=round_number,
                repeats=escalation.urgency == "EMERGENCY",
            )
            delivered = await self._notify(escalation.id, reachable, facts)
        # Repeat an EMERGENCY, or a round that reached nobody, unless a link was opened: before
        # the round (read with it) or during it (that set notify_at to None, so the
        # conditional update below leaves it alone).
        repeat = escalation.opened_at is None and (
            escalation.urgency == "EMERGENCY" or not delivered
        )
        next_at = self._now() + self._policy.repeat_every if repeat else None
        async with self._db.transaction() as session:
            await session.execute(
                update(db.Escalation)
                .where(db.Escalation.id == escalation_id)
                .execution_options(synchronize_session=False)
                .values(notified_rounds=round_number)
            )
            # Only if still ours: a raised urgency (notify_at now) or an opened link (None)
            # since the claim wins.
            await session.execute(
                update(db.Escalation)
                .where(db.Escalation.id == escalation_id, db.Escalation.notify_at == claim)
                .execution_options(synchronize_session=False)
                .values(notify_at=next_at)
            )

    async def _patient_name(self, patient_id: int | None) -> str | None:
        if patient_id is None:
            return None
        try:
            patient = await self._backend.get_patient(patient_id)
        except PracticeError:
            return None
        return f"{patient.first_name} {patient.last_name}".strip()

    async def _notify(
        self, escalation_id: str, doctors: Sequence[Doctor], facts: EscalationFacts
    ) -> bool:
        """One round: a fresh link for each dentist, every channel at once. Whether any
        notice was delivered."""
        async with self._db.transaction() as session:
            tokens = {d.id: await self._links.issue(session, escalation_id, d.id) for d in doctors}
        sends: list[tuple[Doctor, Transport, Awaitable[tuple[Delivery, int]]]] = []
        for doctor in doctors:
            notice = compose(
                facts,
                link=f"{self._base_url}/doctor/{tokens[doctor.id]}",
                language=doctor.language,
                clinic=self._clinic_name(doctor.language),
            )
            for transport in self._transports:
                address = _address(doctor, transport.channel)
                if address is not None:
                    sends.append((doctor, transport, self._send(transport, address, notice)))
        results = await asyncio.gather(*(sending for _, _, sending in sends))
        async with self._db.transaction() as session:
            for (doctor, transport, _), (delivery, attempts) in zip(sends, results, strict=True):
                session.add(
                    EscalationNotification(
                        escalation_id=escalation_id,
                        doctor_id=doctor.id,
                        channel=transport.channel,
                        urgency=facts.urgency,
                        round=facts.round,
                        status="sent" if delivery.delivered else "failed",
                        attempts=attempts,
                        external_id=(delivery.external_id or None) and delivery.external_id[:120],
                        error=delivery.error[:200] if delivery.error else None,
                    )
                )
        for (_, transport, _), (delivery, attempts) in zip(sends, results, strict=True):
            if not delivery.delivered:
                self._metrics.notification_failures.labels(transport.channel).inc()
                logger.warning(
                    "a notice to the on-call dentist failed",
                    extra={
                        "channel": transport.channel,
                        "error": delivery.error,
                        "attempts": attempts,
                    },
                )
        return any(delivery.delivered for delivery, _ in results)

    async def _send(
        self, transport: Transport, address: str, notice: Notice
    ) -> tuple[Delivery, int]:
        """Send with retries while the failure is worth another try; the last result and how
        many sends it took. An unexpected exception counts as a failed, retryable send."""
        attempt = 0
        while True:
            attempt += 1
            try:
                delivery = await transport.send(address, notice)
            except Exception as error:  # a transport bug must not sink the round
                logger.exception(
                    "notification transport raised", extra={"channel": transport.channel}
                )
                delivery = Delivery(delivered=False, error=type(error).__name__, retryable=True)
            if delivery.delivered or not delivery.retryable or attempt >= self._policy.attempts:
                return delivery, attempt
            backoff = self._policy.backoff_seconds
            await self._sleep(backoff[min(attempt - 1, len(backoff) - 1)] if backoff else 0.0)


def _address(doctor: Doctor, channel: str) -> str | None:
    if channel == "email":
        return doctor.email
    if channel == "sms":
        return doctor.phone
    if channel == "telegram":
        return str(doctor.telegram_chat_id) if doctor.telegram_chat_id else None
    return None
