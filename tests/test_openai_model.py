"""The OpenAI-compatible model, built from settings, against the LLM stand-in.

The stand-in (tests/llm_stand_in.py) is a real HTTP server speaking the Chat Completions
protocol, so `ChatOpenAI` and the `openai` SDK run unpatched: what is checked here is what
OpenAI, Ollama or vLLM would receive and how their answers and failures come back.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import openai
import pytest
import tiktoken
from langchain_core.exceptions import (
    ModelAPIError,
    ModelRateLimitError,
    ModelTimeoutError,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from serving.agents.models import (
    LOCAL_SERVER_API_KEY,
    MODEL_FAILURES,
    OPENAI_API_URL,
    ModelConfigurationError,
    PrivacyFilteredChatModel,
    build_openai_chat_model,
)
from serving.settings import Settings
from tests.llm_stand_in import LlmStandIn, ToolCall, llm_stand_in_fixture  # noqa: F401

API_KEY = "sk-test-Zq8vW3e9-llm-do-not-log"


@pytest.fixture(autouse=True)
def no_model_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables the OpenAI and LangChain libraries read by themselves must not steer a test."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "LANGSMITH_", "LANGCHAIN_", "LLM_")):
            monkeypatch.delenv(name)


def settings_for(stand_in: LlmStandIn | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "llm_provider": "openai",
        "openai_base_url": stand_in.url if stand_in else None,
        "openai_api_key": SecretStr(API_KEY),
        "openai_model": "gpt-4o-mini",
        "llm_max_retries": 0,
        "llm_timeout_seconds": 5.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@tool
def find_free_slots(treatment: str, date_from: str, part_of_day: str | None = None) -> str:
    """Free appointment slots for a treatment code, from an ISO date, optionally by part of day."""
    return "[]"


@tool
def cancel_appointment(appointment_id: int) -> str:
    """Cancel one of the verified patient's appointments by its id."""
    return "cancelled"


# --- configuration -------------------------------------------------------------------------


def test_settings_configure_the_client() -> None:
    model = build_openai_chat_model(
        settings_for(
            openai_model="gpt-4.1-mini",
            llm_timeout_seconds=12.5,
            llm_max_retries=2,
            llm_temperature=0.0,
        )
    )
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "gpt-4.1-mini"
    assert model.openai_api_base == OPENAI_API_URL
    assert model.request_timeout == 12.5
    assert model.max_retries == 2
    assert model.temperature == 0.0
    assert model.use_responses_api is False
    assert model.disable_streaming is True


def test_without_key_or_base_url_the_error_says_what_to_set() -> None:
    with pytest.raises(ModelConfigurationError, match=r"OPENAI_API_KEY.*OPENAI_BASE_URL"):
        build_openai_chat_model(settings_for(openai_api_key=None))
    with pytest.raises(ModelConfigurationError):
        build_openai_chat_model(settings_for(openai_api_key=SecretStr("  ")))


def test_a_local_server_needs_no_key(llm_stand_in: LlmStandIn) -> None:
    model = build_openai_chat_model(settings_for(llm_stand_in, openai_api_key=None))
    llm_stand_in.reply_text("שלום!")

    assert model.invoke("שלום").content == "שלום!"
    assert llm_stand_in.last_request.headers["authorization"] == f"Bearer {LOCAL_SERVER_API_KEY}"


def test_environment_variables_cannot_redirect_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both libraries read base URLs from the environment; patients' data goes where we say."""
    monkeypatch.setenv("OPENAI_API_BASE", "http://127.0.0.1:9/elsewhere")
    monkeypatch.setenv("LANGSMITH_GATEWAY", "true")
    monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2-not-ours")

    model = build_openai_chat_model(settings_for())

    assert model.openai_api_base == OPENAI_API_URL
    assert isinstance(model.openai_api_key, SecretStr)
    assert model.openai_api_key.get_secret_value() == API_KEY


