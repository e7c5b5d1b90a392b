"""`OfflineClinicModel`: the default model, a LangChain chat model that needs no network.

It understands the latest patient message with the bilingual `ClinicNLU`, decides with the
dialogue policy, and answers with tool calls or templated replies from the bundle's catalog.
One question is answered across two messages: when a weekday and a date disagree ("Monday 17
December", the 17th being a Thursday) it asks which day is meant, and reads the next message
("Thursday", "the 17th", "the first one") as the answer to the message that raised it.
After tools ran, its reply is the tools' patient-ready texts. Being a `BaseChatModel` with
`bind_tools`, both agent architectures run on it unchanged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import ConfigDict

from serving.agents.context import TurnContext
from serving.agents.offline.dates import WeekdayMismatch
from serving.agents.offline.nlu import ClinicNLU, Understanding
from serving.agents.offline.policy import decide
from serving.bundle.load import Bundle
from serving.language import LANGUAGES

MODEL_NAME = "offline-clinic-1"


class OfflineClinicModel(BaseChatModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    bundle: Bundle
    nlu: ClinicNLU

    @classmethod
    def from_bundle(
        cls, bundle: Bundle, *, holidays_country: str | None = None
    ) -> OfflineClinicModel:
        nlu = ClinicNLU(
            bundle.lexicon, intent_model=bundle.intent_model, holidays_country=holidays_country
        )
        return cls(bundle=bundle, nlu=nlu)

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
            understanding = self.nlu.understand(
                patient_text, today=context.today, providers=context.providers
            )
            understanding = self._day_chosen(messages, understanding, context.today)
            decision = decide(understanding, context, tools)
            if decision.calls:
                message = AIMessage(
                    content="",
                    tool_calls=[
                        {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:12]}"}
                        for name, args in decision.calls
                    ],
                )
            elif decision.days is not None:
                message = AIMessage(content=self._which_day(context.language, decision.days))
            else:
                key = decision.reply_key or "fallback"
                message = AIMessage(content=self.bundle.message(context.language, key))
        message.response_metadata = {"model_name": MODEL_NAME}
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _which_day(self, language: str, days: WeekdayMismatch) -> str:
        first, second = (self._day(language, day) for day in days)
        return self.bundle.message(language, "which_day", first=first, second=second)

    def _day(self, language: str, day: date) -> str:
        months = self.bundle.message(language, "month_names").split()
        return self.bundle.message(
            language,
            "day_label",
            weekday=self.bundle.message(language, f"weekday_{day.weekday()}"),
            day=day.day,
            month=months[day.month - 1],
            month_num=day.month,
        )

    def _day_chosen(
        self, messages: list[BaseMessage], understanding: Understanding, today: date
    ) -> Understanding:
        """The message that raised the which-day question, with the day this one chose; the
        message as understood when it answers no such question."""
        earlier = _earlier_exchange(messages)
        if earlier is None:
            return understanding
        asked_text, question = earlier
        asked = self.nlu.understand(asked_text, today=today)
        days = asked.date_mismatch
        if days is None or not any(self._which_day(lang, days) in question for lang in LANGUAGES):
            return understanding
        day = self.nlu.choose_day(_last_patient_text(messages), days, today=today)
        if day is None:
            return understanding
        return replace(
            asked,
            date_from=day,
            date_to=day,
            date_mismatch=None,
            treatment=understanding.treatment or asked.treatment,
            time_from=understanding.time_from or asked.time_from,
            time_to=understanding.time_to or asked.time_to,
            provider=understanding.provider or asked.provider,
        )


def _earlier_exchange(messages: list[BaseMessage]) -> tuple[str, str] | None:
    """The patient's previous message and the reply to it, when the history holds them."""
    humans = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    if len(humans) < 2:
        return None
    before, latest = humans[-2], humans[-1]
    replies = [m.text for m in messages[before + 1 : latest] if isinstance(m, AIMessage)]
    return (messages[before].text, replies[-1]) if replies else None


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
