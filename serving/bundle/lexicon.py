"""The offline model's bilingual lexicon: the schema of the bundle's `offline/lexicon.yaml`.

Every word the offline NLU knows lives in that file, in Hebrew and English, written the way
patients write (slang, common misspellings): cue phrases per intent with weights, treatments
and their synonyms, clinic-information topics, asking for a whole list, yes/no words,
ordinals and date words. Phrases are normalised like messages (`message_words`), so 'אחה"צ'
and "it's" may be written as they are typed. A malformed file is rejected with the path of the
offending entry.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from serving.safety.text import normalize, tokens
from serving.scheduling.request import PartOfDay


class Intent(StrEnum):
    """What a patient's message is about."""

    GREETING = "greeting"
    BOOK_APPOINTMENT = "book_appointment"
    RESCHEDULE_APPOINTMENT = "reschedule_appointment"
    CANCEL_APPOINTMENT = "cancel_appointment"
    MY_APPOINTMENTS = "my_appointments"
    INVOICE_INQUIRY = "invoice_inquiry"
    TREATMENT_PLAN = "treatment_plan"
    """What the patient's treatment plan holds and what of it is booked."""
    MY_ALLERGIES = "my_allergies"
    """Which allergies the clinic has on the patient's file."""
    MY_NOTES = "my_notes"
    """The notes the clinic wrote for the patient to read."""
    CLINIC_INFO = "clinic_info"
    TALK_TO_DOCTOR = "talk_to_doctor"
    MEDICAL_QUESTION = "medical_question"
    EMERGENCY = "emergency"
    THANKS_GOODBYE = "thanks_goodbye"
    OTHER = "other"


ClinicTopic = Literal["hours", "address", "parking", "prices", "duration", "insurance", "payment"]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
Month = Literal[
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
"""In Python's order: `WEEKDAYS[day.weekday()]` is the day's name."""
MONTHS: tuple[Month, ...] = get_args(Month)

_NUMBER_WORD = re.compile(r"(\d+(?:[/.:\-]\d+)+|\d+(?:st|nd|rd|th)\b)")


def message_words(text: str) -> list[str]:
    """The words of a message or of a lexicon phrase, normalised the same way."""
    words: list[str] = []
    for n, piece in enumerate(_NUMBER_WORD.split(normalize(text))):
        if n % 2:
            words.append(piece)
        else:
            words.extend(tokens(piece))
    return words


def _has_words(phrase: str) -> str:
    if not message_words(phrase):
        raise ValueError(f"phrase {phrase!r} has no letters or digits")
    return phrase


Phrase = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_has_words)]
Weight = Annotated[float, Field(gt=0, le=10)]
TreatmentCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeightedPhrases(_Strict):
    """Cue phrases in each language, with how strongly each points at its intent or topic."""

    en: dict[Phrase, Weight] = Field(min_length=1)
    he: dict[Phrase, Weight] = Field(min_length=1)


class Phrases(_Strict):
    """Phrases meaning the same thing, in each language."""

    en: list[Phrase] = Field(min_length=1)
    he: list[Phrase] = Field(min_length=1)

    def all(self) -> list[str]:
        return [*self.en, *self.he]


class NumberedPhrases(_Strict):
    """Phrases standing for a number (an ordinal, a count of days), in each language."""

    en: dict[Phrase, Annotated[int, Field(ge=0, le=366)]] = Field(min_length=1)
    he: dict[Phrase, Annotated[int, Field(ge=0, le=366)]] = Field(min_length=1)

    def all(self) -> dict[str, int]:
        return {**self.en, **self.he}


class Matching(_Strict):
    """How tolerant phrase matching is."""

    max_gap: int = Field(default=1, ge=0, le=3)
    """Other words allowed between two words of a phrase."""
    not_typos: list[Phrase] = Field(default_factory=list)
    """Real words one letter away from a lexicon word, which must stay themselves: "there" is
    not a typo of "where"."""