def test_building_opens_no_connection_and_loads_no_tokenizer(
    monkeypatch: pytest.MonkeyPatch, llm_stand_in: LlmStandIn
) -> None:
    """tiktoken would download its encodings from the internet on first use."""

    def no_tokenizer(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("tiktoken was asked for an encoding")

    monkeypatch.setattr(tiktoken, "get_encoding", no_tokenizer)
    monkeypatch.setattr(tiktoken, "encoding_for_model", no_tokenizer)

    model = build_openai_chat_model(settings_for(llm_stand_in))
    assert llm_stand_in.requests == []

    llm_stand_in.reply_tool_calls([("cancel_appointment", {"appointment_id": 3})])
    llm_stand_in.reply_text("done")
    model.bind_tools([cancel_appointment]).invoke("cancel appointment 3")
    model.invoke([SystemMessage("be brief"), HumanMessage("thanks")])
    assert len(llm_stand_in.chat_requests) == 2


# --- replies -------------------------------------------------------------------------------


def test_text_reply_with_usage(llm_stand_in: LlmStandIn) -> None:
    model = build_openai_chat_model(settings_for(llm_stand_in, llm_temperature=0.3))
    llm_stand_in.reply_text("Our clinic opens at 8:00.", prompt_tokens=120, completion_tokens=9)

    reply = model.invoke([SystemMessage("You are Alex."), HumanMessage("When do you open?")])

    assert isinstance(reply, AIMessage)
    assert reply.content == "Our clinic opens at 8:00."
    assert reply.tool_calls == []
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == 120
    assert reply.usage_metadata["output_tokens"] == 9
    assert reply.usage_metadata["total_tokens"] == 129
    assert reply.response_metadata["model_name"] == "gpt-4o-mini"
    body = llm_stand_in.last_request.body
    assert body is not None
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.3
    assert body["stream"] is False
    assert body["messages"] == [
        {"role": "system", "content": "You are Alex."},
        {"role": "user", "content": "When do you open?"},
    ]
    assert llm_stand_in.last_request.path == "/v1/chat/completions"


def test_bound_tools_come_back_as_langchain_tool_calls(llm_stand_in: LlmStandIn) -> None:
    model = build_openai_chat_model(settings_for(llm_stand_in))
    llm_stand_in.reply_tool_calls(
        [
            ToolCall(
                "find_free_slots",
                {"treatment": "cleaning", "date_from": "2025-03-16", "part_of_day": "morning"},
                id="call_abc",
            ),
            ("cancel_appointment", {"appointment_id": 17}),
        ],
        prompt_tokens=300,
        completion_tokens=40,
    )

    reply = model.bind_tools([find_free_slots, cancel_appointment]).invoke(
        "תבטל את התור של יום שלישי ותמצא לי תור לניקוי ביום ראשון בבוקר"
    )

    assert [(call["name"], call["args"], call["id"]) for call in reply.tool_calls] == [
        (
            "find_free_slots",
            {"treatment": "cleaning", "date_from": "2025-03-16", "part_of_day": "morning"},
            "call_abc",
        ),
        ("cancel_appointment", {"appointment_id": 17}, "call_standin_1"),
    ]
    assert reply.invalid_tool_calls == []
    assert reply.response_metadata["finish_reason"] == "tool_calls"
    assert reply.usage_metadata is not None and reply.usage_metadata["total_tokens"] == 340
    tools = llm_stand_in.last_request.body["tools"]  # type: ignore[index]
    assert [t["function"]["name"] for t in tools] == ["find_free_slots", "cancel_appointment"]
    assert tools[0]["function"]["parameters"]["required"] == ["treatment", "date_from"]
    # The tool result goes back under the id the model chose.
    result = find_free_slots.invoke(reply.tool_calls[0])
    assert result.tool_call_id == "call_abc"


def test_stream_still_sends_one_whole_request(llm_stand_in: LlmStandIn) -> None:
    """LangGraph streams models in "messages" mode; the guard needs whole replies anyway."""
    model = build_openai_chat_model(settings_for(llm_stand_in))
    llm_stand_in.reply_text("whole reply")

    chunks = list(model.stream("hi"))

    assert "".join(str(chunk.content) for chunk in chunks) == "whole reply"
    assert llm_stand_in.last_request.body["stream"] is False  # type: ignore[index]


def test_the_stand_in_also_streams_for_clients_that_ask(llm_stand_in: LlmStandIn) -> None:
    """Server-sent events, for other tests that drive a streaming client."""
    streaming = ChatOpenAI(
        model="gpt-4o-mini",
        base_url=llm_stand_in.url,
        api_key=SecretStr(API_KEY),
        max_retries=0,
        use_responses_api=False,
        stream_usage=True,
    )
    llm_stand_in.reply_text("streamed", prompt_tokens=11, completion_tokens=3)
    llm_stand_in.reply_tool_calls([("cancel_appointment", {"appointment_id": 5})])

    chunks = list(streaming.stream("hi"))
    tool_chunks = list(streaming.bind_tools([cancel_appointment]).stream("cancel 5"))

    text, call = _merged(chunks), _merged(tool_chunks)
    assert text.content == "streamed"
    assert text.usage_metadata is not None and text.usage_metadata["total_tokens"] == 14
    assert call.tool_calls[0]["args"] == {"appointment_id": 5}
    assert llm_stand_in.last_request.body["stream"] is True  # type: ignore[index]


def _merged(chunks: list[Any]) -> AIMessageChunk:
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert isinstance(merged, AIMessageChunk)
    return merged


def test_models_endpoint(llm_stand_in: LlmStandIn) -> None:
    model = build_openai_chat_model(settings_for(llm_stand_in))
    ids = [entry.id for entry in model.root_client.models.list()]
    assert ids == ["stand-in-model"]


# --- failures ------------------------------------------------------------------------------


def test_a_server_error_raises_after_the_configured_retries(llm_stand_in: LlmStandIn) -> None:
    model = build_openai_chat_model(settings_for(llm_stand_in, llm_max_retries=1))
    llm_stand_in.fail(500)
    llm_stand_in.fail(503, retry_after=0)

    with pytest.raises(ModelAPIError) as raised:
        model.invoke("hi")

    assert isinstance(raised.value, openai.APIError)
    assert isinstance(raised.value, MODEL_FAILURES)
    assert len(llm_stand_in.chat_requests) == 2
    assert [r.headers["x-stainless-retry-count"] for r in llm_stand_in.chat_requests] == [
        "0",
        "1",
    ]


def test_rate_limit_is_retried_after_the_servers_delay(llm_stand_in: LlmStandIn) -> None:
    model = build_openai_chat_model(settings_for(llm_stand_in, llm_max_retries=1))
    llm_stand_in.fail(429, message="slow down", retry_after=0.2)
    llm_stand_in.reply_text("ok now")

    started = time.monotonic()
    assert model.invoke("hi").content == "ok now"
    assert time.monotonic() - started >= 0.2
    assert len(llm_stand_in.chat_requests) == 2


def test_rate_limit_without_retries_left_raises(llm_stand_in: LlmStandIn) -> None:
    model = build_openai_chat_model(settings_for(llm_stand_in))
    llm_stand_in.fail(429, retry_after=30)

    with pytest.raises(ModelRateLimitError):
        model.invoke("hi")


def test_a_hung_server_times_out(llm_stand_in: LlmStandIn) -> None:
    model = build_openai_chat_model(settings_for(llm_stand_in, llm_timeout_seconds=0.3))
    llm_stand_in.hang(10)

    started = time.monotonic()
    with pytest.raises(ModelTimeoutError):
        model.invoke("hi")
    assert time.monotonic() - started < 3


async def test_async_calls_time_out_too(llm_stand_in: LlmStandIn) -> None:
    model = build_openai_chat_model(settings_for(llm_stand_in, llm_timeout_seconds=0.3))
    llm_stand_in.hang(10)

    with pytest.raises(ModelTimeoutError):
        await model.ainvoke("hi")


# --- the API key ---------------------------------------------------------------------------


def test_the_key_is_sent_as_bearer_and_never_logged(
    llm_stand_in: LlmStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    """openai, httpx2 and httpcore2 all log at DEBUG; none of it may show the key."""
    caplog.set_level(logging.DEBUG)
    model = build_openai_chat_model(settings_for(llm_stand_in, llm_max_retries=1))
    llm_stand_in.fail(500)
    llm_stand_in.reply_text("fine")
    llm_stand_in.fail(401, message="invalid api key")

    assert model.invoke("my phone is 050-123-4567").content == "fine"
    with pytest.raises(openai.AuthenticationError) as raised:
        model.invoke("again")

    assert [r.headers["authorization"] for r in llm_stand_in.chat_requests] == [
        f"Bearer {API_KEY}"
    ] * 3
    assert any(record.name.startswith("openai") for record in caplog.records)
    assert any(record.name.startswith("httpcore2") for record in caplog.records)
    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.__dict__!r}" for record in caplog.records
    )
    assert API_KEY not in logged
    assert "050-123-4567" not in logged  # nor what the patient wrote
    assert API_KEY not in str(raised.value)
    assert API_KEY not in repr(model)


