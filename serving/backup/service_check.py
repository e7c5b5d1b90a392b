"""Does the app serve the restored data? It must answer `/health`, continue a known
conversation, and tell a patient their known next appointment.

The known records are read from the restored database itself; the probe then asks the app
over HTTP (in-process for a restore, a real server in the drill). The probe writes a turn of
conversation, so a restore runs it on a scratch copy of the restored database, never on the
database that will go live.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from serving.backup.errors import IntegrityFailure
from serving.db import models as db
from serving.db.engine import Database

PROBE_QUESTION = "when is my appointment?"
"""What a patient asks; the offline model answers it from the practice data (intent
`my_appointments`). A probe input, not user-facing text."""
PROBE_CHANNELS = ("api", "web")
"""Conversations the chat API can continue: trusted integrations (`api`) and the web chat."""
KNOWN_CONVERSATION_CHECK = "a known conversation continues"
KNOWN_APPOINTMENT_CHECK = "a known appointment is answered"
CLINIC_DATA_CHECKS = {
    KNOWN_CONVERSATION_CHECK: "a known conversation (the restored database holds none)",
    KNOWN_APPOINTMENT_CHECK: "a known appointment (the restored database holds no upcoming one)",
}
"""The checks that prove the clinic's data is served, and what is missing when one cannot run."""


@dataclass(frozen=True)
class KnownRecords:
    conversation_id: str | None
    conversation_channel: str | None
    conversation_user: str | None
    patient_phone: str | None
    appointment_local_time: str | None  # "HH:MM" in the clinic's time zone


async def known_records(database_url: str, timezone: str) -> KnownRecords:
    """The newest chat-API conversation and the earliest upcoming scheduled appointment."""
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            conversation = await session.scalar(
                select(db.Conversation)
                .where(db.Conversation.channel.in_(PROBE_CHANNELS))
                .order_by(db.Conversation.updated_at.desc())
                .limit(1)
            )
            row = (
                await session.execute(
                    select(db.Appointment.starts_at, db.Patient.phone)
                    .join(db.Patient, db.Patient.id == db.Appointment.patient_id)
                    .where(
                        db.Appointment.status == "scheduled",
                        db.Appointment.starts_at > datetime.now(UTC),
                    )
                    .order_by(db.Appointment.starts_at)
                    .limit(1)
                )
            ).first()
    finally:
        await database.dispose()
    return KnownRecords(
        conversation_id=conversation.id if conversation else None,
        conversation_channel=conversation.channel if conversation else None,
        conversation_user=conversation.external_user_id if conversation else None,
        patient_phone=row.phone if row else None,
        appointment_local_time=(
            row.starts_at.astimezone(ZoneInfo(timezone)).strftime("%H:%M") if row else None
        ),
    )


async def probe_service(
    client: httpx.AsyncClient, known: KnownRecords, integration_key: str
) -> list[str]:
    """Ask the app; returns what was checked, raises `IntegrityFailure` naming what failed."""
    checked = []
    health = await client.get("/health")
    if health.status_code != 200:
        raise IntegrityFailure(f"the restored app does not answer /health ({health.status_code})")
    checked.append("/health answers")
    auth = {"Authorization": f"Bearer {integration_key}"}

    if known.conversation_id is not None:
        trusted = known.conversation_channel == "api"
        response = await client.post(
            "/api/v1/chat",
            json={"user_id": known.conversation_user, "text": PROBE_QUESTION},
            headers=auth if trusted else {},
        )
        if response.status_code != 200:
            raise IntegrityFailure(
                f"the restored app did not answer a known conversation ({response.status_code})"
            )
        if response.json().get("conversation_id") != known.conversation_id:
            raise IntegrityFailure(
                "the restored app did not find a known conversation: it started a new one"
            )
        checked.append(KNOWN_CONVERSATION_CHECK)

    if known.patient_phone is not None and known.appointment_local_time is not None:
        response = await client.post(
            "/api/v1/chat",
            json={
                "user_id": f"recovery-probe-{secrets.token_hex(4)}",
                "text": PROBE_QUESTION,
                "phone": known.patient_phone,
            },
            headers=auth,
        )
        reply = response.json() if response.status_code == 200 else {}
        if reply.get("intent") != "my_appointments" or known.appointment_local_time not in str(
            reply.get("reply", "")
        ):
            raise IntegrityFailure(
                "the restored app did not tell a patient their known next appointment "
                f"(status {response.status_code}, intent {reply.get('intent')!r})"
            )
        checked.append(KNOWN_APPOINTMENT_CHECK)
    return checked


def clinic_data_not_checked(checked: list[str]) -> list[str]:
    """What the probe could not ask about (it ran no check on it), from its `checked` list."""
    return [missing for check, missing in CLINIC_DATA_CHECKS.items() if check not in checked]
