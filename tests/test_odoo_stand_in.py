"""The Odoo stand-in, driven through the real odoorpc client as the practice backend drives Odoo:
logins, the version variants, domains, CRUD, translations, Odoo's error objects, injected
faults and the live schema (custom fields and models) with its access rights."""

from __future__ import annotations

import http.client
import socket
import urllib.error
from collections.abc import Iterator
from typing import Any

import odoorpc
import pytest
from odoorpc.error import RPCError

from tests.odoo_stand_in import (
    API_UID,
    VERSIONS,
    OdooError,
    OdooStandIn,
    odoo_fixture,  # noqa: F401
    running_odoo,
)

NO_MAIL = {"mail_create_nolog": True, "no_mail_to_attendees": True}
SEVERITIES = "[('mild', 'Mild'), ('moderate', 'Moderate'), ('severe', 'Severe')]"


def connect(odoo: OdooStandIn, *, admin: bool = False, timeout: float = 5) -> odoorpc.ODOO:
    client = odoorpc.ODOO(odoo.host, port=odoo.port, timeout=timeout)
    if admin:
        client.login(odoo.database, odoo.admin_login, odoo.admin_password)
    else:
        client.login(odoo.database, odoo.api_login, odoo.api_key)
    return client


def new_field(name: str, ttype: str, label: str, **extra: Any) -> list[Any]:
    """An ir.model.fields create command."""
    return [0, 0, {"name": name, "ttype": ttype, "field_description": label, **extra}]


@pytest.fixture
def api(odoo: OdooStandIn) -> odoorpc.ODOO:
    return connect(odoo)


@pytest.fixture
def admin(odoo: OdooStandIn) -> odoorpc.ODOO:
    return connect(odoo, admin=True)


def refusal(call: Any) -> dict[str, Any]:
    """The `data` of Odoo's error object that the call raised."""
    with pytest.raises(RPCError) as raised:
        call()
    info = raised.value.info
    assert info["code"] == 200
    assert info["message"] == "Odoo Server Error"
    assert set(info["data"]) == {"name", "debug", "message", "arguments", "context"}
    assert str(raised.value) == info["data"]["message"] == info["data"]["arguments"][0]
    return dict(info["data"])


# --- logins and versions ---------------------------------------------------------------------


@pytest.fixture(params=VERSIONS)
def variant(request: pytest.FixtureRequest) -> Iterator[OdooStandIn]:
    with running_odoo(request.param) as stand_in:
        yield stand_in


def test_each_version_answers_as_that_odoo_and_logs_in_with_the_key(
    variant: OdooStandIn,
) -> None:
    client = connect(variant)
    assert client.version == variant.version
    info = client.json("/web/webclient/version_info", {})["result"]
    assert info["server_version_info"] == [variant.major, 0, 0, "final", 0, ""]
    assert client.env.uid == API_UID
    assert client.env.context == {"lang": "en_US", "tz": False, "uid": API_UID}
    assert variant.calls[:3] == [
        ("web", "", "version_info"),
        ("common", "", "login"),
        ("object", "res.users", "context_get"),
    ]


def test_fields_differ_per_version(variant: OdooStandIn) -> None:
    client, major = connect(variant), variant.major

    def fields(model: str) -> dict[str, Any]:
        return dict(
            client.execute_kw(model, "fields_get", [], {"attributes": ["type", "selection"]})
        )

    assert ("mobile" in fields("res.partner")) == (major <= 18)
    sale = fields("sale.order")
    assert ("locked" in sale) == (major >= 17)
    assert ("done" in dict(sale["state"]["selection"])) == (major == 16)
    periods = dict(fields("resource.calendar.attendance")["day_period"]["selection"])
    assert ("lunch" in periods) == (major >= 17)
    if major >= 17:
        lunch = [["day_period", "=", "lunch"]]
        assert client.execute_kw("resource.calendar.attendance", "search_count", [lunch]) == 5
    assert ("group_ids" in fields("res.users")) == (major >= 19)


