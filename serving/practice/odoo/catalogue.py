"""The clinic's treatments in Odoo: service products of the category "Dental treatments".

A product's internal reference (`default_code`) is the treatment code; its name is read in
English and in Hebrew (Odoo's translations); `x_duration_minutes` and `x_provider_ids` say how
long it takes and who performs it, where the clinic has added them. Each treatment has a
calendar tag (calendar.event.type) of the same name, which marks an appointment's treatment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from serving.practice import models as rec
from serving.practice.errors import PracticeMisconfigured
from serving.practice.odoo.client import OdooClient
from serving.practice.odoo.mapping import OdooMapping
from serving.practice.odoo.records import money, ref_name

TREATMENT_CATEGORY = "Dental treatments"
ENGLISH, HEBREW = "en_US", "he_IL"


@dataclass(frozen=True)
class OdooTreatment:
    record: rec.TreatmentType
    product_id: int
    provider_ids: frozenset[int] | None
    """The users who perform it; None: every provider."""

    @property
    def code(self) -> str:
        return self.record.code


async def load_treatments(
    client: OdooClient, mapping: OdooMapping, *, default_duration_minutes: int
) -> list[OdooTreatment]:
    categories = await client.call(
        "product.category",
        "search_read",
        [[("name", "=", TREATMENT_CATEGORY)]],
        {"fields": ["name"]},
    )
    if not categories:
        raise PracticeMisconfigured(
            f'Odoo has no product category "{TREATMENT_CATEGORY}": create it and put the '
            "clinic's treatments in it, each with its code as Internal Reference (docs/ODOO.md)"
        )
    domain = [
        ("categ_id", "in", [c["id"] for c in categories]),
        ("default_code", "!=", False),
    ]
    optional = [
        name
        for name, present in (
            ("x_duration_minutes", mapping.duration),
            ("x_provider_ids", mapping.treatment_providers),
        )
        if present
    ]
    english, hebrew, currency = await asyncio.gather(
        client.call(
            "product.product",
            "search_read",
            [domain],
            {
                "fields": ["default_code", "name", "list_price", *optional],
                "order": "id",
                "context": {"lang": ENGLISH},
            },
        ),
        client.call(
            "product.product",
            "search_read",
            [domain],
            {"fields": ["name"], "context": {"lang": HEBREW}},
        ),
        company_currency(client),
    )
    names_he = {row["id"]: row["name"] for row in hebrew}
    treatments = []
    for row in english:
        duration = row.get("x_duration_minutes") or default_duration_minutes
        providers = row.get("x_provider_ids")
        treatments.append(
            OdooTreatment(
                record=rec.TreatmentType(
                    code=str(row["default_code"]).strip().lower(),
                    name=row["name"],
                    name_he=names_he.get(row["id"], row["name"]),
                    duration_minutes=int(duration),
                    price=money(row["list_price"]),
                    currency=currency,
                ),
                product_id=row["id"],
                provider_ids=frozenset(providers) if providers else None,
            )
        )
    return treatments


async def company_currency(client: OdooClient) -> str:
    """The ISO code of the (first) company's currency: the one prices are in."""
    companies = await client.call(
        "res.company", "search_read", [[]], {"fields": ["currency_id"], "order": "id", "limit": 1}
    )
    return ref_name(companies[0]["currency_id"]) if companies else ""


async def load_tags(
    client: OdooClient, codes: Sequence[str]
) -> tuple[dict[str, int], dict[int, str]]:
    """The calendar tag of each treatment code that has one (the oldest), and every tag named
    for a code → that code: a tag made twice (by hand, or by two processes at once) still
    marks the treatment."""
    rows = await client.call(
        "calendar.event.type",
        "search_read",
        [[("name", "in", list(codes))]],
        {"fields": ["name"], "order": "id"},
    )
    tags: dict[str, int] = {}
    for row in rows:
        tags.setdefault(row["name"], row["id"])
    return tags, {row["id"]: row["name"] for row in rows}


async def create_tag(client: OdooClient, code: str) -> int:
    """The code's calendar tag: one made meanwhile (by another process) if there is one."""
    tags, _ = await load_tags(client, [code])
    if code in tags:
        return tags[code]
    tag_id: int = await client.call("calendar.event.type", "create", [{"name": code}])
    return tag_id


async def load_internal_subtypes(client: OdooClient) -> frozenset[int]:
    """The message subtypes only employees see (a note): a message of any other subtype on a
    patient's record was written for the patient."""
    rows = await client.call(
        "mail.message.subtype",
        "search_read",
        [[("internal", "=", True)]],
        {"fields": ["id"], "context": {"active_test": False}},
    )
    return frozenset(row["id"] for row in rows)
