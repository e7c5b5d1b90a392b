"""Personal-data minimisation before an external model: `redact_for_llm` and the model wrapper.

The end-to-end tests run the production client against the LLM stand-in (a real HTTP server,
tests/llm_stand_in.py) and inspect the request body it received: that is what would have left
the clinic.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic import BaseModel, SecretStr

from serving.agents.models import (
    MODEL_FAILURES,
    PatientContext,
    PrivacyFilteredChatModel,
    build_openai_chat_model,
    build_privacy_filtered_openai_model,
    redact_for_llm,
    redact_text,
)
from serving.practice.models import Patient
from serving.settings import Settings
from tests.llm_stand_in import LlmStandIn, llm_stand_in_fixture  # noqa: F401

DANA = PatientContext(
    first_name="Dana",
    last_name="Cohen",
    name_he="דנה כהן",
    phone="+972501234567",
    email="dana.cohen@example.com",
    date_of_birth=date(1985, 3, 4),
)

CONTACT_DETAILS = ("050-123-4567", "+972501234567", "0501234567", "dana.cohen@example.com")


def redacted(text: str, *, personal: bool = True, patient: PatientContext | None = DANA) -> str:
    return redact_text(text, allow_personal_data=personal, patient=patient)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("הטלפון שלי 050-123-4567, תחזרו אליי", "הטלפון שלי [phone], תחזרו אליי"),
        ("תתקשרו ל+972501234567 בבקשה", "תתקשרו ל[phone] בבקשה"),
        ("my number is +972-50-123-4567.", "my number is [phone]."),
        ("call +972 (0)50 123 4567", "call [phone]"),
        ("00972501234567", "[phone]"),
        ("972-50-123-4567", "[phone]"),
        ("(052) 765-4321 or 0527654321", "[phone] or [phone]"),
        ("טלפון בבית: 02-6543210", "טלפון בבית: [phone]"),
        ("office 03 6543210, fax 077.123.4567", "office [phone], fax [phone]"),
        ("my US cell +1 (415) 555-2671", "my US cell [phone]"),
        ("London: +44 20 7946 0958", "London: [phone]"),
        ("טלפון0521112233", "טלפון[phone]"),
    ],
)
def test_phone_numbers_are_always_removed(text: str, expected: str) -> None:
    assert redacted(text, patient=None) == expected
    assert redacted(text, personal=False) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to dana.cohen@example.com", "write to [email]"),
        ("המייל שלי yossi_levi+clinic@walla.co.il תודה", "המייל שלי [email] תודה"),
        ("מייל: דנה@דוגמה.ישראל", "מייל: [email]"),
        ("ת.ז. 123456782", "ת.ז. [id]"),
        ("ת.ז123456782", "ת.ז[id]"),
        ("my ID is 12345678-2", "my ID is [id]"),
        ("card 4580 1234 5678 9012 exp 12/27", "card [card] exp 12/27"),
        ("כרטיס 4580-1234-5678-9012", "כרטיס [card]"),
        ("4580123456789012", "[card]"),
        ("amex 3714 496353 98431", "amex [card]"),
    ],
)
def test_emails_ids_and_card_numbers_are_always_removed(text: str, expected: str) -> None:
    assert redacted(text, patient=None) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Your appointment is on 2025-03-14T10:30:00+02:00 with Dr. Levi",
        "התור שלך ב-14/03/2025 בשעה 10:00, עד 10:45",
        "05.03.2025 10:30",
        "Invoice INV/2025/0042 of ₪1,250.00, paid 450.00",
        "חשבונית INV-2025-00042 על סך 1250 ₪",
        "free slots at 09:00 09:15 09:30 10 11 12 13 14 15 16",
        "appointment id 42, 90 minutes, Telegram user 123456",
        "born in 1985",
    ],
)
def test_clinic_facts_pass_unchanged(text: str) -> None:
    """Dates, times, prices and invoice numbers are what the model needs to answer."""
    assert redacted(text, personal=False, patient=None) == text


def test_names_stay_when_personal_data_is_allowed() -> None:
    text = "Dana Cohen, born 04/03/1985, phone 050-123-4567"
    assert redacted(text) == "Dana Cohen, born 04/03/1985, phone [phone]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi, this is Dana Cohen", "Hi, this is [patient]"),
        ("DANA here. Dana's file", "[patient] here. [patient]'s file"),
        ("שלום, מדברת דנה כהן", "שלום, מדברת [patient]"),
        ("תור לדנה ולכהן", "תור ל[patient] ול[patient]"),
        ("Danapoint is not a name", "Danapoint is not a name"),
    ],
)
def test_patient_names_are_replaced_when_personal_data_is_off(text: str, expected: str) -> None:
    assert redacted(text, personal=False) == expected


@pytest.mark.parametrize(
    "written",
    ["04/03/1985", "4.3.85", "4-3-1985", "1985-03-04", "March 4, 1985", "4th of March 1985",
     "Mar 4 1985", "4 במרץ 1985", "4 מרץ, 1985"],
)  # fmt: skip
def test_date_of_birth_is_removed_when_personal_data_is_off(written: str) -> None:
    assert redacted(f"DOB: {written}!", personal=False) == "DOB: [date of birth]!"
    assert redacted(f"DOB: {written}!") == f"DOB: {written}!"


def test_the_patients_own_phone_is_caught_however_it_is_punctuated() -> None:
    assert redacted("05-0123-4567 / 050 12 345 67", patient=DANA) == "[phone] / [phone]"


def test_patient_context_from_a_practice_record() -> None:
    patient = Patient(
        id=7,
        first_name="Yossi",
        last_name="Levi",
        name_he="יוסי לוי",
        phone="+972527654321",
        email=None,
        language="he",
        date_of_birth=date(1990, 12, 1),
    )
    context = PatientContext.from_patient(patient)
    assert context == PatientContext(
        first_name="Yossi",
        last_name="Levi",
        name_he="יוסי לוי",
        phone="+972527654321",
        email=None,
        date_of_birth=date(1990, 12, 1),
    )
    assert redacted("יוסי לוי, 1.12.1990", personal=False, patient=context) == (
        "[patient], [date of birth]"
    )


def _conversation() -> list[BaseMessage]:
    """A Hebrew booking conversation with contact details everywhere a message can hold them."""
    return [
        SystemMessage("You are the clinic's assistant. The patient is Dana Cohen."),
        HumanMessage("היי, אני דנה כהן. הטלפון שלי 050-123-4567 והמייל dana.cohen@example.com"),
        AIMessage(
            content="",
            tool_calls=[
                {
                    "id": "call_lookup_1",
                    "name": "update_contact",
                    "args": {"phone": "+972501234567", "note": "email dana.cohen@example.com"},
                    "type": "tool_call",
                }
            ],
            additional_kwargs={
                "tool_calls": [
                    {
                        "id": "call_lookup_1",
                        "type": "function",
                        "function": {
                            "name": "update_contact",
                            "arguments": json.dumps({"phone": "+972501234567"}),
                        },
                    }
                ]
            },
            id="ai-1",
        ),
        ToolMessage(
            content=json.dumps(
                {"patient": "Dana Cohen", "phone": "0501234567", "born": "1985-03-04"},
                ensure_ascii=False,
            ),
            tool_call_id="call_lookup_1",
            name="update_contact",
        ),
        HumanMessage(
            content=[{"type": "text", "text": "Also my husband's number: +972-52-765-4321"}],
            name="Dana",
        ),
    ]


def test_redaction_keeps_the_tool_calling_structure_and_leaves_the_input_alone() -> None:
    original = _conversation()
    snapshot = [message.model_dump() for message in original]

    result = redact_for_llm(original, allow_personal_data=True, patient=DANA)

    assert [message.model_dump() for message in original] == snapshot
    assert [type(m) for m in result] == [type(m) for m in original]
    ai, tool_result = result[2], result[3]
    assert isinstance(ai, AIMessage) and isinstance(tool_result, ToolMessage)
    assert ai.id == "ai-1"
    assert ai.tool_calls == [
        {
            "id": "call_lookup_1",
            "name": "update_contact",
            "args": {"phone": "[phone]", "note": "email [email]"},
            "type": "tool_call",
        }
    ]
    raw_call = ai.additional_kwargs["tool_calls"][0]
    assert raw_call["id"] == "call_lookup_1"
    assert json.loads(raw_call["function"]["arguments"]) == {"phone": "[phone]"}
    assert tool_result.tool_call_id == "call_lookup_1"
    assert tool_result.name == "update_contact"
    assert json.loads(str(tool_result.content)) == {
        "patient": "Dana Cohen",
        "phone": "[phone]",
        "born": "1985-03-04",
    }
    assert result[4].content == [{"type": "text", "text": "Also my husband's number: [phone]"}]
    assert result[4].name == "Dana"
    text = json.dumps([m.model_dump() for m in result], ensure_ascii=False)
    for detail in (*CONTACT_DETAILS, "+972-52-765-4321"):
        assert detail not in text


def test_without_personal_data_names_and_birth_date_go_too() -> None:
    result = redact_for_llm(_conversation(), allow_personal_data=False, patient=DANA)

    text = json.dumps([m.model_dump() for m in result], ensure_ascii=False)
    for detail in ("Dana", "Cohen", "דנה", "כהן", "1985-03-04", *CONTACT_DETAILS):
        assert detail not in text
    assert result[0].content == "You are the clinic's assistant. The patient is [patient]."
    assert result[1].content == "היי, אני [patient]. הטלפון שלי [phone] והמייל [email]"
    assert result[4].name is None  # a sender name that is the patient's is dropped


@tool
def book_appointment(treatment: str, starts_at: str) -> str:
    """Book the verified patient's appointment for a treatment code at an ISO start time."""
    return f"booked {treatment} at {starts_at}"


