"""`dental oncall ...`: the dentists alerted about escalations and their weekly shifts;
`dental escalations ...`: what is escalated, and revoking its doctor links
(docs/ESCALATION.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy import func, select

from serving.cli.support import fail, on_migrated_database, operator_settings
from serving.db import models as db
from serving.db.engine import Database
from serving.db.escalation_models import EscalationNotification
from serving.db.types import utcnow
from serving.escalation.links import DoctorLinks
from serving.escalation.rota import Doctor, OnCallRota, RotaError

T = TypeVar("T")

oncall_app = typer.Typer(
    help="The on-call rota: who is alerted (e-mail, SMS, Telegram) when a conversation is "
    "escalated. See docs/ESCALATION.md.",
    no_args_is_help=True,
)
escalations_app = typer.Typer(
    help="Escalations: list them with their notices; revoke their doctor links.",
    no_args_is_help=True,
)


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    return on_migrated_database(lambda database, _: work(database))


def _rota(database: Database) -> OnCallRota:
    settings = operator_settings()
    return OnCallRota(
        database, timezone=settings.timezone, phone_region=settings.default_phone_region
    )


def _line(doctor: Doctor) -> str:
    shifts = ", ".join(shift.label() for shift in doctor.shifts) or "no shifts"
    telegram = f"telegram {doctor.telegram_chat_id}" if doctor.telegram_chat_id else "no telegram"
    role = " (fallback)" if doctor.fallback else ""
    return (
        f"{doctor.id}  {doctor.name}{role}  {doctor.email}  {doctor.phone}  {telegram}  "
        f"{doctor.language}  [{shifts}]"
    )


@oncall_app.command("add")
def add(
    name: Annotated[str, typer.Option(help="As patients and colleagues know them.")],
    email: Annotated[str, typer.Option(help="Where the e-mail notices go.")],
    phone: Annotated[str, typer.Option(help="Mobile number for SMS (+972... or 05x-...).")],
    telegram_chat_id: Annotated[
        int | None, typer.Option(help="The dentist's chat with the clinic's bot, if any.")
    ] = None,
    language: Annotated[str, typer.Option(help="Language of the notices: he or en.")] = "he",
    shift: Annotated[
        list[str] | None,
        typer.Option(
            help="A weekly shift in clinic time, e.g. 'sun-thu 08:00-18:00' or "
            "'fri 18:00-08:00' (overnight); repeat for more."
        ),
    ] = None,
    fallback: Annotated[
        bool, typer.Option(help="Alerted whenever no shift of anyone covers the moment.")
    ] = False,
) -> None:
    """Put a dentist on the rota."""

    async def work(database: Database) -> Doctor:
        return await _rota(database).add(
            name=name,
            email=email,
            phone=phone,
            telegram_chat_id=telegram_chat_id,
            language=language,
            fallback=fallback,
            shifts=shift or [],
        )

    try:
        doctor = _run(work)
    except RotaError as error:
        fail(str(error))
    typer.echo(f"added: {_line(doctor)}")


@oncall_app.command("list")
def list_doctors() -> None:
    """The dentists on the rota, with their shifts."""
    doctors = _run(lambda database: _rota(database).doctors())
    if not doctors:
        typer.echo("nobody is on call: escalations notify no one (`dental oncall add`)")
        return
    for doctor in doctors:
        typer.echo(_line(doctor))
    if not any(d.fallback for d in doctors) and any(d.shifts for d in doctors):
        typer.echo("warning: no fallback dentist; a moment no shift covers alerts nobody")


@oncall_app.command("remove")
def remove(who: Annotated[str, typer.Argument(help="The dentist's id or e-mail.")]) -> None:
    """Take a dentist off the rota (their links already sent keep working until they
    expire; revoke them with `dental escalations revoke`)."""
    try:
        doctor = _run(lambda database: _rota(database).remove(who))
    except RotaError as error:
        fail(str(error))
    typer.echo(f"removed: {doctor.name}")


@escalations_app.command("list")
def list_escalations(
    all_: Annotated[bool, typer.Option("--all", help="Closed ones too.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Escalations, newest first, with their milestones and notices sent and failed."""

    async def work(database: Database) -> list[tuple[db.Escalation, int, int]]:
        sent = func.count().filter(EscalationNotification.status == "sent")
        failed = func.count().filter(EscalationNotification.status == "failed")
        query = (
            select(db.Escalation, sent, failed)
            .outerjoin(
                EscalationNotification,
                EscalationNotification.escalation_id == db.Escalation.id,
            )
            .group_by(db.Escalation.id)
            .order_by(db.Escalation.created_at.desc())
            .limit(limit)
        )
        if not all_:
            query = query.where(db.ESCALATION_UNCLOSED)
        async with database.transaction() as session:
            return [(e, int(s), int(f)) for e, s, f in (await session.execute(query)).all()]

    rows = _run(work)
    if not rows:
        typer.echo("no escalations" if all_ else "no open escalations")
    for escalation, sent, failed in rows:
        milestones = ", ".join(
            f"{name} {moment:%Y-%m-%d %H:%M}"
            for name, moment in (
                ("opened", escalation.opened_at),
                ("joined", escalation.joined_at),
                ("closed", escalation.closed_at),
            )
            if moment is not None
        )
        typer.echo(
            f"{escalation.id}  {escalation.urgency}  {escalation.status}  "
            f"{escalation.created_at:%Y-%m-%d %H:%M}  notices sent {sent}, failed {failed}"
            + (f"  ({milestones})" if milestones else "")
        )


@escalations_app.command("revoke")
def revoke(
    escalation_id: Annotated[str, typer.Argument(help="From `dental escalations list`.")],
    resend: Annotated[
        bool, typer.Option(help="Notify the dentist on call now, with fresh links.")
    ] = True,
) -> None:
    """Revoke every doctor link of an escalation (a link sent to the wrong person, a phone
    lost). The escalation stays open; with --resend (the default) whoever is on call gets a
    new notice with a fresh link at once."""

    async def work(database: Database) -> int:
        async with database.transaction() as session:
            escalation = await session.get(db.Escalation, escalation_id)
            if escalation is None:
                fail("no escalation with that id")
            if resend and escalation.status != "closed":
                escalation.notify_at = utcnow()
        return await DoctorLinks(database).revoke(escalation_id)

    typer.echo(f"revoked {_run(work)} link(s)")
