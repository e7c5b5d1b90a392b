"""The offline NLU on real phrasings, in Hebrew and English, typos and mixed language included."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from datetime import date
from datetime import time as clock
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import ValidationError

from serving.agents.offline.nlu import ClinicNLU, Intent, Understanding
from serving.bundle.lexicon import ClinicTopic, Lexicon
from serving.safety.classifier import TextClassifier
from tests.classifier_models import constant

ROOT = Path(__file__).resolve().parents[1]
LEXICON = ROOT / "prompts" / "offline" / "lexicon.yaml"
EVAL_MESSAGES = ROOT / "data" / "eval" / "messages.jsonl"
TODAY = date(2026, 11, 26)  # a Thursday


def lexicon_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(LEXICON.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def nlu() -> ClinicNLU:
    return ClinicNLU(Lexicon.model_validate(lexicon_data()))


def understand(nlu: ClinicNLU, text: str) -> Understanding:
    return nlu.understand(text, today=TODAY)


INTENT_CASES = [
    # the tie-breaks of the issue
    (Intent.CANCEL_APPOINTMENT, "cancel my appointment"),
    (Intent.RESCHEDULE_APPOINTMENT, "can I move my cleaning to Tuesday"),
    (Intent.MY_APPOINTMENTS, "when is my appointment"),
    (Intent.INVOICE_INQUIRY, "how much do I owe"),
    (Intent.CLINIC_INFO, "how much is a cleaning"),
    (Intent.BOOK_APPOINTMENT, "my tooth hurts can I come tomorrow"),
    (Intent.MEDICAL_QUESTION, "is it normal that my gum bleeds"),
    (Intent.TALK_TO_DOCTOR, "I want to talk to a dentist"),
    (Intent.EMERGENCY, "my face is swollen and I can't breathe"),
    # English, with typos and slang
    (Intent.GREETING, "hey!"),
    (Intent.GREETING, "good morning :)"),
    (Intent.THANKS_GOODBYE, "ok thanks bye"),
    (Intent.BOOK_APPOINTMENT, "hii i wanna make an apointmnet for a cleanin"),
    (Intent.BOOK_APPOINTMENT, "need appt asap for checkup"),
    (Intent.BOOK_APPOINTMENT, "any openings tomorrow afternoon"),
    (Intent.BOOK_APPOINTMENT, "no pain just want a cleaning"),
    (Intent.RESCHEDULE_APPOINTMENT, "i cant make it tomorrow, can we do monday instead?"),
    (Intent.RESCHEDULE_APPOINTMENT, "can i resched to friday"),
    (Intent.CANCEL_APPOINTMENT, "cancle my apointment"),
    (Intent.MY_APPOINTMENTS, "do i have any upcoming appointments"),
    (Intent.INVOICE_INQUIRY, "i paid already why am i getting charged"),
    (Intent.INVOICE_INQUIRY, "invoice 42"),
    (Intent.CLINIC_INFO, "where can I park?"),
    (Intent.CLINIC_INFO, "do you work with clalit?"),
    (Intent.TALK_TO_DOCTOR, "get me a real person please"),
    (Intent.MEDICAL_QUESTION, "can I take ibuprofen after the extraction?"),
    (Intent.MEDICAL_QUESTION, "my toothe hurst when i drink hot stuff"),
    (Intent.EMERGENCY, "emergency! bleeding won't stop"),
    (Intent.EMERGENCY, "my kid knocked his tooth out"),
    (Intent.OTHER, "what's the capital of France"),
    # Hebrew, with prefixes, typos and slang
    (Intent.GREETING, "אהלן מה קורה"),
    (Intent.THANKS_GOODBYE, "סבבה תודה ביי"),
    (Intent.BOOK_APPOINTMENT, "אני רוצה לקבוע תור"),
    (Intent.BOOK_APPOINTMENT, "רציתי לקבוע תור לשיננית לשבוע הבא"),
    (Intent.BOOK_APPOINTMENT, 'אפשר לבוא ביום שלישי אחה"צ?'),
    (Intent.BOOK_APPOINTMENT, "בלי כאבים ובלי נפיחות, רק ניקוי"),
    (Intent.RESCHEDULE_APPOINTMENT, "אפשר להזיז את התור למחר?"),
    (Intent.RESCHEDULE_APPOINTMENT, "לא מסתדר לי מחר, אפשר יום אחר?"),
    (Intent.CANCEL_APPOINTMENT, "תבטלו לי את התור של מחר"),
    (Intent.CANCEL_APPOINTMENT, "בטלו לי את התור"),
    (Intent.MY_APPOINTMENTS, "מתי התור שלי?"),
    (Intent.MY_APPOINTMENTS, "באיזה שעה התור שלי מחר?"),
    (Intent.INVOICE_INQUIRY, "כמה אני חייבת?"),
    (Intent.INVOICE_INQUIRY, "לא קיבלתי קבלה על התשלום"),
    (Intent.CLINIC_INFO, "מה שעות הפתיחה?"),
    (Intent.CLINIC_INFO, "איפה אפשר לחנות?"),
    (Intent.CLINIC_INFO, "אתם עובדים עם מכבי?"),
    (Intent.CLINIC_INFO, "כמה עולה טיפול שורש?"),
    (Intent.TALK_TO_DOCTOR, "אפשר לדבר עם רופא?"),
    (Intent.TALK_TO_DOCTOR, "אפשר נציג?"),
    (Intent.TALK_TO_DOCTOR, "תעבירו אותי לבן אדם"),
    (Intent.MEDICAL_QUESTION, "זה נורמלי שהחניכיים מדממות?"),
    (Intent.MEDICAL_QUESTION, "מותר לאכול אחרי סתימה?"),
    (Intent.EMERGENCY, "חירום! קשה לי לנשום"),
    (Intent.EMERGENCY, "נפחות בפנים וקשה לבלוע"),
    (Intent.OTHER, "מה השעה"),
    # mixed language
    (Intent.BOOK_APPOINTMENT, "i want a תור for tomorrow"),
    (Intent.BOOK_APPOINTMENT, "my tooth כואבת מאוד אפשר לבוא היום"),
    (Intent.INVOICE_INQUIRY, "hi, אני צריך invoice בשביל הביטוח"),
]


@pytest.mark.parametrize(("intent", "text"), INTENT_CASES)
def test_intent(nlu: ClinicNLU, intent: Intent, text: str) -> None:
    assert understand(nlu, text).intent is intent


@pytest.mark.parametrize(
    ("text", "language"),
    [("cancel my appointment", "en"), ("מתי התור שלי", "he"), ("my tooth כואבת מאוד", "he"),
     ("42", "en")],
)  # fmt: skip
def test_language(nlu: ClinicNLU, text: str, language: str) -> None:
    assert understand(nlu, text).language == language


def test_nothing_known_is_other_with_full_confidence(nlu: ClinicNLU) -> None:
    understood = understand(nlu, "asdfgh")
    assert (understood.intent, understood.confidence) == (Intent.OTHER, 1.0)


def test_confidence_grows_with_evidence_and_stays_in_range(nlu: ClinicNLU) -> None:
    weak = understand(nlu, "next Tuesday")
    strong = understand(nlu, "I want to cancel my appointment")
    assert 0 < weak.confidence < strong.confidence <= 1
    for _, text in INTENT_CASES:
        assert 0 <= understand(nlu, text).confidence <= 1


@pytest.mark.parametrize(
    ("text", "treatment"),
    [
        ("I'd like to book a cleaning", "cleaning"),
        ("אני רוצה לקבוע ניקוי אבנית", "cleaning"),
        ("תור לשיננית", None),  # the hygienist is who, not what: a provider
        ("checkup next week", "checkup"),
        ("בדיקה תקופתית", "checkup"),
        ("I lost a filling", "filling"),
        ("סתימה", "filling"),
        ("do I need a root canal", "root_canal"),
        ("טיפול שורש", "root_canal"),
        ("wisdom tooth extraction", "extraction"),
        ("עקירה של שן בינה", "extraction"),
        ("teeth whitening", "whitening"),
        ("הלבנת שיניים", "whitening"),
        ("ייעוץ לשתלים", "implant_consultation"),
        ("dental implant", "implant_consultation"),
        ("emergency visit", "emergency_visit"),
        ("תור דחוף", "emergency_visit"),
        ("when are you open", None),
    ],
)
def test_treatment(nlu: ClinicNLU, text: str, treatment: str | None) -> None:
    assert understand(nlu, text).treatment == treatment


def test_dates_reach_the_understanding(nlu: ClinicNLU) -> None:
    understood = understand(nlu, "can I book a cleaning next Tuesday morning?")
    assert understood.intent is Intent.BOOK_APPOINTMENT
    assert understood.treatment == "cleaning"
    assert (understood.date_from, understood.date_to) == (date(2026, 12, 1), date(2026, 12, 1))
    assert (understood.time_from, understood.time_to) == (clock(8), clock(12))
    hebrew = understand(nlu, 'יש לכם תור פנוי השבוע אחה"צ?')
    assert (hebrew.date_from, hebrew.date_to) == (TODAY, date(2026, 11, 28))
    assert (hebrew.time_from, hebrew.time_to) == (clock(12), clock(16))


def test_a_weekday_and_date_that_disagree_reach_the_understanding(nlu: ClinicNLU) -> None:
    # 3 December 2026 is a Thursday
    agreeing = understand(nlu, "I'd like a cleaning on Thursday 3 December")
    assert (agreeing.date_from, agreeing.date_to) == (date(2026, 12, 3), date(2026, 12, 3))
    clashing = understand(nlu, "אפשר לקבוע ניקוי אבנית ליום שלישי ה-3.12?")
    assert clashing.intent is Intent.BOOK_APPOINTMENT and clashing.treatment == "cleaning"
    assert clashing.date_from is None
    assert clashing.date_mismatch == (date(2026, 12, 1), date(2026, 12, 3))
    options = clashing.date_mismatch
    assert nlu.choose_day("the second one", options, today=TODAY) == date(2026, 12, 3)
    assert nlu.choose_day("הראשון", options, today=TODAY) == date(2026, 12, 1)
    assert nlu.choose_day("3", options, today=TODAY) == date(2026, 12, 3)
    assert nlu.choose_day("both are fine", options, today=TODAY) is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("INV/2026/0042", "INV/2026/0042"),
        ("can you send me invoice INV/2026/0042", "INV/2026/0042"),
        ("inv 2026/42", "INV/2026/0042"),
        ("INV-2026-42", "INV/2026/0042"),
        ("חשבונית מס' 2026/42", "INV/2026/0042"),
        ("קבלה על INV/2026/0017", "INV/2026/0017"),
        # no year: the bare number, for the caller to match against the patient's invoices
        ("inv 42", "42"),
        ("invoice #0042", "42"),
        ("invoice no. 42", "42"),
        ("חשבונית 42", "42"),
        ("חשבונית מספר 0042", "42"),
        ("0042", "42"),
        # numbers that are not invoice numbers
        ("my invoice from 3/12", None),
        ("how much do I owe", None),
        ("option 2", None),
    ],
)
def test_invoice_number(nlu: ClinicNLU, text: str, number: str | None) -> None:
    assert understand(nlu, text).invoice_number == number


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("what are your opening hours?", "hours"),
        ("עד מתי אתם פתוחים?", "hours"),
        ("what's your address", "address"),
        ("איך מגיעים אליכם?", "address"),
        ("is there parking?", "parking"),
        ("יש חניה?", "parking"),
        ("how much does whitening cost?", "prices"),
        ("מחיר של טיפול שורש?", "prices"),
        ("do you take maccabi", "insurance"),
        ("אתם עובדים עם כללית?", "insurance"),
        ("לאומית", "insurance"),
        ("can I pay with bit?", "payment"),
        ("אפשר לשלם בכרטיס אשראי?", "payment"),
        ("how long would a whitening session take", "duration"),
        ("what's the duration of an implant consultation", "duration"),
        ("כמה זמן לוקחת סתימה?", "duration"),
        ("מה משך הטיפול של ניקוי אבנית", "duration"),
        ("I want to book a cleaning", None),
    ],
)
def test_clinic_topic(nlu: ClinicNLU, text: str, topic: str | None) -> None:
    understood = understand(nlu, text)
    assert understood.clinic_topic == topic
    if topic is not None:
        assert understood.intent is Intent.CLINIC_INFO


@pytest.mark.parametrize(
    "text",
    [
        "how long does the swelling last after an extraction",
        "how long should I wait before eating after my filling",
        "כמה זמן נשארת הנפיחות אחרי עקירה?",
        "כמה זמן אחרי סתימה מותר לאכול",
    ],
)
def test_how_long_after_care_stays_a_medical_question(nlu: ClinicNLU, text: str) -> None:
    """The length of an appointment is a clinic fact; how long healing or a symptom lasts is a
    question for a dentist."""
    assert understand(nlu, text).intent is Intent.MEDICAL_QUESTION


@pytest.mark.parametrize("text", ["I'll take the first one", "ok ill take it", "לוקחת את השני"])
def test_taking_time_words_alone_ask_nothing(nlu: ClinicNLU, text: str) -> None:
    assert understand(nlu, text).intent is not Intent.CLINIC_INFO


@pytest.mark.parametrize(
    ("text", "whole_list", "treatment"),
    [
        ("how much is a filling?", False, "filling"),
        ("could I see the price list? fillings especially", True, "filling"),
        ("what are all your prices", True, None),
        ("ומה המחיר להלבנה?", False, "whitening"),
        ("יש לכם מחירון? מעניין אותי הלבנה", True, "whitening"),
    ],
)
def test_asking_for_the_whole_list(
    nlu: ClinicNLU, text: str, whole_list: bool, treatment: str | None
) -> None:
    understood = understand(nlu, text)
    assert understood.clinic_topic == "prices"
    assert (understood.whole_list, understood.treatment) == (whole_list, treatment)


@pytest.mark.parametrize(
    ("text", "affirm", "deny"),
    [
        ("yes", True, False),
        ("yep sounds good", True, False),
        ("ok", True, False),
        ("sure, 2", True, False),
        ("thanks, yes", True, False),
        ("כן", True, False),
        ("בטח", True, False),
        ("אוקיי", True, False),
        ("סבבה", True, False),
        ("שלום, כן מתאים לי", True, False),
        ("no", False, True),
        ("nope, the first one", False, True),
        ("לא", False, True),
        ("לא תודה", False, True),
        ("עדיף שלא", False, True),
        # yes/no words that are not an answer
        ("is it ok that my gum bleeds?", False, False),
        ("בוקר טוב", False, False),
        ("לכן אני רוצה לבטל", False, False),
        ("I want to book", False, False),
    ],
)
def test_affirm_and_deny(nlu: ClinicNLU, text: str, affirm: bool, deny: bool) -> None:
    understood = understand(nlu, text)
    assert (understood.affirm, understood.deny) == (affirm, deny)


@pytest.mark.parametrize(
    ("text", "ordinal"),
    [
        ("the second one", 2),
        ("the 2nd", 2),
        ("first", 1),
        ("i'll take the third", 3),
        ("option 3", 3),
        ("2", 2),
        ("3 please", 3),
        ("השני", 2),
        ("השנייה בבקשה", 2),
        ("כן בבקשה, הראשון", 1),
        ("אפשרות 2", 2),
        ("השלישית", 3),
        # numbers and ordinal-looking words that are not a choice
        ("the 2nd of December", None),
        ("ביום שני", None),
        ("in 3 days", None),
        ("at 10:30", None),
        ("invoice 42", None),
        ("I have 2 kids", None),
    ],
)
def test_ordinal(nlu: ClinicNLU, text: str, ordinal: int | None) -> None:
    assert understand(nlu, text).ordinal == ordinal


def test_denied_symptoms_do_not_count(nlu: ClinicNLU) -> None:
    assert understand(nlu, "no swelling no pain just cleaning").intent is Intent.BOOK_APPOINTMENT
    assert understand(nlu, "לא כואב לי כלום רק רוצה ניקוי").intent is Intent.BOOK_APPOINTMENT
    # "can't" reports a symptom rather than denying one
    assert understand(nlu, "אני לא מצליח לסגור את הפה").intent is Intent.EMERGENCY


def test_hebrew_prefixes_are_not_typos(nlu: ClinicNLU) -> None:
    # "בבוקר" (in the morning) is one letter from "הבוקר" (this morning), "שתלים" from "שקלים"
    assert understand(nlu, "בבוקר").date_from is None
    assert understand(nlu, "ייעוץ לשתלים").clinic_topic is None


def test_lexicon_phrases_are_matched_through_prefixes_and_typos(nlu: ClinicNLU) -> None:
    assert understand(nlu, "וכשהתור שלי?").intent is Intent.MY_APPOINTMENTS
    assert understand(nlu, "i need to reshedule").intent is Intent.RESCHEDULE_APPOINTMENT
    assert understand(nlu, "there is a problem").clinic_topic is None  # "there" is not "where"


def test_understand_is_fast(nlu: ClinicNLU) -> None:
    texts = [text for _, text in INTENT_CASES]
    for text in texts:
        understand(nlu, text)
    timings = []
    for _ in range(5):
        for text in texts:
            started = time.perf_counter()
            understand(nlu, text + " ")  # a new message each round, not a cached reading
            timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.001


# -- the lexicon file ------------------------------------------------------------------------


def test_the_shipped_lexicon_covers_every_intent_in_both_languages() -> None:
    lexicon = Lexicon.model_validate(lexicon_data())
    assert set(lexicon.intents) == set(Intent) - {Intent.OTHER}
    assert set(lexicon.clinic_topics) == set(get_args(ClinicTopic))
    assert lexicon.whole_list is not None
    assert {
        "cleaning", "checkup", "filling", "root_canal", "extraction", "whitening",
        "implant_consultation", "emergency_visit",
    } <= set(lexicon.treatments)  # fmt: skip


def _invalid(change: Any) -> str:
    data = lexicon_data()
    change(data)
    with pytest.raises(ValidationError) as error:
        Lexicon.model_validate(data)
    return str(error.value)


def test_a_malformed_lexicon_is_rejected_with_the_path() -> None:
    assert "intents.book_appointmnet" in _invalid(
        lambda d: d["intents"].update(book_appointmnet=d["intents"]["book_appointment"])
    )
    assert "Extra inputs are not permitted" in _invalid(lambda d: d.update(synonyms={}))
    assert "intents.greeting.he" in _invalid(lambda d: d["intents"]["greeting"].pop("he"))
    assert "intents.greeting.en.hi" in _invalid(
        lambda d: d["intents"]["greeting"]["en"].update(hi=50)
    )
    assert "has no letters or digits" in _invalid(lambda d: d["affirm"]["en"].append("!!"))
    assert "missing: emergency" in _invalid(lambda d: d["scoring"]["priority"].remove("emergency"))
    assert "weekdays is missing friday" in _invalid(lambda d: d["dates"]["weekdays"].pop("friday"))
    assert "parts_of_day" in _invalid(
        lambda d: d["times"]["parts_of_day"].update(night=d["times"]["parts_of_day"]["evening"])
    )
    assert "'other' is what remains" in _invalid(
        lambda d: d["intents"].update(other=d["intents"]["greeting"])
    )


# -- the evaluation set ----------------------------------------------------------------------


def test_dev_intent_accuracy_per_language(nlu: ClinicNLU) -> None:
    """The dev set (data/eval/messages.jsonl); the frozen held-out set is measured by the
    evaluation flows, never asserted here or tuned on."""
    dev = [json.loads(line) for line in EVAL_MESSAGES.read_text(encoding="utf-8").splitlines()]
    totals: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for row in dev:
        totals[row["language"]] += 1
        correct[row["language"]] += understand(nlu, row["text"]).intent == row["intent"]
    assert set(totals) == {"en", "he"}
    for language, total in totals.items():
        assert correct[language] / total >= 0.85, (language, correct[language], total)


# -- the intent model: it decides where the phrases are unsure ---------------------------------


def _with_model(book: float, cancel: float, threshold: float = 0.5) -> ClinicNLU:
    spec = constant(
        "intent",
        {"book_appointment": book, "cancel_appointment": cancel},
        threshold=threshold,
        version="i9",
    )
    return ClinicNLU(Lexicon.model_validate(lexicon_data()), intent_model=TextClassifier(spec))


def test_the_intent_model_decides_what_the_phrases_do_not_know() -> None:
    understood = understand(_with_model(book=0.8, cancel=0.1), "qwerty zxcv asdfgh")
    assert understood.intent is Intent.BOOK_APPOINTMENT
    assert understood.intent_source == "model:intent@i9"
    assert understood.confidence == 0.8


def test_the_intent_model_decides_below_the_lexicons_confidence(nlu: ClinicNLU) -> None:
    unsure = "the appointment tooth"
    assert understand(nlu, unsure).confidence < lexicon_data()["scoring"]["model_below"]
    understood = understand(_with_model(book=0.1, cancel=0.9), unsure)
    assert (understood.intent, understood.intent_source) == (
        Intent.CANCEL_APPOINTMENT,
        "model:intent@i9",
    )


def test_clear_phrases_keep_their_intent_whatever_the_model_says(nlu: ClinicNLU) -> None:
    clear = "I want to book a cleaning"
    assert understand(nlu, clear).confidence >= lexicon_data()["scoring"]["model_below"]
    understood = understand(_with_model(book=0.01, cancel=0.99), clear)
    assert (understood.intent, understood.intent_source) == (Intent.BOOK_APPOINTMENT, "rules")
    assert understood == understand(nlu, clear)


def test_an_unsure_model_leaves_the_phrases_answer(nlu: ClinicNLU) -> None:
    model = _with_model(book=0.6, cancel=0.2, threshold=0.7)
    assert understand(model, "qwerty zxcv asdfgh") == understand(nlu, "qwerty zxcv asdfgh")
    assert understand(model, "qwerty zxcv asdfgh").intent_source == "rules"


def test_only_an_intent_model_reads_intents() -> None:
    triage = TextClassifier(constant("triage", {"EMERGENCY": 0.5, "DOCTOR_REQUIRED": 0.5}))
    with pytest.raises(ValueError, match="a 'triage' classifier cannot read intents"):
        ClinicNLU(Lexicon.model_validate(lexicon_data()), intent_model=triage)


@pytest.mark.parametrize("answer", ["yes please", "no thanks", "the second one", "כן", "2"])
def test_an_answer_to_a_question_is_left_to_the_phrases(nlu: ClinicNLU, answer: str) -> None:
    understood = understand(_with_model(book=0.99, cancel=0.99), answer)
    assert understood == understand(nlu, answer)
    assert understood.intent_source == "rules"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("hi hello, anything free tomorrow evening?", Intent.BOOK_APPOINTMENT),  # greeting 3.0
        ("thanks so much, see you on Monday", Intent.THANKS_GOODBYE),
    ],
)
def test_a_greeting_yields_to_a_request_but_thanks_do_not(
    nlu: ClinicNLU, text: str, intent: Intent
) -> None:
    assert understand(nlu, text).intent is intent
