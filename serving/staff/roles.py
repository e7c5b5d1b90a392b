"""What each staff role may do: one table, enforced by one dependency on every staff route
(`serving.api.staff_auth.require`).

| permission        | admin | doctor | receptionist |
|-------------------|-------|--------|--------------|
| conversations     | yes   | yes    | yes          |  read, search, take over, hand back
| escalations.view  | yes   | yes    | yes          |  the queue
| escalations.join  | yes   | yes    | no           |  answer an escalated conversation
| appointments      | yes   | yes    | yes          |  calendar, book/move/cancel for a patient
| clinical          | yes   | yes    | no           |  allergies, notes, treatment plans
| operations        | yes   | yes    | yes          |  figures, undelivered messages, dead letters
| setup             | yes   | no     | no           |  providers, hours, treatments, profile
| users             | yes   | no     | no           |  staff accounts
| oncall            | yes   | no     | no           |  the on-call rota
| audit             | yes   | no     | no           |  the audit log
| memory.read       | yes   | yes    | no           |  what is remembered of a patient, export
| memory.erase      | yes   | no     | no           |  erase a patient's data (docs/PRIVACY.md)
"""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["admin", "doctor", "receptionist"]
ROLES: tuple[Role, ...] = get_args(Role)

Permission = Literal[
    "conversations",
    "escalations.view",
    "escalations.join",
    "appointments",
    "clinical",
    "operations",
    "setup",
    "users",
    "oncall",
    "audit",
    "memory.read",
    "memory.erase",
]
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)

GRANTS: dict[Role, frozenset[Permission]] = {
    "admin": frozenset(PERMISSIONS),
    "doctor": frozenset(
        {
            "conversations",
            "escalations.view",
            "escalations.join",
            "appointments",
            "clinical",
            "operations",
            "memory.read",
        }
    ),
    "receptionist": frozenset({"conversations", "escalations.view", "appointments", "operations"}),
}


def allows(role: str, permission: Permission) -> bool:
    """Whether `role` may do what `permission` names; an unknown role may do nothing."""
    return permission in GRANTS.get(role, frozenset())  # type: ignore[call-overload]