def test_plans_and_access_checks_follow_the_version(variant: OdooStandIn) -> None:
    admin, api, major = connect(variant, admin=True), connect(variant), variant.major
    if major >= 18:
        assert admin.execute_kw("ir.model.fields", "has_access", [[], "create"]) is True
        assert api.execute_kw("ir.model.fields", "has_access", [[], "create"]) is False
    assert admin.execute_kw("ir.model.fields", "check_access_rights", ["create"]) is True
    quietly = {"raise_exception": False}
    assert api.execute_kw("ir.model.fields", "check_access_rights", ["create"], quietly) is False
    product = admin.execute_kw("product.product", "create", [{"name": "Crown", "list_price": 900}])
    line = {"product_id": product, "product_uom_qty": 2}
    order = api.execute_kw(
        "sale.order", "create", [{"partner_id": 7, "order_line": [[0, 0, line]]}]
    )
    assert api.execute_kw("sale.order", "action_confirm", [[order]]) is True
    completing = "action_lock" if major >= 17 else "action_done"
    assert api.execute_kw("sale.order", completing, [[order]]) == (None if major >= 17 else True)
    fields = ["name", "state", "amount_total", *(["locked"] if major >= 17 else [])]
    [read] = api.execute_kw("sale.order", "read", [[order], fields])
    completed = {"state": "sale", "locked": True} if major >= 17 else {"state": "done"}
    assert read == {"id": order, "name": "S00001", "amount_total": 1800.0, **completed}


def test_a_wrong_key_is_refused_as_odoo_refuses_it(odoo: OdooStandIn) -> None:
    client = odoorpc.ODOO(odoo.host, port=odoo.port)
    with pytest.raises(RPCError, match="Wrong login ID or password"):
        client.login(odoo.database, odoo.api_login, "not-the-key")
    common = {"service": "common", "method": "login"}
    args = [odoo.database, odoo.api_login, "not-the-key"]
    assert client.json("/jsonrpc", {**common, "args": args})["result"] is False
    execute = {"service": "object", "method": "execute_kw"}
    wrong = [odoo.database, API_UID, "not-the-key", "res.partner", "search", [[]], {}]
    data = refusal(lambda: client.json("/jsonrpc", {**execute, "args": wrong}))
    assert (data["name"], data["message"]) == ("odoo.exceptions.AccessDenied", "Access Denied")
    missing = ["nodb", API_UID, odoo.api_key, "res.partner", "search", [[]], {}]
    data = refusal(lambda: client.json("/jsonrpc", {**execute, "args": missing}))
    assert data["name"] == "psycopg2.OperationalError"
    assert 'database "nodb" does not exist' in data["message"]


def test_the_interactive_login_takes_the_password_not_the_key(odoo: OdooStandIn) -> None:
    client = odoorpc.ODOO(odoo.host, port=odoo.port)
    session = client.json(
        "/web/session/authenticate",
        {"db": odoo.database, "login": odoo.admin_login, "password": odoo.admin_password},
    )["result"]
    assert (session["uid"], session["db"], session["server_version"]) == (2, "dental", "17.0")
    assert session["user_context"]["uid"] == 2
    data = refusal(
        lambda: client.json(
            "/web/session/authenticate",
            {"db": odoo.database, "login": odoo.api_login, "password": odoo.api_key},
        )
    )
    assert data["name"] == "odoo.exceptions.AccessDenied"


def test_added_users_log_in_with_their_own_secrets(odoo: OdooStandIn) -> None:
    uid = odoo.add_user("reception@smile-clinic.example", name="Reception", api_key="k-123")
    client = odoorpc.ODOO(odoo.host, port=odoo.port)
    client.login(odoo.database, "reception@smile-clinic.example", "k-123")
    assert client.env.uid == uid
    user = client.execute_kw("res.users", "read", [[uid], ["name", "partner_id", "share"]])
    assert user == [
        {"id": uid, "name": "Reception", "partner_id": [8, "Reception"], "share": False}
    ]
    data = refusal(lambda: client.execute_kw("res.users", "write", [[uid], {"name": "x"}]))
    assert data["name"] == "odoo.exceptions.AccessError"


# --- data ------------------------------------------------------------------------------------


