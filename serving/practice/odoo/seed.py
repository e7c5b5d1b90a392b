"""The demo clinic written into an Odoo database over JSON-RPC (`dental odoo seed-demo`), so
anyone can try the assistant on Odoo.

Idempotent: every record is looked up by a stable key first (a field's model and name, a
login, a product's internal reference, a patient's e-mail, an invoice's reference, a plan's
customer reference, a booking reference in an event's description) and created only when
missing; a second run creates nothing and reports everything as present. A run cut short is
finished by the next one (a draft invoice is posted, a missing payment registered).

Writes run as an Odoo administrator: custom fields and models need one. Mail stays quiet:
nobody is subscribed, nothing is tracked, attendees get no invitation. The on-call doctor is
not written: Odoo has no such notion, it stays in the app's database.
"""

from __future__ import annotations

import re
import time as clock
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from serving.practice.errors import PracticeMisconfigured
from serving.practice.odoo.connection import OdooConnection, major_version
from serving.practice.odoo.records import html_text, odoo_datetime, utc
from serving.practice.odoo.seed_schema import (
    ACCESS_RULES,
    ALLERGY_FIELDS,
    ALLERGY_MODEL,
    EXTRA_FIELDS,
)
from serving.scheduling.calendar import ClinicCalendar
from serving.scheduling.request import WEEKDAY_CODES
from serving.scheduling.slots import BookingRules, WeeklyWindow, booking_rules, free_starts

DEMO_DOMAIN = "smile-clinic.example"
"""Providers log in to Odoo as <key>@smile-clinic.example."""

DEMO_TIMEZONE = "Asia/Jerusalem"
ODOO_LANGS = {"he": "he_IL", "en": "en_US"}
PROVIDER_TAGS = {"dentist": "Dentist", "hygienist": "Hygienist"}
TREATMENT_CATEGORY = "Dental treatments"
BOOKING_PREFIX = "dental-booking:"
BOOKING_NAMESPACE = uuid.UUID("5d0c8f3e-6a4b-4c55-9a43-1f4f2d9c7b61")
"""Demo bookings get uuid5 references under this namespace: the same visit, the same
reference, on every run."""
SEARCH_WEEKS = 8
PAST_VISIT_TIME = time(10, 0)
DONE_ITEM = "done"

QUIET = {
    "tracking_disable": True,
    "mail_create_nosubscribe": True,
    "mail_create_nolog": True,
    "mail_notrack": True,
    "no_reset_password": True,
    "no_mail_to_attendees": True,
}
"""Context for every write: no followers, no tracking messages, no invitation e-mails."""

REQUIRED_MODELS = {
    "res.partner": "contacts",
    "resource.calendar": "resource",
    "resource.resource": "resource",
    "product.template": "sale_management",
    "sale.order.line": "sale_management",
    "calendar.event": "calendar",
    "account.move": "account",
}
"""Odoo models the demo needs, with the module that brings each."""

KINDS = (
    "custom models",
    "custom fields",
    "access rights",
    "languages",
    "currencies",
    "pricelists",
    "provider tags",
    "working calendars",
    "providers",
    "treatment categories",
    "treatments",
    "Hebrew treatment names",
    "appointment tags",
    "closures",
    "patients",
    "allergies",
    "invoices",
    "payments",
    "notes",
    "treatment plans",
    "appointments",
)
"""What the report counts, in the order it is written."""


@dataclass
class SeedReport:
    """What one run created and what it found already there, per kind of record."""

    server_version: str
    created: Counter[str] = field(default_factory=Counter)
    present: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    seconds: float = 0.0

    def count(self, kind: str, *, created: bool, n: int = 1) -> None:
        assert kind in KINDS, kind
        if n:
            (self.created if created else self.present)[kind] += n

    def rows(self) -> list[tuple[str, int, int]]:
        """(kind, created, already present) for every kind seen, in `KINDS` order."""
        return [
            (kind, self.created[kind], self.present[kind])
            for kind in KINDS
            if self.created[kind] or self.present[kind]
        ]

    @property
    def created_total(self) -> int:
        return sum(self.created.values())


def demo_booking_rules(timezone: str = DEMO_TIMEZONE) -> BookingRules:
    """Rules for placing demo visits when the caller has none: Shabbat observed, 15-minute
    steps, no notice (visits are days ahead anyway)."""
    return booking_rules(
        calendar=ClinicCalendar(tz=ZoneInfo(timezone)),
        step_minutes=15,
        min_notice_minutes=0,
        horizon_days=365,
    )


