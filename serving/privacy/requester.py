"""Who asks for a patient's data (a signed-in staff member, or the patient through their own
link) and how a memory store's failure reaches them: as `MemoryUnavailable`, whatever the
store's driver raised, so the API answers 503 and logs the error's class only."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from serving.memory.store import MemoryUnavailable
from serving.staff.audit import PATIENT_ACTOR, AuditContext, PatientSelf

log = logging.getLogger(__name__)

Requester = AuditContext | PatientSelf
"""A staff member's request (with their role's permission already checked), or the patient's
own through their link."""
T = TypeVar("T")


def requested_by(requester: Requester) -> str:
    """As on an erasure receipt: `<role>:<staff user id>`, or `patient`."""
    if isinstance(requester, PatientSelf):
        return PATIENT_ACTOR
    return f"{requester.principal.role}:{requester.principal.user_id}"


async def read_store(work: Awaitable[T]) -> T:
    """`work`'s result; MemoryUnavailable when the store failed (its message may quote query
    parameters, so only its class is logged)."""
    try:
        return await work
    except MemoryUnavailable:
        raise
    except Exception as error:  # a driver's or SQL error: the store could not answer
        log.warning("memory store failed: %s", type(error).__name__)
        raise MemoryUnavailable(f"the memory store failed ({type(error).__name__})") from error
