"""No double booking under concurrency: 50 simultaneous bookings of one slot book exactly one.

PostgreSQL gets 50 concurrent connections in one process; SQLite gets separate processes,
since its guard (write lock + trigger) must hold across processes too.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

import pytest
from sqlalchemy import func, select

from serving.db import models as db
from serving.db.engine import Database
from serving.practice import SlotUnavailable
from serving.practice.builtin import BuiltinPracticeBackend
from serving.practice.factory import booking_rules_from_settings
from tests.clinic_time import MONDAY, local, next_weekday
from tests.conftest import make_settings

CONTENDERS = 50


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


async def _book(backend: BuiltinPracticeBackend, patient_id: int, starts_at: datetime) -> str:
    try:
        await backend.create_appointment(patient_id, "checkup", starts_at, provider_id=1)
    except SlotUnavailable:
        return "refused"
    return "booked"


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
async def test_fifty_concurrent_bookings_at_postgresql_book_one(database_url: str) -> None:
    database = Database(database_url, pool_size=CONTENDERS, max_overflow=0)
    try:
        patients = await _add_patients(database, CONTENDERS)
        backend = BuiltinPracticeBackend(
            database, booking_rules_from_settings(make_settings(database_url))
        )
        starts_at = local(next_weekday(MONDAY), 10)
        outcomes = await asyncio.gather(*(_book(backend, p, starts_at) for p in patients))
        assert outcomes.count("booked") == 1
        assert outcomes.count("refused") == CONTENDERS - 1
        assert await _scheduled_at(database, starts_at) == 1
    finally:
        await database.dispose()


def _book_in_process(database_url: str, patient_id: int, iso_start: str, go_at: float) -> str:
    async def run() -> str:
        database = Database(database_url)
        backend = BuiltinPracticeBackend(
            database, booking_rules_from_settings(make_settings(database_url))
        )
        await asyncio.sleep(max(0.0, go_at - time.time()))
        try:
            return await _book(backend, patient_id, datetime.fromisoformat(iso_start))
        finally:
            await database.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_concurrent_bookings_across_processes_at_sqlite_book_one(database_url: str) -> None:
    database = Database(database_url)
    patients = await _add_patients(database, 8)
    starts_at = local(next_weekday(MONDAY), 10)
    context = multiprocessing.get_context("spawn")
    go_at = time.time() + 4  # let every process start before they race
    with ProcessPoolExecutor(max_workers=len(patients), mp_context=context) as pool:
        futures = [
            pool.submit(_book_in_process, database_url, p, starts_at.isoformat(), go_at)
            for p in patients
        ]
        outcomes = [f.result(timeout=120) for f in futures]
    assert outcomes.count("booked") == 1
    assert outcomes.count("refused") == len(patients) - 1
    assert await _scheduled_at(database, starts_at) == 1
    await database.dispose()
