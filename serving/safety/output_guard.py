"""Output guard: the last check on every reply before it reaches a patient.

`OutputGuard(rules).check(reply, allowed=...)` blocks a reply that gives a dose, recommends a
medicine, names a likely diagnosis, issues a prescription, or shows a phone number, e-mail
address or invoice number that is not in `allowed`. A blocked reply is replaced by
`safe_reply(language)`; what was found is reported as rule ids only (never the text, which may
hold another patient's data).

`allowed` is what the verified patient may see: their own phones, e-mails and invoice numbers,
and — added by the caller — the clinic's own phone numbers (main line, urgent line) and e-mail.
Emergency numbers (101, 1201, 911, 988) are too short to read as phone numbers and need no entry.
Names are part of `AllowedData` for callers that track them; a free-text reply cannot be checked
for arbitrary names without a directory, so the guard does not try.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from serving.language import Language
from serving.safety.rules import OutputRule, PhraseLists, SafetyRules, all_phrases
from serving.safety.text import PhraseMatcher, normalize, phrase_words, sentence_texts, tokens

_PHONE_KEY_DIGITS = 9  # compare numbers by their last 9 digits: "050-123-4567" == "+972501234567"


@dataclass(frozen=True)
class AllowedData:
    """The identifiers a reply may contain: the verified patient's own, plus the clinic's."""

    phones: frozenset[str] = field(default_factory=frozenset)
    emails: frozenset[str] = field(default_factory=frozenset)
    invoice_numbers: frozenset[str] = field(default_factory=frozenset)
    names: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class GuardVerdict:
    """`ok` is False when the reply must not be sent; `violations` are the rule ids found."""

    ok: bool
    violations: tuple[str, ...]


@dataclass(frozen=True)
class _CompiledRule:
    rule_id: str
    patterns: tuple[re.Pattern[str], ...]
    with_patterns: tuple[re.Pattern[str], ...]
    has_terms: bool
    needs_context: bool


def phone_key(raw: str) -> str:
    """Digits of a phone number, last 9 of them: the same for its local and E.164 forms."""
    digits = re.sub(r"\D", "", raw)
    return digits[-_PHONE_KEY_DIGITS:]


class OutputGuard:
    """Compiled output rules; build once, check every reply."""

    def __init__(self, rules: SafetyRules) -> None:
        output = rules.output
        self._safe_reply = output.safe_reply
        # Model output is not misspelt on purpose; typo tolerance would only add false alarms.
        self._matcher: PhraseMatcher[tuple[int, str]] = PhraseMatcher(fuzzy=False)
        self._rules: list[_CompiledRule] = []
        for index, rule in enumerate(output.rules):
            self._add_terms(rules, rule.terms, (index, "terms"))
            self._add_terms(rules, rule.with_terms, (index, "with"))
            self._rules.append(_compile(rule))
        ids = output.identifiers
        self._phone = re.compile(ids.phone)
        self._phone_min_digits = ids.phone_min_digits
        self._email = re.compile(ids.email)
        self._invoice = re.compile(ids.invoice_number)
        self._not_identifiers = tuple(re.compile(pattern) for pattern in ids.not_identifiers)

    def _add_terms(
        self, rules: SafetyRules, lists: PhraseLists | None, key: tuple[int, str]
    ) -> None:
        for phrase in all_phrases(lists):
            for expanded in rules.expand(phrase):
                self._matcher.add(phrase_words(expanded), key, max_gap=0)

    def check(self, reply: str, *, allowed: AllowedData) -> GuardVerdict:
        violations: list[str] = []
        for sentence in sentence_texts(reply):
            found = {hit.key for hit in self._matcher.find(tokens(sentence))}
            for index, rule in enumerate(self._rules):
                if rule.rule_id in violations:
                    continue
                main = any(p.search(sentence) for p in rule.patterns) or (
                    rule.has_terms and (index, "terms") in found
                )
                if not main:
                    continue
                if rule.needs_context and not (
                    (index, "with") in found or any(p.search(sentence) for p in rule.with_patterns)
                ):
                    continue
                violations.append(rule.rule_id)
        violations.extend(self._identifiers(normalize(reply), allowed))
        return GuardVerdict(ok=not violations, violations=tuple(violations))

    def _identifiers(self, text: str, allowed: AllowedData) -> list[str]:
        found: list[str] = []
        allowed_invoices = {number.upper() for number in allowed.invoice_numbers}
        if any(m.group(0).upper() not in allowed_invoices for m in self._invoice.finditer(text)):
            found.append("output.invoice_number")
        allowed_emails = {email.lower() for email in allowed.emails}
        if any(m.group(0) not in allowed_emails for m in self._email.finditer(text)):
            found.append("output.email")
        # Invoice numbers, e-mails, dates, times and prices contain digit runs: mask them first.
        masked = self._invoice.sub(" ", self._email.sub(" ", text))
        for pattern in self._not_identifiers:
            masked = pattern.sub(" ", masked)
        allowed_phones = {phone_key(phone) for phone in allowed.phones}
        for match in self._phone.finditer(masked):
            digits = re.sub(r"\D", "", match.group(0))
            if len(digits) < self._phone_min_digits:
                continue
            if phone_key(digits) not in allowed_phones:
                found.append("output.phone")
                break
        return found

    def safe_reply(self, language: Language) -> str:
        """The fixed reply that replaces a blocked one."""
        return self._safe_reply[language]


def _compile(rule: OutputRule) -> _CompiledRule:
    return _CompiledRule(
        rule_id=rule.id,
        patterns=tuple(re.compile(pattern) for pattern in rule.patterns),
        with_patterns=tuple(re.compile(pattern) for pattern in rule.with_patterns),
        has_terms=rule.terms is not None,
        needs_context=rule.needs_context,
    )
