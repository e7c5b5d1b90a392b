"""Urgency triage: EMERGENCY, DOCTOR_REQUIRED or ROUTINE, by fixed rules, before any model.

`Triager(rules).triage(text)` reads a patient message against the indicator rules of
`safety/rules.yaml`. Emergency beats doctor-required beats routine; the reasons are the ids of the
rules that fired at the winning level, and an emergency names the fixed reply that fits it
(`ReplyKind`: medical, dental or crisis; docs/SAFETY_TAXONOMY.md lists every red flag). A match
does not count when the message negates it ("no swelling", "לא כואב", "pain-free"), says it is
over ("the bleeding stopped", "הנפיחות עברה") or long past ("two years ago", "לפני שנתיים"),
unless the same clause says it is happening now ("stopped but now again", "שוב"). Those
exceptions are deliberately narrow: a missed emergency costs more than a false alarm.

With a learned classifier (`Triager(rules, classifier=...)`, the bundle's `models/triage.json`)
the rules are the floor and the model may only raise: a message the rules place below
EMERGENCY becomes EMERGENCY when P(emergency) reaches the head's calibrated threshold, and a
ROUTINE one DOCTOR_REQUIRED when P(doctor or emergency) reaches its own. The model never lowers
what a rule decided; either way `Triage.score` keeps P(emergency), so a report shows what the
model thought of every message. Then the fail-safe (`Triager._fail_safe_step`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from serving.language import Language, detect_language
from serving.safety.classifier import TextClassifier
from serving.safety.rules import (
    REPLY_PRECEDENCE,
    EmergencyRule,
    IndicatorRule,
    MatchingSettings,
    PhraseLists,
    ReplyKind,
    SafetyRules,
)
from serving.safety.text import (
    PhraseHit,
    PhraseMatcher,
    clauses,
    hebrew_stems,
    phrase_words,
    tokens,
)


class Urgency(StrEnum):
    EMERGENCY = "EMERGENCY"
    DOCTOR_REQUIRED = "DOCTOR_REQUIRED"
    ROUTINE = "ROUTINE"


@dataclass(frozen=True)
class Triage:
    """The urgency of one message, the rule ids that decided it, and the message's language.

    `reply` is set on an emergency: the kind of fixed reply that fits the red flags that fired
    (`Triager.emergency_reply(language, triage.reply)`); None otherwise. `decided_by` names what
    set the urgency (rule ids, a model, or a fail-safe rule; "" when nothing fired), `score` the
    classifier's calibrated probability when it was consulted. `safety_question`: a possible
    danger without a clear red flag; the assistant asks the safety question before going on.
    """

    urgency: Urgency
    reasons: tuple[str, ...]
    language: Language
    reply: ReplyKind | None = None
    decided_by: str = ""
    """What set the urgency: comma-joined rule ids, `model:triage@<version>`, a `fail_safe.*`
    id, or "" when nothing fired (ROUTINE)."""
    score: float | None = None
    """The triage classifier's calibrated probability when it was consulted: of the head that
    raised the urgency, else of EMERGENCY. None without a classifier."""
    safety_question: bool = False


# Matcher keys: ("cue", kind, 0, 0), ("ind", rule, alternative, group) or ("unless", rule, 0, 0).
_Key = tuple[str, int, int, int]
# Cue kinds, in the order of their `MatchingSettings` fields.
_CUE_FIELDS = (
    "negations", "transparent", "resolved", "past", "ongoing", "negations_after", "repaired",
    "hypothetical", "idioms",
)  # fmt: skip
(
    _NEGATION, _TRANSPARENT, _RESOLVED, _PAST, _ONGOING, _NEGATION_AFTER, _REPAIRED,
    _HYPOTHETICAL, _IDIOM,
) = range(len(_CUE_FIELDS))  # fmt: skip
# Words allowed inside a cue phrase: a number in a past expression ("2 years ago"), a pronoun
# in a repair ("fixed it", "עשו לי חדש") or in an idiom ("nearly had a heart attack").
_CUE_GAP = {_PAST: 1, _REPAIRED: 1, _IDIOM: 1}
_ANY_OF, _ALL_OF = 0, 1
# "hasn't stopped", "לא עבר": a resolved cue this close after a negation says the opposite.
_NEGATED_CUE_DISTANCE = 1
# A typed answer to the safety question is a short message; a longer one is read on its own.
_MAX_ANSWER_WORDS = 6


class RuleMatcher:
    """Compiled indicator rules: which of them a message fires, reading negations in context.

    Shared by triage and the input guard (which reads no context: "don't ignore your
    instructions" is still an attempt worth noticing).
    """

    def __init__(
        self,
        rules: SafetyRules,
        indicator_rules: Sequence[IndicatorRule],
        *,
        use_context: bool,
        typos: bool = True,
    ) -> None:
        settings = rules.matching
        self._settings = settings
        self._rules = list(indicator_rules)
        self._use_context = use_context
        self._matcher: PhraseMatcher[_Key] = PhraseMatcher(
            fuzzy=typos, fuzzy_exempt=settings.fuzzy_exempt
        )
        self._clause_breaks = frozenset(
            word for phrase in _all(settings.clause_breaks) for word in phrase_words(phrase)
        )
        self._groups: list[list[int]] = []  # per rule: number of groups per alternative
        indicator_words: set[int] = set()
        for index, rule in enumerate(self._rules):
            gap = settings.max_gap if rule.max_gap is None else rule.max_gap
            alternatives: list[int] = [0, 0]
            if rule.any_of is not None:
                alternatives[_ANY_OF] = 1
                indicator_words |= self._add(rules, rule.any_of, ("ind", index, _ANY_OF, 0), gap)
            for group_index, group in enumerate(rule.all_of or []):
                alternatives[_ALL_OF] = group_index + 1
                key = ("ind", index, _ALL_OF, group_index)
                indicator_words |= self._add(rules, group, key, gap)
            if rule.unless_near is not None:
                self._add(rules, rule.unless_near, ("unless", index, 0, 0), gap)
            self._groups.append(alternatives)
        self._transparent: set[int] = set(indicator_words)
        if use_context:
            for kind, field_name in enumerate(_CUE_FIELDS):
                lists: PhraseLists | None = getattr(settings, field_name)
                if lists is None:
                    continue
                words = self._add(rules, lists, ("cue", kind, 0, 0), _CUE_GAP.get(kind, 0))
                if kind == _TRANSPARENT:
                    self._transparent |= words

    def _add(self, rules: SafetyRules, lists: PhraseLists, key: _Key, gap: int) -> set[int]:
        word_ids: set[int] = set()
        for phrase in _all(lists):
            for expanded in rules.expand(phrase):
                words = phrase_words(expanded)
                self._matcher.add(words, key, max_gap=gap)
                word_ids.update(self._matcher.word_id(word) for word in words)
        return word_ids

    def fired(self, text: str) -> list[IndicatorRule]:
        """The rules `text` fires, in file order."""
        toks: list[str] = []
        clause_of: list[int] = []
        clause = 0
        for part in clauses(text):
            for token in part:
                if any(stem in self._clause_breaks for stem in hebrew_stems(token)):
                    clause += 1
                    continue
                toks.append(token)
                clause_of.append(clause)
            clause += 1
        per_token = [self._matcher.token_word_ids(token) for token in toks]
        hits = self._matcher.find_in(per_token)
        cues: dict[int, list[PhraseHit[_Key]]] = {kind: [] for kind in range(len(_CUE_FIELDS))}
        indicators: list[PhraseHit[_Key]] = []
        unless: dict[int, list[PhraseHit[_Key]]] = {}
        for hit in hits:
            kind = hit.key[0]
            if kind == "cue":
                cues[hit.key[1]].append(hit)
            elif kind == "ind":
                indicators.append(hit)
            else:
                unless.setdefault(hit.key[1], []).append(hit)
        # An indicator inside an idiom (within one clause) is an everyday use of the word, for
        # every rule.
        idioms = [hit for hit in cues[_IDIOM] if clause_of[hit.start] == clause_of[hit.end - 1]]
        indicators = [
            hit for hit in indicators if not any(_overlaps(hit, idiom) for idiom in idioms)
        ]
        context = _Context(
            self._settings, clause_of, per_token, self._transparent, cues, indicators
        )

        satisfied: set[tuple[int, int, int]] = set()
        for hit in indicators:
            _, rule_index, alternative, group = hit.key
            if (rule_index, alternative, group) in satisfied:
                continue
            rule = self._rules[rule_index]
            if self._use_context and context.suppressed(
                hit, persistent=rule.persistent, emergency=isinstance(rule, EmergencyRule)
            ):
                continue
            if self._vetoed(hit, unless.get(rule_index, ()), context):
                continue
            satisfied.add((rule_index, alternative, group))

        fired: list[IndicatorRule] = []
        for rule_index in sorted({rule_index for rule_index, _, _ in satisfied}):
            for alternative, count in enumerate(self._groups[rule_index]):
                if count and all(
                    (rule_index, alternative, group) in satisfied for group in range(count)
                ):
                    fired.append(self._rules[rule_index])
                    break
        return fired

    def _vetoed(
        self, hit: PhraseHit[_Key], unless: Sequence[PhraseHit[_Key]], context: _Context
    ) -> bool:
        window = self._settings.unless_window
        for other in unless:
            if context.clause_of[other.start] != context.clause_of[hit.start]:
                continue
            if _distance(hit, other) > window:
                continue
            if self._use_context and context.negated(other):
                continue
            return True
        return False


class _Context:
    """Negation, resolution and past-time cues of one message."""

    def __init__(
        self,
        settings: MatchingSettings,
        clause_of: list[int],
        per_token: list[frozenset[int]],
        transparent: set[int],
        cues: dict[int, list[PhraseHit[_Key]]],
        indicators: list[PhraseHit[_Key]],
    ) -> None:
        self.settings = settings
        self.clause_of = clause_of
        self.per_token = per_token
        self.transparent = transparent
        # A negation inside an indicator phrase belongs to that phrase ("the mouth does not
        # open" in "הפה לא נפתח והלחי נפוחה" does not negate the swelling after it).
        # Likewise a resolved cue: "ירד" in "הסוכר ירד" (sugar dropped) is the red flag itself.
        # A word that is itself an indicator is not a negation too ("שאף", inhaled, is not
        # ש + "אף").
        self.negations = _outside_phrases(cues[_NEGATION], indicators, min_words=1)
        self.all_negations = cues[_NEGATION]
        self.negations_after = cues[_NEGATION_AFTER]
        self.resolved = _outside_phrases(cues[_RESOLVED], indicators)
        self.past = cues[_PAST]
        self.ongoing = cues[_ONGOING]
        self.repaired = cues[_REPAIRED]
        self.hypothetical = cues[_HYPOTHETICAL]

    def suppressed(self, hit: PhraseHit[_Key], *, persistent: bool, emergency: bool) -> bool:
        """Negated; treated since; unless the rule is `persistent`, over or in the past; unless
        it is an emergency, asked about ahead ("what if")."""
        return (
            self.negated(hit)
            or (persistent and self._repaired_after(hit))
            or (not persistent and self.resolved_or_past(hit))
            or (not emergency and self._hypothetical(hit))
        )

    def _ongoing_near(self, hit: PhraseHit[_Key]) -> bool:
        """A "now" cue close to `hit` in its clause: "a fall years ago; brushing fine now" is
        still in the past; "stopped, but bleeding again now" is not."""
        clause = self.clause_of[hit.start]
        window = self.settings.context_window
        return any(
            self.clause_of[cue.start] == clause and _distance(cue, hit) <= window
            for cue in self.ongoing
        )

    def _repaired_after(self, hit: PhraseHit[_Key]) -> bool:
        """A lasting problem, then in its clause that it was treated ("chipped a molar, then you
        repaired it"), and nothing near it saying "now" ("fell out again")."""
        clause = self.clause_of[hit.start]
        return not self._ongoing_near(hit) and any(
            self.clause_of[cue.start] == clause and cue.start >= hit.end for cue in self.repaired
        )

    def _hypothetical(self, hit: PhraseHit[_Key]) -> bool:
        clause = self.clause_of[hit.start]
        return any(
            self.clause_of[cue.start] == clause and cue.end <= hit.start
            for cue in self.hypothetical
        )

    def negated(self, hit: PhraseHit[_Key]) -> bool:
        """A negation cue shortly before `hit`, with only transparent words between, or a
        denial right after it ("pain-free").

        A phrase that itself opens with a negation ("not waking up", "לא מפסיק לדמם") is not
        negated again by a word before it.
        """
        if any(cue.start == hit.end for cue in self.negations_after):
            return True
        if any(cue.start == hit.start for cue in self.all_negations):
            return False
        clause = self.clause_of[hit.start]
        for cue in self.negations:
            if cue.end > hit.start or hit.start - cue.end > self.settings.negation_window:
                continue
            if self.clause_of[cue.start] != clause:
                continue
            between = range(cue.end, hit.start)
            if all(self.per_token[i] & self.transparent for i in between):
                return True
        return False

    def resolved_or_past(self, hit: PhraseHit[_Key]) -> bool:
        """A resolved or past cue near `hit` in its clause, and nothing there saying "now"."""
        if self._ongoing_near(hit):
            return False
        clause = self.clause_of[hit.start]
        window = self.settings.context_window
        for cue in self.resolved:
            if self.clause_of[cue.start] != clause or _overlaps(cue, hit):
                continue
            if _distance(cue, hit) <= window and not self._cue_negated(cue):
                return True
        for cue in self.past:
            if self.clause_of[cue.start] != clause or _overlaps(cue, hit):
                continue
            if _distance(cue, hit) <= window:
                return True
        return False

    def _cue_negated(self, cue: PhraseHit[_Key]) -> bool:
        return any(
            0 <= cue.start - negation.end <= _NEGATED_CUE_DISTANCE
            for negation in self.all_negations
        )


def _outside_phrases(
    cues: list[PhraseHit[_Key]], indicators: list[PhraseHit[_Key]], *, min_words: int = 2
) -> list[PhraseHit[_Key]]:
    """The cues that are not inside an indicator phrase of at least `min_words` words."""
    return [
        cue
        for cue in cues
        if not any(
            hit.start <= cue.start and cue.end <= hit.end and hit.end - hit.start >= min_words
            for hit in indicators
        )
    ]


def _overlaps(a: PhraseHit[_Key], b: PhraseHit[_Key]) -> bool:
    return a.start < b.end and b.start < a.end


def _distance(a: PhraseHit[_Key], b: PhraseHit[_Key]) -> int:
    """Words strictly between two hits; 0 when they touch or overlap."""
    if _overlaps(a, b):
        return 0
    return b.start - a.end if a.end <= b.start else a.start - b.end


MODEL_REASON = "model.triage"
"""The reason a classifier-raised triage gives (its escalation shows it beside rule ids)."""


def _raised(
    by_rules: Triage, classifier: TextClassifier, text: str, *, corroborated: bool
) -> Triage:
    """`by_rules`, or a higher urgency where the classifier is confident enough (one predict).
    A message too short for the model (`TextClassifier.applies`) is left to the rules; one no
    rule or fail-safe class reads as health talk needs the uncorroborated threshold."""
    if not classifier.applies(text):
        return by_rules
    prediction = classifier.predict(text)
    emergency = prediction.probabilities[Urgency.EMERGENCY.value]
    decided_by = f"model:triage@{prediction.version}"
    floor = 0.0 if corroborated else classifier.spec.uncorroborated_threshold
    thresholds = {label: max(value, floor) for label, value in classifier.thresholds.items()}
    if by_rules.urgency is not Urgency.EMERGENCY and emergency >= thresholds[Urgency.EMERGENCY]:
        return Triage(
            Urgency.EMERGENCY,
            (MODEL_REASON,),
            by_rules.language,
            reply=ReplyKind.MEDICAL,  # the model names no class: the medical reply fits any
            decided_by=decided_by,
            score=emergency,
        )
    doctor = prediction.probabilities[Urgency.DOCTOR_REQUIRED.value]
    if by_rules.urgency is Urgency.ROUTINE and doctor >= thresholds[Urgency.DOCTOR_REQUIRED]:
        return Triage(
            Urgency.DOCTOR_REQUIRED,
            (MODEL_REASON,),
            by_rules.language,
            decided_by=decided_by,
            score=doctor,
        )
    return replace(by_rules, score=emergency)


# Compiled matchers by the rules' content. Compiling takes about half a second (word classes
# expand the rules to some 60 000 phrases) and every runtime builds a Triager: per app, per
# bundle swap. After compiling, a matcher only memoises lookups, so the matchers of one set of
# rules can serve every Triager built from it.
_COMPILED_KEEP = 4
_compiled: dict[str, tuple[RuleMatcher, RuleMatcher]] = {}


def _compiled_matchers(rules: SafetyRules) -> tuple[RuleMatcher, RuleMatcher]:
    """(the triage rules' matcher, the fail-safe's) for `rules`, compiled once per content."""
    key = hashlib.sha256(rules.model_dump_json().encode()).hexdigest()
    found = _compiled.get(key)
    if found is None:
        if len(_compiled) >= _COMPILED_KEEP:
            _compiled.pop(next(iter(_compiled)))
        fail_safe = rules.fail_safe
        found = (
            # One matcher over both levels: a doctor-level word ("pain") is still a word a
            # negation reaches across in "no pain or swelling".
            RuleMatcher(rules, [*rules.emergency, *rules.doctor_required], use_context=True),
            RuleMatcher(
                rules,
                [*fail_safe.health, *fail_safe.danger],
                use_context=True,
                typos=fail_safe.typos,
            ),
        )
        _compiled[key] = found
    return found


def _word_set(lists: PhraseLists) -> frozenset[str]:
    return frozenset(" ".join(tokens(phrase)) for phrase in _all(lists))


def _all(lists: PhraseLists) -> list[str]:
    return [phrase for phrases in lists.values() for phrase in phrases]


class Triager:
    """Triage with one clinic's settings: its urgent line and the locale of its emergency numbers.

    Build once at start-up (rules are compiled here); `triage` is then a few dictionary lookups
    per word.
    """

    def __init__(
        self,
        rules: SafetyRules,
        *,
        clinic_urgent_line: str | Callable[[], str] = "",
        locale: str | None = None,
        classifier: TextClassifier | None = None,
    ) -> None:
        if classifier is not None and classifier.kind != "triage":
            raise ValueError(f"a {classifier.kind!r} classifier cannot triage")
        chosen = locale or rules.default_locale
        if chosen not in rules.emergency_numbers:
            raise ValueError(
                f"no emergency numbers for locale {chosen!r} "
                f"(the rules define: {', '.join(sorted(rules.emergency_numbers))})"
            )
        self._rules = rules
        self._numbers = rules.emergency_numbers[chosen]
        # A callable reads the line when a reply is written: the clinic may change it live.
        self._urgent_line = (
            clinic_urgent_line if callable(clinic_urgent_line) else lambda: clinic_urgent_line
        )
        self._matcher, self._fail_safe = _compiled_matchers(rules)
        self._classifier = classifier
        fail_safe = rules.fail_safe
        self._danger_ids = frozenset(rule.id for rule in fail_safe.danger)
        self._yes_words = _word_set(fail_safe.question.yes_words)
        self._no_words = _word_set(fail_safe.question.no_words)

    @property
    def locale_numbers(self) -> tuple[str, str]:
        """(emergency number, crisis line) of this clinic's locale, e.g. ("101", "1201")."""
        return self._numbers.emergency, self._numbers.crisis

    def triage(self, text: str) -> Triage:
        """Rules first (the floor), raised (never lowered) by the classifier when there is one,
        then the fail-safe (see `_fail_safe_step`)."""
        placed = self._by_rules(text)
        fail_safe = [] if placed.urgency is Urgency.EMERGENCY else self._fail_safe.fired(text)
        if self._classifier is not None:
            # Health talk a rule or the fail-safe saw corroborates the model; without it the
            # model must be far surer (`ClassifierFile.uncorroborated_threshold`).
            corroborated = bool(placed.reasons) or bool(fail_safe)
            placed = _raised(placed, self._classifier, text, corroborated=corroborated)
        return self._fail_safe_step(placed, fail_safe)

    def _by_rules(self, text: str) -> Triage:
        language = detect_language(text)
        fired = self._matcher.fired(text)
        emergencies = [rule for rule in fired if isinstance(rule, EmergencyRule)]
        if emergencies:
            ids = tuple(rule.id for rule in emergencies)
            kinds = {rule.reply for rule in emergencies}
            reply = next(kind for kind in REPLY_PRECEDENCE if kind in kinds)
            return Triage(
                Urgency.EMERGENCY,
                ids,
                language,
                reply=reply,
                decided_by=",".join(ids),
            )
        doctor = [rule for rule in fired if not isinstance(rule, EmergencyRule)]
        if doctor:
            ids = tuple(rule.id for rule in doctor)
            return Triage(Urgency.DOCTOR_REQUIRED, ids, language, decided_by=",".join(ids))
        return Triage(Urgency.ROUTINE, (), language)

    def _fail_safe_step(self, placed: Triage, fired: Sequence[IndicatorRule]) -> Triage:
        """Under-triage costs more than over-triage: health talk that nothing placed (`fired`:
        the fail-safe rules the message fires) is at least DOCTOR_REQUIRED, and a possible
        danger short of a red flag asks the safety question. Never lowers what placed the
        message; an emergency is left as it is."""
        if placed.urgency is Urgency.EMERGENCY or not fired:
            return placed
        danger = any(rule.id in self._danger_ids for rule in fired)
        if placed.urgency is Urgency.ROUTINE:
            ids = tuple(rule.id for rule in fired)
            return replace(
                placed,
                urgency=Urgency.DOCTOR_REQUIRED,
                reasons=ids,
                decided_by=",".join(ids),
                safety_question=danger,
            )
        return replace(placed, safety_question=danger) if danger else placed

    def emergency_reply(self, language: Language, kind: ReplyKind = ReplyKind.MEDICAL) -> str:
        """The fixed emergency reply of `kind` (a triage's `reply`): medical by default."""
        reply = self._rules.replies.for_kind(kind)
        return self._fill(reply.lines(language), language)

    def safety_question(self, language: Language) -> tuple[str, str, str]:
        """(the safety question, the "yes" label, the "no" label) in `language`."""
        question = self._rules.fail_safe.question
        return question.text[language], question.yes[language], question.no[language]

    def safety_answer(self, text: str) -> Literal["yes", "no"] | None:
        """A typed answer to the safety question: "yes" or "no" when a short message says one
        and not the other; None for anything else, which is then a message of its own."""
        words = tokens(text)
        if not words or len(words) > _MAX_ANSWER_WORDS:
            return None
        said = {
            " ".join(words[start : start + size])
            for size in range(1, 4)
            for start in range(len(words) - size + 1)
        }
        yes, no = bool(said & self._yes_words), bool(said & self._no_words)
        if yes == no:
            return None
        return "yes" if yes else "no"

    def doctor_required_reply(self, language: Language) -> str:
        return self._fill(self._rules.replies.doctor_required.lines(language), language)

    def _fill(self, lines: list[str], language: Language) -> str:
        urgent_line = self._urgent_line().strip()
        values = {
            "emergency_number": self._numbers.emergency,
            "emergency_service": self._numbers.emergency_service[language],
            "crisis_number": self._numbers.crisis,
            "crisis_service": self._numbers.crisis_service[language],
            "clinic_urgent_line": urgent_line,
        }
        kept = [
            line.format(**values)
            for line in lines
            if urgent_line or "{clinic_urgent_line}" not in line
        ]
        return "\n".join(kept)