def test_a_fresh_odoo_holds_only_its_own_records(api: odoorpc.ODOO) -> None:
    partners = api.execute_kw("res.partner", "search_read", [[]], {"fields": ["name"]})
    assert [p["name"] for p in partners] == [
        "Administrator",
        "Dental assistant (API)",
        "My Company",
    ]
    company = api.execute_kw(
        "res.company", "read", [[1], ["name", "currency_id", "resource_calendar_id"]]
    )
    assert company == [
        {
            "id": 1,
            "name": "My Company",
            "currency_id": [2, "ILS"],
            "resource_calendar_id": [1, "Standard 40 hours/week"],
        },
    ]
    subtypes = api.execute_kw("mail.message.subtype", "search_read", [[]], {"fields": ["name"]})
    assert [s["name"] for s in subtypes] == ["Discussions", "Note", "Activities"]


def test_create_read_write_unlink(api: odoorpc.ODOO, odoo: OdooStandIn) -> None:
    one = api.execute_kw("res.partner", "create", [{"name": "Noa Peretz"}], {"context": NO_MAIL})
    more = api.execute_kw("res.partner", "create", [[{"name": "A"}, {"name": "B"}]])
    assert isinstance(one, int) and len(more) == 2
    tags = api.execute_kw(
        "res.partner.category", "create", [[{"name": "Dentist"}, {"name": "VIP"}]]
    )
    assert api.execute_kw("res.partner", "write", [[one], {"category_id": [[6, 0, tags]]}]) is True
    api.execute_kw("res.partner", "write", [[one], {"category_id": [[3, tags[1]]]}])
    record = api.execute_kw(
        "res.partner",
        "read",
        [[one]],
        {"fields": ["name", "email", "category_id", "user_ids", "company_id"]},
    )
    assert record == [
        {
            "id": one,
            "name": "Noa Peretz",
            "email": False,
            "category_id": [tags[0]],
            "user_ids": [],
            "company_id": False,
        },
    ]
    assert api.execute_kw("res.partner", "unlink", [[one, *more]]) is True
    assert api.execute_kw("res.partner", "read", [[one], ["name"]]) == []
    data = refusal(lambda: api.execute_kw("res.partner", "write", [[one], {"name": "x"}]))
    assert data["name"] == "odoo.exceptions.MissingError"
    assert odoo.count("res.partner") == 8
    assert odoo.count("res.partner", "write") == 3
    odoo.reset_calls()
    assert odoo.count() == 0


def test_a_failed_call_changes_nothing(api: odoorpc.ODOO) -> None:
    before = api.execute_kw("res.partner", "search_count", [[]])
    data = refusal(
        lambda: api.execute_kw(
            "res.partner", "create", [[{"name": "Kept?"}, {"name": "x", "lang": "xx_XX"}]]
        )
    )
    assert data == {
        **data,
        "name": "builtins.ValueError",
        "message": "Wrong value for res.partner.lang: 'xx_XX'",
    }
    assert api.execute_kw("res.partner", "search_count", [[]]) == before


