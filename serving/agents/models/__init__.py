"""Language-model providers for the agents: the OpenAI-compatible client and its privacy filter.

The offline model lives in `serving.agents.offline`; docs/LLM.md explains how to configure the
external one and what it receives.
"""

from serving.agents.models.openai_chat import (
    LOCAL_SERVER_API_KEY,
    MODEL_FAILURES,
    OPENAI_API_URL,
    ModelConfigurationError,
    build_openai_chat_model,
    build_privacy_filtered_openai_model,
)
from serving.agents.models.privacy import (
    PatientContext,
    PrivacyFilteredChatModel,
    redact_for_llm,
    redact_text,
)

__all__ = [
    "LOCAL_SERVER_API_KEY",
    "MODEL_FAILURES",
    "OPENAI_API_URL",
    "ModelConfigurationError",
    "PatientContext",
    "PrivacyFilteredChatModel",
    "build_openai_chat_model",
    "build_privacy_filtered_openai_model",
    "redact_for_llm",
    "redact_text",
]