# --- fallbacks -----------------------------------------------------------------------------


def offline_stand_in(text: str = "offline reply") -> GenericFakeChatModel:
    """Plays the offline model: answers without a network (and has no `bind_tools`)."""
    return GenericFakeChatModel(messages=iter([AIMessage(text)]))


def test_fallback_pattern_bind_tools_first_then_with_fallbacks(llm_stand_in: LlmStandIn) -> None:
    """The pattern the agents use: tools on each model, then `.with_fallbacks`."""
    primary = PrivacyFilteredChatModel(
        inner=build_openai_chat_model(settings_for(llm_stand_in)), allow_personal_data=True
    )
    tools = [find_free_slots, cancel_appointment]
    chain: Runnable[Any, Any] = primary.bind_tools(tools).with_fallbacks(
        [offline_stand_in()], exceptions_to_handle=MODEL_FAILURES
    )
    llm_stand_in.reply_tool_calls([("cancel_appointment", {"appointment_id": 9})])
    llm_stand_in.fail(500)

    first = chain.invoke("cancel 9")
    second = chain.invoke("cancel 9 please")

    assert first.tool_calls[0]["args"] == {"appointment_id": 9}
    assert second.content == "offline reply"
    assert all("tools" in (r.body or {}) for r in llm_stand_in.chat_requests)


