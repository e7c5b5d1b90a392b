"""Builds the configured practice backend and its booking rules from settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from serving.db.engine import Database
from serving.db.types import utcnow
from serving.practice.backend import PracticeBackend
from serving.practice.builtin import BuiltinPracticeBackend
from serving.scheduling.calendar import ClinicCalendar
from serving.scheduling.slots import BookingRules, booking_rules
from serving.settings import Settings


def booking_rules_from_settings(settings: Settings) -> BookingRules:
    calendar = ClinicCalendar.build(
        timezone=settings.timezone,
        observe_shabbat=settings.observe_shabbat,
        shabbat_starts_friday=settings.shabbat_starts_friday,
        shabbat_ends_saturday=settings.shabbat_ends_saturday,
        holidays_country=settings.holidays_country if settings.observe_public_holidays else None,
    )
    return booking_rules(
        calendar=calendar,
        step_minutes=settings.slot_step_minutes,
        min_notice_minutes=settings.min_booking_notice_minutes,
        horizon_days=settings.booking_horizon_days,
    )


def schedule_kept_in(settings: Settings) -> str | None:
    """The clinic's own practice system when providers, hours, treatments, closures and
    patients live there rather than in the app database; None for the built-in one."""
    return "Odoo" if settings.practice_backend == "odoo" else None


def create_practice_backend(
    settings: Settings, database: Database, *, clock: Callable[[], datetime] = utcnow
) -> PracticeBackend:
    return BuiltinPracticeBackend(
        database,
        booking_rules_from_settings(settings),
        default_phone_region=settings.default_phone_region,
        clock=clock,
        setup_cache_seconds=settings.clinic_setup_cache_seconds,
    )
