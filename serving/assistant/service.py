"""`Assistant.respond`: one patient message in, one safe reply out.

The order is the design (see ARCHITECTURE.md): store the message, triage by rules, answer an
emergency with the fixed reply and an escalation (no model is asked), ask the safety question
when triage saw a possible danger short of a red flag, guard the input, run the agent with
tools bound to the verified patient, guard the output, store everything with the bundle
version and model that produced it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from serving.agents.context import TurnContext
from serving.agents.offline.nlu import Understanding
from serving.assistant.buttons import (
    SAFETY_NO,
    SAFETY_YES,
    STALE,
    StaleButton,
    button_applies,
    button_intent,
    press_button,
    validate_button,
)
from serving.assistant.identity import (
    IdentityCheckUnavailable,
    IdentityClaim,
    IdentityProof,
    InvalidPhone,
    Verification,
    VerificationOutcome,
    find_patient,
    first_name,
    require_proof,
)
from serving.assistant.outbound import Place
from serving.assistant.patient_text import InvalidMessage, clean_text
from serving.assistant.remembered import (
    offer_booking_by_pattern,
    open_escalation_note,
    starting_language,
)
from serving.assistant.store import (
    ConversationRecord,
    ConversationStore,
    PatientMessageLabels,
    StoredReply,
)
from serving.bundle.runtime import Runtime
from serving.clinic import ProfileSource
from serving.conversation.state import ConversationState, SafetyCheck
from serving.conversation.turn import Button, EscalationRequest, Turn, catalog_text
from serving.db.leases import renewed
from serving.db.types import utcnow
from serving.language import Language, as_language, detect_language
from serving.memory.records import PatientMemory, PatternOutcomes
from serving.memory.service import Memory
from serving.practice.backend import PracticeBackend
from serving.practice.errors import (
    PatientNotFound,
    PracticeError,
    PracticeMisconfigured,
    PracticeUnavailable,
)
from serving.practice.models import Patient
from serving.privacy.patient_links import NotVerified, PatientLinks, my_data_url
from serving.ratelimit import RateKey, RateLimited, RateLimiter
from serving.safety.input_guard import inspect_input
from serving.safety.output_guard import AllowedData
from serving.safety.rules import ReplyKind
from serving.safety.triage import Triage, Urgency
from serving.tools.actions import offer_callback, quick_actions

logger = logging.getLogger(__name__)

HISTORY_MESSAGES = 8
"""Earlier messages a model reads with the new one (four exchanges)."""
ACTIONABLE_INTENTS = {
    "book_appointment",
    "reschedule_appointment",
    "cancel_appointment",
    "my_appointments",
    "invoice_inquiry",
    "clinic_info",
    "treatment_plan",
    "my_allergies",
    "my_notes",
}


@dataclass(frozen=True)
class Inbound:
    channel: str
    user_id: str
    text: str | None = None
    button: str | None = None
    patient: Patient | None = None
    """The verified patient, when an in-process caller (the evaluation) already knows it."""
    claim: IdentityClaim | None = None
    """The identity the channel asserts with this message (the chat API with its integration
    key): the turn is answered, and the conversation bound, exactly as it says; no phone or one
    matching no single patient unbinds. None: the conversation's binding stands."""
    rate_keys: tuple[RateKey, ...] = ()
    """What the channel knows of the sender (user id, client address, chat), each counted
    against its rate limit; none, the message is not limited."""
    idempotency_key: str | None = None
    """The channel's id of this message (Telegram: its update id). A message delivered
    again with the same key is not answered twice: its stored reply is returned."""


@dataclass(frozen=True)
class Reply:
    conversation_id: str
    language: str
    urgency: str
    intent: str
    text: str
    buttons: tuple[Button, ...]
    escalation: tuple[str, str] | None
    actions: tuple[str, ...]
    bundle_version: str
    model: str
    architecture: str
    llm_calls: int
    tokens: int = 0
    """Tokens the language model read and wrote for this turn (0: rules or offline model)."""
    agents: tuple[str, ...] = field(default=())
    guard_events: tuple[str, ...] = field(default=())
    replayed: bool = False
    """The reply stored for this idempotency key, returned again: no turn ran."""
    clinic_topic: str | None = None
    """The clinic topic the patient's text mentioned (hours, address, ...), so a channel can
    add its own extras (a map) without reading the text again."""
    treatment: str | None = None
    """The treatment code the patient's text mentioned (e.g. "extraction")."""
    triage_decided_by: str | None = None
    """What set the urgency of the patient's text: rule ids, `model:triage@<version>`, or ""
    when nothing fired; None for a button (not triaged)."""
    triage_score: float | None = None
    """The triage classifier's probability for the text, when the bundle has a classifier."""
    intent_source: str = ""
    """What decided the intent: "rules", "model:intent@<version>", "triage" (an emergency)
    or "button"."""


