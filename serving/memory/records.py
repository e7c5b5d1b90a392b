"""The memory graph's records: what a turn adds (`TurnFacts`), what the stores give back
(`PatientHistory`, `PatternOutcomes`, `GraphExport`).

The graph holds no message text: a message node carries its id in the app database, who wrote
it, when, and how it was labelled. The words stay in the app database, which is the source of
truth the graph is rebuilt from (`dental memory rebuild`).

Nodes and edges, the same in every store:

    (:Patient {id})-[:HAD {at}]->(:Conversation {id, channel, language, started_at, last_at})
    (:Conversation)-[:CONTAINS {at}]->(:Message {id, role, at, intent, urgency, language})
    (:Message)-[:MATCHED {at}]->(:Pattern {name})
    (:Message)-[:LED_TO {at}]->(:Outcome {id, kind, at, visit_at, appointment_id, escalation_id,
                                          resolved_at})
    (:Outcome)-[:WITH]->(:Doctor {key, name})            a visit's provider
    (:Outcome)-[:RESOLVED_BY {at}]->(:Doctor {key, name}) the dentist who closed an escalation

HAD's `at` is always its conversation's `started_at`, however late the patient was verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

OutcomeKind = Literal["booked", "moved", "cancelled", "no_show", "escalated"]
OUTCOME_KINDS: tuple[OutcomeKind, ...] = get_args(OutcomeKind)
VISIT_KINDS: frozenset[OutcomeKind] = frozenset({"booked", "moved"})
"""Outcomes that put a visit in the calendar: what preferences are learnt from."""

MessageRole = Literal["patient", "assistant", "doctor", "staff"]
Label = Literal["Patient", "Conversation", "Message", "Pattern", "Outcome", "Doctor"]
LABELS: tuple[Label, ...] = get_args(Label)
EdgeType = Literal["HAD", "CONTAINS", "MATCHED", "LED_TO", "WITH", "RESOLVED_BY"]
EDGE_TYPES: tuple[EdgeType, ...] = get_args(EdgeType)


def iso(moment: datetime) -> str:
    """A time as every store writes it in exports and dumps: UTC, to the microsecond."""
    if moment.tzinfo is None:
        raise ValueError("memory times are timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    """The inverse of `iso`: an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def provider_doctor_key(provider_id: int) -> str:
    """The Doctor node of a practice-system provider."""
    return f"provider:{provider_id}"


def provider_of_doctor_key(key: str) -> int | None:
    """The provider id of a `provider_doctor_key`; None for any other Doctor key."""
    prefix, _, rest = key.partition(":")
    return int(rest) if prefix == "provider" and rest.isdigit() else None


def dentist_doctor_key(name: str) -> str:
    """The Doctor node of a dentist known by name only (who answered an escalation)."""
    return f"dentist:{name}"


@dataclass(frozen=True)
class MessageFacts:
    id: int
    """The message's id in the app database (`messages.id`)."""
    role: MessageRole
    at: datetime
    language: str
    pattern: str | None = None
    """The memory pattern the message matched (patient messages)."""
    intent: str | None = None
    urgency: str | None = None


@dataclass(frozen=True)
class OutcomeFacts:
    id: str
    """Stable across rebuilds: `<kind>:<id of the message it LED_TO from>` for a visit booked,
    moved or cancelled, `escalation:<id>` for an escalation, so writing the same facts twice
    changes nothing."""
    kind: OutcomeKind
    at: datetime
    message_id: int | None
    """The message that led to it (LED_TO); None only when that message is gone."""
    provider_id: int | None = None
    provider_name: str | None = None
    visit_at: datetime | None = None
    """The visit's start (UTC) for booked, moved, cancelled, no_show."""
    appointment_id: int | None = None
    """The practice system's appointment a visit outcome is about: a booking, its moves and
    its cancellation share it, so recall counts each appointment once."""
    escalation_id: str | None = None
    resolved_at: datetime | None = None
    """An escalation's close; None while it is open."""
    resolved_by: str | None = None
    """The dentist who closed it, as named on the escalation."""


@dataclass(frozen=True)
class TurnFacts:
    """What one turn, or an escalation's close, adds to the graph. Writing is an upsert by id:
    the same facts written again (a retry, a rebuild) leave the graph as it was."""

    conversation_id: str
    channel: str
    patient_id: int | None
    """The verified patient, when the conversation is bound to one (HAD)."""
    language: str
    at: datetime
    """When these facts begin (`conversation_facts`: their earliest message). A conversation
    starts at the earliest `at` or message time a store has seen, and its HAD edge is dated
    from that start whenever the patient was named: a chat verified part-way, written turn by
    turn, gets the same edge as one rebuilt at once."""
    messages: tuple[MessageFacts, ...] = ()
    outcomes: tuple[OutcomeFacts, ...] = ()


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    channel: str
    language: str
    started_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class PatientHistory:
    """What a store holds about one patient, newest first; empty when it holds nothing."""

    patient_id: int
    conversations: tuple[ConversationSummary, ...] = ()
    outcomes: tuple[OutcomeFacts, ...] = ()
    patterns: dict[str, int] = field(default_factory=dict)
    """How many of the patient's messages matched each pattern."""


@dataclass(frozen=True)
class PatternOutcomes:
    """Clinic-wide: of the conversations in which a patient message matched `pattern`, how many
    then (at or after that message) led to a visit booked or moved, to an escalation, or to
    nothing before going quiet (`dropped`: no outcome, last message before the idle limit)."""

    pattern: str
    conversations: int
    booked: int
    escalated: int
    dropped: int


@dataclass(frozen=True)
class GraphExport:
    """Nodes and edges as plain JSON values: one patient's (export) or the whole graph
    (backup). A node: {"label", "key", "properties"}; an edge: {"type", "from", "to",
    "properties"} with `from`/`to` as "<label>:<key>". Times are ISO 8601 strings in UTC."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class PatientMemory:
    """What the assistant recalls about a verified patient before answering (`recall`)."""

    patient_id: int
    conversations: int = 0
    last_seen: datetime | None = None
    language: str | None = None
    """The language of their latest conversation."""
    preferred_provider_id: int | None = None
    preferred_provider_name: str | None = None
    """Who most of their visits were with (at least two visits, the most recent breaking a
    tie)."""
    preferred_part_of_day: str | None = None
    """morning, afternoon or evening (`serving.scheduling.request.PART_OF_DAY_WINDOWS`) when
    most of their visits started then (at least two)."""
    recent_outcomes: tuple[OutcomeFacts, ...] = ()
    """Newest first, at most five."""
    open_escalations: tuple[str, ...] = ()
    """Escalations of theirs not yet closed, by id."""

    @property
    def returning(self) -> bool:
        """They have been here before: an earlier conversation or an outcome."""
        return self.conversations > 1 or bool(self.recent_outcomes)


def check_facts(facts: TurnFacts) -> None:
    """Refuse facts no store can hold (ValueError): an unknown role or outcome kind, a
    naive time. Each store then checks what only it can: an outcome's message."""
    roles = get_args(MessageRole)
    times = [facts.at]
    for message in facts.messages:
        if message.role not in roles:
            raise ValueError(f"unknown message role {message.role!r}")
        times.append(message.at)
    for outcome in facts.outcomes:
        if outcome.kind not in OUTCOME_KINDS:
            raise ValueError(f"unknown outcome kind {outcome.kind!r}")
        times += [t for t in (outcome.at, outcome.visit_at, outcome.resolved_at) if t]
    if any(moment.tzinfo is None for moment in times):
        raise ValueError("memory times are timezone-aware")
