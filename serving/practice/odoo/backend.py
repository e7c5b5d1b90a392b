"""`OdooPracticeBackend`: the practice system is the clinic's own Odoo (docs/ODOO.md).

Patients are people's contacts (res.partner) that are no internal user's (a portal user is a
patient), appointments calendar events tagged with their treatment that the patient alone of
the non-staff attends, invoices the patient's posted customer invoices and refunds, notes the
chatter, allergies and plans what `OdooMapping` found. The semantics and errors are the
built-in backend's: a record of another patient is not found, a refused request changes
nothing.

Bookings are written as serving/practice/odoo/bookings.py says: checked after the write, so
that no time is booked twice, and none is half-made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from serving.db.types import utcnow
from serving.practice import checks
from serving.practice import models as rec
from serving.practice.booking import free_slots, with_closures
from serving.practice.checks import MAX_SEARCH_RESULTS
from serving.practice.errors import (
    AppointmentNotFound,
    InvalidRequest,
    InvoiceNotFound,
    PatientNotFound,
    TimeInPast,
    UnknownProvider,
)
from serving.practice.odoo import records
from serving.practice.odoo.bookings import CalendarWrites, booking_reference, first_bookable
from serving.practice.odoo.catalogue import OdooTreatment, create_tag
from serving.practice.odoo.client import OdooClient
from serving.practice.odoo.connection import MissingRecord
from serving.practice.odoo.mapping import OdooMapping, detect_mapping
from serving.practice.odoo.records import Row, odoo_datetime, ref_id, ref_name
from serving.practice.odoo.schedule import (
    BusyTimes,
    OdooProvider,
    add_leaves,
    event_interval,
    load_internal_partners,
    read_busy,
    read_leaves,
)
from serving.practice.odoo.setup_cache import OdooSetup, SetupCache, load_setup
from serving.practice.phone import national_digits, normalize_phone
from serving.scheduling.opening import ClinicHours
from serving.scheduling.request import SlotRequest
from serving.scheduling.slots import BookingRules

EVENT_FIELDS = ["start", "stop", "allday", "user_id", "partner_ids", "categ_ids", "active"]
INVOICE_FIELDS = [
    "name",
    "move_type",
    "invoice_date",
    "invoice_date_due",
    "currency_id",
    "amount_total",
    "amount_residual",
]
PHONE_CANDIDATES = 100
"""Contacts whose phone contains the number's digits in order, compared exactly afterwards."""


