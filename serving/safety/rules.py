"""`SafetyRules`: the schema of `prompts/safety/rules.yaml`.

The file is a versioned artifact that prompt engineers edit; this schema is what keeps a typo in
it from reaching patients. Every model forbids unknown keys, and validators reject what would
silently weaken a rule: an empty indicator list, an unknown language, a duplicate rule id, a
`$WORD_CLASS` that is not defined, a regular expression that does not compile, a reply
placeholder that does not exist.

Phrase syntax (triage, input guard, output-guard terms): words separated by spaces, matched in
order with up to `max_gap` other words between them; `word*` matches any word starting with
`word`; `$NAME` stands for each alternative of the word class `vocabulary.NAME`. Hebrew words are
written without prefixes (ו ה ב ל ש מ כ are stripped from the message, not added to the rule).
"""

from __future__ import annotations

import itertools
import re
import string
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from serving.language import LANGUAGES, Language

PhraseLists = dict[str, list[str]]
"""Phrases by language: `{"en": [...], "he": [...]}`."""

_MACRO = re.compile(r"\$([A-Z][A-Z0-9_]*)")
_REPLY_PLACEHOLDERS = frozenset(
    {"emergency_number", "emergency_service", "crisis_number", "crisis_service",
     "clinic_urgent_line"}
)  # fmt: skip
# Expanding word classes multiplies phrases; past this a rule is almost certainly a mistake.
_MAX_EXPANSIONS = 2000


def _check_phrase_lists(value: PhraseLists | None, what: str) -> PhraseLists | None:
    if value is None:
        return None
    if not value:
        raise ValueError(f"{what}: no phrases (give at least one language)")
    for language, phrases in value.items():
        if language not in LANGUAGES:
            raise ValueError(
                f"{what}: unknown language {language!r} (expected one of: {', '.join(LANGUAGES)})"
            )
        if not phrases:
            raise ValueError(f"{what}: the {language!r} list is empty")
        for phrase in phrases:
            if not phrase.strip():
                raise ValueError(f"{what}: blank phrase in the {language!r} list")
    return value


def _check_texts(value: dict[str, str], what: str) -> dict[str, str]:
    missing = [language for language in LANGUAGES if not value.get(language, "").strip()]
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        raise ValueError(f"{what}: unknown language(s) {unknown} (expected: {list(LANGUAGES)})")
    if missing:
        raise ValueError(f"{what}: missing text for {missing}")
    return value


def _check_regexes(patterns: list[str], what: str) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(
                f"{what}: regular expression {pattern!r} does not compile: {error}"
            ) from None
    return patterns


def _check_vocabulary(value: dict[str, PhraseLists], what: str) -> None:
    for name, lists in value.items():
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise ValueError(f"{what}: name {name!r} must be UPPER_CASE")
        _check_phrase_lists(lists, f"{what}.{name}")
        for phrase in all_phrases(lists):
            if "$" in phrase:
                raise ValueError(f"{what}.{name}: {phrase!r} refers to a class; not nested")


def all_phrases(lists: PhraseLists | None) -> list[str]:
    """Every phrase of every language: messages mix languages, so rules match them all."""
    if lists is None:
        return []
    return [phrase for phrases in lists.values() for phrase in phrases]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z_]*\.[a-z0-9_]+$")]