def test_domains(api: odoorpc.ODOO) -> None:
    ids = api.execute_kw(
        "res.partner",
        "create",
        [
            [
                {"name": "Dana Levi", "phone": "+972 50-123-4567", "lang": "he_IL"},
                {"name": "dan cohen", "phone": "050 765 4321", "email": "dan@example.com"},
                {"name": "Old Patient", "active": False},
            ]
        ],
        {"context": NO_MAIL},
    )
    dana, dan, _archived = ids
    tag = api.execute_kw("res.partner.category", "create", [{"name": "Dentist"}])
    api.execute_kw("res.partner", "write", [[dan], {"category_id": [[4, tag]]}])

    def names(domain: list[Any], **kw: Any) -> list[str]:
        found = api.execute_kw("res.partner", "search_read", [domain], {"fields": ["name"], **kw})
        return [row["name"] for row in found]

    assert names([["phone", "=ilike", "%4567"]]) == ["Dana Levi"]
    assert names([["name", "=ilike", "dan%"]]) == ["dan cohen", "Dana Levi"]
    assert names([["name", "ilike", "DAN"]], order="name desc") == ["Dana Levi", "dan cohen"]
    assert names([["name", "ilike", "patient"]]) == []
    assert names([["name", "ilike", "patient"]], context={"active_test": False}) == ["Old Patient"]
    assert names([["active", "=", False], ["id", "in", ids]]) == ["Old Patient"]
    either = ["|", ["email", "=ilike", "%@example.com"], ["lang", "=", "he_IL"]]
    assert names([*either, ["id", "in", ids]]) == ["dan cohen", "Dana Levi"]
    assert names(["!", ["id", "not in", [dana, dan]]]) == ["dan cohen", "Dana Levi"]
    assert names([["category_id", "in", [tag]]]) == ["dan cohen"]
    assert names([["category_id", "=", False], ["id", "in", ids]]) == ["Dana Levi"]
    assert names([["user_ids", "!=", False]]) == ["Administrator", "Dental assistant (API)"]
    assert names([["id", "in", ids]], limit=1, offset=1, order="id") == ["dan cohen"]
    events = api.execute_kw(
        "calendar.event",
        "create",
        [
            [
                {
                    "name": "Checkup",
                    "start": "2030-01-07 08:00:00",
                    "stop": "2030-01-07 08:30:00",
                    "partner_ids": [[6, 0, [dana]]],
                },
                {"name": "Cleaning", "start": "2030-01-08 09:00:00", "stop": "2030-01-08 10:00:00"},
            ]
        ],
        {"context": NO_MAIL},
    )
    found = api.execute_kw(
        "calendar.event",
        "search_read",
        [
            [
                ["start", ">=", "2030-01-07"],
                ["stop", "<=", "2030-01-07 23:59:59"],
                ["partner_ids", "in", [dana]],
                ["user_id", "=", API_UID],
            ]
        ],
        {"fields": ["name", "user_id", "partner_ids", "duration"]},
    )
    assert found == [
        {
            "id": events[0],
            "name": "Checkup",
            "user_id": [API_UID, "Dental assistant (API)"],
            "partner_ids": [dana],
            "duration": 0.5,
        },
    ]
    assert (
        api.execute_kw("calendar.event", "search_count", [[["user_id", "ilike", "assistant"]]]) == 2
    )
    data = refusal(lambda: names([["x_nope", "=", 1]]))
    assert data["message"] == "Invalid field res.partner.x_nope in leaf ('x_nope', '=', 1)"
    data = refusal(lambda: names(["&", ["id", "=", 1]]))
    assert data["message"] == "Domain ['&', ['id', '=', 1]] is syntactically not correct."
    data = refusal(lambda: names([["name", "like2", "x"]]))
    assert data["message"] == "Invalid leaf ('name', 'like2', 'x')"


def test_product_names_read_and_write_per_language(admin: odoorpc.ODOO, api: odoorpc.ODOO) -> None:
    product = admin.execute_kw(
        "product.product",
        "create",
        [{"name": "Cleaning", "default_code": "cleaning", "list_price": 250.0, "type": "service"}],
    )
    admin.execute_kw(
        "product.product", "write", [[product], {"name": "ניקוי"}], {"context": {"lang": "he_IL"}}
    )

    def read(lang: str) -> dict[str, Any]:
        rows = api.execute_kw(
            "product.product",
            "read",
            [[product], ["name", "display_name", "categ_id", "list_price"]],
            {"context": {"lang": lang}},
        )
        return dict(rows[0])

    assert read("en_US") == {
        "id": product,
        "name": "Cleaning",
        "display_name": "[cleaning] Cleaning",
        "categ_id": [1, "All"],
        "list_price": 250.0,
    }
    assert read("he_IL")["name"] == "ניקוי"
    hebrew = api.execute_kw(
        "product.product", "search", [[["name", "=", "ניקוי"]]], {"context": {"lang": "he_IL"}}
    )
    assert hebrew == [product]
    assert api.execute_kw("product.product", "search", [[["name", "=", "ניקוי"]]]) == []
    other = admin.execute_kw(
        "product.product", "create", [{"name": "Checkup", "default_code": "checkup"}]
    )
    assert read("he_IL")["name"] == "ניקוי"
    assert api.execute_kw(
        "product.product", "read", [[other], ["name"]], {"context": {"lang": "he_IL"}}
    ) == [{"id": other, "name": "Checkup"}]  # the English name when there is no Hebrew one