class EscalationWatch(Protocol):
    """Who hears of escalations as turns raise them: the dentist in the loop
    (`serving.escalation`). Its failures never fail the patient's turn."""

    async def escalation_raised(self, escalation_id: str, urgency: str) -> None:
        """A turn opened an escalation or attached to it (its urgency may have risen)."""
        ...

    async def conversation_changed(self, conversation_id: str) -> None:
        """A turn stored messages in a conversation with an escalation not closed yet (a
        dentist's page may be showing it)."""
        ...

    async def escalation_closed(self, escalation_id: str) -> None:
        """An escalation closed because someone other than its patient writes in its
        conversation now (`ConversationStore`, `_close_escalations`)."""
        ...


@dataclass(frozen=True)
class Welcome:
    """The first message of a conversation: the bot disclosure, the greeting, the quick
    actions, and whether the channel should still ask who is writing."""

    language: str
    text: str
    buttons: tuple[Button, ...]
    identity_needed: bool


@dataclass(frozen=True)
class MyDataLink:
    """The answer to a patient asking for their own data (Telegram `/mydata`, the same text in
    the web chat): the private link and how long it works, or, for a conversation bound to no
    patient, the request to prove who they are first. It carries a live credential, so the
    channel shows it and the conversation never stores it."""

    language: str
    text: str
    verified: bool


@dataclass(frozen=True)
class ConversationView:
    """What a channel may read of a conversation outside a turn."""

    id: str | None
    """None for a user who has no conversation yet (read with `create=False`)."""
    language: str
    verified: bool


@dataclass(frozen=True)
class Answer:
    """What a turn answered, before the output guard, and what produced it."""

    text: str
    urgency: str
    intent: str
    model: str = "rules"
    llm_calls: int = 0
    tokens: int = 0
    agents: tuple[str, ...] = ()
    clinic_topic: str | None = None
    treatment: str | None = None
    safety_answer: str | None = None
    """`yes` or `no` when the message answered the safety question."""
    triage: Triage | None = None
    """The text's triage (None for a button)."""
    intent_source: str = ""


