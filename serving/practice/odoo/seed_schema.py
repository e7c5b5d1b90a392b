"""What the demo clinic adds to Odoo's schema, created over JSON-RPC when missing.

Custom fields (`ir.model.fields`, state "manual", names starting with `x_`) are what an Odoo
administrator would add under Settings → Technical → Fields; the allergy model is a custom
`ir.model` with its access rights. Creating either needs an administrator (group Settings);
Odoo reloads its registry after each and alters the tables itself. Fields of product.template
reach product.product through Odoo's delegation (`_inherits`), so the backend reads them on
products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALLERGY_MODEL = "x_dental_allergy"
SEVERITIES = (("mild", "Mild"), ("moderate", "Moderate"), ("severe", "Severe"))


@dataclass(frozen=True)
class CustomField:
    model: str
    name: str
    ttype: str
    label: str
    relation: str | None = None
    required: bool = False
    selection: tuple[tuple[str, str], ...] = ()

    def values(self) -> dict[str, Any]:
        """`ir.model.fields` values (without `model_id`)."""
        values: dict[str, Any] = {
            "name": self.name,
            "field_description": self.label,
            "ttype": self.ttype,
            "state": "manual",
            "required": self.required,
        }
        if self.relation:
            values["relation"] = self.relation
        if self.ttype == "many2one":
            values["on_delete"] = "cascade"
        if self.selection:
            values["selection_ids"] = [
                [0, 0, {"value": value, "name": name, "sequence": index}]
                for index, (value, name) in enumerate(self.selection)
            ]
        return values


EXTRA_FIELDS = (
    CustomField("res.partner", "x_name_he", "char", "Name in Hebrew"),
    CustomField("res.partner", "x_date_of_birth", "date", "Date of birth"),
    CustomField("product.template", "x_duration_minutes", "integer", "Duration (minutes)"),
    CustomField(
        "product.template", "x_provider_ids", "many2many", "Performed by", relation="res.users"
    ),
    CustomField("sale.order.line", "x_tooth", "char", "Tooth"),
)
"""Fields the demo clinic adds to Odoo's own models."""

ALLERGY_FIELDS = (
    CustomField(ALLERGY_MODEL, "x_name", "char", "Substance", required=True),
    CustomField(
        ALLERGY_MODEL, "x_partner_id", "many2one", "Patient", relation="res.partner", required=True
    ),
    CustomField(ALLERGY_MODEL, "x_reaction", "char", "Reaction"),
    CustomField(ALLERGY_MODEL, "x_severity", "selection", "Severity", selection=SEVERITIES),
)


@dataclass(frozen=True)
class AccessRule:
    """One `ir.model.access` line the demo needs: `group_xmlid` may read `model`, and
    manage it when `write`."""

    model: str
    group_xmlid: str
    label: str
    write: bool

    def values(self, model_id: int, group_id: int) -> dict[str, Any]:
        return {
            "name": f"{self.model} {self.label}",
            "model_id": model_id,
            "group_id": group_id,
            "perm_read": True,
            "perm_write": self.write,
            "perm_create": self.write,
            "perm_unlink": self.write,
        }

    def satisfied_by(self, line: dict[str, Any]) -> bool:
        """Whether an existing `ir.model.access` line already grants this."""
        perms = ("perm_read", "perm_write", "perm_create", "perm_unlink")
        return all(line[perm] for perm in perms[: 4 if self.write else 1])


ACCESS_RULES = (
    # Every internal user reads allergies, the assistant's API user among them.
    AccessRule(ALLERGY_MODEL, "base.group_user", "internal users read", write=False),
    AccessRule(ALLERGY_MODEL, "base.group_system", "administrators manage", write=True),
    # A user's working hours are those of its resource.resource. Without the Employees app
    # Odoo 17 lets nobody create one (its own access list is read-only), so the demo lets
    # administrators do it for the providers.
    AccessRule("resource.resource", "base.group_system", "administrators manage", write=True),
)
