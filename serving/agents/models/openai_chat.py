"""The OpenAI-compatible chat model: OpenAI itself, or Ollama, vLLM or a proxy by base URL.

The client speaks Chat Completions (the protocol every OpenAI-compatible server implements) and
asks for whole replies, never streams: the output guard has to see a reply before anyone else
does. Building the model opens no connection and loads no tokenizer; usage (tokens in and out)
arrives on each reply's `AIMessage.usage_metadata`.

Failures surface as exceptions, never as empty replies, so a fallback can take over: catch
`MODEL_FAILURES` (timeouts, refused connections, HTTP 429 and 5xx after the configured retries,
malformed responses).
"""

from __future__ import annotations

from collections.abc import Callable

import openai
from langchain_core.exceptions import ModelError
from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from serving.agents.models.privacy import PatientContext, PrivacyFilteredChatModel
from serving.settings import Settings

OPENAI_API_URL = "https://api.openai.com/v1"
# Ollama and vLLM accept any key, but the client refuses to send a request without one.
LOCAL_SERVER_API_KEY = "not-needed"

MODEL_FAILURES: tuple[type[Exception], ...] = (ModelError, openai.APIError)
"""What a model call raises when the provider fails (for `with_fallbacks(exceptions_to_handle=)`).

LangChain's provider-neutral `ModelError` family, plus the SDK's base error for the cases
langchain-openai leaves unmapped (a malformed body, an unusual status). Programming errors are
deliberately not in it: a fallback must not hide a bug.
"""


class ModelConfigurationError(ValueError):
    """The model settings cannot produce a usable model; the message says what to set."""


def build_openai_chat_model(settings: Settings) -> ChatOpenAI:
    """The chat model for `OPENAI_MODEL` at `OPENAI_BASE_URL` (OpenAI when unset).

    Raises `ModelConfigurationError` when neither an API key nor a base URL is configured.
    The base URL is always passed explicitly, so variables the libraries read on their own
    (`OPENAI_API_BASE`, `LANGSMITH_GATEWAY`) cannot send patients' conversations elsewhere.
    """
    key = settings.openai_api_key
    has_key = key is not None and key.get_secret_value().strip() != ""
    base_url = (settings.openai_base_url or "").strip() or None
    if not has_key and base_url is None:
        raise ModelConfigurationError(
            "the OpenAI-compatible model needs OPENAI_API_KEY (for OpenAI) or OPENAI_BASE_URL "
            "(for a server such as Ollama or vLLM, e.g. http://localhost:11434/v1); set one, or "
            "set LLM_PROVIDER=offline"
        )
    api_key = key if has_key and key is not None else SecretStr(LOCAL_SERVER_API_KEY)
    return ChatOpenAI(
        model=settings.openai_model,
        base_url=base_url or OPENAI_API_URL,
        api_key=api_key,
        timeout=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
        temperature=settings.llm_temperature,
        use_responses_api=False,
        disable_streaming=True,
    )


def build_privacy_filtered_openai_model(
    settings: Settings,
    *,
    patient_from_config: Callable[[RunnableConfig], PatientContext | None] | None = None,
) -> PrivacyFilteredChatModel:
    """`build_openai_chat_model` behind the personal-data filter `LLM_SEND_PERSONAL_DATA` sets.

    `patient_from_config` finds the conversation's verified patient in each call's config (for
    example from the turn the assistant puts in `configurable`), so one model built at start-up
    serves every conversation.
    """
    return PrivacyFilteredChatModel(
        inner=build_openai_chat_model(settings),
        allow_personal_data=settings.llm_send_personal_data,
        patient_from_config=patient_from_config,
    )
