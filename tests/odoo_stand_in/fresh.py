"""What a fresh Odoo with Contacts, Calendar, Resource, Invoicing and Sales holds before anyone
adds data, with the ids a real one gives them: the company "My Company" (partner 1) with the
"Standard 40 hours/week" calendar, OdooBot (uid 1, inactive) and the admin (uid 2), the
inactive template and public users (3 to 5), the assistant's API user (uid 6), languages
(English and Hebrew active), currencies (USD, ILS: the company's), the product category "All",
the chatter subtypes (Discussions, Note, Activities), and the xmlids that name them.
One difference, on purpose: a real fresh Odoo has only English active and keeps its books in
USD with ILS inactive; here the clinic's Hebrew and shekels are there from the start.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.odoo_stand_in.business import BEHAVIOUR
from tests.odoo_stand_in.live_schema import reflect_schema
from tests.odoo_stand_in.orm import SUPERUSER, Credentials, Database, Env
from tests.odoo_stand_in.schema import build_schema

ADMIN_UID = 2
API_UID = 6
API_LOGIN = "assistant@smile-clinic.example"
API_USER_NAME = "Dental assistant (API)"

_PARTNERS: list[dict[str, Any]] = [
    {"name": "My Company", "is_company": True},
    {"name": "OdooBot", "email": "odoobot@example.com", "active": False},
    {"name": "Administrator", "email": "admin@example.com"},
    {"name": "Public user", "active": False},
    {"name": "Default User Template", "active": False},
    {"name": "Portal User Template", "active": False},
    {"name": API_USER_NAME, "email": API_LOGIN},
]
_USERS: list[tuple[str, int, bool, bool, list[str]]] = [
    # login, partner, active, share, groups
    ("__system__", 2, False, False, ["group_user", "group_erp_manager", "group_system"]),
    ("admin", 3, True, False, ["group_user", "group_erp_manager", "group_system"]),
    ("default", 5, False, False, ["group_user"]),
    ("public", 4, False, True, []),
    ("portaltemplate", 6, False, True, []),
    (API_LOGIN, 7, True, False, ["group_user"]),
]


def fresh_database(version: str, *, admin_password: str, api_key: str, now: datetime) -> Database:
    db = Database(version, build_schema(version), BEHAVIOUR)
    env = Env(db, SUPERUSER, {"mail_create_nolog": True}, now)

    def record(xmlid: str, model: str, values: dict[str, Any]) -> int:
        rid = env.create(model, [values])[0]
        module, _, name = xmlid.partition(".")
        env.create(
            "ir.model.data", [{"module": module, "name": name, "model": model, "res_id": rid}]
        )
        return rid

    record(
        "base.lang_en",
        "res.lang",
        {
            "name": "English (US)",
            "code": "en_US",
            "iso_code": "en",
            "direction": "ltr",
            "active": True,
        },
    )
    record(
        "base.lang_he_IL",
        "res.lang",
        {
            "name": "Hebrew / עִבְרִי",
            "code": "he_IL",
            "iso_code": "he",
            "direction": "rtl",
            "active": True,
        },
    )
    record(
        "base.USD",
        "res.currency",
        {"name": "USD", "symbol": "$", "full_name": "United States dollar"},
    )
    ils = record(
        "base.ILS",
        "res.currency",
        {"name": "ILS", "symbol": "₪", "full_name": "Israeli new shekel"},
    )
    groups = {
        name: record(f"base.{name}", "res.groups", {"name": label})
        for name, label in (
            ("group_user", "Internal User"),
            ("group_erp_manager", "Access Rights"),
            ("group_system", "Settings"),
        )
    }
    partners = [env.create("res.partner", [values])[0] for values in _PARTNERS]
    for xmlid, partner in (
        ("base.main_partner", 1),
        ("base.partner_root", 2),
        ("base.partner_admin", 3),
    ):
        module, _, name = xmlid.partition(".")
        env.create(
            "ir.model.data",
            [
                {
                    "module": module,
                    "name": name,
                    "model": "res.partner",
                    "res_id": partners[partner - 1],
                }
            ],
        )
    calendar = record(
        "resource.resource_calendar_std", "resource.calendar", {"name": "Standard 40 hours/week"}
    )
    record(
        "base.main_company",
        "res.company",
        {
            "name": "My Company",
            "partner_id": 1,
            "currency_id": ils,
            "resource_calendar_id": calendar,
        },
    )
    groups_field = "group_ids" if "group_ids" in db.schema["res.users"].fields else "groups_id"
    for login, partner, active, share, names in _USERS:
        values = {
            "login": login,
            "partner_id": partner,
            "active": active,
            "share": share,
            groups_field: [[6, 0, [groups[name] for name in names]]],
        }
        uid = env.create("res.users", [values])[0]
        if login in ("__system__", "admin"):
            xmlid = "user_root" if uid == SUPERUSER else "user_admin"
            env.create(
                "ir.model.data",
                [{"module": "base", "name": xmlid, "model": "res.users", "res_id": uid}],
            )
    record("product.product_category_all", "product.category", {"name": "All"})
    record(
        "mail.mt_comment",
        "mail.message.subtype",
        {"name": "Discussions", "internal": False, "default": True},
    )
    record(
        "mail.mt_note", "mail.message.subtype", {"name": "Note", "internal": True, "default": False}
    )
    record(
        "mail.mt_activities",
        "mail.message.subtype",
        {"name": "Activities", "internal": True, "default": False},
    )
    reflect_schema(db)
    db.credentials = {
        ADMIN_UID: Credentials(password=admin_password),
        API_UID: Credentials(api_keys=[api_key]),
    }
    return db
