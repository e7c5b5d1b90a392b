"""The clinic profile the assistant answers with, read from the database.

Every write raises the row's version; `refresh` (asked on every turn) reads only the version,
at most every `check_every` seconds, and loads the document again when it moved: an edit made
through this process (`forget`, called by the set-up service) is in the next reply, one made
by any other process (the CLI, another worker) within `CLINIC_SETUP_CACHE_SECONDS`, with no
restart.
"""

from __future__ import annotations

import logging
from math import inf
from pathlib import Path
from time import monotonic

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from serving.clinic import NOT_SET_UP, ClinicProfile, load_clinic_profile
from serving.clinic_setup.service import ClinicSetup
from serving.db.clinic_models import PROFILE_ROW_ID, ClinicProfileRow
from serving.db.engine import Database

logger = logging.getLogger(__name__)


class ClinicProfileSource:
    """`serving.clinic.ProfileSource` on the database; before `start`, the clinic not set up."""

    def __init__(self, *, check_every: float = 0.0) -> None:
        self._database: Database | None = None
        self._profile = NOT_SET_UP
        self._version: int | None = None
        self._check_every = check_every
        self._checked_at = -inf

    def current(self) -> ClinicProfile:
        return self._profile

    @property
    def is_set_up(self) -> bool:
        return self._version is not None

    async def start(self, database: Database, *, seed: Path | None = None) -> None:
        """Read from `database` from now on; an empty profile is first seeded from the YAML
        file `seed` (a clinic that kept its profile file: it moves into the database once)."""
        self._database = database
        if seed is not None and await ClinicSetup(database).seed_profile(load_clinic_profile(seed)):
            logger.info("clinic profile seeded from the profile file")
        await self.refresh()

    def forget(self) -> None:
        """The profile was just changed through this process: the next `refresh` reads it."""
        self._checked_at = -inf

    async def refresh(self) -> None:
        """Read the profile again if it changed, looking at most every `check_every` seconds
        (every turn asks; another process's edit shows within that time)."""
        now = monotonic()
        if self._database is None or now - self._checked_at < self._check_every:
            return
        self._checked_at = now
        try:
            async with self._database.read() as session:
                version = await session.scalar(
                    select(ClinicProfileRow.version).where(ClinicProfileRow.id == PROFILE_ROW_ID)
                )
                if version is None or version == self._version:
                    return
                data = await session.scalar(
                    select(ClinicProfileRow.data).where(ClinicProfileRow.id == PROFILE_ROW_ID)
                )
        except (DBAPIError, OSError) as exc:
            # The turn goes on with the profile last read; the database's trouble shows in
            # the turn's own queries and in /ready.
            logger.warning("clinic profile not refreshed: %s", type(exc).__name__)
            return
        self._profile = ClinicProfile.model_validate(data)
        self._version = version
