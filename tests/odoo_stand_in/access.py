"""Who may read and change what, in the shape of Odoo's access rights (ir.model.access).

As in a real Odoo 17: an internal user reads and writes the business models; the technical
models (ir.model, ir.model.fields, ir.model.data, ir.model.access) are for "Administration /
Access Rights" only, so the assistant's API user cannot read ir.model.data either; users and
groups are changed by Access Rights, company, currencies and languages by Settings; resources
(resource.resource) are read-only for everyone. A custom model (made through ir.model) is
closed to everyone, the admin included. ir.model.access rows add to all of this: a row opens
an operation to its group (or to everyone). Only the superuser (uid 1) is above the rules.
Tests inject refusals with `deny(model, operation)` and lift them with `allow(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.odoo_stand_in.errors import access_error
from tests.odoo_stand_in.orm import SUPERUSER, Env

OPERATIONS = ("read", "write", "create", "unlink")
INTERNAL_USER = "base.group_user"
ACCESS_RIGHTS = "base.group_erp_manager"
SETTINGS = "base.group_system"
GROUP_LABELS = {
    INTERNAL_USER: "User types/Internal User",
    ACCESS_RIGHTS: "Administration/Access Rights",
    SETTINGS: "Administration/Settings",
}
_TECHNICAL = frozenset(
    {"ir.model", "ir.model.fields", "ir.model.fields.selection", "ir.model.data", "ir.model.access"}
)
_USER_ADMINISTRATION = frozenset({"res.users", "res.groups"})
_CONFIGURATION = frozenset(
    {
        "res.company",
        "res.currency",
        "res.lang",
        "mail.message.subtype",
        "product.pricelist",
        "account.tax",
    }
)
# Without the Employees app, Odoo 17 lets nobody create resources (a read-only access list).
_READ_ONLY = frozenset({"resource.resource"})
_VERBS = {"read": "access", "write": "modify", "create": "create", "unlink": "delete"}


def required_group(model: str, operation: str) -> str | None:
    """The group Odoo's own access rights give `operation` on a built-in `model` (None: no
    group; only an added ir.model.access row opens it)."""
    if model in _TECHNICAL:
        return ACCESS_RIGHTS
    if operation == "read":
        return INTERNAL_USER
    if model in _READ_ONLY:
        return None
    if model in _USER_ADMINISTRATION:
        return ACCESS_RIGHTS
    if model in _CONFIGURATION:
        return SETTINGS
    return INTERNAL_USER


@dataclass
class AccessRules:
    overrides: dict[tuple[str, str], bool] = field(default_factory=dict)
    """(model, operation) → False (refused, `deny`) or True (granted, `allow`)."""

    def allowed(self, env: Env, model: str, operation: str) -> bool:
        return self._refusal(env, model, operation) is None

    def check(self, env: Env, model: str, operation: str) -> None:
        refused = self._refusal(env, model, operation)
        if refused is not None:
            raise access_error(refused)

    def _refusal(self, env: Env, model: str, operation: str) -> str | None:
        """Odoo's message refusing `operation` on `model` to the caller, or None."""
        if env.uid == SUPERUSER:
            return None
        forced = self.overrides.get((model, operation))
        if forced is not None:
            return None if forced else _message(env, model, operation, [])
        group_ids = set(user_group_ids(env))
        granting = _grants(env, model, operation)
        if None in granting or granting & group_ids:
            return None
        needed = None if env.model(model).custom else required_group(model, operation)
        if needed is not None and env.ref(needed) in group_ids:
            return None
        labels = [GROUP_LABELS[needed]] if needed else []
        named = sorted(gid for gid in granting if gid is not None)
        labels += [str(env.value("res.groups", gid, "name")) for gid in named]
        return _message(env, model, operation, labels)


def groups_field(env: Env) -> str:
    """`groups_id` until Odoo 18, `group_ids` in 19."""
    return "group_ids" if "group_ids" in env.model("res.users").fields else "groups_id"


def user_group_ids(env: Env) -> list[int]:
    row = env.db.table("res.users").get(env.uid, {})
    return list(row.get(groups_field(env)) or [])


def _grants(env: Env, model: str, operation: str) -> set[int | None]:
    """The groups ir.model.access rows open `operation` on `model` to (None: everyone)."""
    model_ids = {rid for rid, row in env.db.table("ir.model").items() if row["model"] == model}
    return {
        row.get("group_id") or None
        for row in env.db.table("ir.model.access").values()
        if row["model_id"] in model_ids and row.get("active") and row.get(f"perm_{operation}")
    }


def _message(env: Env, model: str, operation: str, groups: list[str]) -> str:
    description = env.model(model).description
    if groups:
        allowed = "This operation is allowed for the following groups:\n" + "\n".join(
            f"\t- {label}" for label in groups
        )
    else:
        allowed = "No group currently allows this operation."
    return (
        f"You are not allowed to {_VERBS[operation]} '{description}' ({model}) records.\n\n"
        f"{allowed}\n\nContact your administrator to request access if necessary."
    )
