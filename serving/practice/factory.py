"""Builds the configured practice backend and its booking rules from settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from serving.db.engine import Database
from serving.db.types import utcnow
from serving.practice.backend import PracticeBackend
from serving.practice.builtin import BuiltinPracticeBackend
from serving.practice.errors import PracticeMisconfigured
from serving.practice.odoo.backend import OdooPracticeBackend
from serving.practice.odoo.client import OdooClient, OnCall
from serving.practice.odoo.connection import OdooAddress
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


def practice_system_id(settings: Settings) -> str:
    """Which system patient ids belong to: "builtin", or "odoo:<url>/<database>" (another
    Odoo database numbers its partners anew)."""
    if settings.practice_backend != "odoo":
        return "builtin"
    url = (settings.odoo_url or "").strip().rstrip("/").lower()
    return f"odoo:{url}/{(settings.odoo_db or '').strip()}"


def schedule_kept_in(settings: Settings) -> str | None:
    """The clinic's own practice system when providers, hours, treatments, closures and
    patients live there rather than in the app database; None for the built-in one."""
    return "Odoo" if settings.practice_backend == "odoo" else None


def create_practice_backend(
    settings: Settings,
    database: Database,
    *,
    clock: Callable[[], datetime] = utcnow,
    on_odoo_call: OnCall | None = None,
) -> PracticeBackend:
    """The backend `PRACTICE_BACKEND` names. The Odoo one connects at its first call, so the
    app starts while Odoo is down; a setting it lacks stops start-up here.
    `on_odoo_call` is told of every call to Odoo (for the metrics)."""
    if settings.practice_backend == "odoo":
        return OdooPracticeBackend(
            odoo_client(settings, on_call=on_odoo_call),
            booking_rules_from_settings(settings),
            default_phone_region=settings.default_phone_region,
            clock=clock,
            cache_seconds=settings.odoo_cache_seconds,
            default_duration_minutes=settings.odoo_default_duration_minutes,
        )
    return BuiltinPracticeBackend(
        database,
        booking_rules_from_settings(settings),
        default_phone_region=settings.default_phone_region,
        clock=clock,
        setup_cache_seconds=settings.clinic_setup_cache_seconds,
    )


def odoo_address(settings: Settings) -> OdooAddress:
    """Where the clinic's Odoo is, from settings; each one missing is named."""
    key = settings.odoo_api_key.get_secret_value() if settings.odoo_api_key else ""
    values = {
        "ODOO_URL": settings.odoo_url,
        "ODOO_DB": settings.odoo_db,
        "ODOO_USERNAME": settings.odoo_username,
        "ODOO_API_KEY": key,
    }
    missing = [name for name, value in values.items() if not (value or "").strip()]
    if missing:
        raise PracticeMisconfigured(
            f"PRACTICE_BACKEND=odoo needs {', '.join(missing)} (docs/ODOO.md); "
            "ODOO_API_KEY comes through the secrets chain (docs/SECRETS.md)"
        )
    assert settings.odoo_url and settings.odoo_db and settings.odoo_username
    return OdooAddress(
        url=settings.odoo_url.strip().rstrip("/"),
        database=settings.odoo_db.strip(),
        login=settings.odoo_username.strip(),
        api_key=key,
    )


def odoo_client(settings: Settings, *, on_call: OnCall | None = None) -> OdooClient:
    return OdooClient(
        odoo_address(settings),
        timeout=settings.odoo_timeout_seconds,
        connections=settings.odoo_connections,
        on_call=on_call,
    )
