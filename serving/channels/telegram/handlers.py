"""One Telegram update in, the Bot API calls that answer it out (its outbox).

Patient messages and button presses go through `Assistant.respond`, exactly like the chat API,
so triage, emergencies, guards and identity rules are the same; the welcome, the language, the
quick actions and identity are the assistant's too (`serving.assistant`, its public names only).
What is Telegram's own is here: commands, keyboards, which contact counts as the sender's own,
the clinic on a map and the care card.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from telegram import Bot, CallbackQuery, Message, User

from serving.assistant import (
    Assistant,
    ConversationView,
    IdentityCheckUnavailable,
    IdentityProof,
    Inbound,
    InvalidButton,
    InvalidMessage,
    Place,
    RateKey,
    RateLimited,
    Reply,
    StaleButton,
    VerificationOutcome,
)
from serving.channels.telegram.files import care_card
from serving.channels.telegram.formatting import escape_html, html_chunks
from serving.channels.telegram.keyboards import REMOVE_SPEC, contact_spec, inline_spec
from serving.channels.telegram.outbound import Outgoing, Sender
from serving.channels.telegram.updates import (
    kind_of,
    language_code_of,
    private_chat_of,
    read_update,
    update_id_of,
)
from serving.language import Language, as_language

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
DEEP_LINK_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEEP_LINK_BUTTONS = {"book": "quick:book", "invoices": "quick:invoices", "doctor": "quick:doctor"}
BOOKING_INTENTS = frozenset(
    {"book_appointment", "reschedule_appointment", "cancel_appointment", "my_appointments"}
)
COMMANDS = ("start", "help", "language", "location", "mydata")
"""The commands of the menu (setMyCommands), each described by `telegram_command_<name>`."""


def language_hint(user: User | None) -> Language:
    """Telegram's language code is only a hint, used until the patient writes or chooses."""
    return language_of_code(user.language_code if user is not None else None)


def language_of_code(code: str | None) -> Language:
    """The language for a Telegram `language_code`: Hebrew when absent or Hebrew, else English."""
    if not code or code.startswith(("he", "iw")):
        return "he"
    return "en"


