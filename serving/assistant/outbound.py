"""The one way out: messages that do not answer the patient (a dentist's reply, a reminder)
sent to a conversation on that conversation's own channel.

Each channel that can reach a patient unprompted implements `Channel` and is registered under
its channel name (`telegram`, `web`). `Outbox` stores the message in the conversation first, so
the history shows it like any reply, then hands it to the channel. A conversation whose channel
has nothing registered (the keyed chat API answers only requests) is refused with
`NoChannel` before anything is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from serving.assistant.buttons import validate_button
from serving.assistant.store import Author, ConversationStore
from serving.conversation.turn import Button

logger = logging.getLogger(__name__)

MAX_OUTBOUND_TEXT = 4000
MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})


@dataclass(frozen=True)
class Recipient:
    """A conversation as its channel addresses it."""

    conversation_id: str
    user_id: str
    """The user's id on the channel (a Telegram user id, the web chat's visitor id)."""
    language: str


@dataclass(frozen=True)
class Place:
    """A place on a map: the clinic, usually. Without coordinates it is sent as text."""

    title: str
    address: str
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class Image:
    data: bytes
    media_type: str
    """`image/png` or `image/jpeg`."""
    filename: str
    caption: str = ""


class Channel(Protocol):
    """A channel that can send to a patient without being asked. Each method returns False
    when the message could not be delivered (the channel keeps its own failure record)."""

    async def send_text(self, to: Recipient, text: str, buttons: Sequence[Button]) -> bool: ...

    async def send_location(self, to: Recipient, place: Place) -> bool: ...

    async def send_image(self, to: Recipient, image: Image) -> bool: ...


@dataclass(frozen=True)
class Sent:
    """A message sent outside a turn: its id in the conversation, and whether its channel
    took it."""

    message_id: int
    delivered: bool


class NoChannel(LookupError):
    """The conversation does not exist, or nothing can reach its channel."""


class InvalidOutbound(ValueError):
    """The message cannot be sent as given (empty, too long, a malformed button or image)."""


def outbound_text(text: str) -> str:
    """`text` as it will be sent (trimmed); InvalidOutbound when empty or too long."""
    text = text.strip()
    if not text or len(text) > MAX_OUTBOUND_TEXT:
        raise InvalidOutbound(f"the text must have 1 to {MAX_OUTBOUND_TEXT} characters")
    return text


class Outbox:
    def __init__(self, store: ConversationStore) -> None:
        self._store = store
        self._channels: dict[str, Channel] = {}

    def register(self, name: str, channel: Channel) -> None:
        """Route messages of conversations on channel `name` to `channel`."""
        self._channels[name] = channel

    async def send_text(
        self, conversation_id: str, text: str, buttons: Sequence[Button] = ()
    ) -> bool:
        """Send `text` (with reply buttons; only buttons valid in the conversation's state
        act when pressed, others are answered as stale)."""
        return (await self.send(conversation_id, text, buttons)).delivered

    async def send(
        self,
        conversation_id: str,
        text: str,
        buttons: Sequence[Button] = (),
        *,
        author: Author | None = None,
        outcomes: Sequence[dict[str, Any]] = (),
    ) -> Sent:
        """`send_text`, saying which message it stored; with an `author`, the message is a
        dentist's or a staff member's, shown with their name (in the conversation's history
        and to the patient), and may carry the `outcomes` it reports (see
        `ConversationStore.add_outbound_message`)."""
        text = outbound_text(text)
        for button in buttons:
            validate_button(button.data)
        channel, to = await self._route(conversation_id)
        message_id = await self._store.add_outbound_message(
            conversation_id,
            text=text,
            language=to.language,
            kind="text",
            author=author,
            outcomes=outcomes,
        )
        # Who is writing, on every channel: the patient tells a person from the assistant.
        shown = text if author is None else f"{author.name}:\n{text}"
        delivered = await self._delivered(
            message_id, channel.send_text(to, shown, tuple(buttons)), "text"
        )
        return Sent(message_id, delivered)

    async def send_location(self, conversation_id: str, place: Place) -> bool:
        channel, to = await self._route(conversation_id)
        message_id = await self._store.add_outbound_message(
            conversation_id,
            text=f"{place.title}\n{place.address}",
            language=to.language,
            kind="location",
        )
        return await self._delivered(message_id, channel.send_location(to, place), "location")

    async def send_image(self, conversation_id: str, image: Image) -> bool:
        if image.media_type not in IMAGE_TYPES or not 0 < len(image.data) <= MAX_IMAGE_BYTES:
            raise InvalidOutbound("the image must be a PNG or JPEG of at most 5 MB")
        channel, to = await self._route(conversation_id)
        message_id = await self._store.add_outbound_message(
            conversation_id,
            text=image.caption or image.filename,
            language=to.language,
            kind="image",
        )
        return await self._delivered(message_id, channel.send_image(to, image), "image")

    async def _route(self, conversation_id: str) -> tuple[Channel, Recipient]:
        addressee = await self._store.addressee(conversation_id)
        if addressee is None:
            raise NoChannel("no such conversation")
        name, user_id, language = addressee
        channel = self._channels.get(name)
        if channel is None:
            raise NoChannel(f"nothing can send to the {name} channel")
        return channel, Recipient(conversation_id, user_id, language)

    async def _delivered(self, message_id: int, sending: Awaitable[bool], kind: str) -> bool:
        delivered = await sending
        await self._store.record_delivery(message_id, delivered)
        if not delivered:
            logger.warning("outbound message not delivered", extra={"kind": kind})
        return delivered
