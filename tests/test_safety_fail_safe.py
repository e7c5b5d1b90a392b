"""The fail-safe step of triage: health talk nothing placed is at least DOCTOR_REQUIRED, a
possible danger short of a red flag asks the safety question, and what is denied, over or
administrative stays ROUTINE. Every message here is written for this file (none comes from an
evaluation set); the dev split is used only for the over-triage figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.safety.rules import SafetyRules, load_safety_rules
from serving.safety.triage import Triager, Urgency
from tests.safety_rules_file import RULES_PATH, rules_error

ROOT = Path(__file__).resolve().parents[1]
MESSAGES_PATH = ROOT / "data" / "eval" / "messages.jsonl"


@pytest.fixture(scope="module")
def rules() -> SafetyRules:
    return load_safety_rules(RULES_PATH)


@pytest.fixture(scope="module")
def triager(rules: SafetyRules) -> Triager:
    return Triager(rules, clinic_urgent_line="03-555-0100")


@pytest.mark.parametrize(
    "text",
    [
        "noticed a small bump on the inside of my lip this week",
        "my gums have looked kind of purple for a few days",
        "i take insulin every morning, is there anything to know before my visit",
        "my husband slipped in the shower and banged his chin",
        "my daughter is pale and has been crying since lunch",
        "feeling under the weather today, should i still come in",
        "יש לי כתם כהה על השן הקדמית",
        "החניכיים שלי נראות סגולות כבר כמה ימים",
        "אני לוקחת אינסולין, צריך לדעת משהו לפני הביקור?",
        "בעלי החליק במקלחת וקיבל מכה בסנטר",
        "הבת שלי חיוורת ובוכה מהבוקר",
    ],
)
def test_health_talk_nothing_placed_is_doctor_required(triager: Triager, text: str) -> None:
    result = triager.triage(text)
    assert result.urgency is Urgency.DOCTOR_REQUIRED
    assert result.reasons
    assert all(reason.startswith("fail_safe.health") for reason in result.reasons)
    assert result.decided_by == ",".join(result.reasons)
    assert not result.safety_question


@pytest.mark.parametrize(
    "text",
    [
        "no pain at all, only a routine checkup please",
        "nothing hurts, i just want my teeth cleaned",
        "no fever and no dizziness, just booking a cleaning",
        "i had a rash two years ago, all fine since",
        "the rash went away, can i book the follow up",
        "בלי כאבים בכלל, רק בדיקה שגרתית",
        "לא כואב כלום, רק רוצה לנקות את השיניים",
        "הייתה לי פריחה לפני שנתיים",
        "בלי חום ובלי סחרחורת, רק לקבוע ניקוי",
    ],
)
def test_denied_and_past_health_talk_stays_routine(triager: Triager, text: str) -> None:
    result = triager.triage(text)
    assert result.urgency is Urgency.ROUTINE, result.reasons
    assert not result.safety_question


@pytest.mark.parametrize(
    "text",
    [
        "can i change my appointment to the afternoon",
        "what is the price of teeth whitening",
        "i want whiter teeth before the summer",
        "you are not helping me with my bill",
        "i'm confused about the invoice you sent",
        "I'll be there at five",
        "אני לא אוכל להגיע מחר",
        "כמה עולה הלבנת שיניים",
        "השעה הזאת לא טובה לי",
        "החשבונית לא בסדר",
        "מה שעות הפתיחה ביום ראשון",
    ],
)
def test_administrative_messages_stay_routine(triager: Triager, text: str) -> None:
    result = triager.triage(text)
    assert result.urgency is Urgency.ROUTINE, result.reasons
    assert not result.safety_question


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("my lip is getting bigger by the hour", "fail_safe.danger_worsening"),
        ("he is very weak and can't drink anything", "fail_safe.danger_weak"),
        ("my son cant eat since this morning", "fail_safe.danger_cant_eat_drink"),
        ("it's getting worse fast", "fail_safe.danger_worsening"),
        ("השפה שלי הולכת וגדלה", "fail_safe.danger_worsening"),
        ("הוא חלש מאוד ולא מצליח לשתות", "fail_safe.danger_weak"),
        ("המצב מחמיר מהר", "fail_safe.danger_worsening"),
    ],
)
def test_a_possible_danger_asks_the_safety_question(
    triager: Triager, text: str, reason: str
) -> None:
    result = triager.triage(text)
    assert result.urgency is Urgency.DOCTOR_REQUIRED
    assert result.safety_question
    assert reason in result.reasons
    assert result.decided_by.startswith("fail_safe.")


def test_the_fail_safe_never_lowers_nor_replaces_what_the_rules_decided(
    triager: Triager,
) -> None:
    # Rules placed it (a symptom): the rule stays the reason; the danger sign adds the question.
    placed = triager.triage("she has a high fever and her cheek is sore")
    assert placed.urgency is Urgency.DOCTOR_REQUIRED
    assert placed.reasons == ("doctor.pain",) and placed.decided_by == "doctor.pain"
    assert placed.safety_question
    # An emergency is left alone: no question before the emergency reply.
    emergency = triager.triage("my face is swollen and it is getting worse fast, i can't breathe")
    assert emergency.urgency is Urgency.EMERGENCY
    assert not emergency.safety_question
    assert not any(reason.startswith("fail_safe.") for reason in emergency.reasons)


def test_negated_danger_asks_nothing(triager: Triager) -> None:
    assert not triager.triage("it is not getting worse, just sore").safety_question
    assert not triager.triage("הכאב לא מחמיר, רק מציק").safety_question


def test_the_safety_question_in_both_languages(triager: Triager) -> None:
    question, yes, no = triager.safety_question("en")
    assert "breathing" in question and "unconscious" in question and "worse" in question
    assert (yes, no) == ("Yes", "No")
    question_he, yes_he, no_he = triager.safety_question("he")
    assert "לנשום" in question_he and "מחוסר הכרה" in question_he
    assert (yes_he, no_he) == ("כן", "לא")


def test_dev_routine_messages_are_kept_routine(triager: Triager) -> None:
    """Over-triage stays low, so the net stays usable: routine kept >= 0.9 on dev."""
    with MESSAGES_PATH.open(encoding="utf-8") as handle:
        messages = [json.loads(line) for line in handle if line.strip()]
    routine = [m for m in messages if m["split"] == "dev" and m["urgency"] == "ROUTINE"]
    kept = [
        m
        for m in routine
        if (result := triager.triage(m["text"])).urgency is Urgency.ROUTINE
        and not result.safety_question
    ]
    assert len(kept) / len(routine) >= 0.9


# -- the schema ------------------------------------------------------------------------------


def test_the_fail_safe_section_is_required_and_checked() -> None:
    assert "fail_safe" in rules_error(lambda d: d.pop("fail_safe"))
    assert "must start with 'fail_safe'" in rules_error(
        lambda d: d["fail_safe"]["health"][0].update(id="doctor.body_talk")
    )
    assert "redefines word classes" in rules_error(
        lambda d: d["fail_safe"]["vocabulary"].update(PAIN={"en": ["ouch"]})
    )
    assert "HEALTH_NOPE" in rules_error(
        lambda d: d["fail_safe"]["danger"][0].update(any_of={"en": ["$HEALTH_NOPE"]})
    )
    assert "missing text for ['he']" in rules_error(
        lambda d: d["fail_safe"]["question"]["yes"].pop("he")
    )
    assert "danger" in rules_error(lambda d: d["fail_safe"].update(danger=[]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", "yes"),
        ("Yeah she is", "yes"),
        ("כן", "yes"),
        ("נראה לי שכן", "yes"),
        ("no", "no"),
        ("nope, nobody", "no"),
        ("לא", "no"),
        ("בכלל לא", "no"),
        # Neither: a vague reply, both at once, or a message with more to say.
        ("ok", None),
        ("fine", None),
        ("בסדר", None),
        ("yes and no", None),
        ("no but my tooth has been hurting more every day since the weekend", None),
        ("", None),
    ],
)
def test_a_typed_answer_to_the_safety_question_is_short_and_plain(
    triager: Triager, text: str, expected: str | None
) -> None:
    assert triager.safety_answer(text) == expected