def test_working_hours_resources_and_time_off(admin: odoorpc.ODOO, api: odoorpc.ODOO) -> None:
    standard = admin.execute_kw("resource.calendar", "create", [{"name": "Default"}])
    sunday = {"name": "Sunday", "dayofweek": "6", "hour_from": 16.0, "hour_to": 20.5}
    evenings = admin.execute_kw(
        "resource.calendar",
        "create",
        [{"name": "Evenings", "tz": "Asia/Jerusalem", "attendance_ids": [[0, 0, sunday]]}],
    )
    counts = [
        api.execute_kw("resource.calendar.attendance", "search_count", [[["calendar_id", "=", c]]])
        for c in (standard, evenings)
    ]
    assert counts == [15, 1]  # a new calendar without lines gets the standard week
    [line] = api.execute_kw(
        "resource.calendar.attendance",
        "search_read",
        [[["calendar_id", "=", evenings]]],
        {"fields": ["hour_to", "day_period", "display_type", "date_from"]},
    )
    assert line == {
        **line,
        "hour_to": 20.5,
        "day_period": "morning",
        "display_type": False,
        "date_from": False,
    }

    # A user's working hours are its resource's; without the Employees app nobody may create
    # one until an access line allows it.
    dentist = admin.execute_kw(
        "res.users", "create", [{"name": "Dr. Avi Ben-David", "login": "avi"}]
    )
    resource = {"name": "Dr. Avi Ben-David", "user_id": dentist, "calendar_id": evenings}
    assert refusal(lambda: admin.execute_kw("resource.resource", "create", [resource]))["name"] == (
        "odoo.exceptions.AccessError"
    )
    [model] = admin.execute_kw("ir.model", "search", [[["model", "=", "resource.resource"]]])
    settings = admin.execute_kw(
        "ir.model.data", "search_read", [[["name", "=", "group_system"]]], {"fields": ["res_id"]}
    )[0]["res_id"]
    admin.execute_kw(
        "ir.model.access",
        "create",
        [
            {
                "name": "resources",
                "model_id": model,
                "group_id": settings,
                "perm_read": True,
                "perm_create": True,
                "perm_write": True,
            }
        ],
    )
    admin.execute_kw("resource.resource", "create", [resource])
    user = api.execute_kw("res.users", "read", [[dentist], ["resource_calendar_id"]])[0]
    assert user["resource_calendar_id"] == [evenings, "Evenings"]

    admin.execute_kw(
        "resource.calendar.leaves",
        "create",
        [
            {
                "name": "Conference",
                "calendar_id": evenings,
                "date_from": "2030-01-06 00:00:00",
                "date_to": "2030-01-07 00:00:00",
            }
        ],
    )
    leaves = api.execute_kw(
        "resource.calendar.leaves",
        "search_read",
        [[["date_to", ">", "2030-01-06 12:00:00"]]],
        {"fields": ["calendar_id", "resource_id", "time_type"]},
    )
    assert [(row["calendar_id"], row["resource_id"], row["time_type"]) for row in leaves] == [
        ([evenings, "Evenings"], False, "leave")
    ]