class MatchingSettings(_Strict):
    """How indicators are read in context: negations, resolved or past events, clause breaks."""

    max_gap: int = Field(default=2, ge=0, le=5, description="Words allowed inside a phrase.")
    negation_window: int = Field(
        default=3, ge=1, le=6, description="Max words from a negation to what it negates."
    )
    context_window: int = Field(
        default=4, ge=1, le=8, description="Max words from a resolved/past cue to the indicator."
    )
    unless_window: int = Field(
        default=4, ge=0, le=8, description="Max words from an `unless_near` phrase to a match."
    )
    fuzzy_exempt: list[str] = Field(
        default_factory=list,
        description="Real words one typo away from an indicator word; never read as typos.",
    )
    clause_breaks: PhraseLists = Field(description="Single words that end a clause (but, אבל).")
    negations: PhraseLists = Field(description="Cues negating what follows (no, לא, בלי).")
    transparent: PhraseLists = Field(
        description="Words a negation reaches across (any, really, ממש, שום, or)."
    )
    resolved: PhraseLists = Field(
        description="Cues that the symptom is over, on either side (stopped, went away, עבר)."
    )
    negations_after: PhraseLists | None = Field(
        default=None, description="Cues right after a symptom that deny it (pain-free)."
    )
    past: PhraseLists = Field(
        description=(
            "Past-time expressions on either side of the indicator (last year, לפני שנתיים); "
            "one word may stand inside them (2 years ago, לפני 3 שנים)."
        )
    )
    ongoing: PhraseLists = Field(
        description=(
            "Cues that it is happening now (still, עדיין); near the indicator they cancel "
            "resolved, past and repaired cues."
        )
    )
    repaired: PhraseLists | None = Field(
        default=None,
        description=(
            "Cues that a lasting problem was treated (you fixed it, תיקנו): after a "
            "`persistent` rule's match in its clause, they end it."
        ),
    )
    hypothetical: PhraseLists | None = Field(
        default=None,
        description=(
            "Cues of a question asked ahead (what if, in case, מה עושים אם): a doctor-level or "
            "fail-safe match after one does not count; an emergency always does."
        ),
    )
    idioms: PhraseLists | None = Field(
        default=None,
        description=(
            "Everyday uses of health words (what a pain, nearly had a heart attack, "
            "קופת חולים): an indicator inside one does not count, for any rule."
        ),
    )

    @field_validator(
        "clause_breaks", "negations", "transparent", "resolved", "past", "ongoing",
        "negations_after", "repaired", "hypothetical", "idioms",
    )  # fmt: skip
    @classmethod
    def _phrases(cls, value: PhraseLists | None, info: Any) -> PhraseLists | None:
        _check_phrase_lists(value, f"matching.{info.field_name}")
        return value

    @field_validator("clause_breaks")
    @classmethod
    def _single_words(cls, value: PhraseLists) -> PhraseLists:
        for phrase in all_phrases(value):
            if len(phrase.split()) != 1:
                raise ValueError(f"matching.clause_breaks: {phrase!r} must be a single word")
        return value


