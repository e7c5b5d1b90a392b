"""Specific questions get specific answers: one treatment's price or appointment length, one
day's opening hours; the whole list only when the patient asks for the list.

End to end through the real assistant (the scratch clinic: the demo clinic behind the app) in
both architectures and both languages, then the pieces: the profile's weekly hours, the
`clinic_info` action and its LangChain tool, and the policy's arguments for Alex and Dana.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, ValidationError

from evals.clinic import ScratchClinic
from serving.agents.context import TurnContext
from serving.agents.offline.nlu import Intent, Understanding
from serving.agents.offline.policy import decide
from serving.assistant.service import Reply
from serving.clinic import ClinicProfile, load_clinic_profile
from serving.conversation.state import ConversationState
from serving.conversation.turn import Turn
from serving.demo.loader import DEMO_FILE
from serving.language import Language
from serving.settings import REPOSITORY_BUNDLE
from serving.tools import langchain_tools
from tests.clinic_time import CLINIC_TZ, today

WEEK_EN = "We are open Sun-Thu 08:00-20:00, Fri 08:00-13:00. Closed on Shabbat and public holidays."
"""The demo clinic's week, as written from its providers' working hours."""

TREATMENTS: dict[str, dict[str, Any]] = {
    t["code"]: t for t in json.loads(DEMO_FILE.read_text(encoding="utf-8"))["treatment_types"]
}
_AMOUNT = re.compile(r"\d{1,3}(?:,\d{3})*\.\d\d")
_MINUTES = re.compile(r"(\d+) (?:minutes|דקות)")


def price(code: str) -> str:
    return f"{Decimal(TREATMENTS[code]['price']):,.2f}"


def amounts(text: str) -> list[str]:
    return _AMOUNT.findall(text)


@pytest.fixture(scope="module", params=["alex", "team"])
async def clinic(request: pytest.FixtureRequest) -> AsyncIterator[ScratchClinic]:
    async with ScratchClinic(bundle_path=REPOSITORY_BUNDLE, architecture=request.param) as scratch:
        yield scratch


async def ask(clinic: ScratchClinic, text: str, language: str) -> Reply:
    """A visitor's first message; the reply must be a clinic answer in their language, given
    by Alex or, in the team, by Dana herself."""
    reply = (await clinic.send(f"specific-{uuid.uuid4().hex[:8]}", text=text)).reply
    assert reply.intent == "clinic_info", (text, reply.intent, reply.text)
    assert reply.actions == ("clinic_info",)
    assert reply.language == language
    assert reply.agents == (("alex",) if reply.architecture == "alex" else ("dana",))
    return reply


# -- prices ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text", "code"),
    [
        ("en", "what do you charge for a root canal?", "root_canal"),
        ("en", "how much would an implant consultation cost me", "implant_consultation"),
        ("he", "מה המחיר של הלבנת שיניים אצלכם?", "whitening"),
        ("he", "כמה עולה עקירה?", "extraction"),
    ],
)
async def test_one_treatments_price_and_no_other(
    clinic: ScratchClinic, language: str, text: str, code: str
) -> None:
    reply = await ask(clinic, text, language)
    assert amounts(reply.text) == [price(code)], reply.text
    name = TREATMENTS[code]["name_he" if language == "he" else "name"].lower()
    assert name in reply.text.lower()


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "could you send me your full price list?"),
        ("en", "send me the price list please, fillings mostly"),
        ("he", "אפשר לקבל את המחירון שלכם?"),
        ("he", "תשלחו לי את המחירון, בעיקר מעניינת אותי סתימה"),
    ],
)
async def test_the_price_list_when_asked_for_the_list(
    clinic: ScratchClinic, language: str, text: str
) -> None:
    reply = await ask(clinic, text, language)
    assert sorted(amounts(reply.text)) == sorted(price(code) for code in TREATMENTS)


# -- appointment lengths ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text", "code"),
    [
        ("en", "how long will a filling take?", "filling"),
        ("en", "how long does an extraction take", "extraction"),
        ("he", "כמה זמן לוקח טיפול שורש?", "root_canal"),
        ("he", "כמה זמן נמשכת בדיקה תקופתית?", "checkup"),
    ],
)
async def test_one_treatments_appointment_length(
    clinic: ScratchClinic, language: str, text: str, code: str
) -> None:
    reply = await ask(clinic, text, language)
    assert _MINUTES.findall(reply.text) == [str(TREATMENTS[code]["duration_minutes"])]
    assert amounts(reply.text) == []


@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "how long are your appointments?"), ("he", "מה משך התור אצלכם?")],
)
async def test_every_appointment_length_without_a_treatment(
    clinic: ScratchClinic, language: str, text: str
) -> None:
    reply = await ask(clinic, text, language)
    expected = sorted(str(t["duration_minutes"]) for t in TREATMENTS.values())
    assert sorted(_MINUTES.findall(reply.text)) == expected


# -- one day's hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en", "are you open on friday?", "On Friday we are open 08:00-13:00."),
        (
            "en",
            "until what time are you open on wednesday",
            "On Wednesday we are open 08:00-20:00.",
        ),
        ("he", "מתי אתם פתוחים ביום שישי?", "ביום שישי אנחנו פתוחים 08:00-13:00."),
        ("he", "עד מתי אתם פתוחים ביום רביעי?", "ביום רביעי אנחנו פתוחים 08:00-20:00."),
        ("en", "is the clinic open on saturday?", "On Saturday the clinic is closed."),
        ("he", "אתם עובדים בשבת?", "ביום שבת המרפאה סגורה."),
    ],
)
async def test_one_days_hours(
    clinic: ScratchClinic, language: str, text: str, expected: str
) -> None:
    reply = await ask(clinic, text, language)
    assert reply.text.splitlines()[-1] == expected


@pytest.mark.parametrize(
    ("language", "text"), [("en", "are you open tomorrow?"), ("he", "אתם פתוחים מחר?")]
)
async def test_tomorrows_hours(clinic: ScratchClinic, language: str, text: str) -> None:
    reply = await ask(clinic, text, language)
    bundle = clinic.runtime().bundle
    tomorrow = today() + timedelta(days=1)
    weekday = bundle.message(language, "weekday_names").split()[tomorrow.weekday()]
    periods = (await clinic.backend.clinic_hours()).on(tomorrow)
    if not periods:
        expected = bundle.message(language, "closed_on_day", weekday=weekday)
    else:
        hours = ", ".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in periods)
        expected = bundle.message(language, "open_on_day", weekday=weekday, hours=hours)
    assert reply.text.splitlines()[-1] == expected


async def test_the_whole_week_without_a_day(clinic: ScratchClinic) -> None:
    reply = await ask(clinic, "what hours do you keep?", "en")
    assert WEEK_EN in reply.text


# -- the action and its tool -----------------------------------------------------------------


def turn_of(clinic: ScratchClinic, language: Language) -> Turn:
    return Turn(
        backend=clinic.backend,
        bundle=clinic.runtime().bundle,
        clinic=clinic.profile,
        language=language,
        patient=None,
        state=ConversationState(),
        now=datetime.now(CLINIC_TZ),
        tz=CLINIC_TZ,
    )


async def call_tool(turn: Turn, **args: Any) -> str:
    config: RunnableConfig = {"configurable": {langchain_tools.TURN_KEY: turn}}
    result = json.loads(await langchain_tools.clinic_info.ainvoke(args, config=config))
    assert result["kind"] == "clinic_info"
    return str(result["text"])


@pytest.mark.parametrize("language", ["en", "he"])
async def test_a_treatment_the_clinic_does_not_have_gets_the_list_with_a_note(
    clinic: ScratchClinic, language: Language
) -> None:
    turn = turn_of(clinic, language)
    for topic in ("prices", "duration"):
        text = await call_tool(turn, topic=topic, treatment="gold_crown")
        assert text.splitlines()[0] == turn.message("treatment_not_found")
        assert len(text.splitlines()) >= len(TREATMENTS) + 1
    prices = await call_tool(turn, topic="prices", treatment="gold_crown")
    assert sorted(amounts(prices)) == sorted(price(code) for code in TREATMENTS)


async def test_the_tool_reads_a_treatment_and_a_day(clinic: ScratchClinic) -> None:
    turn = turn_of(clinic, "en")
    assert amounts(await call_tool(turn, topic="prices", treatment="checkup")) == ["200.00"]
    friday = date(2026, 12, 4)
    assert await call_tool(turn, topic="hours", day=friday.isoformat()) == (
        "On Friday we are open 08:00-13:00."
    )
    # A day that is not an ISO date is no error: the whole week.
    assert await call_tool(turn, topic="hours", day="next friday") == WEEK_EN
    # A treatment means nothing to the other topics.
    assert await call_tool(turn, topic="parking", treatment="checkup") == (
        clinic.profile.parking("en")
    )


def test_the_tool_schema_exposes_treatment_and_day() -> None:
    call_schema = langchain_tools.clinic_info.tool_call_schema
    assert isinstance(call_schema, type) and issubclass(call_schema, BaseModel)
    schema = call_schema.model_json_schema()
    properties = schema["properties"]
    assert {"topic", "treatment", "day"} <= set(properties)
    assert "config" not in properties
    assert set(schema["required"]) == {"topic"}
    assert "duration" in json.dumps(properties["topic"])


# -- the profile's retired hours ------------------------------------------------------------


def test_a_profile_file_with_the_retired_hours_still_loads() -> None:
    data = load_clinic_profile().model_dump(mode="json")
    old = {**data, "hours": {"en": "Sun-Thu", "he": "א-ה"}, "opening_hours": {"fri": ["8", "1"]}}
    assert ClinicProfile.model_validate(old) == load_clinic_profile()
    with pytest.raises(ValidationError):
        ClinicProfile.model_validate({**data, "opening_times": {}})


# -- the policy: the same arguments for Alex and for Dana -------------------------------------


def context(agent: str) -> TurnContext:
    return TurnContext(
        agent=agent,
        language="en",
        today=date(2026, 11, 26),
        verified=False,
        urgency="ROUTINE",
        pending=None,
        offer_refs=(),
        awaiting_treatment=False,
        draft_treatment=None,
    )


ALEX_TOOLS = frozenset(t.name for t in langchain_tools.ALL_TOOLS)
DANA_TOOLS = frozenset(t.name for t in langchain_tools.TEAM_TOOLS["dana"])
FRIDAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("understood", "arguments"),
    [
        (
            {"clinic_topic": "prices", "treatment": "filling"},
            {"topic": "prices", "treatment": "filling"},
        ),
        (
            {"clinic_topic": "prices", "treatment": "filling", "whole_list": True},
            {"topic": "prices"},
        ),
        (
            {"clinic_topic": "duration", "treatment": "cleaning"},
            {"topic": "duration", "treatment": "cleaning"},
        ),
        ({"clinic_topic": "insurance", "treatment": "cleaning"}, {"topic": "insurance"}),
        (
            {"clinic_topic": "hours", "date_from": FRIDAY, "date_to": FRIDAY},
            {"topic": "hours", "day": "2026-11-27"},
        ),
        (
            {"clinic_topic": "hours", "date_from": FRIDAY, "date_to": FRIDAY + timedelta(days=3)},
            {"topic": "hours"},
        ),
        ({"clinic_topic": "parking", "date_from": FRIDAY, "date_to": FRIDAY}, {"topic": "parking"}),
        ({"treatment": "filling"}, {"topic": "all"}),
    ],
)
def test_alex_and_dana_call_clinic_info_alike(
    understood: dict[str, Any], arguments: dict[str, Any]
) -> None:
    u = Understanding(language="en", intent=Intent.CLINIC_INFO, confidence=0.9, **understood)
    for agent, tools in (("alex", ALEX_TOOLS), ("dana", DANA_TOOLS)):
        decision = decide(u, context(agent), tools)
        assert decision.calls == [("clinic_info", arguments)], agent
