"""No double booking under concurrency: 50 simultaneous bookings of one slot book exactly one.

The bookings come from 5 processes with 10 concurrent connections each, released at the same
instant, because the guarantee must hold across processes (replicas), not just inside one
event loop. Runs on PostgreSQL (exclusion constraint) and SQLite (write lock + trigger).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import func, select, text

from serving.db import models as db
from serving.db.engine import Database
from serving.practice import SlotUnavailable
from serving.practice.builtin import BuiltinPracticeBackend
from serving.practice.factory import booking_rules_from_settings
from tests.clinic_time import MONDAY, local, next_weekday
from tests.conftest import make_settings

PROCESSES = 5
PER_PROCESS = 10
READY_TIMEOUT = 120
"""Seconds a process may take to start, import the app and connect (a loaded CI machine)."""
START_MARGIN = 0.2
"""Seconds from the last process ready to the start: enough for the others to hear of it."""


async def _add_patients(database: Database, count: int) -> list[int]:
    async with database.transaction() as session:
        patients = [
            db.Patient(first_name="Load", last_name=f"Test{i}", phone=f"+97258770{i:04d}")
            for i in range(count)
        ]
        session.add_all(patients)
        await session.flush()
        return [p.id for p in patients]


async def _scheduled_at(database: Database, starts_at: datetime) -> int:
    async with database.transaction() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(db.Appointment)
            .where(db.Appointment.starts_at == starts_at, db.Appointment.status == "scheduled")
        )
    return int(count or 0)


def _race_in_process(
    database_url: str,
    patient_ids: list[int],
    iso_start: str,
    ready: queue.Queue[None],
    start: queue.Queue[float],
) -> list[str]:
    """Book one slot for each patient concurrently: once connected, say so on `ready`, then
    start at the wall-clock time the test hands out on `start` (the same for every process)."""

    async def run() -> list[str]:
        database = Database(database_url, pool_size=len(patient_ids), max_overflow=0)
        backend = BuiltinPracticeBackend(
            database, booking_rules_from_settings(make_settings(database_url))
        )
        starts_at = datetime.fromisoformat(iso_start)

        async def open_connection() -> None:
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        async def book(patient_id: int) -> str:
            try:
                await backend.create_appointment(patient_id, "checkup", starts_at, provider_id=1)
            except SlotUnavailable:
                return "refused"
            return "booked"

        try:
            # Open every connection and warm the holiday calendar before the race starts.
            await asyncio.gather(*(open_connection() for _ in patient_ids))
            await backend.get_available_slots("checkup", starts_at.date(), starts_at.date())
            ready.put(None)
            go_at = await asyncio.to_thread(start.get, timeout=READY_TIMEOUT)
            await asyncio.sleep(max(0.0, go_at - time.time()))
            return list(await asyncio.gather(*(book(p) for p in patient_ids)))
        finally:
            await database.dispose()

    return asyncio.run(run())


async def test_fifty_concurrent_bookings_of_one_slot_book_exactly_one(
    database_url: str, db_backend: str
) -> None:
    database = Database(database_url)
    try:
        patients = await _add_patients(database, PROCESSES * PER_PROCESS)
        starts_at = local(next_weekday(MONDAY), 10)
        context = multiprocessing.get_context("spawn")
        with (
            context.Manager() as manager,
            ProcessPoolExecutor(max_workers=PROCESSES, mp_context=context) as pool,
        ):
            ready, start = manager.Queue(), manager.Queue()
            futures = [
                pool.submit(
                    _race_in_process,
                    database_url,
                    patients[i * PER_PROCESS : (i + 1) * PER_PROCESS],
                    starts_at.isoformat(),
                    ready,
                    start,
                )
                for i in range(PROCESSES)
            ]
            # Every process is up and connected before the start, so each holds one share (a
            # process waiting here takes no other): they start together, not one by one.
            for _ in range(PROCESSES):
                await asyncio.to_thread(ready.get, timeout=READY_TIMEOUT)
            go_at = time.time() + START_MARGIN
            for _ in range(PROCESSES):
                start.put(go_at)
            outcomes = Counter(o for f in futures for o in f.result(timeout=180))
        assert outcomes == {"booked": 1, "refused": PROCESSES * PER_PROCESS - 1}, db_backend
        assert await _scheduled_at(database, starts_at) == 1
        assert await _scheduled_at(database, starts_at + timedelta(minutes=15)) == 0
    finally:
        await database.dispose()
