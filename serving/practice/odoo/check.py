"""What `dental odoo check` finds: whether the assistant can work on this Odoo, and what to
fix. Everything is asked of Odoo as the assistant's own user, so refused rights show here
before a patient meets them."""

from __future__ import annotations

from dataclasses import dataclass, field

from serving.practice.errors import PracticeError, PracticeMisconfigured
from serving.practice.models import Provider, TreatmentType
from serving.practice.odoo.backend import OdooPracticeBackend
from serving.practice.odoo.catalogue import load_tags
from serving.practice.odoo.connection import major_version
from serving.practice.odoo.mapping import ALLERGY_MODEL, MissingItem, OdooMapping
from serving.practice.odoo.records import ref_id

READ_MODELS = (
    "res.partner",
    "res.users",
    "res.partner.category",
    "res.company",
    "resource.resource",
    "resource.calendar",
    "resource.calendar.attendance",
    "resource.calendar.leaves",
    "calendar.event",
    "calendar.event.type",
    "product.category",
    "product.product",
    "account.move",
    "account.move.line",
    "mail.message",
    "mail.message.subtype",
)
"""What the assistant reads on every kind of request (the plan and allergy models are added
when the mapping uses them)."""
WRITES = (
    ("calendar.event", "create"),
    ("calendar.event", "write"),
    ("calendar.event", "unlink"),
)
"""Booking, moving and cancelling; a note is `message_post`, which reading allows. Creating
a treatment's calendar tag is needed only where the clinic has none (`_untagged`)."""


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
    """What stops the assistant from booking at all or rightly (no providers, no treatments,
    working hours it would misread)."""

    @property
    def ready(self) -> bool:
        return not self.refused and not self.problems


async def check_odoo(backend: OdooPracticeBackend, *, default_duration_minutes: int) -> OdooCheck:
    """Connect, detect the mapping, try every right the assistant needs and read the clinic's
    providers, their working schedules and treatments. Connection and login failures raise the
    practice error."""
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
            problems += await _schedule_problems(backend, providers)
            problems += await _untagged(backend, version, treatments)
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


async def _schedule_problems(backend: OdooPracticeBackend, providers: list[Provider]) -> list[str]:
    """The providers' working schedules the backend would misread: it takes attendances as the
    same hours every week, in the clinic's time zone."""
    if not providers:
        return []
    users = await backend.client.call(
        "res.users",
        "search_read",
        [[("id", "in", [p.id for p in providers])]],
        {"fields": ["resource_calendar_id"]},
    )
    calendar_ids = sorted({c for u in users if (c := ref_id(u["resource_calendar_id"]))})
    calendars = await backend.client.call(
        "resource.calendar",
        "read",
        [calendar_ids],
        {"fields": ["name", "tz", "two_weeks_calendar"]},
    )
    clinic = backend.timezone.key
    problems = []
    for calendar in calendars:
        name = calendar["name"]
        if calendar["tz"] != clinic:
            problems.append(
                f'working schedule "{name}" is in the time zone {calendar["tz"] or "none"}, not '
                f"the clinic's {clinic}: set its Timezone to {clinic} (its hours are read as "
                "clinic-local hours)"
            )
        if calendar.get("two_weeks_calendar"):
            problems.append(
                f'working schedule "{name}" alternates two weeks: the assistant reads the same '
                "hours every week; make it a one-week schedule"
            )
    return problems


async def _untagged(
    backend: OdooPracticeBackend, version: str, treatments: list[TreatmentType]
) -> list[str]:
    """Treatments without a calendar tag, when the user may not create one (real Odoo 17 lets
    only administrators create calendar tags)."""
    if not treatments or await _may(backend, version, "calendar.event.type", "create"):
        return []
    tags, _ = await load_tags(backend.client, [t.code for t in treatments])
    missing = [t.code for t in treatments if t.code not in tags]
    if not missing:
        return []
    return [
        f"no calendar tag for {', '.join(missing)}, and the user may not create calendar tags: "
        "create a tag (Calendar → Configuration → Meeting Types) named by each code"
    ]


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
