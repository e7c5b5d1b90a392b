"""Personal-data minimisation for every conversation sent to an external language model.

What an external model never receives, whatever the settings: phone numbers (Israeli local and
international forms), email addresses, Israeli ID numbers (9 digits) and card-like numbers; they
become `[phone]`, `[email]`, `[id]` and `[card]`. The assistant never needs them to answer: tools
are bound to the verified patient and look the data up themselves.

With `allow_personal_data=False` (`LLM_SEND_PERSONAL_DATA=false`) the verified patient's names
(English and Hebrew, also with attached Hebrew prefixes such as ל or ו) become `[patient]` and
their date of birth, in the usual written forms, becomes `[date of birth]`.

`PrivacyFilteredChatModel` applies this to every call of a wrapped chat model, including calls
with tools bound through its `bind_tools`; `redact_for_llm` is the same filter for one message
list. Placeholders may come back in the model's reply (for example "we will call you at
[phone]"), so the agents' prompts should tell the model what they mean.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import phonenumbers
from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import (
    BaseChatModel,
    LangSmithParams,
    LanguageModelInput,
    ModelProfile,
)
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langchain_core.prompt_values import ChatPromptValue, PromptValue
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, ensure_config
from langchain_core.tools import BaseTool
from pydantic import Field

from serving.practice.models import Patient

PHONE = "[phone]"
EMAIL = "[email]"
ISRAELI_ID = "[id]"
CARD = "[card]"
PATIENT = "[patient]"
DATE_OF_BIRTH = "[date of birth]"


@dataclass(frozen=True)
class PatientContext:
    """The verified patient of a conversation: what to look for when minimising personal data.

    Its own type rather than `practice.models.Patient`, so a conversation whose patient is known
    only partly (a Telegram contact: a first name and a phone) can be filtered too;
    `from_patient` builds it from a practice record.
    """

    first_name: str
    last_name: str = ""
    name_he: str | None = None
    phone: str | None = None
    email: str | None = None
    date_of_birth: date | None = None

    @classmethod
    def from_patient(cls, patient: Patient) -> PatientContext:
        return cls(
            first_name=patient.first_name,
            last_name=patient.last_name,
            name_he=patient.name_he,
            phone=patient.phone,
            email=patient.email,
            date_of_birth=patient.date_of_birth,
        )


# Digits are bounded by anything but a digit or a Latin letter: Hebrew is written right up against
# numbers ("ת.ז123456782"), while "INV123456789" is an invoice number, not an ID.
_BEFORE = r"(?<![0-9A-Za-z+])"
_AFTER = r"(?![0-9])"
_SEP = r"[\s.\-]?"
# Unicode letters too: "דנה@example.co.il" is an address.
_EMAIL = re.compile(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}")
# Israeli area and mobile prefixes: 02-04, 08, 09, 05x, 07x.
_IL_PREFIX = r"(?:5\d|7\d|[2-489])"
_PHONES = (
    # +972 50-123-4567, 00 44 20 7946 0958, +1 (415) 555-2671: a country code, then 7-16 digits.
    re.compile(_BEFORE + r"(?:\+|00)\s?[1-9](?:" + _SEP + r"\(?\d\)?){6,16}" + _AFTER),
    # 972-50-123-4567 (the country code without + or 00).
    re.compile(_BEFORE + r"972" + _SEP + _IL_PREFIX + _SEP + r"\d{3}" + _SEP + r"\d{4}" + _AFTER),
    # 050-123-4567, 0501234567, (050) 123 4567, 02-6543210, 077.123.4567.
    re.compile(
        _BEFORE + r"\(?0" + _IL_PREFIX + r"\)?" + _SEP + r"\d{3}" + _SEP + r"\d{4}" + _AFTER
    ),
)
# 13-19 digits in one run, or grouped in fours (4580 1234 5678 9012) or as Amex (3714 496353 98431).
_CARD = re.compile(
    _BEFORE + r"(?:\d{13,19}|\d{4}(?:[ \-]\d{4}){2}[ \-]\d{1,7}|\d{4}[ \-]\d{6}[ \-]\d{5})" + _AFTER
)
# Israeli ID (teudat zehut): 9 digits, sometimes written with the check digit apart (12345678-2).
_ISRAELI_ID = re.compile(_BEFORE + r"\d{8}-?\d" + _AFTER)
_HEBREW_LETTER = re.compile(r"[\u05d0-\u05ea]")
# One-letter words Hebrew attaches to the next word: and, the, in, to, that, from, as.
_HEBREW_PREFIXES = "והבלשמכ"

# Month names are detection data for dates of birth written out, not text shown to anyone.
_MONTHS_EN = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_MONTHS_HE = (
    "ינואר", "פברואר", "מרץ", "אפריל", "מאי", "יוני",
    "יולי", "אוגוסט", "ספטמבר", "אוקטובר", "נובמבר", "דצמבר",
)  # fmt: skip


def redact_for_llm(
    messages: Sequence[BaseMessage],
    *,
    allow_personal_data: bool,
    patient: PatientContext | None,
) -> list[BaseMessage]:
    """Copies of `messages` with personal data replaced by placeholders; the input is untouched.

    Message texts, content blocks, tool-call arguments and tool results are filtered; message
    types, tool-call ids and tool names are kept, so the tool-calling protocol still lines up.
    """
    redact = _text_redactor(patient, allow_personal_data)
    return [_redact_message(message, redact) for message in messages]


def redact_text(text: str, *, allow_personal_data: bool, patient: PatientContext | None) -> str:
    """`text` with the same replacements `redact_for_llm` makes in messages."""
    return _text_redactor(patient, allow_personal_data)(text)


@functools.lru_cache(maxsize=256)
def _text_redactor(
    patient: PatientContext | None, allow_personal_data: bool
) -> Callable[[str], str]:
    """The redaction for one patient and setting, compiled once."""
    own_phone = _own_phone_pattern(patient.phone) if patient and patient.phone else None
    personal: list[tuple[re.Pattern[str], str]] = []
    if patient is not None and not allow_personal_data:
        if patient.date_of_birth is not None:
            born = patient.date_of_birth
            personal.extend((pattern, DATE_OF_BIRTH) for pattern in _birth_date_patterns(born))
        personal.extend(_name_patterns(patient))

    def redact(text: str) -> str:
        text = _EMAIL.sub(EMAIL, text)
        if own_phone is not None:
            text = own_phone.sub(PHONE, text)
        for pattern in _PHONES:
            text = pattern.sub(PHONE, text)
        text = _CARD.sub(CARD, text)
        text = _ISRAELI_ID.sub(ISRAELI_ID, text)
        for pattern, replacement in personal:
            text = pattern.sub(replacement, text)
        return text

    return redact


def _own_phone_pattern(phone: str) -> re.Pattern[str] | None:
    """The patient's own number however it is punctuated ("05-01234-567", "+972 (0)50...")."""
    try:
        number = phonenumbers.parse(phone, "IL")
    except phonenumbers.NumberParseException:
        return None
    national = str(number.national_number)
    if len(national) < 7:
        return None
    gap = r"[\s.\-()]*"
    prefix = rf"(?:(?:\+|00)?{number.country_code}{gap}(?:0{gap})?|0{gap})?"
    return re.compile(r"(?<![0-9])\(?" + prefix + gap.join(national) + r"(?![0-9])")