class Assistant:
    def __init__(
        self,
        *,
        runtime: Callable[[], Runtime],
        backend: PracticeBackend,
        store: ConversationStore,
        clinic: ProfileSource,
        timezone: str,
        phone_region: str = "IL",
        limiter: RateLimiter | None = None,
        clock: Callable[[], datetime] = utcnow,
        watch: EscalationWatch | None = None,
        memory: Memory | None = None,
        patient_links: PatientLinks | None = None,
        public_base_url: str = "",
    ) -> None:
        self._runtime = runtime
        self._patient_links = patient_links
        self._public_base_url = public_base_url
        self._watch = watch
        self._memory = memory
        self._limiter = limiter
        self._backend = backend
        self._store = store
        self._clinic = clinic
        self._tz = ZoneInfo(timezone)
        self._region = phone_region
        self._now = clock
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def respond(self, inbound: Inbound) -> Reply:
        if (inbound.text is None) == (inbound.button is None):
            raise InvalidMessage("send either text or a button, not both and not neither")
        text = clean_text(inbound.text) if inbound.text is not None else None
        button = validate_button(inbound.button) if inbound.button is not None else None
        await self._admit(inbound, text)
        await self._clinic.refresh()  # another process's edits: CLINIC_SETUP_CACHE_SECONDS
        outage: PracticeUnavailable | None = None
        if inbound.claim is not None:
            try:
                claimed = await self._claimed_patient(inbound)
            except IdentityCheckUnavailable as error:
                # Nobody can be bound: the turn is answered anonymously (an emergency still
                # gets its reply) and the binding cleared, as for a claim matching nobody.
                claimed, outage = None, PracticeUnavailable(str(error))
            inbound = replace(inbound, patient=claimed)
        # A channel's user has one conversation, so the user key serves as the lock key: the
        # conversation is opened (and its state read) once, inside the lock.
        async with self._lock(inbound.channel, inbound.user_id):  # one at a time, in order
            return await self._respond_in_order(inbound, text, button, outage)

    async def _admit(self, inbound: Inbound, text: str | None) -> None:
        """Count the message against its rate limits; RateLimited when one is exceeded.

        An emergency is never refused: a message over a limit is triaged (by rules) and an
        emergency goes on to its fixed reply and escalation. Only a refusal triages, so the
        turn's own triage is the only one an admitted message costs.
        """
        if self._limiter is None or not inbound.rate_keys:
            return
        refusal = await self._limiter.hit(inbound.rate_keys)
        if refusal is None:
            return
        if text is not None and self._runtime().triager.triage(text).urgency is Urgency.EMERGENCY:
            return
        if refusal.first:  # once per key and window: a flood must not flood the log too
            logger.info(
                "messages refused by a rate limit until the window ends",
                extra={"channel": inbound.channel, "scope": refusal.scope.value},
            )
        raise RateLimited(refusal)

    async def _respond_in_order(
        self,
        inbound: Inbound,
        text: str | None,
        button: str | None,
        outage: PracticeUnavailable | None,
    ) -> Reply:
        runtime = self._runtime()
        if button is not None:
            await self._check_first_button(runtime, inbound, button)
        conversation = await self._store.open_turn(
            inbound.channel,
            inbound.user_id,
            language=detect_language(text) if text else "he",
            patient_id=inbound.patient.id if inbound.patient is not None else None,
            rebind=inbound.claim is not None,
            history=HISTORY_MESSAGES,
            text=text,
            idempotency_key=inbound.idempotency_key,
        )
        if conversation.answered is not None:
            return _replayed(conversation.id, conversation.answered)
        await self._announce_closed(conversation.id, conversation.closed_escalations)
        finished = False
        try:
            async with renewed(
                lambda: self._store.renew_turn(conversation),
                every=self._store.turn_lease / 3,
                name="conversation turn",
            ):
                reply = await self._answer_turn(
                    runtime, conversation, inbound, text, button, outage
                )
            finished = True
            return reply
        finally:
            if not finished:
                await self._store.abandon_turn(conversation)

    async def _check_first_button(self, runtime: Runtime, inbound: Inbound, button: str) -> None:
        """A first contact's button meets a new conversation's (empty) state: it is checked
        before the conversation is created, so a refused button creates nothing. (A known
        user's button is checked inside the turn, against the state it reads.)"""
        if await self._store.find(inbound.channel, inbound.user_id) is not None:
            return
        blank = self._turn(runtime, "he", inbound.patient, ConversationState())
        if not await _applies(blank, button):
            raise StaleButton(STALE)

    async def _answer_turn(
        self,
        runtime: Runtime,
        conversation: ConversationRecord,
        inbound: Inbound,
        text: str | None,
        button: str | None,
        outage: PracticeUnavailable | None,
    ) -> Reply:
        conversation_id = conversation.id
        language = as_language(conversation.language)
        if text:
            language = detect_language(text, default=language)
        patient = inbound.patient
        if patient is None and conversation.patient_id is not None:
            try:
                patient = await self._backend.get_patient(conversation.patient_id)
            except PracticeUnavailable as error:
                outage = error  # who is writing is unknown this turn: nothing of theirs runs
            except PatientNotFound:
                # Deleted or merged in the practice system since: the binding points at
                # nobody (or, later, at someone else), so it goes, and the patient proves
                # who they are again.
                await self._store.bind_patient(conversation_id, None, claimed=False)
        memory, stats = await self._recall(patient, conversation.id)
        new_conversation = not conversation.state.greeted and not conversation.history
        remembered = starting_language(memory, new_conversation=new_conversation, text=text)
        language = remembered or language
        turn = self._turn(runtime, language, patient, conversation.state)
        turn.practice_outage = outage
        turn.memory, turn.pattern_stats = memory, stats
        if button is not None and not await _applies(turn, button):
            raise StaleButton(STALE)
        message_id = conversation.message_id
        if message_id is None:  # a button: stored once it is known to apply
            message_id = await self._store.add_patient_message(
                conversation_id,
                text="",
                button=button,
                language=language,
                idempotency_key=inbound.idempotency_key,
            )
        first_contact = not turn.state.greeted
        guard_events: list[tuple[str, str]] = []
        answer = await self._answer(runtime, turn, text, button, conversation, guard_events)
        urgency, intent = answer.urgency, answer.intent
        reply_text = await self._guard_output(runtime, turn, answer.text, urgency, guard_events)
        pattern = runtime.bundle.memory.label(intent=intent, urgency=urgency)
        if reply_text and urgency != Urgency.EMERGENCY.value:
            if (note := open_escalation_note(turn)) is not None:
                reply_text = f"{note}\n{reply_text}"
            offer_booking_by_pattern(turn, pattern)
        if first_contact:
            reply_text = f"{turn.message('disclosure')}\n{reply_text}"
            turn.state.greeted = True
        architecture = runtime.agent.architecture
        finished = await self._store.finish_turn(
            conversation,
            message=PatientMessageLabels(
                message_id=message_id,
                urgency=urgency,
                intent=intent,
                memory_pattern=pattern,
                safety_answer=answer.safety_answer,
                triage_decided_by=answer.triage.decided_by if answer.triage else None,
                triage_score=answer.triage.score if answer.triage else None,
            ),
            reply=StoredReply(
                text=reply_text,
                language=language,
                urgency=urgency,
                intent=intent,
                memory_pattern=pattern,
                bundle_version=runtime.bundle.version,
                model=answer.model,
                architecture=architecture,
                llm_calls=answer.llm_calls,
                tokens=answer.tokens,
                buttons=tuple(turn.buttons),
                actions=tuple(turn.actions),
                outcomes=tuple(turn.outcomes),
            ),
            state=turn.state,
            escalations=turn.escalations,
            guard_events=guard_events,
        )
        escalation = finished.escalation
        await self._announce_closed(conversation.id, finished.closed_escalations)
        await self._tell_watch(conversation, escalation)
        if self._memory is not None:  # after the commit: the graph follows the app database
            self._memory.remember_later(finished.facts)
        return Reply(
            conversation_id=conversation_id,
            language=language,
            urgency=urgency,
            intent=intent,
            text=reply_text,
            buttons=tuple(turn.buttons),
            escalation=escalation,
            actions=tuple(turn.actions),
            bundle_version=runtime.bundle.version,
            model=answer.model,
            architecture=architecture,
            llm_calls=answer.llm_calls,
            tokens=answer.tokens,
            agents=answer.agents,
            guard_events=tuple(kind for kind, _ in guard_events),
            clinic_topic=answer.clinic_topic,
            treatment=answer.treatment,
            triage_decided_by=answer.triage.decided_by if answer.triage else None,
            triage_score=answer.triage.score if answer.triage else None,
            intent_source=answer.intent_source,
        )

    async def _recall(
        self, patient: Patient | None, conversation_id: str
    ) -> tuple[PatientMemory | None, dict[str, PatternOutcomes]]:
        """What memory holds for this turn: the verified patient's memory (None for a visitor
        or when the store could not say) and the clinic-wide pattern statistics."""
        if self._memory is None:
            return None, {}
        if patient is None:
            stats = await self._memory.pattern_stats()
            return None, {s.pattern: s for s in stats}
        memory, stats = await asyncio.gather(
            self._memory.recall(patient.id, conversation_id=conversation_id),
            self._memory.pattern_stats(),
        )
        return memory, {s.pattern: s for s in stats}

    async def _announce_closed(self, conversation_id: str, closed: tuple[str, ...]) -> None:
        """Escalations closed because someone else writes in their conversation now: the
        staff console and the dentists' pages hear of it, and memory gives each its close."""
        if not closed:
            return
        if self._watch is not None:
            try:
                for escalation_id in closed:
                    await self._watch.escalation_closed(escalation_id)
                await self._watch.conversation_changed(conversation_id)
            except Exception:  # the close is stored; pages see it when they next look
                logger.exception("the escalation watch failed after an escalation closed")
        if self._memory is not None:
            facts = await self._store.remembered(conversation_id)
            if facts is not None:
                self._memory.remember_later(facts)

    async def _tell_watch(
        self, conversation: ConversationRecord, escalation: tuple[str, str] | None
    ) -> None:
        if self._watch is None or (escalation is None and conversation.escalation_id is None):
            return
        try:
            if escalation is not None:
                await self._watch.escalation_raised(*escalation)
            await self._watch.conversation_changed(conversation.id)
        except Exception:  # the turn is stored; the dispatcher's own poll still finds it
            logger.exception("the escalation watch failed after a turn")

    async def _answer(
        self,
        runtime: Runtime,
        turn: Turn,
        text: str | None,
        button: str | None,
        conversation: ConversationRecord,
        guard_events: list[tuple[str, str]],
    ) -> Answer:
        # A safety question is answered by the next message, or dropped: a later "yes" must
        # not be read as an answer to it.
        check, turn.state.safety_check = turn.state.safety_check, None
        if conversation.held_by is not None:
            return self._while_held(runtime, turn, text, button, check)
        if button in (SAFETY_YES, SAFETY_NO):
            if button == SAFETY_YES:
                return self._safety_yes(runtime, turn, check)
            assert check is not None  # button_applies: "no" only while a question waits
            return await self._safety_no(runtime, turn, check, conversation, guard_events)
        if button is not None:
            intent = button_intent(turn, button)
            try:
                if turn.practice_outage is not None and not button.startswith("callback:"):
                    raise turn.practice_outage
                reply = (await press_button(turn, button)).text
            except PracticeError as error:
                reply = self._practice_failure(turn, error, intent)
            return Answer(reply, Urgency.ROUTINE.value, intent, intent_source="button")
        assert text is not None
        triage = runtime.triager.triage(text)
        # An emergency in the answer is handled as one, whatever the question was.
        if check is not None and triage.urgency is not Urgency.EMERGENCY:
            said = runtime.triager.safety_answer(text)
            if said == "yes":
                return self._safety_yes(runtime, turn, check)
            if said == "no":
                return await self._safety_no(runtime, turn, check, conversation, guard_events)
        answer, understanding = await self._answer_understood(
            runtime, turn, text, triage, conversation, guard_events
        )
        return replace(
            answer,
            triage=triage,
            intent_source=answer.intent_source or understanding.intent_source,
        )

    async def _answer_understood(
        self,
        runtime: Runtime,
        turn: Turn,
        text: str,
        triage: Triage,
        conversation: ConversationRecord,
        guard_events: list[tuple[str, str]],
        *,
        ask_safety: bool = True,
    ) -> tuple[Answer, Understanding]:
        """`text` read by the NLU and answered as `triage` says, with the NLU's labels."""
        understanding = runtime.nlu.understand(text, today=turn.now.astimezone(self._tz).date())
        answer = await self._answer_text(
            runtime,
            turn,
            text,
            triage,
            understanding.intent.value,
            conversation,
            guard_events,
            ask_safety=ask_safety,
        )
        labelled = replace(
            answer, clinic_topic=understanding.clinic_topic, treatment=understanding.treatment
        )
        return labelled, understanding

    def _while_held(
        self,
        runtime: Runtime,
        turn: Turn,
        text: str | None,
        button: str | None,
        check: SafetyCheck | None,
    ) -> Answer:
        """A dentist holds the conversation: the assistant says nothing, except what the
        safety layer says (an emergency still gets its fixed reply, and raises the
        escalation, so the dentist is alerted again)."""
        if button == SAFETY_YES:
            return self._safety_yes(runtime, turn, check)
        if text is not None:
            triage = runtime.triager.triage(text)
            if triage.urgency is Urgency.EMERGENCY:
                answer = self._emergency(runtime, turn, text, triage)
                return replace(answer, triage=triage)
        turn.actions.append("held_by_doctor")
        return Answer("", Urgency.ROUTINE.value, "held_by_doctor", intent_source="doctor")

    def _emergency(self, runtime: Runtime, turn: Turn, text: str, triage: Triage) -> Answer:
        """The fixed emergency reply and an EMERGENCY escalation: no model is asked."""
        turn.escalations.append(
            EscalationRequest(urgency="EMERGENCY", summary=_summary(text), reasons=triage.reasons)
        )
        turn.actions.append("emergency_escalation")
        # A model-raised emergency names no class: the medical reply fits any.
        kind = triage.reply or ReplyKind.MEDICAL
        reply = runtime.triager.emergency_reply(turn.language, kind)
        return Answer(reply, triage.urgency.value, "emergency", intent_source="triage")

    def _safety_yes(self, runtime: Runtime, turn: Turn, check: SafetyCheck | None) -> Answer:
        """Yes to the safety question: the emergency reply and an EMERGENCY escalation (a
        "Yes" pressed after the question was dropped counts too: danger is never stale)."""
        summary = _summary(check.text) if check is not None else _SAFETY_YES_SUMMARY
        turn.escalations.append(
            EscalationRequest(
                urgency=Urgency.EMERGENCY.value, summary=summary, reasons=(_SAFETY_YES_REASON,)
            )
        )
        turn.actions.append("emergency_escalation")
        reply = runtime.triager.emergency_reply(turn.language)
        return Answer(reply, Urgency.EMERGENCY.value, "emergency", safety_answer="yes")

    async def _safety_no(
        self,
        runtime: Runtime,
        turn: Turn,
        check: SafetyCheck,
        conversation: ConversationRecord,
        guard_events: list[tuple[str, str]],
    ) -> Answer:
        """No to the safety question: the message it was asked about is answered as its
        triage says (the doctor-required reply and escalation), without asking again."""
        answer, _ = await self._answer_understood(
            runtime,
            turn,
            check.text,
            runtime.triager.triage(check.text),
            conversation,
            guard_events,
            ask_safety=False,
        )
        return replace(answer, safety_answer="no")

    async def _answer_text(
        self,
        runtime: Runtime,
        turn: Turn,
        text: str,
        triage: Triage,
        intent: str,
        conversation: ConversationRecord,
        guard_events: list[tuple[str, str]],
        *,
        ask_safety: bool = True,
    ) -> Answer:
        if triage.urgency is Urgency.EMERGENCY:
            return self._emergency(runtime, turn, text, triage)
        if triage.safety_question and ask_safety:
            return self._ask_safety_question(runtime, turn, text, intent, triage)
        verdict = inspect_input(text, runtime.bundle.safety)
        if verdict.injection:
            guard_events.append(("input_injection", ", ".join(verdict.reasons)))
            quick_actions(turn)
            return Answer(turn.message("injection_refusal"), triage.urgency.value, intent)
        prefix = ""
        if triage.urgency is Urgency.DOCTOR_REQUIRED:
            turn.escalations.append(
                EscalationRequest(
                    urgency="DOCTOR_REQUIRED", summary=_summary(text), reasons=triage.reasons
                )
            )
            turn.actions.append("doctor_escalation")
            prefix = runtime.triager.doctor_required_reply(turn.language)
            if intent not in ACTIONABLE_INTENTS:
                turn.button("button_book", "quick:book")
                return Answer(prefix, triage.urgency.value, intent)
        try:
            if turn.practice_outage is not None:
                raise turn.practice_outage
            context = TurnContext.of_turn(
                turn,
                agent=runtime.agent.architecture,
                urgency=triage.urgency.value,
                providers=await turn.provider_names(),
            )
            messages: list[BaseMessage] = [
                context.to_message(),
                *_history(conversation),
                HumanMessage(text),
            ]
            outcome = await runtime.agent.run(messages, turn, language=turn.language)
        except PracticeError as error:
            failure = self._practice_failure(turn, error, intent)
            reply = f"{prefix}\n\n{failure}" if prefix else failure
            return Answer(reply, triage.urgency.value, intent)
        reply = f"{prefix}\n\n{outcome.reply}" if prefix else outcome.reply
        if not turn.buttons and intent in {"other", "greeting", "medical_question"}:
            quick_actions(turn)
        return Answer(
            reply,
            triage.urgency.value,
            intent,
            model=outcome.model,
            llm_calls=outcome.llm_calls,
            tokens=outcome.tokens,
            agents=outcome.agents,
        )

    def _ask_safety_question(
        self, runtime: Runtime, turn: Turn, text: str, intent: str, triage: Triage
    ) -> Answer:
        """A possible danger without a clear red flag: escalate as the urgency demands (at
        least DOCTOR_REQUIRED) and ask one short question, with Yes/No buttons; the next
        message answers it (`_answer`)."""
        turn.escalations.append(
            EscalationRequest(
                urgency=triage.urgency.value, summary=_summary(text), reasons=triage.reasons
            )
        )
        turn.actions += ["doctor_escalation", "safety_question"]
        question, yes, no = runtime.triager.safety_question(turn.language)
        turn.buttons += [Button(text=yes, data=SAFETY_YES), Button(text=no, data=SAFETY_NO)]
        turn.state.safety_check = SafetyCheck(text=text)
        return Answer(question, triage.urgency.value, intent)

    def _practice_failure(self, turn: Turn, error: PracticeError, intent: str) -> str:
        """The answer when the practice system failed in the turn. Out of reach, or unable to
        show what was asked (PracticeMisconfigured): said plainly, with a call-back to
        reception offered; nothing the failed step began is reported as done. Another
        refusal: its reason."""
        if isinstance(error, PracticeUnavailable):
            # The operator's reason: practice errors carry no patient data (errors.py).
            logger.warning(
                "practice system unavailable",
                extra={"error": type(error).__name__, "reason": str(error), "intent": intent},
            )
            cannot_show = isinstance(error, PracticeMisconfigured)
            offered = offer_callback(turn, intent, cannot_show=cannot_show)
            turn.actions.append(offered.kind)
            return offered.text
        return turn.message("booking_refused", reason=str(error))

    async def _guard_output(
        self,
        runtime: Runtime,
        turn: Turn,
        reply: str,
        urgency: str,
        guard_events: list[tuple[str, str]],
    ) -> str:
        if urgency == Urgency.EMERGENCY.value or not reply:
            return reply  # the fixed reply from the rules, or silence while a dentist holds
        verdict = runtime.output_guard.check(reply, allowed=await self._allowed(turn, reply))
        if verdict.ok:
            return reply
        guard_events.append(("output_blocked", ", ".join(verdict.violations)))
        logger.warning(
            "reply replaced by the output guard", extra={"violations": verdict.violations}
        )
        turn.buttons.clear()
        quick_actions(turn)
        return runtime.output_guard.safe_reply(turn.language)

    async def _allowed(self, turn: Turn, reply: str) -> AllowedData:
        clinic = self._clinic.current()
        phones = {clinic.phone, clinic.urgent_line} - {""}
        emails: set[str] = set()
        invoices: set[str] = set()
        names: set[str] = set()
        if turn.patient is not None:
            phones.add(turn.patient.phone)
            if turn.patient.email:
                emails.add(turn.patient.email)
            names |= {turn.patient.full_name, turn.patient.name_he or ""}
            if "INV" in reply.upper():
                invoices = await _invoice_numbers(turn)
        return AllowedData(
            phones=frozenset(phones),
            emails=frozenset(emails),
            invoice_numbers=frozenset(invoices),
            names=frozenset(n for n in names if n),
        )

    # --- the rest of the door: what a channel asks outside a turn -------------------------

    async def verify_identity(
        self,
        channel: str,
        user_id: str,
        *,
        phone: str | None,
        proof: IdentityProof,
        language_hint: str = "he",
    ) -> Verification:
        """Bind the conversation to the single patient with `phone`, or to nobody.

        Every call replaces the earlier binding (see `identity.py`). Raises UnprovenIdentity
        when `proof` is not the channel's, IdentityCheckUnavailable when the practice system
        cannot be asked (the binding is then left as it was).
        """
        require_proof(channel, proof)
        async with self._lock(channel, user_id):
            conversation = await self._store.conversation(
                channel, user_id, language=as_language(language_hint)
            )
            outcome, patient = await find_patient(self._backend, phone, self._region)
            closed = await self._store.bind_patient(
                conversation.id, patient.id if patient is not None else None
            )
            await self._announce_closed(conversation.id, closed)
        logger.info(
            "identity asserted",
            extra={"channel": channel, "proof": proof.value, "outcome": outcome.value},
        )
        language = as_language(conversation.language)
        name = first_name(patient, language) if patient is not None else None
        return Verification(outcome=outcome, language=language, name=name)

    async def my_data_link(
        self,
        channel: str,
        user_id: str,
        *,
        language_hint: str = "he",
        rate_keys: tuple[RateKey, ...] = (),
    ) -> MyDataLink:
        """A private link to the verified patient's own data (what is remembered, a copy of
        everything, erasure: docs/PRIVACY.md), for PATIENT_LINK_MINUTES; nothing is created
        for a user without a verified conversation. Counted against `rate_keys` like a
        message (RateLimited over a limit): each link is a row."""
        if self._limiter is not None and rate_keys:
            refusal = await self._limiter.hit(rate_keys)
            if refusal is not None:
                raise RateLimited(refusal)
        record = await self._store.find(channel, user_id)
        language = as_language(record.language if record is not None else language_hint)
        if record is None or record.patient_id is None:
            return MyDataLink(language, self.message(language, "my_data_verify_first"), False)
        if self._patient_links is None:  # an app built without them (some tests)
            return MyDataLink(language, self.message(language, "temporary_error"), True)
        try:
            issued = await self._patient_links.issue(record.id)
        except NotVerified:  # unbound since it was read
            return MyDataLink(language, self.message(language, "my_data_verify_first"), False)
        logger.info("patient data link issued", extra={"channel": channel})
        minutes = round(self._patient_links.valid_for.total_seconds() / 60)
        url = my_data_url(self._public_base_url, issued.token, language)
        return MyDataLink(
            language, self.message(language, "my_data_link", url=url, minutes=minutes), True
        )

    def triage(self, text: str) -> Triage:
        """The urgency the bundle's rules and triage classifier give `text` (no language model,
        nothing stored); the text is cleaned, and refused with InvalidMessage, exactly as a
        chat message is."""
        return self._runtime().triager.triage(clean_text(text))

    async def conversation(
        self, channel: str, user_id: str, *, language_hint: str = "he", create: bool = True
    ) -> ConversationView:
        """The user's conversation (created on first contact, in `language_hint`); with
        `create=False` nothing is created, and a user without one reads as an unverified
        conversation in `language_hint` whose `id` is None."""
        if create:
            record = await self._store.conversation(
                channel, user_id, language=as_language(language_hint)
            )
            return _view(record)
        found = await self._store.find(channel, user_id)
        if found is None:
            return ConversationView(id=None, language=as_language(language_hint), verified=False)
        return _view(found)

    async def set_language(self, channel: str, user_id: str, language: str) -> ConversationView:
        """The patient's chosen language, the default of later turns. InvalidMessage for a
        language the assistant does not speak."""
        if language not in ("he", "en"):
            raise InvalidMessage("the language must be he or en")
        record = await self._store.conversation(channel, user_id, language=language)
        await self._store.set_language(record.id, language)
        return ConversationView(id=record.id, language=language, verified=_verified(record))

    async def welcome(self, channel: str, user_id: str, *, language_hint: str = "he") -> Welcome:
        """The disclosure, the greeting and the quick actions in the conversation's language;
        the conversation counts as greeted afterwards (its first answer repeats nothing)."""
        await self._clinic.refresh()
        record = await self._store.conversation(
            channel, user_id, language=as_language(language_hint)
        )
        language = as_language(record.language)
        await self._store.mark_greeted(record.id)
        text = "\n".join((self.message(language, "disclosure"), self.message(language, "greeting")))
        return Welcome(
            language=language,
            text=text,
            buttons=self.quick_actions(language),
            identity_needed=not _verified(record),
        )

    def quick_actions(self, language: str) -> tuple[Button, ...]:
        """The buttons a patient always has (book, invoices, a dentist)."""
        turn = self._turn(self._runtime(), as_language(language), None, ConversationState())
        quick_actions(turn)
        return tuple(turn.buttons)

    def message(self, language: str, key: str, **values: object) -> str:
        """A text of the bundle's message catalog, with the clinic's details filled in."""
        bundle = self._runtime().bundle
        return catalog_text(bundle, self._clinic.current(), as_language(language), key, **values)

    def place(self, language: str) -> Place:
        """The clinic as a place on a map (coordinates None when the profile has none)."""
        lang = as_language(language)
        clinic = self._clinic.current()
        location = clinic.location
        return Place(
            title=clinic.name(lang),
            address=clinic.address(lang),
            latitude=location.latitude if location is not None else None,
            longitude=location.longitude if location is not None else None,
        )

    async def _claimed_patient(self, inbound: Inbound) -> Patient | None:
        """The patient the inbound's claim names; InvalidPhone (nothing stored) for a phone
        that is not one."""
        assert inbound.claim is not None
        require_proof(inbound.channel, inbound.claim.proof)
        outcome, patient = await find_patient(self._backend, inbound.claim.phone, self._region)
        if outcome is VerificationOutcome.INVALID_PHONE:
            raise InvalidPhone(
                "not a valid phone number: use the international form (+972501234567) "
                "or the Israeli local form (050-123-4567)"
            )
        return patient

    def _lock(self, channel: str, user_id: str) -> asyncio.Lock:
        return self._locks.setdefault(f"{channel}:{user_id}", asyncio.Lock())

    def _turn(
        self,
        runtime: Runtime,
        language: Language,
        patient: Patient | None,
        state: ConversationState,
    ) -> Turn:
        """A turn on this clinic and the runtime's bundle, at the clock's now."""
        return Turn(
            backend=self._backend,
            bundle=runtime.bundle,
            clinic=self._clinic.current(),
            language=language,
            patient=patient,
            state=state,
            now=self._now(),
            tz=self._tz,
        )