def test_chatter_notes_and_invoices(api: odoorpc.ODOO, odoo: OdooStandIn) -> None:
    patient = api.execute_kw("res.partner", "create", [{"name": "Tal Mizrahi"}])
    note = api.execute_kw(
        "res.partner",
        "message_post",
        [[patient]],
        {
            "body": "Prefers mornings & <short> visits",
            "message_type": "comment",
            "subtype_xmlid": "mail.mt_note",
        },
    )
    for_patient = api.execute_kw(
        "res.partner",
        "message_post",
        [[patient]],
        {"body": "See you soon", "message_type": "comment", "subtype_xmlid": "mail.mt_comment"},
    )
    messages = api.execute_kw(
        "mail.message",
        "search_read",
        [
            [
                ["model", "=", "res.partner"],
                ["res_id", "=", patient],
                ["message_type", "=", "comment"],
            ]
        ],
        {"fields": ["body", "subtype_id", "author_id", "date"]},
    )
    assert [m["id"] for m in messages] == [for_patient, note]
    assert messages[1]["body"] == "<p>Prefers mornings &amp; &lt;short&gt; visits</p>"
    assert messages[1]["subtype_id"] == [2, "Note"]
    assert messages[0]["subtype_id"] == [1, "Discussions"]
    assert messages[1]["author_id"] == [7, "Dental assistant (API)"]
    log = api.execute_kw(
        "mail.message",
        "search_read",
        [[["res_id", "=", patient], ["message_type", "=", "notification"]]],
        {"fields": ["body"]},
    )
    assert [m["body"] for m in log] == ["<p>Contact created</p>"]

    product = odoo.execute_kw(
        "product.product", "create", [{"name": "Filling", "list_price": 300.0}]
    )
    invoice = api.execute_kw(
        "account.move",
        "create",
        [
            {
                "move_type": "out_invoice",
                "partner_id": patient,
                "invoice_line_ids": [[0, 0, {"product_id": product, "quantity": 2}]],
            }
        ],
    )
    assert api.execute_kw("account.move", "action_post", [[invoice]]) is False
    fields = [
        "name",
        "state",
        "amount_total",
        "amount_residual",
        "payment_state",
        "currency_id",
        "commercial_partner_id",
    ]
    year = odoo.clock().year
    assert api.execute_kw("account.move", "read", [[invoice], fields]) == [
        {
            "id": invoice,
            "name": f"INV/{year}/00001",
            "state": "posted",
            "amount_total": 600.0,
            "amount_residual": 600.0,
            "payment_state": "not_paid",
            "currency_id": [2, "ILS"],
            "commercial_partner_id": [patient, "Tal Mizrahi"],
        },
    ]
    lines = api.execute_kw(
        "account.move.line",
        "search_read",
        [[["move_id", "=", invoice]]],
        {"fields": ["display_type", "quantity", "price_unit", "price_subtotal"]},
    )
    assert [(line["display_type"], line["price_subtotal"]) for line in lines] == [
        ("product", 600.0),
        ("payment_term", 0.0),
    ]
    data = refusal(lambda: api.execute_kw("account.move", "action_post", [[invoice]]))
    assert data["message"] == f"The entry INV/{year}/00001 (id {invoice}) must be in draft."


def test_payments_settle_invoices_as_odoo_reconciles_them(
    api: odoorpc.ODOO, odoo: OdooStandIn
) -> None:
    line = {"name": "Root canal", "quantity": 1, "price_unit": 600.0}
    invoice = api.execute_kw(
        "account.move",
        "create",
        [
            {
                "move_type": "out_invoice",
                "partner_id": 7,
                "name": "INV/2026/0042",
                "ref": "INV/2026/0042",
                "invoice_line_ids": [[0, 0, line]],
            }
        ],
    )
    api.execute_kw("account.move", "action_post", [[invoice]])
    context = {"active_model": "account.move", "active_ids": [invoice]}

    def pay(amount: float) -> dict[str, Any]:
        wizard = api.execute_kw(
            "account.payment.register",
            "create",
            [{"amount": amount, "payment_date": "2026-03-01"}],
            {"context": context},
        )
        api.execute_kw("account.payment.register", "action_create_payments", [[wizard]])
        fields = ["name", "amount_residual", "payment_state"]
        return dict(api.execute_kw("account.move", "read", [[invoice], fields])[0])

    assert pay(200.0) == {
        "id": invoice,
        "name": "INV/2026/0042",
        "amount_residual": 400.0,
        "payment_state": "partial",
    }
    assert pay(400.0)["payment_state"] == "paid"
    entries = api.execute_kw(
        "account.move",
        "search_read",
        [[["move_type", "=", "entry"]]],
        {"fields": ["name", "ref", "amount_total", "state"], "order": "id"},
    )
    assert [(e["name"], e["ref"], e["amount_total"]) for e in entries] == [
        ("PBNK1/2026/00001", "INV/2026/0042", 200.0),
        ("PBNK1/2026/00002", "INV/2026/0042", 400.0),
    ]


