"""Request ids, metrics and JSON logs, observed through a real app."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from serving.app import create_app
from serving.observability.logging import (
    REQUEST_ID_NOTE_PREFIX,
    JsonFormatter,
    configure_logging,
    request_id_var,
)
from serving.observability.metrics import AppMetrics
from serving.observability.middleware import accept_or_generate_request_id
from serving.settings import Settings
from tests.asgi import running

PHONE = "0501234567"


@pytest.fixture
def app_database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"


@pytest.fixture
def app(app_database_url: str) -> FastAPI:
    """The real app plus routes that stand for future API routes: templated, and failing."""
    settings = Settings(
        _env_file=None,
        database_url=app_database_url,
        environment="test",
    )
    app = create_app(settings)

    @app.get("/api/v1/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/api/v1/explode")
    async def explode() -> None:
        raise RuntimeError("boom")

    async def thing(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["thing_id"])

    app.mount("/tenants/{tenant}", Starlette(routes=[Route("/things/{thing_id}", thing)]))
    return app


@pytest.fixture
def log_stream() -> io.StringIO:
    """JSON logging into a buffer (conftest restores the session's set-up afterwards)."""
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    return stream


def log_lines(stream: io.StringIO, logger: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == logger]


def sample(app: FastAPI, name: str, **labels: str) -> float:
    return app.state.metrics.registry.get_sample_value(name, labels) or 0.0


# --- request ids -------------------------------------------------------------------------------


async def test_a_sane_incoming_request_id_is_echoed(app: FastAPI) -> None:
    async with running(app) as client:
        response = await client.get("/health", headers={"X-Request-ID": "lb-7f3a.01_x"})
    assert response.headers["X-Request-ID"] == "lb-7f3a.01_x"


async def test_a_request_id_is_generated_when_none_is_sent(app: FastAPI) -> None:
    async with running(app) as client:
        first = await client.get("/health")
        second = await client.get("/health")
    ids = first.headers["X-Request-ID"], second.headers["X-Request-ID"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
    assert ids[0] != ids[1]


@pytest.mark.parametrize(
    "incoming",
    ["x" * 65, "has space", "semi;colon", "../../etc/passwd\r\nX-Evil: 1", "", "ünïcode"],
)
def test_an_unsafe_request_id_is_replaced(incoming: str) -> None:
    generated = accept_or_generate_request_id(incoming)
    assert generated != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", generated)


def test_a_request_id_of_64_plain_characters_is_accepted() -> None:
    assert accept_or_generate_request_id("a" * 64) == "a" * 64


# --- metrics -----------------------------------------------------------------------------------


async def test_metrics_count_requests_by_route_template(app: FastAPI) -> None:
    async with running(app) as client:
        await client.get("/api/v1/items/42")
        await client.get("/api/v1/items/43")
        exposition = (await client.get("/metrics")).text

    labels = {"method": "GET", "route": "/api/v1/items/{item_id}"}
    assert sample(app, "dental_requests_total", status="200", **labels) == 2
    assert sample(app, "dental_request_latency_seconds_count", **labels) == 2
    assert 'route="/api/v1/items/{item_id}"' in exposition
    assert "/api/v1/items/42" not in exposition


async def test_metrics_record_a_500_from_a_route_that_raises(app: FastAPI) -> None:
    async with running(app) as client:
        response = await client.get("/api/v1/explode")
        exposition = (await client.get("/metrics")).text

    assert response.status_code == 500
    route = "/api/v1/explode"
    assert sample(app, "dental_requests_total", method="GET", route=route, status="500") == 1
    assert sample(app, "dental_request_errors_total", route=route) == 1
    assert 'dental_request_errors_total{route="/api/v1/explode"} 1.0' in exposition


async def test_unmatched_and_mounted_paths_never_become_labels(app: FastAPI) -> None:
    async with running(app) as client:
        await client.get(f"/patients/{PHONE}")
        mounted = await client.get(f"/tenants/{PHONE}/things/{PHONE}")
        exposition = (await client.get("/metrics")).text

    assert mounted.text == PHONE
    assert sample(app, "dental_requests_total", method="GET", route="unmatched", status="404") == 1
    mounted_route = "/{mount}/things/{thing_id}"
    assert sample(app, "dental_requests_total", method="GET", route=mounted_route, status="200")
    assert PHONE not in exposition


async def test_unknown_methods_share_one_label(app: FastAPI) -> None:
    async with running(app) as client:
        await client.request("BREW", "/health")
    assert sample(app, "dental_requests_total", method="OTHER", route="/health", status="405") == 1


async def test_every_app_has_its_own_registry(app: FastAPI, app_database_url: str) -> None:
    other = create_app(Settings(_env_file=None, database_url=app_database_url))
    async with running(app) as client:
        await client.get("/health")
    labels = {"method": "GET", "route": "/health", "status": "200"}
    assert sample(app, "dental_requests_total", **labels) == 1
    assert sample(other, "dental_requests_total", **labels) == 0


def test_metrics_count_calls_to_odoo() -> None:
    metrics = AppMetrics()
    metrics.record_odoo_call("calendar.event", "create", "ok", 0.12)
    metrics.record_odoo_call("calendar.event", "create", "practice_unavailable", 10.0)
    exposition = metrics.render()[0].decode()
    labels = 'method="create",model="calendar.event"'
    for outcome in ("ok", "practice_unavailable"):
        assert f'dental_odoo_calls_total{{{labels},outcome="{outcome}"}} 1.0' in exposition
    assert f"dental_odoo_call_latency_seconds_count{{{labels}}} 2.0" in exposition


async def test_metrics_expose_the_build(app: FastAPI) -> None:
    async with running(app) as client:
        exposition = (await client.get("/metrics")).text
    assert "dental_build_info{" in exposition


# --- logs --------------------------------------------------------------------------------------


async def test_access_line_is_json_with_request_id_and_no_query_string(
    app: FastAPI, log_stream: io.StringIO
) -> None:
    async with running(app) as client:
        response = await client.get(
            f"/api/v1/items/7?phone={PHONE}&name=Dana", headers={"X-Request-ID": "req-42"}
        )

    assert response.status_code == 200
    [line] = log_lines(log_stream, "serving.access")
    assert line["request_id"] == "req-42"
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/items/{item_id}"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "INFO"
    server_side = [
        entry for entry in log_stream.getvalue().splitlines() if '"logger": "httpx"' not in entry
    ]
    assert not any(PHONE in entry or "Dana" in entry or "items/7" in entry for entry in server_side)


async def test_an_unhandled_error_is_logged_once_with_its_request_id(
    app: FastAPI, log_stream: io.StringIO
) -> None:
    async with running(app) as client:
        response = await client.get("/api/v1/explode")

    [line] = log_lines(log_stream, "serving.access")
    assert line["level"] == "ERROR"
    assert line["status"] == 500
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert line["exc_type"] == "RuntimeError"
    assert "Traceback" in str(line["exc"])


def test_the_servers_second_copy_of_a_logged_traceback_is_dropped(
    log_stream: io.StringIO,
) -> None:
    server_logger = logging.getLogger("uvicorn.error")
    logged = RuntimeError("already logged")
    logged.add_note(f"{REQUEST_ID_NOTE_PREFIX}abc")
    server_logger.error("Exception in ASGI application", exc_info=logged)
    server_logger.error("Exception in ASGI application", exc_info=RuntimeError("not logged"))

    [line] = log_lines(log_stream, "uvicorn.error")
    assert "not logged" in str(line["exc"])


def test_json_formatter_keeps_safe_extras_and_masks_sensitive_ones() -> None:
    record = logging.LogRecord("serving.test", logging.INFO, __file__, 1, "booked %s", ("x",), None)
    record.appointment_id = 12
    record.phone = PHONE
    record.api_key = "sk-live"
    record.when = object()
    token = request_id_var.set("ctx-id")
    try:
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)

    assert entry["message"] == "booked x"
    assert entry["logger"] == "serving.test"
    assert entry["level"] == "INFO"
    assert entry["request_id"] == "ctx-id"
    assert entry["appointment_id"] == 12
    assert entry["phone"] == "[redacted]" and entry["api_key"] == "[redacted]"
    assert isinstance(entry["when"], str)
    assert entry["ts"].endswith("+00:00")


def test_json_formatter_outside_a_request_has_a_null_request_id() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "שלום", None, None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] is None
    assert entry["message"] == "שלום"


def test_default_logging_follows_stderr_when_a_caller_swaps_and_closes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A CLI test runner (or any capture) swaps sys.stderr for a while and closes its own; log
    lines written afterwards must reach the stderr of that moment, not fail on a closed one."""
    borrowed, later = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", borrowed)
    configure_logging("INFO")
    logging.getLogger("serving.test").info("while borrowed")
    borrowed.close()
    monkeypatch.setattr(sys, "stderr", later)
    logging.getLogger("serving.test").info("after")
    lines = [json.loads(line) for line in later.getvalue().splitlines()]
    assert [line["message"] for line in lines if line["logger"] == "serving.test"] == ["after"]
