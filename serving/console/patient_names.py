"""The names of the patients a console page lists, as the practice system (built in, or the
clinic's Odoo) has them: each patient asked once, all at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from serving.practice.backend import PracticeBackend
from serving.practice.errors import PatientNotFound, PracticeUnavailable
from serving.practice.models import Patient

logger = logging.getLogger(__name__)


async def patient_names(
    backend: PracticeBackend, patient_ids: Iterable[int | None]
) -> dict[int, str]:
    """Each listed patient's full name. A patient the practice system no longer has is left
    out, and so is everyone while it cannot be reached: a page shows those rows without a name
    rather than failing (the Odoo backend bounds how many calls run at once)."""
    wanted = list(dict.fromkeys(i for i in patient_ids if i is not None))
    found = await asyncio.gather(
        *(backend.get_patient(patient_id) for patient_id in wanted), return_exceptions=True
    )
    names: dict[int, str] = {}
    unavailable = False
    for patient_id, patient in zip(wanted, found, strict=True):
        if isinstance(patient, Patient):
            names[patient_id] = patient.full_name.strip()
        elif isinstance(patient, PracticeUnavailable):
            unavailable = True
        elif not isinstance(patient, PatientNotFound):
            raise patient
    if unavailable:
        logger.warning("practice system unavailable: the console shows no patient names")
        return {}
    return names