def test_a_snapshot_is_restored_as_often_as_needed(odoo: OdooStandIn, api: odoorpc.ODOO) -> None:
    seeded = api.execute_kw("res.partner", "create", [{"name": "Seeded"}])
    state = odoo.snapshot()
    for _ in range(2):
        api.execute_kw("res.partner", "create", [{"name": "Added by a test"}])
        odoo.execute_kw(
            "ir.model.fields", "create", [{"model_id": 1, "name": "x_extra", "ttype": "char"}]
        )
        odoo.deny("res.partner", "read")
        odoo.fail_next(3, "down")
        odoo.restore(state)
        assert odoo.calls == []
        assert api.execute_kw(
            "res.partner", "search", [[["name", "in", ["Seeded", "Added by a test"]]]]
        ) == [seeded]
        assert "x_extra" not in api.execute_kw(
            "res.partner", "fields_get", [], {"attributes": ["type"]}
        )


def test_a_restarted_stand_in_takes_the_key_a_client_knows() -> None:
    with running_odoo("18.0") as first:
        port, key = first.port, first.api_key
    with running_odoo("18.0", port=port, api_key=key) as again:
        client = odoorpc.ODOO(again.host, port=again.port)
        client.login(again.database, again.api_login, key)
        assert client.env.uid == API_UID


# --- errors and faults -----------------------------------------------------------------------


def test_odoo_error_objects(api: odoorpc.ODOO, odoo: OdooStandIn) -> None:
    data = refusal(lambda: api.execute_kw("x_dental_allergy", "fields_get", [], {}))
    assert (data["name"], data["message"]) == (
        "odoo.exceptions.UserError",
        "Object x_dental_allergy doesn't exist",
    )
    data = refusal(
        lambda: api.execute_kw("res.partner", "search_read", [[]], {"fields": ["x_nope"]})
    )
    assert (data["name"], data["message"]) == (
        "builtins.ValueError",
        "Invalid field 'x_nope' on model 'res.partner'",
    )
    data = refusal(lambda: api.execute_kw("res.partner.category", "create", [{}]))
    assert data["name"] == "odoo.exceptions.ValidationError"
    assert "Model: Partner Tags (res.partner.category)\nField: Tag Name (name)" in data["message"]
    odoo.deny("calendar.event", "write")
    data = refusal(lambda: api.execute_kw("calendar.event", "write", [[1], {"name": "x"}]))
    assert data["name"] == "odoo.exceptions.AccessError"
    assert data["message"].startswith(
        "You are not allowed to modify 'Calendar Event' (calendar.event) records."
    )
    assert api.execute_kw("calendar.event", "search", [[]]) == []
    with pytest.raises(OdooError) as raised:
        odoo.execute_kw("calendar.event", "write", [[1], {"name": "x"}], uid=API_UID)
    assert raised.value.name == "odoo.exceptions.AccessError"


def test_injected_failures(odoo: OdooStandIn) -> None:
    odoo.fail_next(1, "down")
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        odoorpc.ODOO(odoo.host, port=odoo.port)
    client = connect(odoo, timeout=0.3)
    odoo.fail_next(1, "slow", delay=2)
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        client.execute_kw("res.partner", "search", [[]])
    odoo.fail_next(1, "html")
    with pytest.raises(urllib.error.HTTPError) as bad_gateway:
        client.execute_kw("res.partner", "search", [[]])
    assert bad_gateway.value.code == 502
    odoo.fail_next(2, "user_error", model="calendar.event", method="create", message="Busy")
    assert client.execute_kw("calendar.event", "search", [[]]) == []
    for _ in range(2):
        data = refusal(lambda: client.execute_kw("calendar.event", "create", [{"name": "x"}]))
        assert (data["name"], data["message"]) == ("odoo.exceptions.UserError", "Busy")
    odoo.fail_next(1, "validation_error", model="res.partner")
    assert refusal(lambda: client.execute_kw("res.partner", "search", [[]]))["name"] == (
        "odoo.exceptions.ValidationError"
    )
    odoo.fail_next(1, "access_error", method="search_read", after=1)
    assert client.execute_kw("res.partner", "search_read", [[]], {"fields": ["id"]})
    assert refusal(lambda: client.execute_kw("res.partner", "search_read", [[]]))["name"] == (
        "odoo.exceptions.AccessError"
    )
    assert client.execute_kw("res.partner", "search_count", [[]]) == 3
    assert odoo.count("calendar.event", "create") == 2