class Mentions(_Strict):
    """Evidence for intents from what a message mentions, besides cue phrases."""

    treatment: dict[Intent, Weight] = Field(default_factory=dict)
    date: dict[Intent, Weight] = Field(default_factory=dict)
    invoice_number: dict[Intent, Weight] = Field(default_factory=dict)
    provider: dict[Intent, Weight] = Field(default_factory=dict)
    time: dict[Intent, Weight] = Field(default_factory=dict)
    """A start time or part of the day: 'after 5pm', 'בבוקר'."""


class Negation(_Strict):
    """Symptoms denied are not reported: "no pain, just a cleaning", "בלי כאבים"."""

    words: Phrases
    not_negating: Phrases
    """Phrases that start with a negation word but report a symptom: "לא מצליח" (can't)."""
    reach: int = Field(default=2, ge=1, le=4)
    """A cue starting this many words or fewer after a negation is negated."""
    intents: list[Intent] = Field(min_length=1)
    """The intents whose cues a negation cancels."""


class Scoring(_Strict):
    min_score: float = Field(default=1.0, gt=0, le=10)
    """Below this, the message's intent is `other`."""
    priority: list[Intent]
    """Every intent but `other`, once: on equal scores the earlier one wins."""
    mentions: Mentions = Field(default_factory=Mentions)
    negation: Negation
    model_below: float = Field(default=0.5, ge=0, le=1)
    """Below this confidence (and whenever the phrases leave `other`), the bundle's intent
    model, if it has one, decides when it is confident enough itself."""

    @model_validator(mode="after")
    def _priority_lists_every_intent_once(self) -> Scoring:
        expected = set(Intent) - {Intent.OTHER}
        if len(self.priority) != len(set(self.priority)) or set(self.priority) != expected:
            missing = sorted(expected - set(self.priority))
            raise ValueError(
                "priority must list every intent except 'other' exactly once"
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        return self


class Ordinals(_Strict):
    words: NumberedPhrases
    """'the second one' -> 2."""
    markers: Phrases
    """A number right after one of these is a choice: 'option 2', 'אפשרות 2'."""
    fillers: Phrases
    """Words that may surround a bare choice number: '2 please'."""


class InvoiceWords(_Strict):
    words: Phrases
    """A number right after one of these is an invoice number: 'invoice 42', 'חשבונית 42'."""
    number_markers: Phrases
    """May stand between the word and the number: 'invoice no. 42', "חשבונית מס' 42"."""


class DateWords(_Strict):
    relative_days: NumberedPhrases
    """Days from today: 'tomorrow' -> 1."""
    weekdays: dict[Weekday, Phrases]
    months: dict[Month, Phrases]
    this_week: Phrases
    next_week: Phrases
    this_month: Phrases
    next_month: Phrases
    from_now: Phrases
    """'in' of 'in 3 days': one day, that far from today."""
    within: Phrases
    """'within' of 'within a week': every day from today to that far."""
    units: NumberedPhrases
    """Length in days: 'week' -> 7; may include a count: 'שבועיים' -> 14."""
    numbers: NumberedPhrases
    """Counts written as words: 'three' -> 3."""
    week_of_month: NumberedPhrases
    """A week of the month named before it: 'first week' -> 1, ..., 'last week', 'end' -> 0,
    'mid' -> 5 (days 11 to 20)."""
    within_tails: Phrases
    """Words after a length that make it 'within': 'the two weeks ahead', 'בשבועיים הקרובים'."""
    month_leads: Phrases
    """Words before a month named alone that make it the month asked for: 'for February'.
    A month alone otherwise counts unless it is one of `months_also_words` ('may')."""
    months_also_words: Phrases
    """Month names that are also everyday words: 'may', 'march'; a month only when led."""
    after_holidays: Phrases
    """'after the holidays': the days after the next run of public holidays."""
    range_words: Phrases
    """Words between the two ends of a range of weekdays: 'Sunday to Wednesday'."""
    bare_weekdays: dict[Weekday, list[Phrase]]
    """Weekday names that are also ordinals ('שני': Monday, second): weekdays only when listed
    with another weekday."""
    unavailable: Phrases
    """'can't make', 'לא אוכל': a day right after it is the one the patient cannot come."""
    list_joins: Phrases
    """Words joining weekdays in a list: 'Fridays and Sundays', 'ראשון או שני'."""
    except_fillers: Phrases
    """Words that may stand between an exclusion and its weekday: 'rather not be in on Tuesdays'."""
    except_words: Phrases
    """Words that exclude the weekday right after them: 'not', 'except', 'חוץ מ'."""
    recurring_markers: Phrases
    """Words that make a weekday recurring ('every Thursday', 'בימי חמישי')."""
    weekday_date_links: Phrases
    """Words that may stand between a weekday and its date: 'Thursday the 17 December'."""
    day_of_month_markers: Phrases
    """Words that make a number the day of the month beside a weekday: 'Thursday the 17'."""
    day_of_month_leads: Phrases
    """Words before a day of the month that make it a date alone: 'on the 17th', 'ב-17'."""
    day_of_month_tails: Phrases
    """Words after a number that make it a day of the month: '17 of the month', '17 לחודש'."""

    @model_validator(mode="after")
    def _every_weekday_month_and_part(self) -> DateWords:
        for field, expected in (
            ("weekdays", WEEKDAYS),
            ("months", MONTHS),
        ):
            missing = [name for name in expected if name not in getattr(self, field)]
            if missing:
                raise ValueError(f"{field} is missing {', '.join(missing)}")
        return self


class TimeWords(_Strict):
    """Words of the time of day a visit should start (serving/agents/offline/times.py)."""

    parts_of_day: dict[PartOfDay, Phrases]
    not_parts_of_day: Phrases
    """Greetings that contain a part of the day: 'good morning' is not a time preference."""
    after: Phrases
    before: Phrases
    between: Phrases
    range_links: Phrases
    """'and' of 'between 3 and 6'."""
    at: Phrases
    """'at' / 'around' of 'at 3': an hour either side."""
    am: Phrases
    pm: Phrases
    half: Phrases
    """'and a half' / 'וחצי' after an hour: thirty minutes past it."""
    half_past: Phrases
    """'half past' before an hour: thirty minutes past it."""
    not_hours: Phrases
    """Words after a number that make it a count, not an hour: 'days', 'weeks', months."""
    hours: NumberedPhrases
    """Hours written as words: 'five' -> 5, 'noon' -> 12."""

    @model_validator(mode="after")
    def _every_part(self) -> TimeWords:
        missing = [name for name in get_args(PartOfDay) if name not in self.parts_of_day]
        if missing:
            raise ValueError(f"parts_of_day is missing {', '.join(missing)}")
        return self


class Refinements(_Strict):
    """Words that refine the times just offered."""

    later: Phrases
    earlier: Phrases
    other_provider: Phrases
    """'with someone else': not the providers just offered."""


class Lexicon(_Strict):
    """The schema of `offline/lexicon.yaml`."""

    description: str = ""
    matching: Matching = Field(default_factory=Matching)
    scoring: Scoring
    intents: dict[Intent, WeightedPhrases]
    clinic_topics: dict[ClinicTopic, WeightedPhrases]
    """Each topic's cues also count for the `clinic_info` intent."""
    treatments: dict[TreatmentCode, Phrases] = Field(min_length=1)
    """Treatment codes as the practice system names them, with their synonyms."""
    whole_list: Phrases | None = None
    """Asking for every treatment's price or length, not only the one named: "price list",
    "מחירון". Without it, a named treatment always gets its own answer."""
    invoices: InvoiceWords
    affirm: Phrases
    deny: Phrases
    ordinals: Ordinals
    dates: DateWords
    times: TimeWords
    refinements: Refinements

    @model_validator(mode="after")
    def _no_cues_for_other(self) -> Lexicon:
        if Intent.OTHER in self.intents:
            raise ValueError("intents: 'other' is what remains when nothing matches; no cues")
        return self
