"""Who may read and change what, in the shape of Odoo's access rights (ir.model.access).

As in a real Odoo 17: an internal user reads and writes the business models; the technical
models (ir.model, ir.model.fields, ir.model.data, ir.model.access) are for "Administration /
Access Rights" only, so the assistant's API user cannot read ir.model.data either; users and
groups are changed by Access Rights, company, currencies and languages by Settings. A custom
model (made through ir.model) is closed to everyone, the admin included, until an
ir.model.access row grants a group. Only the superuser (uid 1) is above the rules.
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
_CONFIGURATION = frozenset({"res.company", "res.currency", "res.lang", "mail.message.subtype"})
_VERBS = {"read": "access", "write": "modify", "create": "create", "unlink": "delete"}


def required_group(model: str, operation: str) -> str:
    if model in _TECHNICAL:
        return ACCESS_RIGHTS
    if operation != "read" and model in _USER_ADMINISTRATION:
        return ACCESS_RIGHTS
    if operation != "read" and model in _CONFIGURATION:
        return SETTINGS
    return INTERNAL_USER


@dataclass
class AccessRules:
    overrides: dict[tuple[str, str], bool] = field(default_factory=dict)
    """(model, operation) → False (refused, `deny`) or True (granted, `allow`)."""

    def check(self, env: Env, model: str, operation: str) -> None:
        if env.uid == SUPERUSER:
            return
        forced = self.overrides.get((model, operation))
        if forced is not None:
            if not forced:
                raise access_error(_refusal(env, model, operation, []))
            return
        group_ids = set(user_group_ids(env))
        if env.model(model).custom:
            granting = _custom_grants(env, model, operation)
            if None in granting or granting & group_ids:
                return
            named = sorted(gid for gid in granting if gid is not None)
            labels = [str(env.value("res.groups", gid, "name")) for gid in named]
            raise access_error(_refusal(env, model, operation, labels))
        needed = required_group(model, operation)
        if env.ref(needed) not in group_ids:
            raise access_error(_refusal(env, model, operation, [GROUP_LABELS[needed]]))


def groups_field(env: Env) -> str:
    """`groups_id` until Odoo 18, `group_ids` in 19."""
    return "group_ids" if "group_ids" in env.model("res.users").fields else "groups_id"


def user_group_ids(env: Env) -> list[int]:
    row = env.db.table("res.users").get(env.uid, {})
    return list(row.get(groups_field(env)) or [])


def _custom_grants(env: Env, model: str, operation: str) -> set[int | None]:
    """The groups an ir.model.access row opens `model` to (None: everyone)."""
    model_ids = {rid for rid, row in env.db.table("ir.model").items() if row["model"] == model}
    return {
        row.get("group_id") or None
        for row in env.db.table("ir.model.access").values()
        if row["model_id"] in model_ids and row.get("active") and row.get(f"perm_{operation}")
    }


def _refusal(env: Env, model: str, operation: str, groups: list[str]) -> str:
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
