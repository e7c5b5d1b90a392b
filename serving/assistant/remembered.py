"""What a turn does with what memory recalls (docs/MEMORY.md): the language a returning
patient's new conversation starts in, a reminder that a dentist still has their earlier
question, and a "book a visit" button where conversations like this one usually end in a
booking. (Slot offers that follow the patient's habits are the booking tools' own:
`serving.tools.preferences`.)

All of it is advice: without memory (no store, a failed read, a new patient) the turn is
answered exactly as before."""

from __future__ import annotations

from serving.conversation.turn import Turn
from serving.language import Language, as_language, written_language
from serving.memory.records import PatientMemory

BOOKING_SHARE = 0.5
"""A pattern "leads to a booking" when at least this share of its conversations did."""
MIN_CONVERSATIONS = 10
"""Fewer conversations than this say nothing about a pattern."""
_OFFERS_BOOKING = ("quick:book", "treat:", "slot:", "confirm:")
"""Buttons that already take the patient towards a visit."""


def starting_language(
    memory: PatientMemory | None, *, new_conversation: bool, text: str | None
) -> Language | None:
    """The remembered language for the first message of a new conversation whose words do
    not say which language they are in (a button, digits, an emoji); None otherwise."""
    if memory is None or memory.language is None or not new_conversation:
        return None
    if text is not None and written_language(text) is not None:
        return None
    return as_language(memory.language)


def open_escalation_note(turn: Turn) -> str | None:
    """One line telling the patient a dentist still has their earlier question, the first
    time they write in this conversation while it is open (a turn that escalates says its
    own words)."""
    memory = turn.memory
    if memory is None or turn.escalations:
        return None
    waiting = [e for e in memory.open_escalations if e not in turn.state.escalations_noted]
    if not waiting:
        return None
    turn.state.escalations_noted = sorted({*turn.state.escalations_noted, *waiting})
    return turn.message("memory_open_escalation")


def offer_booking_by_pattern(turn: Turn, pattern: str) -> bool:
    """Add the "book a visit" button when most conversations of `pattern` ended in a visit
    booked (clinic-wide statistics) and the reply does not already lead to one."""
    stats = turn.pattern_stats.get(pattern)
    if stats is None or stats.conversations < MIN_CONVERSATIONS:
        return False
    if stats.booked < BOOKING_SHARE * stats.conversations:
        return False
    if turn.outcomes or any(b.data.startswith(_OFFERS_BOOKING) for b in turn.buttons):
        return False
    turn.button("button_book", "quick:book")
    return True
