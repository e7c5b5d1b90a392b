"""Where the clinic's Odoo keeps what the assistant reads: `OdooMapping`, detected with
`fields_get` at first use.

Odoo has no fields for a patient's Hebrew name, date of birth or allergies, nor for a
treatment's length; a clinic adds them (docs/ODOO.md). What exists is used and what does not is
reported by `missing()`, each item with the fix, for `dental odoo check`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from serving.practice.errors import PracticeMisconfigured
from serving.practice.odoo.client import OdooClient
from serving.practice.odoo.connection import NoSuchModel

AllergySource = Literal["model", "partner_text", "none"]
ALLERGY_MODEL = "x_dental_allergy"
ALLERGY_FIELDS = ("x_name", "x_partner_id", "x_reaction", "x_severity")
ALLERGY_TEXT_FORMAT = "substance: reaction (severity)"

Fields = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class MissingItem:
    """Something the assistant cannot read from this Odoo, what that means, and the fix."""

    what: str
    effect: str
    fix: str


@dataclass(frozen=True)
class OdooMapping:
    phone_fields: tuple[str, ...]
    """res.partner's phone fields: `phone`, and `mobile` where it exists (gone in 18.2+)."""
    name_he: bool
    """res.partner.x_name_he: patients' and providers' names in Hebrew."""
    date_of_birth: bool
    """res.partner.x_date_of_birth."""
    duration: bool
    """product x_duration_minutes: how long each treatment takes."""
    treatment_providers: bool
    """product x_provider_ids: who performs each treatment."""
    allergies: AllergySource
    allergy_fields: frozenset[str]
    """The fields of the x_dental_allergy model (when `allergies` is "model")."""
    plans: bool
    """sale.order: a quotation or order is the patient's treatment plan."""
    plan_tooth: bool
    """sale.order.line.x_tooth."""
    plan_locked: bool
    """sale.order.locked (17+); 16 says "done" in `state` instead."""

    def partner_fields(self) -> list[str]:
        """The res.partner fields a patient is read from."""
        optional = [
            name
            for name, present in (
                ("x_name_he", self.name_he),
                ("x_date_of_birth", self.date_of_birth),
            )
            if present
        ]
        return ["name", "email", "lang", *self.phone_fields, *optional]

    def missing(self, *, default_duration_minutes: int) -> list[MissingItem]:
        """What this Odoo lacks, most important first."""
        items: list[MissingItem] = []
        if self.allergies == "none":
            items.append(
                MissingItem(
                    "allergies",
                    "the assistant cannot tell a patient which allergies are on file",
                    f"create the model {ALLERGY_MODEL} (fields {', '.join(ALLERGY_FIELDS)}), or "
                    "add a Text field x_allergies to Contacts with one allergy per line as "
                    f'"{ALLERGY_TEXT_FORMAT}"',
                )
            )
        if not self.plans:
            items.append(
                MissingItem(
                    "treatment plans",
                    "the assistant cannot tell a patient what is planned",
                    "install Sales: a patient's quotation or sales order is their plan",
                )
            )
        if not self.duration:
            items.append(
                MissingItem(
                    "treatment durations",
                    f"every treatment is booked for {default_duration_minutes} minutes",
                    "add an Integer field x_duration_minutes to Products",
                )
            )
        if not self.treatment_providers:
            items.append(
                MissingItem(
                    "who performs each treatment",
                    "every dentist and hygienist is offered for every treatment",
                    "add a Many2many field x_provider_ids (to Users) to Products",
                )
            )
        if not self.name_he:
            items.append(
                MissingItem(
                    "Hebrew names",
                    "names are given as written in Odoo in both languages",
                    "add a Char field x_name_he to Contacts",
                )
            )
        if not self.date_of_birth:
            items.append(
                MissingItem(
                    "dates of birth",
                    "a patient's date of birth is not known to the assistant",
                    "add a Date field x_date_of_birth to Contacts",
                )
            )
        if self.plans and not self.plan_tooth:
            items.append(
                MissingItem(
                    "the tooth of a planned treatment",
                    "plan items name no tooth",
                    "add a Char field x_tooth to Sales Order Lines",
                )
            )
        return items

    def require_allergies(self) -> AllergySource:
        if self.allergies == "none":
            raise PracticeMisconfigured(
                f"Odoo has no allergies: create the model {ALLERGY_MODEL} or a Text field "
                "x_allergies on Contacts (docs/ODOO.md)"
            )
        return self.allergies

    def require_plans(self) -> None:
        if not self.plans:
            raise PracticeMisconfigured(
                "Odoo has no treatment plans: install Sales, whose quotations and orders are "
                "the patients' plans (docs/ODOO.md)"
            )


async def detect_mapping(client: OdooClient) -> OdooMapping:
    """Ask Odoo which of the models and fields the assistant can use exist."""
    partner, product, order, order_line, allergy = await asyncio.gather(
        _fields(client, "res.partner"),
        _fields(client, "product.product"),
        _fields(client, "sale.order"),
        _fields(client, "sale.order.line"),
        _fields(client, ALLERGY_MODEL),
    )
    if partner is None or product is None:
        raise PracticeMisconfigured(
            "Odoo lacks Contacts or Products: install the Contacts, Calendar and Invoicing apps "
            "(docs/ODOO.md)"
        )
    if allergy is not None and {"x_name", "x_partner_id"} <= allergy.keys():
        allergies: AllergySource = "model"
    elif partner.get("x_allergies", {}).get("type") in ("text", "char", "html"):
        allergies = "partner_text"
    else:
        allergies = "none"
    return OdooMapping(
        phone_fields=tuple(name for name in ("phone", "mobile") if name in partner),
        name_he="x_name_he" in partner,
        date_of_birth="x_date_of_birth" in partner,
        duration="x_duration_minutes" in product,
        treatment_providers=product.get("x_provider_ids", {}).get("relation") == "res.users",
        allergies=allergies,
        allergy_fields=frozenset(allergy or {}) & frozenset(ALLERGY_FIELDS),
        plans=order is not None and order_line is not None,
        plan_tooth=order_line is not None and "x_tooth" in order_line,
        plan_locked=order is not None and "locked" in order,
    )


async def _fields(client: OdooClient, model: str) -> Fields | None:
    """The model's fields, or None when Odoo has no such model."""
    try:
        fields: Fields = await client.call(
            model, "fields_get", [], {"attributes": ["type", "relation", "string"]}
        )
    except NoSuchModel:
        return None
    return fields