def test_fallback_on_timeout(llm_stand_in: LlmStandIn) -> None:
    primary = build_openai_chat_model(settings_for(llm_stand_in, llm_timeout_seconds=0.3))
    chain = primary.bind_tools([cancel_appointment]).with_fallbacks(
        [offline_stand_in("offline after timeout")], exceptions_to_handle=MODEL_FAILURES
    )
    llm_stand_in.hang(10)

    assert chain.invoke("hi").content == "offline after timeout"


def test_bind_tools_after_with_fallbacks_needs_bind_tools_on_every_fallback(
    llm_stand_in: LlmStandIn,
) -> None:
    """`RunnableWithFallbacks` forwards `bind_tools` to each model (untyped, via __getattr__);
    a fallback without `bind_tools` fails there, so bind first, then add fallbacks."""
    primary = build_openai_chat_model(settings_for(llm_stand_in))

    with pytest.raises(NotImplementedError):
        primary.with_fallbacks([offline_stand_in()]).bind_tools([cancel_appointment])

    class ToolAwareOffline(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Runnable[Any, Any]:
            return self.bind(tools=tools)

    both: Any = primary.with_fallbacks([ToolAwareOffline(messages=iter([AIMessage("x")]))])
    bound = both.bind_tools([cancel_appointment])
    assert bound.runnable.kwargs["tools"][0]["function"]["name"] == "cancel_appointment"
    assert bound.fallbacks[0].kwargs["tools"] == [cancel_appointment]


def test_programming_errors_are_not_swallowed_by_the_fallback() -> None:
    def broken(_: Any) -> AIMessage:
        raise TypeError("a bug, not an outage")

    chain = RunnableLambda(broken).with_fallbacks(
        [offline_stand_in()], exceptions_to_handle=MODEL_FAILURES
    )
    with pytest.raises(TypeError):
        chain.invoke("hi")


def test_the_built_model_is_a_chat_model() -> None:
    assert isinstance(build_openai_chat_model(settings_for()), BaseChatModel)


def test_model_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://ollama.internal:11434/v1")
    monkeypatch.setenv("OPENAI_MODEL", "qwen2.5:7b-instruct")
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "8")
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("LLM_SEND_PERSONAL_DATA", "false")
    monkeypatch.setenv("LLM_TEMPERATURE", "0")

    settings = Settings(_env_file=None)

    assert (settings.llm_provider, settings.openai_base_url, settings.openai_model) == (
        "openai",
        "http://ollama.internal:11434/v1",
        "qwen2.5:7b-instruct",
    )
    assert (settings.llm_timeout_seconds, settings.llm_max_retries) == (8.0, 0)
    assert settings.llm_send_personal_data is False
    assert settings.llm_temperature == 0.0
    model = build_openai_chat_model(settings)
    assert model.openai_api_base == "http://ollama.internal:11434/v1"


def test_defaults_keep_the_offline_model_and_send_names() -> None:
    settings = Settings(_env_file=None)
    assert settings.llm_provider == "offline"
    assert settings.openai_base_url is None
    assert settings.openai_model == "gpt-4o-mini"
    assert (settings.llm_timeout_seconds, settings.llm_max_retries) == (20.0, 1)
    assert settings.llm_send_personal_data is True
    assert settings.llm_temperature == 0.2