def _name_patterns(patient: PatientContext) -> list[tuple[re.Pattern[str], str]]:
    """Whole names first, then each part, so "Dana Cohen" becomes one placeholder, not two."""
    names = [patient.first_name, patient.last_name, patient.name_he or ""]
    full = [" ".join(n for n in (patient.first_name, patient.last_name) if n.strip())]
    parts = [part for name in names for part in name.split()]
    candidates = {c.strip() for c in [*full, *names, *parts] if len(c.strip()) >= 2}
    patterns: list[tuple[re.Pattern[str], str]] = []
    for name in sorted(candidates, key=len, reverse=True):
        body = r"\s+".join(re.escape(word) for word in name.split())
        if _HEBREW_LETTER.search(name):
            # "לדנה" (to Dana), "ודנה" (and Dana): keep the prefix, hide the name.
            pattern = re.compile(rf"(?<!\w)([{_HEBREW_PREFIXES}]{{0,2}}){body}(?!\w)")
            patterns.append((pattern, rf"\g<1>{PATIENT}"))
        else:
            patterns.append((re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE), PATIENT))
    return patterns


def _birth_date_patterns(born: date) -> list[re.Pattern[str]]:
    """The date as people write it: numeric in either order, ISO, month names in both languages."""
    day = rf"0?{born.day}" if born.day < 10 else str(born.day)
    month = rf"0?{born.month}" if born.month < 10 else str(born.month)
    year = rf"(?:{born.year}|{born.year % 100:02d})"
    sep = r"\s?[./\-]\s?"
    ordinal = r"(?:st|nd|rd|th)?"
    month_en = _MONTHS_EN[born.month - 1]
    month_en = rf"(?:{month_en}|{month_en[:3]}\.?)"
    month_he = rf"ב?{_MONTHS_HE[born.month - 1]}"
    forms = (
        rf"{day}{sep}{month}{sep}{year}",  # 14/03/1985, 14.3.85 (Israeli order)
        rf"{month}{sep}{day}{sep}{year}",  # 03/14/1985 (US order)
        rf"{born.year}{sep}{month}{sep}{day}",  # 1985-03-14 (ISO, what tools return)
        rf"{day}{ordinal}\s+(?:of\s+)?{month_en},?\s+{born.year}",  # 14 March 1985
        rf"{month_en}\s+{day}{ordinal},?\s+{born.year}",  # March 14, 1985
        rf"{day}\s+{month_he},?\s+{born.year}",  # 14 במרץ 1985
    )
    return [re.compile(rf"(?<![0-9A-Za-z]){form}(?![0-9])", re.IGNORECASE) for form in forms]