class IndicatorRule(_Strict):
    """One named situation: fires when any `any_of` phrase, or every `all_of` group, matches.

    Used for triage (emergency, doctor_required) and for the input guard.
    """

    id: RuleId
    description: str = Field(min_length=1)
    any_of: PhraseLists | None = None
    all_of: list[PhraseLists] | None = None
    unless_near: PhraseLists | None = Field(
        default=None,
        description="A match with one of these close by does not count (baby tooth, crown).",
    )
    max_gap: int | None = Field(default=None, ge=0, le=5)
    persistent: bool = Field(
        default=False,
        description=(
            "A state that lasts after the event (a lost filling, a broken tooth): 'last month' "
            "or 'stopped' does not end it; only a negation does."
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> IndicatorRule:
        if self.any_of is None and self.all_of is None:
            raise ValueError(f"rule {self.id}: give `any_of`, `all_of` or both")
        _check_phrase_lists(self.any_of, f"rule {self.id}: any_of")
        _check_phrase_lists(self.unless_near, f"rule {self.id}: unless_near")
        if self.all_of is not None:
            if len(self.all_of) < 2:
                raise ValueError(f"rule {self.id}: all_of needs 2+ groups (use any_of for one)")
            for number, group in enumerate(self.all_of, 1):
                _check_phrase_lists(group, f"rule {self.id}: all_of group {number}")
        return self

    def phrase_lists(self) -> list[PhraseLists]:
        lists = [self.any_of, *(self.all_of or []), self.unless_near]
        return [lists_ for lists_ in lists if lists_ is not None]


class ReplyKind(StrEnum):
    """Which fixed emergency reply fits a red flag."""

    MEDICAL = "medical"
    """Possibly life-threatening: call the emergency number now."""
    DENTAL = "dental"
    """A dental-only emergency (a knocked-out permanent tooth): the clinic's urgent line first,
    the emergency number if it cannot be reached or it gets worse."""
    CRISIS = "crisis"
    """Suicidal thoughts or self-harm: the crisis line, and the emergency number if in danger."""


# When rules of several kinds fire, the most urgent reply wins: an overdose with suicidal
# words needs the ambulance first (the crisis reply still names it, the dental one does too).
REPLY_PRECEDENCE = (ReplyKind.MEDICAL, ReplyKind.CRISIS, ReplyKind.DENTAL)


class EmergencyRule(IndicatorRule):
    """An emergency red flag: its reply and the published guidance it comes from."""

    reply: ReplyKind = Field(description="The fixed reply that fits: medical, dental or crisis.")
    source: str = Field(
        min_length=3,
        description="The published criteria this red flag follows (NHS 999, WAO 2020, FAST...).",
    )


class EmergencyNumbers(_Strict):
    """The numbers to call in one locale, and the services' names per language."""

    emergency: str = Field(pattern=r"^[0-9*+#]{2,6}$")
    emergency_service: dict[str, str]
    crisis: str = Field(pattern=r"^[0-9*+#]{2,6}$")
    crisis_service: dict[str, str]

    @field_validator("emergency_service", "crisis_service")
    @classmethod
    def _texts(cls, value: dict[str, str], info: Any) -> dict[str, str]:
        return _check_texts(value, f"emergency_numbers.{info.field_name}")


class Reply(_Strict):
    """A fixed reply: lines per language. A line using `{clinic_urgent_line}` is left out when
    the clinic has not configured one, instead of showing an empty number."""

    he: list[str] = Field(min_length=1)
    en: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _placeholders(self) -> Reply:
        for line in [*self.he, *self.en]:
            if not line.strip():
                raise ValueError("reply: blank line")
            for _, name, _, _ in string.Formatter().parse(line):
                if name is not None and name not in _REPLY_PLACEHOLDERS:
                    raise ValueError(
                        f"reply: unknown placeholder {{{name}}} "
                        f"(known: {', '.join(sorted(_REPLY_PLACEHOLDERS))})"
                    )
        return self

    def lines(self, language: Language) -> list[str]:
        return self.he if language == "he" else self.en


class Replies(_Strict):
    emergency: Reply = Field(description="The medical emergency reply: call the number now.")
    dental_emergency: Reply
    crisis: Reply
    doctor_required: Reply

    def for_kind(self, kind: ReplyKind) -> Reply:
        """The emergency reply that fits `kind`."""
        return {
            ReplyKind.MEDICAL: self.emergency,
            ReplyKind.DENTAL: self.dental_emergency,
            ReplyKind.CRISIS: self.crisis,
        }[kind]


class OutputRule(_Strict):
    """Fires on a sentence of a reply that matches (`patterns` or `terms`) and, when given,
    also (`with_patterns` or `with_terms`): e.g. a drug name *and* a recommending verb."""

    id: RuleId
    description: str = Field(min_length=1)
    patterns: list[str] = Field(default_factory=list)
    terms: PhraseLists | None = None
    with_patterns: list[str] = Field(default_factory=list)
    with_terms: PhraseLists | None = None

    @model_validator(mode="after")
    def _check(self) -> OutputRule:
        if not self.patterns and self.terms is None:
            raise ValueError(f"output rule {self.id}: give `patterns`, `terms` or both")
        _check_regexes(self.patterns, f"output rule {self.id}: patterns")
        _check_regexes(self.with_patterns, f"output rule {self.id}: with_patterns")
        _check_phrase_lists(self.terms, f"output rule {self.id}: terms")
        _check_phrase_lists(self.with_terms, f"output rule {self.id}: with_terms")
        return self

    @property
    def needs_context(self) -> bool:
        return bool(self.with_patterns) or self.with_terms is not None


class IdentifierPatterns(_Strict):
    """Personal identifiers a reply may only contain when they belong to the verified patient."""

    phone: str
    phone_min_digits: int = Field(default=7, ge=5, le=12)
    email: str
    invoice_number: str
    not_identifiers: list[str] = Field(
        default_factory=list,
        description="Masked before looking for phones: dates and times look like digit runs.",
    )

    @model_validator(mode="after")
    def _check(self) -> IdentifierPatterns:
        _check_regexes([self.phone, self.email, self.invoice_number], "output.identifiers")
        _check_regexes(self.not_identifiers, "output.identifiers.not_identifiers")
        return self


class OutputRules(_Strict):
    rules: list[OutputRule] = Field(min_length=1)
    identifiers: IdentifierPatterns
    safe_reply: dict[str, str]

    @field_validator("safe_reply")
    @classmethod
    def _texts(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_texts(value, "output.safe_reply")


class SafetyQuestion(_Strict):
    """The one short question asked when a message shows a possible danger without a clear red
    flag, and its two buttons' labels, per language."""

    text: dict[str, str]
    yes: dict[str, str]
    no: dict[str, str]
    yes_words: PhraseLists = Field(description="A typed yes (in a short message).")
    no_words: PhraseLists = Field(description="A typed no (in a short message).")

    @field_validator("text", "yes", "no")
    @classmethod
    def _texts(cls, value: dict[str, str], info: Any) -> dict[str, str]:
        return _check_texts(value, f"fail_safe.question.{info.field_name}")

    @field_validator("yes_words", "no_words")
    @classmethod
    def _words(cls, value: PhraseLists, info: Any) -> PhraseLists:
        _check_phrase_lists(value, f"fail_safe.question.{info.field_name}")
        return value


class FailSafeRules(_Strict):
    """What triage does when no rule or model placed a message confidently.

    `health` rules describe talk about the body, health, medicines, an injury or someone's
    condition: such a message is never ROUTINE. `danger` rules describe possible danger without
    a clear red flag: the assistant asks `question` before going on. Both are read in context
    (negations, resolved and past events), like the triage rules. `vocabulary` adds word
    classes of their own (names must not clash with the main vocabulary's).
    """

    vocabulary: dict[str, PhraseLists] = Field(default_factory=dict)
    typos: bool = Field(
        default=False,
        description=(
            "Read one-letter typos as the word. Off by default: these classes are broad, and "
            "one edit turns everyday words into them (פתיחה/פריחה); the triage rules, which "
            "tolerate typos, still catch a misspelt red flag."
        ),
    )
    health: list[IndicatorRule] = Field(min_length=1)
    danger: list[IndicatorRule] = Field(min_length=1)
    question: SafetyQuestion


class SafetyRules(_Strict):
    """The whole of `safety/rules.yaml`."""

    schema_version: Literal[1]
    matching: MatchingSettings
    vocabulary: dict[str, PhraseLists] = Field(
        default_factory=dict, description="Word classes, used in phrases as $NAME."
    )
    emergency: list[EmergencyRule] = Field(min_length=1)
    doctor_required: list[IndicatorRule] = Field(min_length=1)
    default_locale: str
    emergency_numbers: dict[str, EmergencyNumbers] = Field(min_length=1)
    replies: Replies
    output: OutputRules
    input_guard: list[IndicatorRule] = Field(min_length=1)
    fail_safe: FailSafeRules

    @field_validator("vocabulary")
    @classmethod
    def _vocabulary(cls, value: dict[str, PhraseLists]) -> dict[str, PhraseLists]:
        _check_vocabulary(value, "vocabulary")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> SafetyRules:
        sections: list[tuple[str, list[str]]] = [
            ("emergency", [rule.id for rule in self.emergency]),
            ("doctor", [rule.id for rule in self.doctor_required]),
            ("output", [rule.id for rule in self.output.rules]),
            ("input", [rule.id for rule in self.input_guard]),
            ("fail_safe", [rule.id for rule in self.fail_safe.health + self.fail_safe.danger]),
        ]
        seen: set[str] = set()
        for prefix, ids in sections:
            for rule_id in ids:
                if rule_id in seen:
                    raise ValueError(f"duplicate rule id {rule_id!r}")
                seen.add(rule_id)
                if not rule_id.startswith(prefix + "."):
                    raise ValueError(f"rule id {rule_id!r} must start with {prefix!r}.")
        _check_vocabulary(self.fail_safe.vocabulary, "fail_safe.vocabulary")
        clashes = sorted(set(self.vocabulary) & set(self.fail_safe.vocabulary))
        if clashes:
            raise ValueError(f"fail_safe.vocabulary redefines word classes: {clashes}")
        indicator_rules = [
            *self.emergency,
            *self.doctor_required,
            *self.input_guard,
            *self.fail_safe.health,
            *self.fail_safe.danger,
        ]
        for rule in indicator_rules:
            for lists in rule.phrase_lists():
                for phrase in all_phrases(lists):
                    self._check_classes(phrase, f"rule {rule.id}")
                    if len(self.expand(phrase)) > _MAX_EXPANSIONS:
                        raise ValueError(f"rule {rule.id}: {phrase!r} expands to too many phrases")
        for output_rule in self.output.rules:
            for phrase in all_phrases(output_rule.terms) + all_phrases(output_rule.with_terms):
                self._check_classes(phrase, f"output rule {output_rule.id}")
        if self.default_locale not in self.emergency_numbers:
            raise ValueError(
                f"default_locale {self.default_locale!r} has no emergency_numbers entry "
                f"(have: {', '.join(sorted(self.emergency_numbers))})"
            )
        return self

    def _check_classes(self, phrase: str, where: str) -> None:
        for name in _MACRO.findall(phrase):
            if name not in self.word_classes:
                raise ValueError(f"{where}: {phrase!r} uses ${name}, which vocabulary lacks")

    @property
    def word_classes(self) -> dict[str, PhraseLists]:
        """Every word class a phrase may use: the vocabulary and the fail-safe's own."""
        return self.vocabulary | self.fail_safe.vocabulary

    def expand(self, phrase: str) -> list[str]:
        """`phrase` with each `$NAME` replaced by each alternative of that word class."""
        pieces = phrase.split()
        classes = self.word_classes
        options = [
            all_phrases(classes[piece[1:]]) if _MACRO.fullmatch(piece) else [piece]
            for piece in pieces
        ]
        return [" ".join(choice) for choice in itertools.product(*options)]


def load_safety_rules(path: Path) -> SafetyRules:
    """Parse and validate a `rules.yaml` file (the bundle loader does the same from its copy)."""
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return SafetyRules.model_validate(data)
