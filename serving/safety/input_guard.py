"""Input guard: notices prompt-injection and role-play attempts in a patient message.

`inspect_input(text, rules)` is deterministic and cheap; the caller decides what to do with a
positive verdict (answer without tools that reach patient data, log it, never change role).
Claims such as "I am the doctor" are flagged because identity comes from the channel (a verified
Telegram contact, an integration key), never from what a message says.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.safety.rules import SafetyRules
from serving.safety.triage import RuleMatcher


@dataclass(frozen=True)
class InputVerdict:
    """`injection` is True when any input-guard rule fired; `reasons` are their ids."""

    injection: bool
    reasons: tuple[str, ...]


# Compiled matchers by rules object. A bundle's rules are immutable and few are alive at once
# (the serving bundle, maybe a candidate), so a small cache keyed by identity is enough.
_CACHE_SIZE = 4
_compiled: dict[int, tuple[SafetyRules, RuleMatcher]] = {}


def _matcher(rules: SafetyRules) -> RuleMatcher:
    entry = _compiled.get(id(rules))
    if entry is not None and entry[0] is rules:
        return entry[1]
    if len(_compiled) >= _CACHE_SIZE:
        _compiled.pop(next(iter(_compiled)))
    matcher = RuleMatcher(rules, rules.input_guard, use_context=False)
    _compiled[id(rules)] = (rules, matcher)
    return matcher


def inspect_input(text: str, rules: SafetyRules) -> InputVerdict:
    """Which input-guard rules `text` fires (ignore-your-instructions, role play, staff claims)."""
    reasons = tuple(rule.id for rule in _matcher(rules).fired(text))
    return InputVerdict(injection=bool(reasons), reasons=reasons)
