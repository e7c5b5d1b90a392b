"""The assistant on an OpenAI-compatible LLM (a real HTTP stand-in): its tool calls drive the
same tools, personal data is minimised, and any failure falls back to the offline model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from serving.app import create_app
from serving.conversation.state import ConversationState
from serving.db import models as db
from serving.db.engine import Database
from tests.asgi import running
from tests.assistant_client import INTEGRATION_KEY, JOHN_PHONE, Patient
from tests.conftest import make_settings
from tests.llm_stand_in import LlmStandIn, llm_stand_in_fixture  # noqa: F401

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


@pytest.fixture(params=["alex", "team"])
async def client(
    request: pytest.FixtureRequest,
    database_url: str,
    database: Database,
    llm_stand_in: LlmStandIn,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url,
        integration_key=INTEGRATION_KEY,
        agent_architecture=request.param,
        llm_provider="openai",
        openai_base_url=llm_stand_in.url,
        openai_api_key="sk-stand-in",
        llm_max_retries=0,
        llm_timeout_seconds=2,
    )
    async with running(create_app(settings, database=database)) as http:
        yield http


def _script_route(stand_in: LlmStandIn, request: pytest.FixtureRequest, member: str) -> None:
    if "team" in request.node.callspec.id:
        stand_in.reply_tool_calls([(f"transfer_to_{member}", {})])


async def test_the_llm_calls_the_clinic_tools(
    client: httpx.AsyncClient,
    llm_stand_in: LlmStandIn,
    request: pytest.FixtureRequest,
    database: Database,
) -> None:
    _script_route(llm_stand_in, request, "sarah")
    llm_stand_in.reply_tool_calls([("find_slots", {"treatment": "checkup"})])
    llm_stand_in.reply_text("Here are three times for a checkup; tap one to choose it.")
    reply = await Patient(client, "llm-1", JOHN_PHONE).send("I need a checkup")
    assert "Here are three times" in reply["reply"]
    # The stored reply carries the usage the server reported: 40 + 12 for each tool call
    # (the team's transfer is one), 25 + 7 for the final text.
    async with database.transaction() as session:
        stored = await session.scalar(
            select(db.Message.tokens).where(db.Message.role == "assistant")
        )
    assert stored == 52 * ("team" in request.node.callspec.id) + 52 + 32
    assert any(b["data"].startswith("slot:") for b in reply["buttons"])
    assert "slots_offered" in [a["type"] for a in reply["actions"]]
    tool_result = next(m for m in llm_stand_in.chat_requests[-1].messages if m["role"] == "tool")
    assert "checkup" in tool_result["content"]


async def test_personal_data_is_minimised(
    client: httpx.AsyncClient, llm_stand_in: LlmStandIn, request: pytest.FixtureRequest
) -> None:
    _script_route(llm_stand_in, request, "yosef")
    llm_stand_in.reply_tool_calls([("my_invoices", {})])
    llm_stand_in.reply_text("Your invoice is paid.")
    await Patient(client, "llm-2", JOHN_PHONE).send("my phone is 052-111-2233, what do I owe?")
    sent = " ".join(r.raw_text for r in llm_stand_in.chat_requests)
    for personal in ("052-111-2233", "0521112233", JOHN_PHONE, "john.smith@example.com"):
        assert personal not in sent
    assert "[phone]" in sent


@pytest.mark.parametrize("failure", ["500", "timeout"])
async def test_a_failing_llm_falls_back_to_the_offline_model(
    client: httpx.AsyncClient, llm_stand_in: LlmStandIn, failure: str
) -> None:
    for _ in range(4):  # every model call of the turn fails
        if failure == "500":
            llm_stand_in.fail(500)
        else:
            llm_stand_in.hang(5)
    reply = await Patient(client, "llm-3", JOHN_PHONE).send("what's the clinic address")
    assert "Herzl" in reply["reply"]
    assert "error" not in reply["reply"].lower() and "Traceback" not in reply["reply"]


async def test_the_llm_fills_the_booking_request_and_the_offer_honours_it(
    client: httpx.AsyncClient,
    llm_stand_in: LlmStandIn,
    request: pytest.FixtureRequest,
    database: Database,
) -> None:
    _script_route(llm_stand_in, request, "sarah")
    asked = {
        "treatment": "filling",
        "provider": "Dr. Mizrahi",
        "weekdays": ["thu"],
        "time_from": "17:00",
    }
    llm_stand_in.reply_tool_calls([("find_slots", asked)])
    llm_stand_in.reply_text("Here are Thursday evening times with Dr. Mizrahi.")
    patient = Patient(client, "llm-4", JOHN_PHONE)
    reply = await patient.send("Dr. Mizrahi for a filling, a Thursday after 5?")
    assert "slots_offered" in [a["type"] for a in reply["actions"]]
    body = llm_stand_in.chat_requests[-2].body
    assert body is not None
    tools = body["tools"]
    schema = next(t for t in tools if t["function"]["name"] == "find_slots")["function"]
    assert {"provider", "date_from", "weekdays", "not_weekdays", "time_from", "time_to"} <= set(
        schema["parameters"]["properties"]
    )
    async with database.transaction() as session:
        state = await session.scalar(
            select(db.Conversation.state).where(db.Conversation.external_user_id == "llm-4")
        )
    slots = ConversationState.model_validate(state).offer.slots  # type: ignore[union-attr]
    assert slots
    for slot in slots:
        local = slot.starts_at.astimezone(ZoneInfo("Asia/Jerusalem"))
        assert slot.provider_name == "Dr. Rivka Mizrahi"
        assert local.weekday() == 3 and local.hour >= 17