class OdooPracticeBackend:
    """`PracticeBackend` on the clinic's Odoo, through `OdooClient`."""

    def __init__(
        self,
        client: OdooClient,
        rules: BookingRules,
        *,
        default_phone_region: str = "IL",
        clock: Callable[[], datetime] = utcnow,
        cache_seconds: float = 60.0,
        default_duration_minutes: int = 30,
    ) -> None:
        self.client = client
        self._rules = rules
        self._region = default_phone_region
        self._now = clock
        self._default_duration = default_duration_minutes
        self._mapping: OdooMapping | None = None
        self._mapping_lock: asyncio.Lock | None = None
        self._setup = SetupCache(self._load_setup, seconds=cache_seconds)
        self._staff = SetupCache(lambda: load_internal_partners(client), seconds=cache_seconds)
        """The contacts of internal users (staff, providers, the assistant): never patients."""
        self._calendar = CalendarWrites(client, rules.calendar.tz)
        self._tag_locks: dict[str, asyncio.Lock] = {}

    @property
    def timezone(self) -> ZoneInfo:
        """The clinic's time zone: dates given to and taken from this backend are local to it."""
        return self._rules.calendar.tz

    async def mapping(self) -> OdooMapping:
        """What this Odoo has for the assistant, detected at first use (`fields_get`)."""
        if self._mapping is not None:
            return self._mapping
        if self._mapping_lock is None:
            self._mapping_lock = asyncio.Lock()
        async with self._mapping_lock:
            if self._mapping is None:
                self._mapping = await detect_mapping(self.client)
            return self._mapping

    def forget_setup(self) -> None:
        self._mapping = None
        self._setup.forget()
        self._staff.forget()

    # --- patients -----------------------------------------------------------------------------

    async def search_patient(
        self, *, phone: str | None = None, name: str | None = None, email: str | None = None
    ) -> list[rec.Patient]:
        checks.require_search_criteria(phone, name, email)
        number = normalize_phone(phone, self._region) if phone is not None else None
        words = checks.name_words(name) if name is not None else []
        address = checks.email_address(email) if email is not None else None
        mapping, staff = await asyncio.gather(self.mapping(), self._staff.get())
        domain: list[Any] = _patients(staff)
        if number is not None:
            # The digits in order, anything between them: "050-123-4567" and "+972 50 123 4567"
            # both hold 501234567. The candidates are then compared in E.164 form.
            pattern = "%" + "%".join(national_digits(number)) + "%"
            fields = mapping.phone_fields
            domain += ["|"] * (len(fields) - 1) + [(field, "=ilike", pattern) for field in fields]
        for word in words:
            if mapping.name_he:
                domain += ["|", ("name", "ilike", word), ("x_name_he", "ilike", word)]
            else:
                domain.append(("name", "ilike", word))
        if address is not None:
            domain.append(("email", "=ilike", address))
        rows = await self.client.call(
            "res.partner",
            "search_read",
            [domain],
            {
                "fields": mapping.partner_fields(),
                "order": "id",
                "limit": PHONE_CANDIDATES if number or address else MAX_SEARCH_RESULTS,
            },
        )
        found = [
            row
            for row in rows
            if (number is None or number in records.patient_phones(row, mapping, self._region))
            and (address is None or str(row.get("email") or "").strip().lower() == address)
        ]
        return [records.patient(row, mapping, self._region) for row in found[:MAX_SEARCH_RESULTS]]

    async def get_patient(self, patient_id: int) -> rec.Patient:
        mapping = await self.mapping()
        row = await self._patient_row(patient_id, mapping.partner_fields())
        return records.patient(row, mapping, self._region)

    async def get_patient_allergies(self, patient_id: int) -> list[rec.Allergy]:
        mapping = await self.mapping()
        if mapping.require_allergies() == "partner_text":
            row = await self._patient_row(patient_id, ["x_allergies"])
            return records.allergies_text(row["x_allergies"])
        fields = sorted(mapping.allergy_fields - {"x_partner_id"})
        _, rows = await asyncio.gather(
            self._patient_row(patient_id),
            self.client.call(
                "x_dental_allergy",
                "search_read",
                [[("x_partner_id", "=", patient_id)]],
                {"fields": fields, "order": "id"},
            ),
        )
        return [records.allergy(row) for row in rows]

    async def get_patient_notes(self, patient_id: int) -> list[rec.PatientNote]:
        _, rows, setup = await asyncio.gather(
            self._patient_row(patient_id),
            self.client.call(
                "mail.message",
                "search_read",
                [
                    [
                        ("model", "=", "res.partner"),
                        ("res_id", "=", patient_id),
                        ("message_type", "=", "comment"),
                    ]
                ],
                {"fields": records.NOTE_FIELDS, "order": "date, id"},
            ),
            self._setup.get(),
        )
        return [records.note(row, setup.internal_subtypes) for row in rows]

    async def add_patient_note(
        self, patient_id: int, body: str, *, author: str, for_patient: bool = False
    ) -> rec.PatientNote:
        text, who = checks.note_text(body, author)
        _, setup = await asyncio.gather(self._patient_row(patient_id), self._setup.get())
        try:
            message_id = await self.client.call(
                "res.partner",
                "message_post",
                [[patient_id]],
                {
                    "body": records.note_body(text, who),
                    "message_type": "comment",
                    "subtype_xmlid": "mail.mt_comment" if for_patient else "mail.mt_note",
                },
            )
        except MissingRecord:  # removed in Odoo since it was read
            raise PatientNotFound(f"no patient with id {patient_id}") from None
        [row] = await self.client.call(
            "mail.message", "read", [[message_id]], {"fields": records.NOTE_FIELDS}
        )
        return records.note(row, setup.internal_subtypes)

    async def get_treatment_plan(self, patient_id: int) -> rec.TreatmentPlan | None:
        mapping = await self.mapping()
        mapping.require_plans()
        # Completed plans are left out: locked orders (17+), or "done" ones (16).
        domain: list[Any] = [
            ("partner_id", "=", patient_id),
            ("state", "in", ["draft", "sent", "sale"]),
        ]
        if mapping.plan_locked:
            domain.append(("locked", "=", False))
        _, orders, setup = await asyncio.gather(
            self._patient_row(patient_id),
            self.client.call(
                "sale.order",
                "search_read",
                [domain],
                {
                    "fields": ["name", "client_order_ref", "state"],
                    "order": "date_order desc, id desc",
                },
            ),
            self._setup.get(),
        )
        if not orders:
            return None
        order = next((o for o in orders if o["state"] == "sale"), orders[0])
        line_fields = ["product_id", "name", "price_subtotal", "product_uom_qty", "qty_delivered"]
        lines = await self.client.call(
            "sale.order.line",
            "search_read",
            [[("order_id", "=", order["id"]), ("display_type", "=", False)]],
            {"fields": [*line_fields, *(["x_tooth"] if mapping.plan_tooth else [])], "order": "id"},
        )
        return rec.TreatmentPlan(
            id=order["id"],
            title=records.text(order["client_order_ref"]) or str(order["name"]),
            status="active" if order["state"] == "sale" else "proposed",
            items=tuple(_plan_item(line, setup) for line in lines),
        )

    # --- invoices -----------------------------------------------------------------------------

    async def get_patient_invoices(self, patient_id: int) -> list[rec.InvoiceSummary]:
        _, rows = await asyncio.gather(
            self._patient_row(patient_id),
            self.client.call(
                "account.move",
                "search_read",
                [_invoices_of(patient_id)],
                {"fields": INVOICE_FIELDS, "order": "invoice_date desc, id desc"},
            ),
        )
        return [records.invoice_summary(row) for row in rows]

    async def get_invoice_details(self, patient_id: int, invoice_number: str) -> rec.InvoiceDetails:
        number = checks.invoice_number(invoice_number)
        _, rows = await asyncio.gather(
            self._patient_row(patient_id),
            self.client.call(
                "account.move",
                "search_read",
                [[*_invoices_of(patient_id), ("name", "=", number)]],
                {"fields": INVOICE_FIELDS, "limit": 1},
            ),
        )
        if not rows:
            raise InvoiceNotFound(f"no invoice {number} for this patient")
        [invoice] = rows
        lines = await self.client.call(
            "account.move.line",
            "search_read",
            [[("move_id", "=", invoice["id"]), ("display_type", "=", "product")]],
            {"fields": ["name", "quantity", "price_unit"], "order": "id"},
        )
        refund = records.is_refund(invoice)
        return rec.InvoiceDetails(
            **records.invoice_summary(invoice).model_dump(),
            lines=tuple(records.invoice_line(line, refund=refund) for line in lines),
        )

    # --- schedule -----------------------------------------------------------------------------

    async def list_providers(self) -> list[rec.Provider]:
        return [p.record for p in (await self._setup.get()).providers]

    async def list_treatment_types(self) -> list[rec.TreatmentType]:
        return [t.record for t in (await self._setup.get()).treatments]

    async def clinic_hours(self, provider_id: int | None = None) -> ClinicHours:
        setup = await self._setup.get()
        providers = setup.providers
        if provider_id is not None:
            providers = tuple(p for p in providers if p.id == provider_id)
            if not providers:
                raise UnknownProvider(f"no active provider with id {provider_id}")
        today = self._now().astimezone(self.timezone).date()
        week = [today + timedelta(days=n) for n in range(7)]
        windows = [w for p in providers for day in week for w in p.windows_on(day)]
        start = datetime.combine(today, time.min, self.timezone)
        leaves = await read_leaves(self.client, start=start, end=start + self._rules.horizon)
        closures = _closures(leaves, setup, self.timezone)
        return ClinicHours.of(windows, with_closures(self._rules, closures).calendar)

    async def get_available_slots(
        self,
        treatment_code: str,
        date_from: date,
        date_to: date,
        *,
        provider_id: int | None = None,
        limit: int = 20,
        matching: SlotRequest | None = None,
    ) -> list[rec.Slot]:
        now = self._now()
        first_day = checks.slot_search_days(
            date_from, date_to, limit, now.astimezone(self.timezone).date()
        )
        setup = await self._setup.get()
        treatment = setup.treatment(treatment_code)
        providers = setup.providers_for(treatment, provider_id)
        start = datetime.combine(first_day, time.min, self.timezone)
        end = datetime.combine(date_to + timedelta(days=1), time.min, self.timezone)
        busy, closures = await read_busy(
            self.client,
            start=start,
            end=end,
            providers=providers,
            resource_users=setup.resource_users,
            tz=self.timezone,
        )
        return free_slots(
            treatment_code=treatment.code,
            duration=timedelta(minutes=treatment.record.duration_minutes),
            providers=[(p.record, p.windows_on) for p in providers],
            busy=busy.providers,
            first_day=first_day,
            last_day=date_to,
            rules=with_closures(self._rules, closures),
            now=now,
            limit=limit,
            matching=matching,
        )

    async def list_patient_appointments(
        self, patient_id: int, *, include_past: bool = False
    ) -> list[rec.Appointment]:
        now = self._now()
        domain: list[Any] = [("partner_ids", "in", [patient_id])]
        if not include_past:
            domain.append(("stop", ">=", odoo_datetime(now)))
        _, rows, setup, staff = await asyncio.gather(
            self._patient_row(patient_id),
            self.client.call(
                "calendar.event",
                "search_read",
                [domain],
                {
                    "fields": EVENT_FIELDS,
                    "order": "start, id",
                    "context": {"active_test": not include_past},
                },
            ),
            self._setup.get(),
            self._staff.get(),
        )
        found = [
            self._appointment(row, patient_id, setup, now)
            for row in rows
            if _sole_patient(row["partner_ids"], staff) == patient_id
        ]
        return [a for a in found if a is not None]

    async def appointments_between(
        self, start: datetime, end: datetime, *, provider_id: int | None = None
    ) -> list[rec.Appointment]:
        checks.time_range(start, end)
        domain: list[Any] = [
            ("start", ">=", odoo_datetime(start)),
            ("start", "<", odoo_datetime(end)),
        ]
        if provider_id is not None:
            domain.append(("user_id", "=", provider_id))
        return await self._staff_view(domain)

    async def get_appointment(self, appointment_id: int) -> rec.Appointment:
        found = await self._staff_view([("id", "=", appointment_id)])
        if not found:
            raise AppointmentNotFound(f"no appointment {appointment_id}")
        return found[0]

    async def create_appointment(
        self,
        patient_id: int,
        treatment_code: str,
        starts_at: datetime,
        *,
        provider_id: int | None = None,
        notes: str | None = None,
    ) -> rec.Appointment:
        notes = checks.appointment_notes(notes)
        patient, setup = await asyncio.gather(
            self._patient_row(patient_id, ["name"]), self._setup.get()
        )
        treatment = setup.treatment(treatment_code)
        providers = setup.providers_for(treatment, provider_id)
        provider, ends_at = await self._first_bookable(
            setup, treatment, providers, starts_at, patient_id, exclude_event=None
        )
        tag = await self._tag(setup, treatment.code)
        reference = booking_reference()
        values = {
            "name": f"{treatment.record.name}: {patient['name']}",
            "start": odoo_datetime(starts_at),
            "stop": odoo_datetime(ends_at),
            "allday": False,
            "user_id": provider.id,
            "partner_ids": [[6, 0, [patient_id, provider.partner_id]]],
            "show_as": "busy",
            "categ_ids": [[6, 0, [tag]]],
            "description": records.text_html(*([notes] if notes else []), reference),
        }
        event_id = await self._calendar.create(
            values,
            reference,
            provider=provider,
            patient_id=patient_id,
            starts_at=starts_at,
            ends_at=ends_at,
        )
        return _appointment_record(
            event_id, patient_id, provider, treatment, starts_at, ends_at, "scheduled"
        )

    async def reschedule_appointment(
        self,
        patient_id: int,
        appointment_id: int,
        new_starts_at: datetime,
        *,
        provider_id: int | None = None,
    ) -> rec.Appointment:
        row, appointment, setup = await self._changeable(patient_id, appointment_id)
        treatment = setup.treatment(appointment.treatment_code)
        providers = setup.providers_for(treatment, provider_id or appointment.provider_id)
        provider, ends_at = await self._first_bookable(
            setup, treatment, providers, new_starts_at, patient_id, exclude_event=appointment.id
        )
        old_partner = setup.provider(appointment.provider_id)
        attendees = set(row["partner_ids"]) - {old_partner.partner_id if old_partner else 0}
        before = {k: row[k] for k in ("start", "stop")} | {
            "user_id": ref_id(row["user_id"]),
            "partner_ids": [[6, 0, row["partner_ids"]]],
        }
        after = {
            "start": odoo_datetime(new_starts_at),
            "stop": odoo_datetime(ends_at),
            "user_id": provider.id,
            "partner_ids": [[6, 0, sorted(attendees | {provider.partner_id})]],
        }
        await self._calendar.move(
            appointment.id,
            before,
            after,
            provider=provider,
            patient_id=patient_id,
            starts_at=new_starts_at,
            ends_at=ends_at,
        )
        return _appointment_record(
            appointment.id, patient_id, provider, treatment, new_starts_at, ends_at, "scheduled"
        )

    async def cancel_appointment(
        self, patient_id: int, appointment_id: int, *, reason: str | None = None
    ) -> rec.Appointment:
        reason = checks.cancel_reason(reason)
        _, appointment, _ = await self._changeable(patient_id, appointment_id)
        await self._calendar.cancel(appointment.id, reason)
        return appointment.model_copy(update={"status": "cancelled"})

    # --- internals ----------------------------------------------------------------------------

    async def _first_bookable(
        self,
        setup: OdooSetup,
        treatment: OdooTreatment,
        providers: Sequence[OdooProvider],
        starts_at: datetime,
        patient_id: int,
        *,
        exclude_event: int | None,
    ) -> tuple[OdooProvider, datetime]:
        return await first_bookable(
            self.client,
            setup,
            providers,
            starts_at,
            timedelta(minutes=treatment.record.duration_minutes),
            patient_id,
            rules=self._rules,
            now=self._now(),
            exclude_event=exclude_event,
        )

    async def _load_setup(self) -> OdooSetup:
        return await load_setup(
            self.client, await self.mapping(), default_duration_minutes=self._default_duration
        )

    async def _patient_row(self, patient_id: int, fields: Sequence[str] = ("name",)) -> Row:
        rows = await self.client.call(
            "res.partner",
            "search_read",
            [[("id", "=", patient_id), *_patients(await self._staff.get())]],
            {"fields": list(fields)},
        )
        if not rows:
            raise PatientNotFound(f"no patient with id {patient_id}")
        row: Row = rows[0]
        return row

    def _appointment(
        self, row: Row, patient_id: int, setup: OdooSetup, now: datetime
    ) -> rec.Appointment | None:
        """An event as the patient's appointment; None when it marks no treatment."""
        treatment = setup.treatment_of_tags(row["categ_ids"])
        if treatment is None:
            return None
        starts_at, ends_at = event_interval(row, self.timezone)
        status: rec.AppointmentStatus = (
            "cancelled" if not row["active"] else "completed" if ends_at < now else "scheduled"
        )
        provider = setup.provider(ref_id(row["user_id"]))
        return rec.Appointment(
            id=row["id"],
            patient_id=patient_id,
            provider_id=ref_id(row["user_id"]) or 0,
            provider_name=provider.record.name if provider else ref_name(row["user_id"]),
            provider_name_he=provider.record.name_he if provider else ref_name(row["user_id"]),
            treatment_code=treatment.code,
            treatment_name=treatment.record.name,
            treatment_name_he=treatment.record.name_he,
            starts_at=starts_at,
            ends_at=ends_at,
            status=status,
        )

    async def _staff_view(self, domain: list[Any]) -> list[rec.Appointment]:
        """The appointments among the events `domain` finds, cancelled ones included, each with
        its patient: the attendee who is a patient (providers and staff are users)."""
        rows, setup, staff = await asyncio.gather(
            self.client.call(
                "calendar.event",
                "search_read",
                [domain],
                {"fields": EVENT_FIELDS, "order": "start, id", "context": {"active_test": False}},
            ),
            self._setup.get(),
            self._staff.get(),
        )
        attendees = sorted({partner for row in rows for partner in row["partner_ids"]})
        patients = set()
        if attendees:
            found = await self.client.call(
                "res.partner",
                "search_read",
                [[("id", "in", attendees), *_patients(staff)]],
                {"fields": ["id"], "context": {"active_test": False}},
            )
            patients = {row["id"] for row in found}
        now = self._now()
        appointments = []
        for row in rows:
            patient = next((p for p in row["partner_ids"] if p in patients), None)
            appointment = self._appointment(row, patient, setup, now) if patient else None
            if appointment is not None:
                appointments.append(appointment)
        return appointments

    async def _changeable(
        self, patient_id: int, appointment_id: int
    ) -> tuple[Row, rec.Appointment, OdooSetup]:
        _, rows, setup, staff = await asyncio.gather(
            self._patient_row(patient_id),
            self.client.call(
                "calendar.event",
                "search_read",
                [[("id", "=", appointment_id), ("partner_ids", "in", [patient_id])]],
                {"fields": EVENT_FIELDS, "context": {"active_test": False}},
            ),
            self._setup.get(),
            self._staff.get(),
        )
        now = self._now()
        mine = [row for row in rows if _sole_patient(row["partner_ids"], staff) == patient_id]
        appointment = self._appointment(mine[0], patient_id, setup, now) if mine else None
        if appointment is None:
            raise AppointmentNotFound(f"no appointment {appointment_id} for this patient")
        if appointment.status != "scheduled":
            raise InvalidRequest(f"that appointment is already {appointment.status}")
        if appointment.starts_at <= now:
            raise TimeInPast("that appointment has already started or taken place")
        return rows[0], appointment, setup

    async def _tag(self, setup: OdooSetup, code: str) -> int:
        """The treatment's calendar tag, created when the clinic has none yet: one creation
        at a time per code, looking again (in the copy, then in Odoo) before creating."""
        if code in setup.tags:
            return setup.tags[code]
        async with self._tag_locks.setdefault(code, asyncio.Lock()):
            setup = await self._setup.get()
            if code in setup.tags:
                return setup.tags[code]
            tag = await create_tag(self.client, code)
            self._setup.put(setup.with_tag(code, tag))
            return tag


