"""The clinic's set-up as read from Odoo (`OdooSetup`), and the short-lived copy of it
(`SetupCache`).

Providers, their working hours, treatments and calendar tags change rarely and nearly every
turn needs them, so one copy serves for `odoo_cache_seconds`; appointments, leaves, invoices
and patients are always read fresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from time import monotonic
from typing import Generic, TypeVar

from serving.practice import checks
from serving.practice.errors import UnknownProvider
from serving.practice.odoo.catalogue import (
    OdooTreatment,
    load_internal_subtypes,
    load_tags,
    load_treatments,
)
from serving.practice.odoo.client import OdooClient
from serving.practice.odoo.mapping import OdooMapping
from serving.practice.odoo.schedule import (
    OdooProvider,
    load_providers,
    load_resource_users,
)


@dataclass(frozen=True)
class OdooSetup:
    providers: tuple[OdooProvider, ...]
    treatments: tuple[OdooTreatment, ...]
    tags: dict[str, int]
    """Treatment code → calendar tag id."""
    resource_users: dict[int, int]
    """resource.resource id → provider user id."""
    internal_subtypes: frozenset[int]
    tag_codes: dict[int, str]
    """Calendar tag id → treatment code, every tag of that name (`tags` keeps one per code)."""

    def treatment(self, raw_code: str) -> OdooTreatment:
        code = checks.treatment_code(raw_code)
        for treatment in self.treatments:
            if treatment.code == code:
                return treatment
        raise checks.unknown_treatment(raw_code, (t.code for t in self.treatments))

    def treatment_by_product(self, product_id: int | None) -> OdooTreatment | None:
        return next((t for t in self.treatments if t.product_id == product_id), None)

    def treatment_of_tags(self, tag_ids: Sequence[int]) -> OdooTreatment | None:
        """The treatment an event's tags mark, if any."""
        for tag in tag_ids:
            if tag in self.tag_codes:
                return next((t for t in self.treatments if t.code == self.tag_codes[tag]), None)
        return None

    def provider(self, user_id: int | None) -> OdooProvider | None:
        return next((p for p in self.providers if p.id == user_id), None)

    def providers_for(
        self, treatment: OdooTreatment, provider_id: int | None
    ) -> list[OdooProvider]:
        """Who may perform the treatment (only `provider_id` when given), by user id."""
        found = [
            p
            for p in self.providers
            if (treatment.provider_ids is None or p.id in treatment.provider_ids)
            and (provider_id is None or p.id == provider_id)
        ]
        if not found:
            if provider_id is not None:
                raise UnknownProvider(
                    f"provider {provider_id} does not exist or does not perform {treatment.code}"
                )
            raise UnknownProvider(f"no active provider performs {treatment.code}")
        return found

    def with_tag(self, code: str, tag_id: int) -> OdooSetup:
        return replace(
            self, tags={**self.tags, code: tag_id}, tag_codes={**self.tag_codes, tag_id: code}
        )


async def load_setup(
    client: OdooClient, mapping: OdooMapping, *, default_duration_minutes: int
) -> OdooSetup:
    """Everything `OdooSetup` holds, read at once (the independent reads run side by side)."""
    providers, treatments, subtypes = await asyncio.gather(
        load_providers(client, mapping),
        load_treatments(client, mapping, default_duration_minutes=default_duration_minutes),
        load_internal_subtypes(client),
    )
    (tags, tag_codes), resource_users = await asyncio.gather(
        load_tags(client, [t.code for t in treatments]),
        load_resource_users(client, [p.id for p in providers]),
    )
    return OdooSetup(
        providers=tuple(providers),
        treatments=tuple(treatments),
        tags=tags,
        resource_users=resource_users,
        internal_subtypes=subtypes,
        tag_codes=tag_codes,
    )


T = TypeVar("T")


class SetupCache(Generic[T]):
    """One copy of the set-up (or of a part read apart), reused for `seconds`; concurrent first
    readers share one load."""

    def __init__(self, load: Callable[[], Awaitable[T]], *, seconds: float) -> None:
        self._load = load
        self._seconds = seconds
        self._copy: tuple[float, T] | None = None
        self._lock: asyncio.Lock | None = None

    async def get(self) -> T:
        if (fresh := self._fresh()) is not None:
            return fresh
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if (fresh := self._fresh()) is not None:
                return fresh
            started = monotonic()
            setup = await self._load()
            self._copy = (started, setup)
            return setup

    def put(self, setup: T) -> None:
        """Keep a changed copy (e.g. with a tag just created), as old as the one it replaces."""
        if self._copy is not None:
            self._copy = (self._copy[0], setup)

    def forget(self) -> None:
        self._copy = None

    def _fresh(self) -> T | None:
        if self._copy is None or monotonic() - self._copy[0] >= self._seconds:
            return None
        return self._copy[1]
