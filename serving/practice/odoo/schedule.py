"""The providers' time in Odoo: who the providers are, when they work, and when they cannot.

- Providers are internal users whose contact is tagged "Dentist" or "Hygienist"
  (res.partner.category).
- Working hours are the attendances of each provider's resource.calendar: a weekday, float
  hours (8.5 = 08:30) and an optional validity; the lunch break (`day_period` "lunch", 17+) and
  section lines are not working time.
- Leaves (resource.calendar.leaves) make a provider busy: one for a resource is that provider's,
  one for a calendar concerns everyone on it, one for no calendar the whole clinic, and when it
  covers whole clinic-local days those days are closures ("the clinic is closed").
- Calendar events shown as busy make the providers and patients who attend them busy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from serving.practice import models as rec
from serving.practice.booking import overlaps
from serving.practice.odoo.client import OdooClient
from serving.practice.odoo.mapping import OdooMapping
from serving.practice.odoo.records import Row, day, hours, odoo_datetime, ref_id, text, utc
from serving.scheduling.slots import WeeklyWindow

DENTIST_TAG, HYGIENIST_TAG = "Dentist", "Hygienist"
Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Attendance:
    """One working period of a weekly calendar, valid between two dates (None = open)."""

    window: WeeklyWindow
    valid_from: date | None = None
    valid_to: date | None = None

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )


@dataclass(frozen=True)
class OdooProvider:
    """A provider (an internal res.users) with what the schedule needs of them."""

    record: rec.Provider
    partner_id: int
    calendar_id: int | None
    attendances: tuple[Attendance, ...] = ()

    @property
    def id(self) -> int:
        return self.record.id

    def windows_on(self, day: date) -> list[WeeklyWindow]:
        return [
            a.window
            for a in self.attendances
            if a.window.weekday == day.weekday() and a.valid_on(day)
        ]


@dataclass
class BusyTimes:
    """Who cannot be booked when: providers by user id, patients by partner id."""

    providers: dict[int, list[Interval]] = field(default_factory=dict)
    partners: dict[int, list[Interval]] = field(default_factory=dict)

    def add_provider(self, user_id: int, interval: Interval) -> None:
        self.providers.setdefault(user_id, []).append(interval)


async def load_providers(client: OdooClient, mapping: OdooMapping) -> list[OdooProvider]:
    """The active providers, by user id, with their working hours."""
    tags = await client.call(
        "res.partner.category",
        "search_read",
        [[("name", "in", [DENTIST_TAG, HYGIENIST_TAG])]],
        {"fields": ["name"]},
    )
    if not tags:
        return []
    hygienist_tags = {t["id"] for t in tags if t["name"] == HYGIENIST_TAG}
    partner_fields = ["name", "category_id", *(["x_name_he"] if mapping.name_he else [])]
    partners = await client.call(
        "res.partner",
        "search_read",
        [[("category_id", "in", [t["id"] for t in tags])]],
        {"fields": partner_fields},
    )
    by_partner = {p["id"]: p for p in partners}
    users = await client.call(
        "res.users",
        "search_read",
        [[("partner_id", "in", list(by_partner)), ("share", "=", False)]],
        {"fields": ["name", "partner_id", "resource_calendar_id"], "order": "id"},
    )
    calendars = sorted({c for u in users if (c := ref_id(u["resource_calendar_id"]))})
    attendances = await load_attendances(client, calendars)
    providers = []
    for user in users:
        partner = by_partner[ref_id(user["partner_id"]) or 0]
        calendar = ref_id(user["resource_calendar_id"])
        hygienist = bool(hygienist_tags & set(partner["category_id"]))
        providers.append(
            OdooProvider(
                record=rec.Provider(
                    id=user["id"],
                    name=user["name"],
                    name_he=text(partner.get("x_name_he")) or user["name"],
                    role="hygienist" if hygienist else "dentist",
                ),
                partner_id=partner["id"],
                calendar_id=calendar,
                attendances=tuple(attendances.get(calendar or 0, ())),
            )
        )
    return providers


async def load_internal_partners(client: OdooClient) -> frozenset[int]:
    """The contacts of internal users, archived ones too (portal users' contacts are not
    among them: they are patients)."""
    rows = await client.call(
        "res.users",
        "search_read",
        [[("share", "=", False)]],
        {"fields": ["partner_id"], "context": {"active_test": False}},
    )
    return frozenset(partner for row in rows if (partner := ref_id(row["partner_id"])))


async def load_attendances(
    client: OdooClient, calendar_ids: Sequence[int]
) -> dict[int, list[Attendance]]:
    """The working periods of each calendar."""
    if not calendar_ids:
        return {}
    rows = await client.call(
        "resource.calendar.attendance",
        "search_read",
        [[("calendar_id", "in", list(calendar_ids))]],
        {
            "fields": [
                "calendar_id",
                "dayofweek",
                "hour_from",
                "hour_to",
                "day_period",
                "display_type",
                "date_from",
                "date_to",
            ]
        },
    )
    by_calendar: dict[int, list[Attendance]] = {}
    for row in rows:
        if row.get("display_type") or row.get("day_period") == "lunch":
            continue
        start, end = hours(row["hour_from"]), hours(row["hour_to"])
        if end <= start:
            continue
        by_calendar.setdefault(ref_id(row["calendar_id"]) or 0, []).append(
            Attendance(
                window=WeeklyWindow(int(row["dayofweek"]), start, end),
                valid_from=day(row.get("date_from")),
                valid_to=day(row.get("date_to")),
            )
        )
    return by_calendar


async def load_resource_users(client: OdooClient, user_ids: Sequence[int]) -> dict[int, int]:
    """The providers' resources (resource.resource id → user id), to place their leaves."""
    if not user_ids:
        return {}
    rows = await client.call(
        "resource.resource",
        "search_read",
        [[("user_id", "in", list(user_ids))]],
        {"fields": ["user_id"], "context": {"active_test": False}},
    )
    return {row["id"]: uid for row in rows if (uid := ref_id(row["user_id"]))}