async def _applies(turn: Turn, button: str) -> bool:
    """Whether the button belongs to the conversation's state. When the practice system cannot
    say (a treatment button, checked against its treatments), it is taken to: pressing it
    meets the outage, which is answered with the call-back."""
    try:
        return await button_applies(turn, button)
    except PracticeUnavailable:
        return True


async def _invoice_numbers(turn: Turn) -> set[str]:
    """The patient's invoice numbers; none when the practice system cannot say (a reply naming
    one is then held back by the guard)."""
    try:
        return {i.number for i in await turn.patient_invoices()}
    except PracticeUnavailable:
        return set()


def _verified(record: ConversationRecord) -> bool:
    return record.patient_id is not None


def _view(record: ConversationRecord) -> ConversationView:
    return ConversationView(
        id=record.id, language=as_language(record.language), verified=_verified(record)
    )


def _replayed(conversation_id: str, stored: StoredReply) -> Reply:
    """The reply a previous attempt stored for this message, as the channel sends it."""
    return Reply(
        conversation_id=conversation_id,
        language=stored.language,
        urgency=stored.urgency,
        intent=stored.intent,
        text=stored.text,
        buttons=stored.buttons,
        escalation=None,
        actions=stored.actions,
        bundle_version=stored.bundle_version,
        model=stored.model,
        architecture=stored.architecture,
        llm_calls=stored.llm_calls,
        tokens=stored.tokens,
        replayed=True,
    )


def _history(conversation: ConversationRecord) -> list[BaseMessage]:
    """Recent exchanges (without the message being answered) for models that read them."""
    history: list[BaseMessage] = []
    for message in conversation.history:
        if message.role == "patient":
            history.append(HumanMessage(message.text or f"[button {message.button}]"))
        else:
            history.append(AIMessage(message.text))
    return history


_SAFETY_YES_REASON = "fail_safe.safety_question_yes"
_SAFETY_YES_SUMMARY = "The patient answered yes to the safety question."


def _summary(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."