class UpdateHandler:
    def __init__(self, *, bot: Bot, assistant: Assistant, sender: Sender) -> None:
        self._bot = bot
        self._assistant = assistant
        self._sender = sender

    async def plan(self, payload: dict[str, Any]) -> list[Outgoing]:
        """The calls that answer the update (empty for updates that need no answer);
        UnreadableUpdate when python-telegram-bot cannot parse it."""
        update = read_update(payload, self._bot)
        # The message's idempotency key: a retried update's turn is not run twice.
        key = f"telegram-update:{update_id_of(payload)}"
        if update.callback_query is not None:
            return await self._callback(update.callback_query, key)
        if update.message is not None:
            return await self._message(update.message, key)
        # Edited messages are not answered again (the original was); channel posts, polls,
        # membership changes and types newer than this code need no answer.
        logger.info("telegram update ignored", extra={"kind": kind_of(payload)})
        return []

    async def apology(self, payload: dict[str, Any]) -> list[Outgoing]:
        """The message for a dead-lettered update (unreadable, or failing after its retries),
        to a private chat only. Read from the raw payload, never parsed: it may be the very
        payload python-telegram-bot could not parse."""
        chat_id = private_chat_of(payload)
        if chat_id is None:
            return []
        language = language_of_code(language_code_of(payload))
        return [self._text(chat_id, self._message_text(language, "temporary_error"))]

    # --- messages -------------------------------------------------------------------------

    async def _message(self, message: Message, key: str) -> list[Outgoing]:
        user = message.from_user
        chat_id = message.chat.id
        if message.chat.type != "private":
            # Patients' data never goes to groups or channels: say so once and leave.
            logger.info("telegram group chat declined", extra={"chat_type": message.chat.type})
            declined = self._message_text(language_hint(user), "telegram_group_declined")
            leave = Outgoing("leave_chat", {"chat_id": chat_id}, essential=False)
            return [self._text(chat_id, declined), leave]
        if user is None or user.is_bot:
            return []
        conversation = await self._open(user)
        language = _language(conversation)
        if message.contact is not None:
            return await self._contact(message, language)
        text = message.text
        if text is None:
            logger.info("telegram message without text", extra={"content": _content(message)})
            return [self._text(chat_id, self._message_text(language, "telegram_unsupported"))]
        if text.startswith("/"):
            return await self._command(message, text, conversation, language, key)
        return await self._ask(chat_id, user, conversation, key, text=text)

    async def _ask(
        self,
        chat_id: int,
        user: User,
        conversation: ConversationView,
        key: str,
        *,
        text: str | None = None,
        button: str | None = None,
    ) -> list[Outgoing]:
        """The answer to a message (or a deep link's button); over the chat's rate limit, a
        notice the first time in the window and silence after."""
        try:
            return await self._respond(chat_id, user, conversation, key, text=text, button=button)
        except RateLimited as limited:
            if not limited.first:
                return []
            return [self._text(chat_id, self._rate_notice(_language(conversation), limited))]

    async def _respond(
        self,
        chat_id: int,
        user: User,
        conversation: ConversationView,
        key: str,
        *,
        text: str | None = None,
        button: str | None = None,
    ) -> list[Outgoing]:
        if button is None:  # a pressed button shows its own spinner until answered
            await self._sender.typing(chat_id)
        try:
            reply = await self._assistant.respond(
                Inbound(
                    channel=CHANNEL,
                    user_id=str(user.id),
                    text=text,
                    button=button,
                    rate_keys=(RateKey.telegram_chat(chat_id),),
                    idempotency_key=key,
                )
            )
        except InvalidMessage:
            key = "telegram_invalid_message"
            return [self._text(chat_id, self._message_text(_language(conversation), key))]
        return self._answer(chat_id, reply, text)

    def _answer(self, chat_id: int, reply: Reply, text: str | None) -> list[Outgoing]:
        if not reply.text:  # a dentist holds the conversation: the assistant is silent
            return []
        language = as_language(reply.language)
        chunks = html_chunks(reply.text)
        keyboard = (
            contact_spec(self._message_text(language, "telegram_share_phone_button"))
            if "identity_required" in reply.actions
            else inline_spec(reply.buttons)
        )
        calls = [self._html(chat_id, chunk) for chunk in chunks[:-1]]
        calls.append(self._html(chat_id, chunks[-1], keyboard))
        if text is not None and reply.urgency != "EMERGENCY":
            calls += self._extras(chat_id, reply, language)
        return calls

    def _extras(self, chat_id: int, reply: Reply, language: Language) -> list[Outgoing]:
        """The clinic on a map when the patient asked where it is; the care card when the
        patient asked about an extraction (other than booking one). What the patient asked
        about comes with the reply (`Reply.clinic_topic`, `Reply.treatment`)."""
        extras: list[Outgoing] = []
        if reply.intent == "clinic_info" and reply.clinic_topic == "address":
            extras += self._location(chat_id, language)
        if reply.treatment == "extraction" and reply.intent not in BOOKING_INTENTS:
            extras.append(self._care_card(chat_id, language))
        return extras

    # --- commands --------------------------------------------------------------------------

    async def _command(
        self,
        message: Message,
        text: str,
        conversation: ConversationView,
        language: Language,
        key: str,
    ) -> list[Outgoing]:
        head, _, argument = text.partition(" ")
        command = head[1:].split("@", 1)[0].lower()
        argument = argument.strip()
        chat_id = message.chat.id
        if command == "start":
            return await self._start(message, argument, conversation, language, key)
        if command == "help":
            keyboard = await self._menu_keyboard(conversation, language)
            help_text = self._message_text(language, "telegram_help")
            return [self._html(chat_id, escape_html(help_text), keyboard)]
        if command == "language":
            if argument.lower() not in ("he", "en"):
                usage = self._message_text(language, "telegram_language_usage")
                return [self._text(chat_id, usage)]
            chosen: Language = "he" if argument.lower() == "he" else "en"
            await self._assistant.set_language(CHANNEL, _user_key(message), chosen)
            return [self._text(chat_id, self._message_text(chosen, "telegram_language_set"))]
        if command == "location":
            return self._location(chat_id, language)
        if command == "mydata":
            return await self._my_data(message, language)
        return [self._text(chat_id, self._message_text(language, "telegram_unknown_command"))]

    async def _start(
        self,
        message: Message,
        payload: str,
        conversation: ConversationView,
        language: Language,
        key: str,
    ) -> list[Outgoing]:
        """Welcome (the bot disclosure and what it can do) with the quick actions; a deep link
        (`t.me/<bot>?start=<payload>`) may choose the language or start a quick action."""
        chat_id = message.chat.id
        if payload and not DEEP_LINK_PAYLOAD.match(payload):
            payload = ""
        if payload in ("he", "en"):
            await self._assistant.set_language(CHANNEL, _user_key(message), payload)
        elif payload and payload not in DEEP_LINK_BUTTONS:
            logger.info("unknown deep-link payload", extra={"length": len(payload)})
        welcome = await self._assistant.welcome(CHANNEL, _user_key(message), language_hint=language)
        language = as_language(welcome.language)
        calls = [self._html(chat_id, escape_html(welcome.text), inline_spec(welcome.buttons))]
        if welcome.identity_needed:
            prompt = self._message_text(language, "telegram_share_phone_prompt")
            label = self._message_text(language, "telegram_share_phone_button")
            calls.append(self._html(chat_id, escape_html(prompt), contact_spec(label)))
        if payload in DEEP_LINK_BUTTONS and message.from_user is not None:
            calls += await self._ask(
                chat_id, message.from_user, conversation, key, button=DEEP_LINK_BUTTONS[payload]
            )
        return calls

    async def _my_data(self, message: Message, language: Language) -> list[Outgoing]:
        """The verified patient's private link to their own data; anyone else is asked to
        share their phone first."""
        chat_id = message.chat.id
        try:
            link = await self._assistant.my_data_link(
                CHANNEL,
                _user_key(message),
                language_hint=language,
                rate_keys=(RateKey.telegram_chat(chat_id),),
            )
        except RateLimited as limited:
            return (
                [self._text(chat_id, self._rate_notice(language, limited))] if limited.first else []
            )
        if not link.verified:
            label = self._message_text(as_language(link.language), "telegram_share_phone_button")
            return [self._html(chat_id, escape_html(link.text), contact_spec(label))]
        # Not essential: a link that could not be delivered is only logged, never kept among
        # the failed deliveries staff read; the patient asks again. Secret: once sent, the
        # update's outbox no longer holds it.
        params = {"chat_id": chat_id, "text": escape_html(link.text)}
        return [Outgoing("send_message", params, essential=False, secret=True)]

    async def _menu_keyboard(
        self, conversation: ConversationView, language: Language
    ) -> dict[str, Any] | None:
        if not conversation.verified:
            return contact_spec(self._message_text(language, "telegram_share_phone_button"))
        return self._quick_actions(language)

    # --- identity --------------------------------------------------------------------------

    async def _contact(self, message: Message, language: Language) -> list[Outgoing]:
        """A shared contact proves the phone only when it is the sender's own; whatever it
        matches (one patient, nobody) replaces the conversation's earlier identity."""
        contact, chat_id = message.contact, message.chat.id
        assert contact is not None and message.from_user is not None
        if contact.user_id != message.from_user.id:
            logger.info("telegram contact refused: not the sender's own")
            label = self._message_text(language, "telegram_share_phone_button")
            refusal = self._message_text(language, "telegram_contact_not_own")
            return [self._html(chat_id, escape_html(refusal), contact_spec(label))]
        try:
            verification = await self._assistant.verify_identity(
                CHANNEL,
                _user_key(message),
                phone=_international(contact.phone_number),
                proof=IdentityProof.TELEGRAM_OWN_CONTACT,
                language_hint=language,
            )
        except IdentityCheckUnavailable:
            failure = self._message_text(language, "temporary_error")
            return [self._html(chat_id, escape_html(failure), REMOVE_SPEC)]
        if verification.outcome is VerificationOutcome.INVALID_PHONE:
            invalid = self._message_text(language, "telegram_contact_invalid")
            return [self._html(chat_id, escape_html(invalid), REMOVE_SPEC)]
        if not verification.verified:
            unknown = self._message_text(language, "patient_unknown")
            return [self._html(chat_id, escape_html(unknown), REMOVE_SPEC)]
        verified = self._message_text(language, "phone_verified", name=verification.name or "")
        return [
            self._html(chat_id, escape_html(verified), REMOVE_SPEC),
            self._html(
                chat_id,
                escape_html(self._message_text(language, "greeting")),
                self._quick_actions(language),
            ),
        ]

    # --- buttons ---------------------------------------------------------------------------

    async def _callback(self, query: CallbackQuery, key: str) -> list[Outgoing]:
        """Every press is answered (or the patient's app shows a spinner), stale ones too."""
        answer = Outgoing("answer_callback_query", {"callback_query_id": query.id}, False)
        message = query.message
        user = query.from_user
        if not query.data or not isinstance(message, Message) or message.chat.type != "private":
            return [answer]
        # Read, not opened: a refused button must create nothing (the turn opens it).
        conversation = await self._assistant.conversation(
            CHANNEL, str(user.id), language_hint=language_hint(user), create=False
        )
        language = _language(conversation)
        try:
            calls = await self._respond(message.chat.id, user, conversation, key, button=query.data)
        except (StaleButton, InvalidButton):
            stale = self._message_text(language, "telegram_stale_button")
            return [
                Outgoing(
                    "answer_callback_query", {"callback_query_id": query.id, "text": stale}, False
                )
            ]
        except RateLimited as limited:  # every press is answered: the notice as its toast
            notice = self._rate_notice(language, limited)
            return [
                Outgoing(
                    "answer_callback_query", {"callback_query_id": query.id, "text": notice}, False
                )
            ]
        remove_old_keyboard = Outgoing(
            "edit_message_reply_markup",
            {"chat_id": message.chat.id, "message_id": message.message_id},
            False,
        )
        return [answer, remove_old_keyboard, *calls]

    # --- building blocks -------------------------------------------------------------------

    async def _open(self, user: User) -> ConversationView:
        """The user's conversation (created on first contact), read outside a turn: this
        chat's updates are processed one at a time, so nothing else writes it meanwhile."""
        return await self._assistant.conversation(
            CHANNEL, str(user.id), language_hint=language_hint(user)
        )

    def _location(self, chat_id: int, language: Language) -> list[Outgoing]:
        return [venue(chat_id, self._assistant.place(language))]

    def _care_card(self, chat_id: int, language: Language) -> Outgoing:
        caption = escape_html(self._message_text(language, "telegram_care_card_caption"))
        params = {"chat_id": chat_id, "asset": care_card(language), "caption": caption}
        return Outgoing("send_photo", params)

    def _quick_actions(self, language: Language) -> dict[str, Any] | None:
        return inline_spec(self._assistant.quick_actions(language))

    def _rate_notice(self, language: Language, limited: RateLimited) -> str:
        return self._message_text(language, "telegram_rate_limited", seconds=limited.retry_after)

    def _message_text(self, language: Language, key: str, **values: object) -> str:
        return self._assistant.message(language, key, **values)

    def _text(self, chat_id: int, text: str) -> Outgoing:
        return self._html(chat_id, escape_html(text))

    @staticmethod
    def _html(chat_id: int, html: str, keyboard: dict[str, Any] | None = None) -> Outgoing:
        params: dict[str, Any] = {"chat_id": chat_id, "text": html}
        if keyboard is not None:
            params["keyboard"] = keyboard
        return Outgoing("send_message", params)