def seed_demo_clinic(
    connection: OdooConnection,
    data: Mapping[str, Any],
    *,
    today: date,
    rules: BookingRules | None = None,
) -> SeedReport:
    """Write the demo clinic `data` (the layout of demo_clinic.json) into the Odoo behind
    `connection`, logged in as an administrator. Upcoming visits go to the first free slot
    from `today` + their `days_ahead` on, within the provider's hours and clear of `rules`'
    closures (Shabbat, holidays); past visits to `today` - `days_ago`.

    Raises PracticeMisconfigured when the login is not an administrator or an app is missing,
    and the connection's practice errors when Odoo refuses a call or is unreachable."""
    started = clock.monotonic()
    wire = _Wire(connection)
    report = SeedReport(server_version=connection.server_version)
    _require_administrator(wire, connection.address.login, report.server_version)
    seed = _DemoSeed(wire, data, report, today, rules or demo_booking_rules())
    seed.schema()
    seed.money()
    seed.clinic()
    seed.patients()
    seed.appointments()
    report.calls = wire.calls
    report.seconds = clock.monotonic() - started
    return report


class _Wire:
    """`execute_kw` with keyword arguments, counting the calls for the report."""

    def __init__(self, connection: OdooConnection) -> None:
        self.connection = connection
        self.calls = 0

    def __call__(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.connection.call(model, method, list(args), kwargs)

    def search_read(
        self, model: str, domain: list[Any], fields: list[str], **kwargs: Any
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self(model, "search_read", domain, fields=fields, **kwargs)
        return rows

    def create(self, model: str, values: list[dict[str, Any]], **context: Any) -> list[int]:
        """Create records in one call; their ids in order."""
        if not values:
            return []
        ids = self(model, "create", values, context={**QUIET, **context})
        return [ids] if isinstance(ids, int) else list(ids)


def _require_administrator(wire: _Wire, login: str, server_version: str) -> None:
    """Refuse before writing anything unless the login may create fields (group Settings).
    Odoo 18 replaced `check_access_rights` with `has_access`."""
    if major_version(server_version) >= 18:
        allowed = wire("ir.model.fields", "has_access", [], "create")
    else:
        allowed = wire("ir.model.fields", "check_access_rights", "create", raise_exception=False)
    if not allowed:
        raise PracticeMisconfigured(
            f"the Odoo user {login} is not an administrator: the demo needs custom fields "
            "and a custom model, which only a user with Settings rights may create; use such "
            "a login (e.g. admin) for seed-demo, not the assistant's API user"
        )


class _DemoSeed:
    """One run: each step looks up what exists, creates the rest and remembers the ids the
    next steps refer to."""

    def __init__(
        self,
        wire: _Wire,
        data: Mapping[str, Any],
        report: SeedReport,
        today: date,
        rules: BookingRules,
    ) -> None:
        self.wire = wire
        self.data = data
        self.report = report
        self.today = today
        closures = {date.fromisoformat(c["day"]): c["reason"] for c in data["closures"]}
        calendar = replace(rules.calendar, closures={**rules.calendar.closures, **closures})
        self.rules = BookingRules(
            calendar=calendar,
            step=rules.step,
            min_notice=timedelta(0),
            horizon=timedelta(weeks=SEARCH_WEEKS + 52),
        )
        self.tz = calendar.tz
        self.treatments = {t["code"]: t for t in data["treatment_types"]}
        self.providers = {p["key"]: p for p in data["providers"]}
        self.user_ids: dict[str, int] = {}
        self.provider_partner_ids: dict[str, int] = {}
        self.product_ids: dict[str, int] = {}
        self.event_tag_ids: dict[str, int] = {}
        self.patient_ids: list[int] = []
        self.currency_id = 0
        self.pricelist_id: int | None = None
        self.company_partner_id = 0

    # -- schema ---------------------------------------------------------------------------

    def schema(self) -> None:
        w = self.wire
        wanted = sorted(
            {*REQUIRED_MODELS, *(f.model for f in EXTRA_FIELDS), *(r.model for r in ACCESS_RULES)}
        )
        model_ids = {
            row["model"]: row["id"]
            for row in w.search_read("ir.model", [["model", "in", wanted]], ["model"])
        }
        missing_modules = sorted(
            {module for model, module in REQUIRED_MODELS.items() if model not in model_ids}
        )
        if missing_modules:
            raise PracticeMisconfigured(
                f"Odoo lacks the module(s) {', '.join(missing_modules)}: install them (Apps), "
                "then seed again"
            )
        fields = list(EXTRA_FIELDS)
        if ALLERGY_MODEL in model_ids:
            self.report.count("custom models", created=False)
            fields += ALLERGY_FIELDS
        else:
            model_ids[ALLERGY_MODEL] = w(
                "ir.model",
                "create",
                {
                    "name": "Dental allergy",
                    "model": ALLERGY_MODEL,
                    "field_id": [[0, 0, f.values()] for f in ALLERGY_FIELDS],
                },
            )
            self.report.count("custom models", created=True)
            self.report.count("custom fields", created=True, n=len(ALLERGY_FIELDS))
        existing = {
            (row["model"], row["name"])
            for row in w.search_read(
                "ir.model.fields",
                [
                    ["model", "in", sorted({f.model for f in fields})],
                    ["name", "in", [f.name for f in fields]],
                ],
                ["model", "name"],
            )
        }
        missing = [f for f in fields if (f.model, f.name) not in existing]
        w.create(
            "ir.model.fields", [{**f.values(), "model_id": model_ids[f.model]} for f in missing]
        )
        self.report.count("custom fields", created=True, n=len(missing))
        self.report.count("custom fields", created=False, n=len(fields) - len(missing))
        self._access(model_ids)
        self._hebrew()

    def _access(self, model_ids: Mapping[str, int]) -> None:
        w = self.wire
        names = [rule.group_xmlid.split(".", 1) for rule in ACCESS_RULES]
        groups = {
            f"{row['module']}.{row['name']}": row["res_id"]
            for row in w.search_read(
                "ir.model.data",
                [
                    ["model", "=", "res.groups"],
                    ["module", "in", sorted({module for module, _ in names})],
                    ["name", "in", [name for _, name in names]],
                ],
                ["module", "name", "res_id"],
            )
        }
        lines = w.search_read(
            "ir.model.access",
            [["model_id", "in", sorted({model_ids[rule.model] for rule in ACCESS_RULES})]],
            ["model_id", "group_id", "perm_read", "perm_write", "perm_create", "perm_unlink"],
        )
        missing = [
            rule
            for rule in ACCESS_RULES
            if not any(
                line["model_id"][0] == model_ids[rule.model]
                and line["group_id"]
                and line["group_id"][0] == groups[rule.group_xmlid]
                and rule.satisfied_by(line)
                for line in lines
            )
        ]
        created = w.create(
            "ir.model.access",
            [rule.values(model_ids[rule.model], groups[rule.group_xmlid]) for rule in missing],
        )
        if created:
            # Odoo 17 clears its cache of access rights before inserting new lines, and its
            # own check on the insert fills it again without them: a write clears it after.
            w("ir.model.access", "write", created, {"active": True})
        self.report.count("access rights", created=True, n=len(missing))
        self.report.count("access rights", created=False, n=len(ACCESS_RULES) - len(missing))

    def _hebrew(self) -> None:
        """Activate he_IL with Odoo's own translations: the language wizard, as Settings →
        Languages does (activating res.lang alone would load no translation)."""
        w = self.wire
        rows = w.search_read(
            "res.lang", [["code", "=", "he_IL"]], ["active"], context={"active_test": False}
        )
        if not rows:
            raise PracticeMisconfigured("Odoo does not know the language he_IL")
        if rows[0]["active"]:
            self.report.count("languages", created=False)
            return
        [wizard] = w.create("base.language.install", [{"lang_ids": [[6, 0, [rows[0]["id"]]]]}])
        w("base.language.install", "lang_install", [wizard])
        self.report.count("languages", created=True)

    # -- currency -------------------------------------------------------------------------

    def money(self) -> None:
        """The clinic's currency active, and a pricelist in it for the plans when the
        company keeps its books in another one."""
        w = self.wire
        [currency_code] = {t["currency"] for t in self.data["treatment_types"]}
        [user] = w("res.users", "read", [w.connection.uid], fields=["company_id"])
        [company] = w(
            "res.company", "read", [user["company_id"][0]], fields=["currency_id", "partner_id"]
        )
        self.company_partner_id = company["partner_id"][0]
        [currency] = w.search_read(
            "res.currency",
            [["name", "=", currency_code]],
            ["active"],
            context={"active_test": False},
        )
        self.currency_id = currency["id"]
        if not currency["active"]:
            w("res.currency", "write", [self.currency_id], {"active": True})
        self.report.count("currencies", created=not currency["active"])
        if company["currency_id"][0] == self.currency_id:
            return
        name = f"Dental treatments ({currency_code})"
        found = w.search_read(
            "product.pricelist",
            [["name", "=", name], ["currency_id", "=", self.currency_id]],
            ["id"],
        )
        if found:
            self.pricelist_id = found[0]["id"]
        else:
            [self.pricelist_id] = w.create(
                "product.pricelist", [{"name": name, "currency_id": self.currency_id}]
            )
        self.report.count("pricelists", created=not found)

    # -- the clinic -----------------------------------------------------------------------

    def clinic(self) -> None:
        self._providers()
        self._treatments()
        self._closures()

    def _providers(self) -> None:
        w = self.wire
        providers = list(self.providers.values())
        tag_ids = self._by_name(
            "res.partner.category", "provider tags", sorted(set(PROVIDER_TAGS.values()))
        )
        by_calendar = {_calendar_name(p): p for p in providers}
        calendar_ids = self._by_name(
            "resource.calendar",
            "working calendars",
            list(by_calendar),
            lambda name: self._calendar_values(by_calendar[name]),
        )
        logins = {_login(p): p for p in providers}
        users = {
            row["login"]: row
            for row in w.search_read(
                "res.users",
                [["login", "in", list(logins)]],
                ["login", "partner_id"],
                context={"active_test": False},
            )
        }
        missing = [p for login, p in logins.items() if login not in users]
        created = w.create(
            "res.users",
            [
                {"name": p["name"], "login": _login(p), "email": _login(p), "tz": self.tz.key}
                for p in missing
            ],
        )
        self.report.count("providers", created=True, n=len(created))
        self.report.count("providers", created=False, n=len(users))
        self.user_ids = {
            **{logins[login]["key"]: row["id"] for login, row in users.items()},
            **{p["key"]: uid for p, uid in zip(missing, created, strict=True)},
        }
        rows = w("res.users", "read", list(self.user_ids.values()), fields=["partner_id"])
        partner_of = {row["id"]: row["partner_id"][0] for row in rows}
        self.provider_partner_ids = {key: partner_of[uid] for key, uid in self.user_ids.items()}
        self._provider_resources(calendar_ids)
        self._provider_partners(tag_ids)

    def _provider_resources(self, calendar_ids: dict[str, int]) -> None:
        """A user's working hours (`res.users.resource_calendar_id`) are those of its
        resource.resource; Odoo creates none for a plain user, so the demo does."""
        w = self.wire
        resources = {
            row["user_id"][0]: row
            for row in w.search_read(
                "resource.resource",
                [["user_id", "in", list(self.user_ids.values())]],
                ["user_id", "calendar_id"],
                context={"active_test": False},
            )
        }
        new = []
        for key, uid in self.user_ids.items():
            calendar_id = calendar_ids[_calendar_name(self.providers[key])]
            resource = resources.get(uid)
            if resource is None:
                new.append(
                    {
                        "name": self.providers[key]["name"],
                        "user_id": uid,
                        "calendar_id": calendar_id,
                        "tz": self.tz.key,
                        "resource_type": "user",
                    }
                )
            elif not resource["calendar_id"] or resource["calendar_id"][0] != calendar_id:
                w("resource.resource", "write", [resource["id"]], {"calendar_id": calendar_id})
        w.create("resource.resource", new)

    def _provider_partners(self, tag_ids: dict[str, int]) -> None:
        """Each provider's partner tagged with the role and given the Hebrew name."""
        w = self.wire
        rows = w(
            "res.partner",
            "read",
            list(self.provider_partner_ids.values()),
            fields=["category_id", "x_name_he"],
        )
        current = {row["id"]: row for row in rows}
        for key, partner_id in self.provider_partner_ids.items():
            provider = self.providers[key]
            tag = tag_ids[PROVIDER_TAGS[provider["role"]]]
            changes: dict[str, Any] = {}
            if tag not in current[partner_id]["category_id"]:
                changes["category_id"] = [[4, tag]]
            if current[partner_id]["x_name_he"] != provider["name_he"]:
                changes["x_name_he"] = provider["name_he"]
            if changes:
                w("res.partner", "write", [partner_id], changes, context=QUIET)

    def _calendar_values(self, provider: Mapping[str, Any]) -> dict[str, Any]:
        attendances = []
        for day, (start, end) in provider["hours"].items():
            hour_from, hour_to = _hours(start), _hours(end)
            attendances.append(
                [
                    0,
                    0,
                    {
                        "name": day.capitalize(),
                        "dayofweek": str(WEEKDAY_CODES.index(day)),
                        "hour_from": hour_from,
                        "hour_to": hour_to,
                        # One period per day: the working time is the whole span.
                        "day_period": "morning" if hour_from < 12 else "afternoon",
                    },
                ]
            )
        return {
            "name": _calendar_name(provider),
            "tz": self.tz.key,
            "attendance_ids": attendances,
        }

    def _treatments(self) -> None:
        w = self.wire
        [category_id] = self._by_name(
            "product.category", "treatment categories", [TREATMENT_CATEGORY]
        ).values()
        codes = list(self.treatments)
        found = {
            row["default_code"]: row["id"]
            for row in w.search_read(
                "product.product",
                [["default_code", "in", codes]],
                ["default_code"],
                context={"active_test": False},
            )
        }
        performers = {
            code: [
                self.user_ids[p["key"]] for p in self.providers.values() if code in p["treatments"]
            ]
            for code in codes
        }
        product_fields = w("product.product", "fields_get", attributes=["type"])
        missing = [t for t in self.treatments.values() if t["code"] not in found]
        created = w.create(
            "product.product",
            [
                {
                    "name": t["name"],
                    "default_code": t["code"],
                    "list_price": float(t["price"]),
                    "categ_id": category_id,
                    "sale_ok": True,
                    "taxes_id": [[6, 0, []]],
                    "x_duration_minutes": t["duration_minutes"],
                    "x_provider_ids": [[6, 0, performers[t["code"]]]],
                    **_service_type(product_fields),
                }
                for t in missing
            ],
            lang="en_US",
        )
        self.report.count("treatments", created=True, n=len(created))
        self.report.count("treatments", created=False, n=len(found))
        self.product_ids = {
            **found,
            **{t["code"]: pid for t, pid in zip(missing, created, strict=True)},
        }
        self._hebrew_names()
        self.event_tag_ids = self._by_name("calendar.event.type", "appointment tags", codes)

    def _hebrew_names(self) -> None:
        w = self.wire
        rows = w.search_read(
            "product.product",
            [["id", "in", list(self.product_ids.values())]],
            ["default_code", "name"],
            context={"active_test": False, "lang": "he_IL"},
        )
        for row in rows:
            name_he = self.treatments[row["default_code"]]["name_he"]
            translated = row["name"] == name_he
            if not translated:
                w(
                    "product.product",
                    "write",
                    [row["id"]],
                    {"name": name_he},
                    context={"lang": "he_IL"},
                )
            self.report.count("Hebrew treatment names", created=not translated)

    def _closures(self) -> None:
        """Company-wide leaves (no calendar, no resource): every provider is off."""
        w = self.wire
        leaves = {
            (odoo_datetime(start), reason): (start, end)
            for start, end, reason in (
                (*_local_day(date.fromisoformat(c["day"]), self.tz), c["reason"])
                for c in self.data["closures"]
            )
        }
        if not leaves:
            return
        found = {
            (row["date_from"], row["name"])
            for row in w.search_read(
                "resource.calendar.leaves",
                [
                    ["calendar_id", "=", False],
                    ["resource_id", "=", False],
                    ["date_from", "in", sorted({key[0] for key in leaves})],
                ],
                ["date_from", "name"],
            )
        }
        missing = [
            {
                "name": reason,
                "calendar_id": False,
                "resource_id": False,
                "date_from": date_from,
                "date_to": odoo_datetime(leaves[date_from, reason][1]),
                "time_type": "leave",
            }
            for date_from, reason in leaves
            if (date_from, reason) not in found
        ]
        w.create("resource.calendar.leaves", missing)
        self.report.count("closures", created=True, n=len(missing))
        self.report.count("closures", created=False, n=len(leaves) - len(missing))

    # -- patients and their records -------------------------------------------------------

    def patients(self) -> None:
        w = self.wire
        rows = self.data["patients"]
        emails = [p["email"] for p in rows]
        found = {
            row["email"]: row["id"]
            for row in w.search_read(
                "res.partner",
                [["email", "in", emails]],
                ["email"],
                context={"active_test": False},
            )
        }
        missing = [p for p in rows if p["email"] not in found]
        created = w.create("res.partner", [_patient_values(p) for p in missing])
        self.report.count("patients", created=True, n=len(created))
        self.report.count("patients", created=False, n=len(rows) - len(missing))
        ids = {**found, **{p["email"]: pid for p, pid in zip(missing, created, strict=True)}}
        self.patient_ids = [ids[email] for email in emails]
        self._allergies()
        self._invoices()
        self._notes()
        self._plans()

    def _each_patient(self) -> Iterator[tuple[Mapping[str, Any], int]]:
        return zip(self.data["patients"], self.patient_ids, strict=True)

    def _allergies(self) -> None:
        w = self.wire
        found = {
            (row["x_partner_id"][0], row["x_name"])
            for row in w.search_read(
                ALLERGY_MODEL,
                [["x_partner_id", "in", self.patient_ids]],
                ["x_partner_id", "x_name"],
            )
        }
        wanted = [
            {
                "x_partner_id": partner_id,
                "x_name": a["substance"],
                "x_reaction": a["reaction"],
                "x_severity": a["severity"],
            }
            for row, partner_id in self._each_patient()
            for a in row.get("allergies", [])
        ]
        missing = [a for a in wanted if (a["x_partner_id"], a["x_name"]) not in found]
        w.create(ALLERGY_MODEL, missing)
        self.report.count("allergies", created=True, n=len(missing))
        self.report.count("allergies", created=False, n=len(wanted) - len(missing))

    def _invoices(self) -> None:
        """Customer invoices numbered as in the demo data, posted, then paid as far as the
        data says through Odoo's payment wizard (which reconciles, so amount_residual and
        payment_state are Odoo's own)."""
        w = self.wire
        invoices = {
            invoice["number"]: (invoice, partner_id)
            for row, partner_id in self._each_patient()
            for invoice in row.get("invoices", [])
        }
        fields = ["ref", "state", "amount_total", "amount_residual"]
        domain = [["move_type", "=", "out_invoice"], ["ref", "in", list(invoices)]]
        found = {row["ref"]: row for row in w.search_read("account.move", domain, fields)}
        missing = [number for number in invoices if number not in found]
        w.create("account.move", [_invoice_values(*invoices[n], self.currency_id) for n in missing])
        self.report.count("invoices", created=True, n=len(missing))
        self.report.count("invoices", created=False, n=len(found))
        rows = w.search_read("account.move", domain, fields)
        drafts = [row["id"] for row in rows if row["state"] == "draft"]
        if drafts:
            w("account.move", "action_post", drafts, context=QUIET)
            rows = w.search_read("account.move", domain, fields)
        for row in rows:
            invoice, _ = invoices[row["ref"]]
            owed = round(row["amount_total"] - float(invoice["amount_paid"]), 2)
            unpaid = round(row["amount_residual"] - owed, 2)
            if float(invoice["amount_paid"]) > 0:
                self.report.count("payments", created=unpaid > 0)
            if unpaid > 0:
                self._pay(row["id"], unpaid, invoice["issued_on"])

    def _pay(self, move_id: int, amount: float, day: str) -> None:
        context = {**QUIET, "active_model": "account.move", "active_ids": [move_id]}
        wizard = self.wire(
            "account.payment.register",
            "create",
            {"amount": amount, "payment_date": day},
            context=context,
        )
        self.wire("account.payment.register", "action_create_payments", [wizard], context=context)

    def _notes(self) -> None:
        """Chatter on the patient: staff notes as internal notes (mail.mt_note), notes meant
        for the patient as comments (mail.mt_comment), each by its author's partner when the
        author is a provider, else by the clinic."""
        w = self.wire
        found = {
            (row["res_id"], _plain(row["body"]))
            for row in w.search_read(
                "mail.message",
                [
                    ["model", "=", "res.partner"],
                    ["res_id", "in", self.patient_ids],
                    ["message_type", "=", "comment"],
                ],
                ["res_id", "body"],
            )
        }
        authors = {p["name"]: self.provider_partner_ids[p["key"]] for p in self.providers.values()}
        for row, partner_id in self._each_patient():
            for note in row.get("notes", []):
                present = (partner_id, _plain(note["body"])) in found
                self.report.count("notes", created=not present)
                if present:
                    continue
                subtype = "mail.mt_comment" if note.get("for_patient") else "mail.mt_note"
                author = authors.get(note["author"])
                # Odoo refuses a post whose author has no e-mail address, as a fresh
                # company's contact has none: the clinic's notes are sent from the demo domain.
                sender = (
                    {} if author else {"email_from": f"{note['author']} <clinic@{DEMO_DOMAIN}>"}
                )
                w(
                    "res.partner",
                    "message_post",
                    [partner_id],
                    body=note["body"],
                    message_type="comment",
                    subtype_xmlid=subtype,
                    author_id=author or self.company_partner_id,
                    context=QUIET,
                    **sender,
                )

    def _plans(self) -> None:
        """A treatment plan is a sale order: a quotation while proposed, confirmed once
        active, confirmed and locked once completed; a done item is delivered."""
        w = self.wire
        plans = [
            (row["plan"], partner_id) for row, partner_id in self._each_patient() if row.get("plan")
        ]
        if not plans:
            return
        found = {
            (row["partner_id"][0], row["client_order_ref"])
            for row in w.search_read(
                "sale.order",
                [
                    ["partner_id", "in", [partner_id for _, partner_id in plans]],
                    ["client_order_ref", "in", [plan["title"] for plan, _ in plans]],
                ],
                ["partner_id", "client_order_ref"],
            )
        }
        for plan, partner_id in plans:
            present = (partner_id, plan["title"]) in found
            self.report.count("treatment plans", created=not present)
            if not present:
                self._plan(plan, partner_id)

    def _plan(self, plan: Mapping[str, Any], partner_id: int) -> None:
        w = self.wire
        lines = [
            [
                0,
                0,
                {
                    "product_id": self.product_ids[code],
                    "name": f"{self.treatments[code]['name']} (tooth {tooth})",
                    "product_uom_qty": 1,
                    "price_unit": float(price),
                    "x_tooth": tooth,
                },
            ]
            for code, tooth, _, price in plan["items"]
        ]
        values: dict[str, Any] = {
            "partner_id": partner_id,
            "client_order_ref": plan["title"],
            "order_line": lines,
        }
        if self.pricelist_id:
            values["pricelist_id"] = self.pricelist_id
        [order_id] = w.create("sale.order", [values])
        if plan["status"] == "proposed":
            return
        w("sale.order", "action_confirm", [order_id], context=QUIET)
        line_ids = [
            row["id"]
            for row in w.search_read(
                "sale.order.line", [["order_id", "=", order_id]], ["id"], order="id"
            )
        ]
        done = [
            line_id
            for line_id, (_, _, status, _) in zip(line_ids, plan["items"], strict=True)
            if status == DONE_ITEM
        ]
        if done:
            w("sale.order.line", "write", done, {"qty_delivered": 1}, context=QUIET)
        if plan["status"] == "completed":
            # Odoo 17 locks a confirmed order (`locked`); 16 moved it to the state "done".
            has_lock = "locked" in w("sale.order", "fields_get", attributes=["type"])
            w("sale.order", "action_lock" if has_lock else "action_done", [order_id], context=QUIET)

    # -- appointments ---------------------------------------------------------------------

    def appointments(self) -> None:
        """Past visits on their day; upcoming ones at the first free slot, as the built-in
        loader books them. Each carries a booking reference derived from the patient and the
        visit, which is how a later run knows it is there."""
        w = self.wire
        visits = [
            (row, partner_id, kind, index, visit)
            for row, partner_id in self._each_patient()
            for kind in ("past", "upcoming")
            for index, visit in enumerate(row.get(kind, []))
        ]
        found = {
            match.group(1)
            for row in w.search_read(
                "calendar.event",
                [["partner_ids", "in", self.patient_ids]],
                ["description"],
                context={"active_test": False},
            )
            for match in re.finditer(
                re.escape(BOOKING_PREFIX) + r"([0-9a-f-]{36})", row["description"] or ""
            )
        }
        busy = self._busy()
        for row, partner_id, kind, index, visit in visits:
            reference = str(uuid.uuid5(BOOKING_NAMESPACE, f"{row['email']}/{kind}/{index}"))
            present = reference in found
            self.report.count("appointments", created=not present)
            if present:
                continue
            treatment = self.treatments[visit["treatment"]]
            if kind == "past":
                key = visit["provider"]
                start = datetime.combine(
                    self.today - timedelta(days=visit["days_ago"]), PAST_VISIT_TIME, self.tz
                )
            else:
                key, start = self._first_free(visit, busy)
            end = start + timedelta(minutes=treatment["duration_minutes"])
            busy.setdefault(key, []).append((start, end))
            w.create(
                "calendar.event",
                [
                    {
                        "name": f"{treatment['name']}: {row['first_name']} {row['last_name']}",
                        "start": odoo_datetime(start),
                        "stop": odoo_datetime(end),
                        "allday": False,
                        "user_id": self.user_ids[key],
                        "partner_ids": [[6, 0, [partner_id, self.provider_partner_ids[key]]]],
                        "show_as": "busy",
                        "categ_ids": [[6, 0, [self.event_tag_ids[visit["treatment"]]]]],
                        "description": f"{BOOKING_PREFIX}{reference}",
                    }
                ],
            )

    def _busy(self) -> dict[str, list[tuple[datetime, datetime]]]:
        """The providers' events over the weeks demo visits may fall in."""
        first = datetime.combine(self.today, time.min, self.tz)
        last = first + timedelta(weeks=SEARCH_WEEKS + 8)
        key_of = {uid: key for key, uid in self.user_ids.items()}
        busy: dict[str, list[tuple[datetime, datetime]]] = {}
        for row in self.wire.search_read(
            "calendar.event",
            [
                ["user_id", "in", list(self.user_ids.values())],
                ["start", "<", odoo_datetime(last)],
                ["stop", ">", odoo_datetime(first)],
                ["show_as", "=", "busy"],
            ],
            ["user_id", "start", "stop"],
        ):
            busy.setdefault(key_of[row["user_id"][0]], []).append(
                (utc(row["start"]), utc(row["stop"]))
            )
        return busy

    def _first_free(
        self, visit: Mapping[str, Any], busy: dict[str, list[tuple[datetime, datetime]]]
    ) -> tuple[str, datetime]:
        """(provider key, start) of the earliest free slot for `visit`, at or after its
        `not_before` local time, searching SEARCH_WEEKS weeks from `days_ahead` on."""
        code = visit["treatment"]
        keys = (
            [visit["provider"]]
            if visit["provider"]
            else [key for key, p in self.providers.items() if code in p["treatments"]]
        )
        duration = timedelta(minutes=self.treatments[code]["duration_minutes"])
        not_before = time.fromisoformat(visit["not_before"])
        now = datetime.combine(self.today, time.min, self.tz)
        first_day = self.today + timedelta(days=visit["days_ahead"])
        for offset in range(7 * SEARCH_WEEKS):
            day = first_day + timedelta(days=offset)
            starts = [
                (start, order, key)
                for order, key in enumerate(keys)
                for start in free_starts(
                    day=day,
                    windows=_windows(self.providers[key]),
                    busy=busy.get(key, []),
                    duration=duration,
                    rules=self.rules,
                    now=now,
                )
                if start.time() >= not_before
            ]
            if starts:
                start, _, key = min(starts)
                return key, start
        raise PracticeMisconfigured(
            f"no free slot for the demo {code} visit in {SEARCH_WEEKS} weeks"
        )

    # -- helpers --------------------------------------------------------------------------

    def _by_name(
        self,
        model: str,
        kind: str,
        names: Sequence[str],
        values_for: Callable[[str], dict[str, Any]] | None = None,
    ) -> dict[str, int]:
        """Ids of the records named `names`, creating the missing ones (with `values_for(name)`,
        else just the name)."""
        found = {
            row["name"]: row["id"]
            for row in self.wire.search_read(model, [["name", "in", list(names)]], ["name"])
        }
        missing = [name for name in names if name not in found]
        created = self.wire.create(
            model, [values_for(name) if values_for else {"name": name} for name in missing]
        )
        self.report.count(kind, created=True, n=len(created))
        self.report.count(kind, created=False, n=len(names) - len(missing))
        return {**found, **dict(zip(missing, created, strict=True))}


def _login(provider: Mapping[str, Any]) -> str:
    return f"{provider['key']}@{DEMO_DOMAIN}"


def _calendar_name(provider: Mapping[str, Any]) -> str:
    return f"{provider['name']}: working hours"


def _hours(clock_time: str) -> float:
    """ "08:30" → 8.5, Odoo's float hours."""
    parsed = time.fromisoformat(clock_time)
    return parsed.hour + parsed.minute / 60


def _windows(provider: Mapping[str, Any]) -> list[WeeklyWindow]:
    return [
        WeeklyWindow(
            weekday=WEEKDAY_CODES.index(day),
            starts_at=time.fromisoformat(start),
            ends_at=time.fromisoformat(end),
        )
        for day, (start, end) in provider["hours"].items()
    ]


def _service_type(product_fields: Mapping[str, Any]) -> dict[str, str]:
    """A service product: 16 and 17 derive `type` from `detailed_type`, 18+ set `type`."""
    if "detailed_type" in product_fields:
        return {"detailed_type": "service", "type": "service"}
    return {"type": "service"}


def _patient_values(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": f"{row['first_name']} {row['last_name']}",
        "phone": row["phone"],
        "email": row["email"],
        "lang": ODOO_LANGS[row["language"]],
        "x_name_he": row["name_he"] or False,
        "x_date_of_birth": row["date_of_birth"],
        "is_company": False,
    }


def _invoice_values(
    invoice: Mapping[str, Any], partner_id: int, currency_id: int
) -> dict[str, Any]:
    return {
        "move_type": "out_invoice",
        "partner_id": partner_id,
        # The demo's number as Odoo's own: posting keeps a name already given.
        "name": invoice["number"],
        "ref": invoice["number"],
        "invoice_date": invoice["issued_on"],
        "invoice_date_due": invoice["due_on"],
        "currency_id": currency_id,
        "invoice_line_ids": [
            [
                0,
                0,
                {
                    "name": line["description"],
                    "quantity": line["quantity"],
                    "price_unit": float(line["unit_price"]),
                    "tax_ids": [[6, 0, []]],
                },
            ]
            for line in invoice["lines"]
        ],
    }


def _local_day(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tz) - timedelta(seconds=1)


def _plain(body: str | bool) -> str:
    """The text of a chatter body (Odoo stores HTML), whitespace folded, to compare notes."""
    return " ".join(html_text(body).split())
