"""Understanding a patient's message without a network: intent, treatment, dates, invoice, ...

`ClinicNLU(lexicon).understand(text, today=...)` scores every intent by the weighted cue phrases
of the lexicon found in the message (Hebrew prefixes and typos tolerated, see `phrases`), plus
evidence from what it mentions (a treatment or a date points at booking, an invoice number at
an invoice question). The highest score wins; equal scores go to the intent listed first in
the lexicon's `scoring.priority` (so "cancel" beats "book" when both are present); below
`scoring.min_score` the intent is `other`.

Symptoms denied do not count ("no pain, just a cleaning" is about booking): a cue of a
`scoring.negation.intents` intent starting right after a negation word is ignored.

`confidence` is in [0, 1]: it grows with the winning score and with its lead over the
runner-up (a tie halves it). For `other` it says how little any intent was suggested (1.0 when
nothing was).

With an intent model (`ClinicNLU(lexicon, intent_model=...)`, the bundle's `models/intent.json`)
the phrases still decide what they recognise clearly; where they leave `other` (nothing known
was said) or are unsure (confidence below `scoring.model_below`), the model's best intent
decides if its calibrated probability reaches that intent's threshold, and `confidence` is that
probability. A message that answers a question (yes, no, "the second one") is left to the
phrases. `intent_source` says which decided: "rules" or "model:intent@<version>".

Invoice numbers become "INV/YYYY/NNNN" only when the year is written ("INV/2026/0042",
"inv 2026/42"); otherwise the bare number without leading zeros is kept ("inv 42",
"חשבונית 0042" -> "42") for the caller to match against the patient's own invoices.

Yes/no words count only when they open the message, greetings and thanks aside ("ok",
"thanks, yes", "שלום, כן"): "is it ok that my gum bleeds?" is not a yes, nor "בוקר טוב".
An ordinal is an ordinal word ("the second one", "השני"), a number after a marker ("option 2",
"אפשרות 2"), or a lone number ("2", "2 please").
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time

from serving.agents.offline.dates import DateReader, WeekdayMismatch
from serving.agents.offline.phrases import PhraseIndex, PhraseMatch
from serving.agents.offline.providers import ProviderReader
from serving.agents.offline.times import TimeReader
from serving.bundle.lexicon import ClinicTopic, Intent, Lexicon, message_words
from serving.language import Language, detect_language
from serving.safety.classifier import TextClassifier
from serving.scheduling.request import Weekday

__all__ = ["ClinicNLU", "Intent", "Understanding"]

_YEAR_AND_NUMBER = re.compile(r"^(20\d\d)[/\-_.](\d{1,6})$")
_DIGITS = re.compile(r"^\d{1,6}$")
_ZERO_PADDED = re.compile(r"^0\d{3,5}$")
_CHOICE = re.compile(r"^(\d{1,2})\.?$")
_MAX_CHOICE = 20
_PLEASANTRIES = frozenset({Intent.GREETING, Intent.THANKS_GOODBYE})


@dataclass(frozen=True)
class Understanding:
    """What the offline model understood of one message."""

    language: Language
    intent: Intent
    confidence: float
    intent_source: str = "rules"
    """What decided the intent: "rules" (the lexicon) or "model:intent@<version>"."""
    treatment: str | None = None
    """A treatment code of the practice system, e.g. "cleaning"."""
    provider: str | None = None
    """The provider named, as the clinic writes the name ("Dr. Rivka Mizrahi"), a role
    ("hygienist"), or a title and name the clinic does not have ("Dr. Levi")."""
    date_from: date | None = None
    date_to: date | None = None
    weekdays: tuple[Weekday, ...] = ()
    not_weekdays: tuple[Weekday, ...] = ()
    time_from: time | None = None
    time_to: time | None = None
    later: bool = False
    """"later in the day": after the times just offered."""
    earlier: bool = False
    other_provider: bool = False
    """"with someone else": not the providers just offered."""
    date_mismatch: WeekdayMismatch | None = None
    """A weekday and a date that fall on different days: the two days to ask about."""
    invoice_number: str | None = None
    clinic_topic: str | None = None
    """hours, address, parking, prices, duration, insurance or payment — whenever one is
    mentioned."""
    whole_list: bool = False
    """The patient asks for the whole list (every price, every treatment's length), not only
    the treatment named."""
    affirm: bool = False
    deny: bool = False
    ordinal: int | None = None
    """A choice among offered options, 1-based: "the second one" -> 2."""


@dataclass(frozen=True)
class _Cue:
    intent: Intent
    weight: float
    topic: ClinicTopic | None = None


class ClinicNLU:
    """The offline model's understanding; built once per lexicon, then fast per message."""

    def __init__(
        self,
        lexicon: Lexicon,
        *,
        intent_model: TextClassifier | None = None,
        holidays_country: str | None = None,
    ) -> None:
        if intent_model is not None and intent_model.kind != "intent":
            raise ValueError(f"a {intent_model.kind!r} classifier cannot read intents")
        self._intent_model = intent_model
        self._model_below = lexicon.scoring.model_below
        not_typos = lexicon.matching.not_typos
        gap = lexicon.matching.max_gap
        cues = [
            (phrase, _Cue(intent, weight))
            for intent, phrases in lexicon.intents.items()
            for phrase, weight in (phrases.en | phrases.he).items()
        ]
        cues += [
            (phrase, _Cue(Intent.CLINIC_INFO, weight, topic))
            for topic, phrases in lexicon.clinic_topics.items()
            for phrase, weight in (phrases.en | phrases.he).items()
        ]
        self._cues = PhraseIndex(cues, not_typos=not_typos, max_gap=gap)
        self._treatments = PhraseIndex(
            [(p, code) for code, phrases in lexicon.treatments.items() for p in phrases.all()],
            not_typos=not_typos,
            max_gap=gap,
        )
        self._whole_list = PhraseIndex(
            [(p, True) for p in lexicon.whole_list.all()] if lexicon.whole_list else [],
            not_typos=not_typos,
            max_gap=gap,
        )
        self._invoice_words = PhraseIndex(
            [(p, True) for p in lexicon.invoices.words.all()], not_typos=not_typos
        )
        self._invoice_markers = PhraseIndex(
            [(p, True) for p in lexicon.invoices.number_markers.all()], typos=False
        )
        self._answers = PhraseIndex(
            [(p, True) for p in lexicon.affirm.all()] + [(p, False) for p in lexicon.deny.all()],
            not_typos=not_typos,
        )
        ordinals = lexicon.ordinals
        self._ordinals = PhraseIndex(ordinals.words.all().items(), not_typos=not_typos)
        self._ordinal_markers = PhraseIndex(
            [(p, True) for p in ordinals.markers.all()], typos=False
        )
        self._fillers = PhraseIndex([(p, True) for p in ordinals.fillers.all()], typos=False)
        self._dates = DateReader(
            lexicon.dates, not_typos=not_typos, holidays_country=holidays_country
        )
        self._times = TimeReader(lexicon.times, not_typos=not_typos)
        self._providers = ProviderReader(not_typos=not_typos)
        refine = lexicon.refinements
        self._refinements = PhraseIndex(
            [(p, "later") for p in refine.later.all()]
            + [(p, "earlier") for p in refine.earlier.all()]
            + [(p, "other_provider") for p in refine.other_provider.all()],
            typos=False,
        )
        self._priority = {intent: rank for rank, intent in enumerate(lexicon.scoring.priority)}
        self._min_score = lexicon.scoring.min_score
        self._mentions = lexicon.scoring.mentions
        negation = lexicon.scoring.negation
        self._negations = PhraseIndex(
            [(p, True) for p in negation.words.all()]
            + [(p, False) for p in negation.not_negating.all()],
            typos=False,
        )
        self._negation_reach = negation.reach
        self._negatable = frozenset(negation.intents)

    def understand(self, text: str, *, today: date, providers: Sequence[str] = ()) -> Understanding:
        """Understand `text`; `today` is the clinic-local date that relative dates count from,
        `providers` the names of the clinic's providers (English and Hebrew) it may name."""
        words = message_words(text)
        dates, date_positions = self._dates.read_words(words, today=today)
        refinements = {m.payloads[0]: m for m in self._refinements.find(words)}
        refined = {p for m in refinements.values() for p in range(m.start, m.end)}
        times, time_positions = self._times.read_positions(
            words, dates=date_positions, skip=frozenset(refined)
        )
        date_positions |= time_positions
        provider, provider_positions = self._providers.find(words, providers)
        treatment_matches = self._treatments.find(words)
        treatment = treatment_matches[0].payloads[0] if treatment_matches else None
        invoice_number = self._invoice_number(words)

        scores: dict[Intent, float] = defaultdict(float)
        topics: dict[ClinicTopic, float] = defaultdict(float)
        cue_matches = self._cues.find(words)
        negated = self._negated_positions(words)
        for match in cue_matches:
            if match.start in provider_positions:
                continue  # 'ד"ר' of 'ד"ר כהן' names the dentist, it does not ask for one
            for cue in match.payloads:
                if cue.intent in self._negatable and match.start in negated:
                    continue
                scores[cue.intent] += cue.weight
                if cue.topic is not None:
                    topics[cue.topic] += cue.weight
        for mentioned, evidence in (
            (treatment is not None, self._mentions.treatment),
            (bool(dates.date_from or dates.mismatch or dates.weekdays), self._mentions.date),
            (bool(times), self._mentions.time),
            (provider is not None, self._mentions.provider),
            (invoice_number is not None, self._mentions.invoice_number),
        ):
            if mentioned:
                for intent, weight in evidence.items():
                    scores[intent] += weight
        intent, confidence = self._decide(
            scores,
            names_a_visit=bool(treatment or provider or dates.date_from or dates.weekdays or times),
        )
        affirm, deny = self._answer(words, cue_matches)
        ordinal = self._ordinal(words, date_positions)
        source = "rules"
        if not (affirm or deny or ordinal):  # an answer to a question is not a new request
            intent, confidence, source = self._by_model(text, intent, confidence)
        return Understanding(
            language=detect_language(text),
            intent=intent,
            confidence=confidence,
            intent_source=source,
            treatment=treatment,
            provider=provider,
            date_from=dates.date_from,
            date_to=dates.date_to,
            weekdays=dates.weekdays,
            not_weekdays=dates.not_weekdays,
            time_from=times.time_from,
            time_to=times.time_to,
            later="later" in refinements,
            earlier="earlier" in refinements,
            other_provider="other_provider" in refinements,
            date_mismatch=dates.mismatch,
            invoice_number=invoice_number,
            clinic_topic=max(topics, key=topics.__getitem__) if topics else None,
            whole_list=bool(self._whole_list.find(words)),
            affirm=affirm,
            deny=deny,
            ordinal=ordinal,
        )

    def choose_day(self, text: str, options: WeekdayMismatch, *, today: date) -> date | None:
        """Which of two days offered in a question an answer picks, if it picks one: by
        date, weekday or day of the month ("17/12", "Thursday", "the 17th") or by order ("the
        second one")."""
        words = message_words(text)
        day = self._dates.choose(words, options, today=today)
        if day is None and (ordinal := self._ordinal(words, frozenset())) in (1, 2):
            day = options[ordinal - 1]
        return day

    def _decide(self, scores: dict[Intent, float], *, names_a_visit: bool) -> tuple[Intent, float]:
        """The best-scoring intent and its confidence; with `names_a_visit` (a treatment, day,
        time or provider is named: "hi, anything tomorrow?") a greeting does not compete."""
        ranked = sorted(scores.items(), key=lambda item: (-item[1], self._priority[item[0]]))
        # "hello, a checkup tomorrow?": a salutation yields to anything else asked
        asked = [item for item in ranked if item[0] is not Intent.GREETING]
        if names_a_visit and asked and asked[0][1] >= self._min_score:
            ranked = asked  # its lead is over the other requests, not over the "hi"
        best, top = ranked[0] if ranked else (Intent.OTHER, 0.0)
        if top < self._min_score:
            return Intent.OTHER, round(1 - _strength(top), 3)
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        lead = (top - runner_up) / top
        return best, round(_strength(top) * (0.5 + 0.5 * lead), 3)

    def _by_model(self, text: str, intent: Intent, confidence: float) -> tuple[Intent, float, str]:
        """The rules' (intent, confidence), or the model's where the rules are unsure and the
        model is confident; with the source that decided."""
        model = self._intent_model
        unsure = intent is Intent.OTHER or confidence < self._model_below
        if model is None or not unsure or not model.applies(text):
            return intent, confidence, "rules"
        prediction = model.predict(text)
        label, probability = prediction.best()
        if probability < model.thresholds[label]:
            return intent, confidence, "rules"
        return Intent(label), round(probability, 3), f"model:intent@{prediction.version}"

    def _negated_positions(self, words: Sequence[str]) -> set[int]:
        """Where a cue would be denied: the few words after "no", "בלי", "לא", ..."""
        return {
            position
            for match in self._negations.find(words)
            if match.payloads[0]
            for position in range(match.end, match.end + self._negation_reach)
        }

    def _invoice_number(self, words: Sequence[str]) -> str | None:
        markers = {p for m in self._invoice_markers.find(words) for p in range(m.start, m.end)}
        for match in self._invoice_words.find(words):
            position = match.end
            while position < len(words) and position in markers:
                position += 1
            if position < len(words) and (number := _invoice_number_at(words, position)):
                return number
        for word in words:
            if _YEAR_AND_NUMBER.match(word) or _ZERO_PADDED.match(word):
                return _invoice_number_at([word], 0)
        return None

    def _answer(
        self, words: Sequence[str], cue_matches: Sequence[PhraseMatch[_Cue]]
    ) -> tuple[bool, bool]:
        """(affirm, deny) from a yes/no word opening the message, after any greeting or thanks."""
        opening = 0
        for match in cue_matches:
            pleasantry = all(cue.intent in _PLEASANTRIES for cue in match.payloads)
            if match.start != opening or not pleasantry:
                break
            opening = match.end
        for answer in self._answers.find(words):
            if answer.start == opening and answer.literal:
                is_yes = answer.payloads[0]
                return is_yes, not is_yes
        return False, False

    def _ordinal(self, words: Sequence[str], date_positions: frozenset[int]) -> int | None:
        for match in self._ordinals.find(words):
            if date_positions.isdisjoint(range(match.start, match.end)):
                return match.payloads[0]
        for marker in self._ordinal_markers.find(words):
            if marker.end < len(words) and (choice := _CHOICE.match(words[marker.end])):
                return _choice(choice)
        fillers = {p for m in self._fillers.find(words) for p in range(m.start, m.end)}
        rest = [w for p, w in enumerate(words) if p not in fillers and p not in date_positions]
        if len(rest) == 1 and (choice := _CHOICE.match(rest[0])):
            return _choice(choice)
        return None


def _invoice_number_at(words: Sequence[str], position: int) -> str | None:
    word = words[position]
    if match := _YEAR_AND_NUMBER.match(word):
        return f"INV/{match.group(1)}/{int(match.group(2)):04d}"
    if not _DIGITS.match(word):
        return None
    following = words[position + 1] if position + 1 < len(words) else ""
    if re.fullmatch(r"20\d\d", word) and _DIGITS.match(following):
        return f"INV/{word}/{int(following):04d}"
    return str(int(word))


def _choice(match: re.Match[str]) -> int | None:
    number = int(match.group(1))
    return number if 1 <= number <= _MAX_CHOICE else None


def _strength(score: float) -> float:
    return 1 - math.exp(-score / 2)