# --- the live schema -------------------------------------------------------------------------


def test_the_admin_adds_custom_fields_and_the_api_user_may_not(
    admin: odoorpc.ODOO, api: odoorpc.ODOO
) -> None:
    partner_model = admin.execute_kw("ir.model", "search", [[["model", "=", "res.partner"]]])[0]
    field = {
        "model_id": partner_model,
        "name": "x_date_of_birth",
        "ttype": "date",
        "field_description": "Date of birth",
    }
    data = refusal(lambda: api.execute_kw("ir.model.fields", "create", [field]))
    assert data["name"] == "odoo.exceptions.AccessError"
    assert data["message"].startswith("You are not allowed to create 'Fields' (ir.model.fields)")
    assert refusal(lambda: api.execute_kw("ir.model.data", "search_read", [[]]))["name"] == (
        "odoo.exceptions.AccessError"
    )
    data = refusal(
        lambda: admin.execute_kw("ir.model.fields", "create", [{**field, "name": "dob"}])
    )
    assert data["message"] == (
        "The operation cannot be completed: Custom fields must have a name that starts with 'x_'!"
    )
    admin.execute_kw("ir.model.fields", "create", [field])
    described = api.execute_kw(
        "res.partner",
        "fields_get",
        [["x_date_of_birth", "name"]],
        {"attributes": ["type", "string"]},
    )
    assert described == {
        "name": {"type": "char", "string": "Name"},
        "x_date_of_birth": {"type": "date", "string": "Date of birth"},
    }
    api.execute_kw("res.partner", "write", [[3], {"x_date_of_birth": "1984-02-29"}])
    assert api.execute_kw("res.partner", "search", [[["x_date_of_birth", "<", "1990-01-01"]]]) == [
        3
    ]


def test_a_custom_model_opens_once_access_is_granted(
    admin: odoorpc.ODOO, api: odoorpc.ODOO
) -> None:
    fields = [
        new_field("x_name", "char", "Substance"),
        new_field("x_partner_id", "many2one", "Patient", relation="res.partner"),
        new_field("x_severity", "selection", "Severity", selection=SEVERITIES),
    ]
    allergies = {"name": "Allergy", "model": "x_dental_allergy", "field_id": fields}
    model = admin.execute_kw("ir.model", "create", [allergies])
    described = api.execute_kw(
        "x_dental_allergy", "fields_get", [], {"attributes": ["type", "relation"]}
    )
    assert described["x_partner_id"] == {"type": "many2one", "relation": "res.partner"}
    allergy = {"x_name": "Penicillin", "x_partner_id": 3, "x_severity": "severe"}
    data = refusal(lambda: admin.execute_kw("x_dental_allergy", "create", [allergy]))
    assert "No group currently allows this operation." in data["message"]
    grant = {"name": "allergies", "model_id": model, "group_id": 1, "perm_read": True}
    assert refusal(lambda: api.execute_kw("ir.model.access", "create", [grant]))["name"] == (
        "odoo.exceptions.AccessError"
    )
    admin.execute_kw("ir.model.access", "create", [{**grant, "perm_create": True}])
    created = api.execute_kw("x_dental_allergy", "create", [allergy])
    assert api.execute_kw(
        "x_dental_allergy",
        "search_read",
        [[["x_partner_id", "=", 3]]],
        {"fields": ["x_name", "x_partner_id", "x_severity", "display_name"]},
    ) == [
        {
            "id": created,
            "x_name": "Penicillin",
            "x_partner_id": [3, "Administrator"],
            "x_severity": "severe",
            "display_name": "Penicillin",
        },
    ]
    assert refusal(lambda: api.execute_kw("x_dental_allergy", "unlink", [[created]]))["name"] == (
        "odoo.exceptions.AccessError"
    )
    data = refusal(
        lambda: admin.execute_kw("ir.model", "create", [{"name": "X", "model": "allergy"}])
    )
    assert data["message"] == "The model name must start with 'x_'."
    admin.execute_kw("ir.model", "unlink", [[model]])
    assert refusal(lambda: api.execute_kw("x_dental_allergy", "search", [[]]))["message"] == (
        "Object x_dental_allergy doesn't exist"
    )