def venue(chat_id: int, place: Place) -> Outgoing:
    """A place as a venue on a map, or as text when it has no coordinates."""
    if place.latitude is None or place.longitude is None:
        return Outgoing("send_message", {"chat_id": chat_id, "text": escape_html(place.address)})
    params = {
        "chat_id": chat_id,
        "latitude": place.latitude,
        "longitude": place.longitude,
        "title": place.title,
        "address": place.address,
    }
    return Outgoing("send_venue", params)


def _user_key(message: Message) -> str:
    """The conversation's user id on this channel (the sender's Telegram id)."""
    assert message.from_user is not None
    return str(message.from_user.id)


def _language(conversation: ConversationView) -> Language:
    return as_language(conversation.language)


def _international(phone: str) -> str:
    """Telegram sends contacts' numbers in international form, often without the `+`."""
    phone = phone.strip()
    return f"+{phone}" if phone[:1].isdigit() and not phone.startswith("0") else phone


def _content(message: Message) -> str:
    """The kind of a non-text message (sticker, voice, photo, ...), never its content."""
    for kind in (
        "sticker",
        "voice",
        "photo",
        "video",
        "video_note",
        "audio",
        "document",
        "location",
        "venue",
        "animation",
        "poll",
        "dice",
    ):
        if getattr(message, kind, None):
            return kind
    return "other"