def _patients(staff: frozenset[int]) -> list[Any]:
    """The res.partner domain of patients: people, not the contacts of internal users (a portal
    user's contact is a patient)."""
    return [("is_company", "=", False), ("id", "not in", sorted(staff))]


def _sole_patient(attendees: Sequence[int], staff: frozenset[int]) -> int | None:
    """The event's only attendee who is not an internal user's contact; None when there is none
    or more than one (an attendee of someone else's visit may not see or change it)."""
    others = set(attendees) - staff
    return others.pop() if len(others) == 1 else None


def _invoices_of(patient_id: int) -> list[Any]:
    """The patient's own posted invoices and refunds (not those of a family member the patient
    is the commercial partner of, nor the other way round)."""
    return [
        ("partner_id", "=", patient_id),
        ("move_type", "in", ["out_invoice", "out_refund"]),
        ("state", "=", "posted"),
    ]


def _plan_item(line: Row, setup: OdooSetup) -> rec.TreatmentPlanItem:
    treatment = setup.treatment_by_product(ref_id(line["product_id"]))
    name = records.html_text(line["name"]) or ref_name(line["product_id"])
    ordered, delivered = float(line["product_uom_qty"] or 0), float(line["qty_delivered"] or 0)
    return rec.TreatmentPlanItem(
        treatment_code=treatment.code if treatment else "",
        treatment_name=treatment.record.name if treatment else name,
        treatment_name_he=treatment.record.name_he if treatment else name,
        tooth=records.text(line.get("x_tooth")),
        status="done" if ordered > 0 and delivered >= ordered else "planned",
        estimated_price=records.money(line["price_subtotal"]),
    )


def _closures(leaves: Sequence[Row], setup: OdooSetup, tz: ZoneInfo) -> dict[date, str]:
    return add_leaves(BusyTimes(), leaves, setup.providers, setup.resource_users, tz=tz)


def _appointment_record(
    event_id: int,
    patient_id: int,
    provider: OdooProvider,
    treatment: OdooTreatment,
    starts_at: datetime,
    ends_at: datetime,
    status: rec.AppointmentStatus,
) -> rec.Appointment:
    return rec.Appointment(
        id=event_id,
        patient_id=patient_id,
        provider_id=provider.id,
        provider_name=provider.record.name,
        provider_name_he=provider.record.name_he,
        treatment_code=treatment.code,
        treatment_name=treatment.record.name,
        treatment_name_he=treatment.record.name_he,
        starts_at=starts_at,
        ends_at=ends_at,
        status=status,
    )
