"""What `dental odoo check` finds: whether the assistant can work on this Odoo, and what to
fix. Everything is asked of Odoo as the assistant's own user, so refused rights show here
before a patient meets them."""

from __future__ import annotations

from dataclasses import dataclass, field

from serving.practice.errors import PracticeError, PracticeMisconfigured
from serving.practice.models import Provider, TreatmentType
from serving.practice.odoo.backend import OdooPracticeBackend
from serving.practice.odoo.connection import major_version
from serving.practice.odoo.mapping import ALLERGY_MODEL, MissingItem, OdooMapping

READ_MODELS = (
    "res.partner",
    "res.users",
    "resource.calendar.attendance",
    "resource.calendar.leaves",
    "calendar.event",
    "calendar.event.type",
    "product.product",
    "account.move",
    "account.move.line",
    "mail.message",
)
"""What the assistant reads on every kind of request (the plan and allergy models are added
when the mapping uses them)."""
WRITES = (("calendar.event", "create"), ("calendar.event", "write"), ("calendar.event", "unlink"))
"""Booking, moving and cancelling; a note is `message_post`, which reading allows."""


@dataclass(frozen=True)
class OdooCheck:
    server_version: str
    mapping: OdooMapping
    missing: list[MissingItem]
    providers: list[Provider] = field(default_factory=list)
    treatments: list[TreatmentType] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Each right the assistant's user lacks, with the fix."""
    problems: list[str] = field(default_factory=list)
    """What stops the assistant from booking at all (no providers, no treatments)."""

    @property
    def ready(self) -> bool:
        return not self.refused and not self.problems


async def check_odoo(backend: OdooPracticeBackend, *, default_duration_minutes: int) -> OdooCheck:
    """Connect, detect the mapping, try every right the assistant needs and read the clinic's
    providers and treatments. Connection and login failures raise the practice error."""
    version = await backend.client.server_version()
    mapping = await backend.mapping()
    refused = [
        problem
        for model in _read_models(mapping)
        if (problem := await _read_refused(backend, model)) is not None
    ]
    for model, operation in WRITES:
        if not await _may(backend, version, model, operation):
            refused.append(
                f"may not {operation} {model}: give the user the Calendar rights of an "
                "internal user (docs/ODOO.md, Set-up in Odoo)"
            )
    providers: list[Provider] = []
    treatments: list[TreatmentType] = []
    problems: list[str] = []
    if not refused:
        try:
            providers = await backend.list_providers()
            treatments = await backend.list_treatment_types()
        except PracticeMisconfigured as error:  # the clinic's set-up cannot be read
            problems.append(str(error))
        if not providers:
            problems.append(
                "no providers: tag the dentists' and hygienists' contacts (their users' "
                'partners) "Dentist" or "Hygienist" and give each user working hours'
            )
        if not treatments:
            problems.append(
                'no treatments: put the bookable services in the product category "Dental '
                'treatments", each with its code as Internal Reference'
            )
    return OdooCheck(
        server_version=version,
        mapping=mapping,
        missing=mapping.missing(default_duration_minutes=default_duration_minutes),
        providers=providers,
        treatments=treatments,
        refused=refused,
        problems=problems,
    )


def _read_models(mapping: OdooMapping) -> list[str]:
    models = list(READ_MODELS)
    if mapping.plans:
        models += ["sale.order", "sale.order.line"]
    if mapping.allergies == "model":
        models.append(ALLERGY_MODEL)
    return models


async def _read_refused(backend: OdooPracticeBackend, model: str) -> str | None:
    try:
        await backend.client.call(model, "search_read", [[]], {"fields": ["id"], "limit": 1})
    except PracticeError as error:
        return f"may not read {model}: {error}"
    return None


async def _may(backend: OdooPracticeBackend, version: str, model: str, operation: str) -> bool:
    """Odoo's own answer to "may this user `operation` `model`?" (renamed in 18)."""
    if major_version(version) >= 18:  # a method of records there: an empty set asks
        return bool(await backend.client.call(model, "has_access", [[], operation]))
    return bool(
        await backend.client.call(
            model, "check_access_rights", [operation], {"raise_exception": False}
        )
    )
