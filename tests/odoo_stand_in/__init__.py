"""A wire-level stand-in for Odoo 16, 17, 18 and 19: a real HTTP server on 127.0.0.1 and a free
port, speaking JSON-RPC as odoorpc 0.10 and a real Odoo do, over a small in-memory ORM.

    with running_odoo("17.0") as odoo:
        client = odoorpc.ODOO(odoo.host, port=odoo.port)
        client.login(odoo.database, odoo.api_login, odoo.api_key)
        client.execute_kw("res.partner", "search_read", [[["phone", "=ilike", "%1234"]]],
                          {"fields": ["name"]})

It starts as a fresh Odoo with Contacts, Calendar, Resource, Invoicing and Sales (fresh.py):
the company, the admin (uid 2, `admin_login`/`admin_password`) and the assistant's API user
(uid 6, `api_login`/`api_key`, an internal user without administration rights). Answers,
error objects and access refusals follow a real Odoo 17 as observed on this machine; the
16/18/19 variants differ where real Odoo does (schema.py). The demo seeding
(serving/practice/odoo/seed.py) runs on it unchanged: custom fields and models, access lines,
translations, invoices posted and paid through the payment wizard, plans confirmed and locked.

For tests: `calls` / `count()` / `reset_calls()` (the requests received),
`fail_next(times, kind, model=, method=, delay=, after=)` (outages and Odoo's refusals),
`deny(model, operation)` / `allow(...)` (access rights), `add_user(...)`, `execute_kw(...)`
(arrange or inspect data in-process, as the admin by default), `snapshot()` / `restore(state)`
(seed once, start each test from the seeded data).

Deliberate limits: no record rules or multi-company, no dotted paths in domains, no taxes or
journals (a payment is one posted entry that settles the invoice), no e-mails; a custom
many2one needs its relation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest

from tests.http_stand_in import serving
from tests.odoo_stand_in.errors import OdooError
from tests.odoo_stand_in.fresh import ADMIN_UID, API_LOGIN, API_UID
from tests.odoo_stand_in.schema import VERSIONS
from tests.odoo_stand_in.server import FAULT_KINDS, Call, Handler, OdooStandIn


@contextmanager
def running_odoo(
    version: str = "17.0",
    *,
    port: int = 0,
    database: str = "dental",
    clock: Callable[[], datetime] | None = None,
    api_key: str | None = None,
) -> Iterator[OdooStandIn]:
    """A running Odoo stand-in of `version` on `port` (0: any free one)."""
    stand_in = OdooStandIn(version, database=database, clock=clock, api_key=api_key)
    with serving(stand_in, Handler, port):
        try:
            yield stand_in
        finally:
            stand_in.closing.set()  # wakes the requests a "slow" fault holds


@pytest.fixture(name="odoo")
def odoo_fixture() -> Iterator[OdooStandIn]:
    """A running Odoo 17 stand-in for one test."""
    with running_odoo() as stand_in:
        yield stand_in


__all__ = [
    "ADMIN_UID",
    "API_LOGIN",
    "API_UID",
    "FAULT_KINDS",
    "VERSIONS",
    "Call",
    "OdooError",
    "OdooStandIn",
    "odoo_fixture",
    "running_odoo",
]