def _redact_message(message: BaseMessage, redact: Callable[[str], str]) -> BaseMessage:
    update: dict[str, Any] = {"content": _redact_content(message.content, redact)}
    if message.name and not isinstance(message, ToolMessage):
        # A sender name is sent as the message's "name"; a placeholder is not a valid one.
        update["name"] = message.name if redact(message.name) == message.name else None
    if isinstance(message, AIMessage):
        update["tool_calls"] = [
            {**call, "args": _redact_value(call["args"], redact)} for call in message.tool_calls
        ]
        update["invalid_tool_calls"] = [
            {**call, "args": _redact_value(call.get("args"), redact)}
            for call in message.invalid_tool_calls
        ]
        update["additional_kwargs"] = _redact_openai_kwargs(message.additional_kwargs, redact)
    return message.model_copy(update=update)


def _redact_content(
    content: str | list[str | dict[Any, Any]], redact: Callable[[str], str]
) -> str | list[str | dict[Any, Any]]:
    if isinstance(content, str):
        return redact(content)
    return [
        redact(block) if isinstance(block, str) else _redact_block(block, redact)
        for block in content
    ]


# Keys of content blocks that carry structure or binary data, not text a person wrote.
_STRUCTURAL_BLOCK_KEYS = frozenset(
    {"type", "id", "index", "name", "tool_call_id", "mime_type", "source_type", "url", "base64",
     "data", "file_id", "status"}
)  # fmt: skip


def _redact_block(block: Mapping[Any, Any], redact: Callable[[str], str]) -> dict[Any, Any]:
    return {
        key: value if key in _STRUCTURAL_BLOCK_KEYS else _redact_value(value, redact)
        for key, value in block.items()
    }


def _redact_value(value: Any, redact: Callable[[str], str]) -> Any:
    """Every string inside a JSON-like value, keys kept (they are parameter names)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _redact_value(item, redact) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item, redact) for item in value]
    return value


def _redact_openai_kwargs(
    kwargs: Mapping[str, Any], redact: Callable[[str], str]
) -> dict[str, Any]:
    """Tool calls in the provider's own shape, which the OpenAI client sends when present."""
    result = dict(kwargs)
    if isinstance(kwargs.get("tool_calls"), list):
        result["tool_calls"] = [
            _redact_function_call(call, redact) for call in kwargs["tool_calls"]
        ]
    if isinstance(kwargs.get("function_call"), Mapping):
        result["function_call"] = _redact_arguments(kwargs["function_call"], redact)
    return result


