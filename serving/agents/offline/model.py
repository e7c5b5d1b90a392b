"""`OfflineClinicModel`: the default model, a LangChain chat model that needs no network.

It understands the latest patient message with the bilingual `ClinicNLU`, decides with the
dialogue policy, and answers with tool calls or templated replies from the bundle's catalog.
After tools ran, its reply is the tools' patient-ready texts. Being a `BaseChatModel` with
`bind_tools`, both agent architectures run on it unchanged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import ConfigDict

from serving.agents.context import TurnContext
from serving.agents.offline.nlu import ClinicNLU
from serving.agents.offline.policy import decide
from serving.bundle.load import Bundle

MODEL_NAME = "offline-clinic-1"


class OfflineClinicModel(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    bundle: Bundle
    nlu: ClinicNLU

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> OfflineClinicModel:
        return cls(bundle=bundle, nlu=ClinicNLU(bundle.lexicon))

    @property
    def _llm_type(self) -> str:
        return MODEL_NAME

    def bind_tools(
        self, tools: Sequence[dict[str, Any] | type | BaseTool | Any], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        names = [t.name if isinstance(t, BaseTool) else str(t) for t in tools]
        return self.bind(tool_names=names, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._respond(messages, frozenset(kwargs.get("tool_names", ())))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Pure computation: answering inline is cheaper than the default thread hop.
        return self._respond(messages, frozenset(kwargs.get("tool_names", ())))

    def _respond(self, messages: list[BaseMessage], tools: frozenset[str]) -> ChatResult:
        context = TurnContext.find(messages)
        if context is None:
            raise ValueError("the offline model needs the turn context message")
        tool_texts = _tool_texts_since_last_patient_message(messages)
        if tool_texts is not None:
            message = AIMessage(content="\n\n".join(tool_texts))
        else:
            patient_text = _last_patient_text(messages)
            understanding = self.nlu.understand(patient_text, today=context.today)
            decision = decide(understanding, context, tools)
            if decision.calls:
                message = AIMessage(
                    content="",
                    tool_calls=[
                        {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:12]}"}
                        for name, args in decision.calls
                    ],
                )
            else:
                key = decision.reply_key or "fallback"
                message = AIMessage(content=self.bundle.message(context.language, key))
        message.response_metadata = {"model_name": MODEL_NAME}
        return ChatResult(generations=[ChatGeneration(message=message)])


def _last_patient_text(messages: list[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    return ""


def _tool_texts_since_last_patient_message(messages: list[BaseMessage]) -> list[str] | None:
    """Texts of the tool results of this turn, or None when no tool has run yet."""
    texts: list[str] = []
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, ToolMessage):
            texts.append(_tool_text(message))
    return list(reversed(texts)) or None


def _tool_text(message: ToolMessage) -> str:
    content = message.text
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        return content
    return str(data.get("text", content)) if isinstance(data, dict) else content