def _settings(stand_in: LlmStandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "llm_provider": "openai",
        "openai_base_url": stand_in.url,
        "openai_api_key": SecretStr("sk-test-privacy"),
        "llm_max_retries": 0,
        "llm_timeout_seconds": 5.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def test_nothing_personal_reaches_the_server_through_bound_tools(
    llm_stand_in: LlmStandIn,
) -> None:
    settings = _settings(llm_stand_in, llm_send_personal_data=False)
    model = build_privacy_filtered_openai_model(settings).for_patient(DANA)
    llm_stand_in.reply_tool_calls(
        [("book_appointment", {"treatment": "cleaning", "starts_at": "2025-03-14T10:30:00"})]
    )

    reply = model.bind_tools([book_appointment]).invoke(_conversation())

    assert reply.tool_calls[0]["name"] == "book_appointment"
    assert reply.tool_calls[0]["args"] == {
        "treatment": "cleaning",
        "starts_at": "2025-03-14T10:30:00",
    }
    sent = llm_stand_in.last_request
    for detail in ("Dana", "Cohen", "דנה", "כהן", "1985-03-04", "+972-52-765-4321"):
        assert detail not in sent.raw_text
    for detail in CONTACT_DETAILS:
        assert detail not in sent.raw_text
    assert sent.body is not None
    assert [tool["function"]["name"] for tool in sent.body["tools"]] == ["book_appointment"]
    assistant, tool_result = sent.messages[2], sent.messages[3]
    assert assistant["tool_calls"][0]["id"] == "call_lookup_1"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"])["phone"] == "[phone]"
    assert tool_result == {
        "role": "tool",
        "tool_call_id": "call_lookup_1",
        "content": json.dumps(
            {"patient": "[patient]", "phone": "[phone]", "born": "[date of birth]"},
            ensure_ascii=False,
        ),
    }


async def test_the_async_path_is_filtered_too(llm_stand_in: LlmStandIn) -> None:
    model = build_privacy_filtered_openai_model(_settings(llm_stand_in)).for_patient(DANA)
    llm_stand_in.reply_text("בטח, קבעתי לך תור")

    reply = await model.bind_tools([book_appointment]).ainvoke(_conversation())

    assert reply.content == "בטח, קבעתי לך תור"
    sent = llm_stand_in.last_request.raw_text
    assert "דנה כהן" in sent  # names are allowed by default (LLM_SEND_PERSONAL_DATA=true)
    for detail in CONTACT_DETAILS:
        assert detail not in sent


class _RecordingHandler(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[BaseMessage] = []

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        self.seen.extend(messages[0])


def test_callbacks_and_tracers_see_the_redacted_conversation(llm_stand_in: LlmStandIn) -> None:
    """A tracer (LangSmith, say) is another place a conversation could leave the clinic."""
    inner = build_openai_chat_model(_settings(llm_stand_in))
    model = PrivacyFilteredChatModel(inner=inner, allow_personal_data=True)
    handler = _RecordingHandler()
    llm_stand_in.reply_text("ok", prompt_tokens=30, completion_tokens=2)

    reply = model.invoke("call me on 050-123-4567", config={"callbacks": [handler]})

    assert [m.content for m in handler.seen] == ["call me on [phone]"]
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == 30
    assert len(llm_stand_in.chat_requests) == 1


def test_the_wrapper_reports_the_inner_model() -> None:
    inner = build_openai_chat_model(
        Settings(
            _env_file=None, openai_base_url="http://127.0.0.1:9/v1", openai_model="gpt-4o-mini"
        )
    )
    model = PrivacyFilteredChatModel(inner=inner, allow_personal_data=False)
    assert model._llm_type == "privacy-filtered-openai-chat"
    assert model._get_ls_params()["ls_model_name"] == "gpt-4o-mini"
    assert model.for_patient(DANA).patient == DANA
    assert model.patient is None


class _Booking(BaseModel):
    """A booking request extracted from the conversation."""

    treatment: str
    preferred_day: str


def test_structured_output_goes_through_the_filter(llm_stand_in: LlmStandIn) -> None:
    """`with_structured_output` is built on `bind_tools`, so it is filtered as well."""
    model = build_privacy_filtered_openai_model(_settings(llm_stand_in)).for_patient(DANA)
    llm_stand_in.reply_tool_calls([("_Booking", {"treatment": "cleaning", "preferred_day": "Sun"})])

    booking = model.with_structured_output(_Booking).invoke("cleaning on Sunday, 050-123-4567")

    assert booking == _Booking(treatment="cleaning", preferred_day="Sun")
    assert llm_stand_in.last_request.messages == [
        {"role": "user", "content": "cleaning on Sunday, [phone]"}
    ]


def _patient_in_config(config: RunnableConfig) -> PatientContext | None:
    patient = config.get("configurable", {}).get("patient")
    return patient if isinstance(patient, PatientContext) else None


def test_the_patient_can_come_from_each_calls_config(llm_stand_in: LlmStandIn) -> None:
    """Agents are built once; the verified patient arrives with each turn's config."""
    settings = _settings(llm_stand_in, llm_send_personal_data=False)
    model = build_privacy_filtered_openai_model(settings, patient_from_config=_patient_in_config)
    chain = model.bind_tools([book_appointment]).with_fallbacks(
        [GenericFakeChatModel(messages=iter([AIMessage("offline")]))],
        exceptions_to_handle=MODEL_FAILURES,
    )
    yossi = PatientContext(first_name="Yossi", last_name="Levi", name_he="יוסי לוי")
    llm_stand_in.reply_text("ok")
    llm_stand_in.reply_text("ok")

    chain.invoke("I am Dana Cohen, not Yossi", {"configurable": {"patient": DANA}})
    chain.invoke("I am Dana Cohen, not Yossi", {"configurable": {"patient": yossi}})

    first, second = (r.messages[0]["content"] for r in llm_stand_in.chat_requests)
    assert first == "I am [patient], not Yossi"
    assert second == "I am Dana Cohen, not [patient]"
    assert model.patient is None  # the shared model is not changed by a call


async def test_inside_a_langgraph_node_the_config_reaches_the_filter(
    llm_stand_in: LlmStandIn,
) -> None:
    settings = _settings(llm_stand_in, llm_send_personal_data=False)
    model = build_privacy_filtered_openai_model(settings, patient_from_config=_patient_in_config)
    bound = model.bind_tools([book_appointment])

    async def agent(state: MessagesState) -> dict[str, Any]:
        # No config passed on: the filter finds the node's config in the context.
        return {"messages": [await bound.ainvoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_edge(START, "agent")
    graph.add_edge("agent", END)
    llm_stand_in.reply_text("קבעתי")

    result = await graph.compile().ainvoke(
        {"messages": [HumanMessage("אני דנה כהן, 050-123-4567")]},
        {"configurable": {"patient": DANA}},
    )

    assert result["messages"][-1].content == "קבעתי"
    assert llm_stand_in.last_request.messages[0]["content"] == "אני [patient], [phone]"