def _redact_function_call(call: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping):
        return {**call, "function": _redact_arguments(call["function"], redact)}
    return call


def _redact_arguments(function: Mapping[str, Any], redact: Callable[[str], str]) -> dict[str, Any]:
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        return {**function, "arguments": redact(arguments)}
    return dict(function)


class PrivacyFilteredChatModel(BaseChatModel):
    """A chat model that sends `inner` only redacted conversations.

    Build it once from the external model and the setting, bind tools to it (`bind_tools`
    delegates to `inner`, so tool schemas are formatted the provider's way) and invoke it as any
    chat model. The conversation's verified patient, whose names are hidden when
    `allow_personal_data` is false, comes from the call's config through `patient_from_config`
    (agents built once serve every conversation), or is fixed with `for_patient`:

        model = PrivacyFilteredChatModel(
            inner=chat_openai, allow_personal_data=False, patient_from_config=patient_of_turn
        )
        bound = model.bind_tools(tools)
        reply = await bound.ainvoke(messages, {"configurable": {"turn": turn}})

    Redaction happens before anything else sees the input, so callbacks and tracers attached to
    this model record the redacted conversation too. Errors of `inner` pass through unchanged,
    so fallbacks can catch them. Replies are whole messages: this model does not stream.
    """

    inner: BaseChatModel
    allow_personal_data: bool = True
    patient: PatientContext | None = None
    patient_from_config: Callable[[RunnableConfig], PatientContext | None] | None = Field(
        default=None, exclude=True
    )
    """Finds the verified patient in a call's config; None from it keeps `patient`."""

    def for_patient(self, patient: PatientContext | None) -> PrivacyFilteredChatModel:
        """This model, filtering for `patient` (the conversation's verified patient)."""
        return self.model_copy(update={"patient": patient})

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        model = self._for_call(config)
        return BaseChatModel.invoke(model, input, config, stop=stop, **kwargs)

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        model = self._for_call(config)
        return await BaseChatModel.ainvoke(model, input, config, stop=stop, **kwargs)

    def _for_call(self, config: RunnableConfig | None) -> PrivacyFilteredChatModel:
        if self.patient_from_config is None:
            return self
        # `ensure_config` adds the config of an enclosing run (a LangGraph node, say).
        patient = self.patient_from_config(ensure_config(config))
        if patient is None or patient == self.patient:
            return self
        return self.for_patient(patient)

    def redact(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        return redact_for_llm(
            messages, allow_personal_data=self.allow_personal_data, patient=self.patient
        )

    @property
    def _llm_type(self) -> str:
        return f"privacy-filtered-{self.inner._llm_type}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "inner": self.inner._llm_type,
            **self.inner._identifying_params,
            "allow_personal_data": self.allow_personal_data,
        }

    def _resolve_model_profile(self) -> ModelProfile | None:
        return self.inner.profile

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return self.inner._get_ls_params(stop=stop, **kwargs)

    def _convert_input(self, model_input: LanguageModelInput) -> PromptValue:
        prompt = super()._convert_input(model_input)
        return ChatPromptValue(messages=self.redact(prompt.to_messages()))

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # Redacted again for callers of `generate()`, which skips `_convert_input`; it is
        # idempotent, placeholders contain nothing a pattern matches. `inner` runs within this
        # model's run, so callbacks see one model call and count its usage once.
        return self.inner._generate(self.redact(messages), stop, run_manager, **kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return await self.inner._agenerate(self.redact(messages), stop, run_manager, **kwargs)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Tools formatted by `inner.bind_tools`, bound to this model so redaction still applies."""
        bound = self.inner.bind_tools(tools, tool_choice=tool_choice, **kwargs)
        if not isinstance(bound, RunnableBinding) or bound.bound is not self.inner:
            raise TypeError(
                f"{type(self.inner).__name__}.bind_tools returned {type(bound).__name__}, not "
                "a binding of the model itself; its tools cannot be moved to the privacy filter"
            )
        return self.bind(**bound.kwargs)