async def read_busy(
    client: OdooClient,
    *,
    start: datetime,
    end: datetime,
    providers: Sequence[OdooProvider],
    resource_users: dict[int, int],
    patient_ids: Sequence[int] = (),
    exclude_event: int | None = None,
    tz: ZoneInfo,
) -> tuple[BusyTimes, dict[date, str]]:
    """Busy times in [start, end) of these providers and patients, from calendar events and
    leaves; and the clinic's closed days in that range (clinic-local date → reason)."""
    events, leaves = await asyncio.gather(
        read_events(
            client,
            start=start,
            end=end,
            user_ids=[p.id for p in providers],
            partner_ids=[*(p.partner_id for p in providers), *patient_ids],
            tz=tz,
        ),
        read_leaves(client, start=start, end=end),
    )
    busy = BusyTimes()
    add_events(busy, events, providers, tz=tz, exclude_event=exclude_event)
    closures = add_leaves(busy, leaves, providers, resource_users, tz=tz)
    return busy, closures


async def read_events(
    client: OdooClient,
    *,
    start: datetime,
    end: datetime,
    user_ids: Sequence[int],
    partner_ids: Sequence[int],
    tz: ZoneInfo,
) -> list[Row]:
    """BusyTimes calendar events in [start, end) organised by one of `user_ids` or attended by one
    of `partner_ids`. All-day events are stored from 08:00 to 18:00 of their days, so the query
    looks a day further on each side."""
    rows: list[Row] = await client.call(
        "calendar.event",
        "search_read",
        [
            [
                ("start", "<", odoo_datetime(end + timedelta(days=1))),
                ("stop", ">", odoo_datetime(start - timedelta(days=1))),
                ("show_as", "=", "busy"),
                "|",
                ("user_id", "in", list(user_ids)),
                ("partner_ids", "in", list(partner_ids)),
            ]
        ],
        {"fields": ["start", "stop", "allday", "user_id", "partner_ids"], "order": "id"},
    )
    return [row for row in rows if overlaps(start, end, [event_interval(row, tz)])]


def event_interval(row: Row, tz: ZoneInfo) -> Interval:
    """When an event takes its attendees' time; an all-day event, their whole local days."""
    start, stop = utc(row["start"]), utc(row["stop"])
    if not row.get("allday"):
        return start, stop
    # An all-day event's start and stop carry its dates, not moments (Odoo's convention).
    return (
        datetime.combine(start.date(), time.min, tz),
        datetime.combine(stop.date() + timedelta(days=1), time.min, tz),
    )


def add_events(
    busy: BusyTimes,
    events: Iterable[Row],
    providers: Sequence[OdooProvider],
    *,
    tz: ZoneInfo,
    exclude_event: int | None = None,
) -> None:
    by_partner = {p.partner_id: p.id for p in providers}
    for row in events:
        if row["id"] == exclude_event:
            continue
        interval = event_interval(row, tz)
        users = {ref_id(row["user_id"])} | {
            by_partner[p] for p in row["partner_ids"] if p in by_partner
        }
        for user_id in users:
            if user_id is not None:
                busy.add_provider(user_id, interval)
        for partner_id in row["partner_ids"]:
            busy.partners.setdefault(partner_id, []).append(interval)


async def read_leaves(client: OdooClient, *, start: datetime, end: datetime) -> list[Row]:
    rows: list[Row] = await client.call(
        "resource.calendar.leaves",
        "search_read",
        [[("date_from", "<", odoo_datetime(end)), ("date_to", ">", odoo_datetime(start))]],
        {"fields": ["name", "calendar_id", "resource_id", "date_from", "date_to"], "order": "id"},
    )
    return rows


def add_leaves(
    busy: BusyTimes,
    leaves: Iterable[Row],
    providers: Sequence[OdooProvider],
    resource_users: dict[int, int],
    *,
    tz: ZoneInfo,
) -> dict[date, str]:
    """Adds each leave to the busy times of whom it concerns; returns the closed days."""
    closures: dict[date, str] = {}
    for row in leaves:
        interval = utc(row["date_from"]), utc(row["date_to"])
        resource, calendar = ref_id(row["resource_id"]), ref_id(row["calendar_id"])
        if resource is not None:
            concerned = [p.id for p in providers if p.id == resource_users.get(resource)]
        elif calendar is not None:
            concerned = [p.id for p in providers if p.calendar_id == calendar]
        else:
            whole_days = _whole_days(interval, tz)
            reason = text(row.get("name")) or "closed"
            closures.update(dict.fromkeys(whole_days, reason))
            concerned = [p.id for p in providers]
        for user_id in concerned:
            busy.add_provider(user_id, interval)
    return closures


def _whole_days(interval: Interval, tz: ZoneInfo) -> list[date]:
    """The clinic-local days the interval covers from midnight to midnight. Odoo writes a
    day's time off as 00:00:00 to 23:59:59, so the last second may be missing."""
    start, end = (moment.astimezone(tz) for moment in interval)
    current = start.date() if start.time() == time.min else start.date() + timedelta(days=1)
    days = []
    while end >= datetime.combine(current + timedelta(days=1), time.min, tz) - timedelta(minutes=1):
        days.append(current)
        current += timedelta(days=1)
    return days
