"""Live updates for a dentist's page. The database holds every message and delivery result;
an event only says "conversation X changed", published under the conversation's id (in
process, or through Redis pub/sub when `REDIS_URL` is set, so a patient answered by one
process wakes the dentist's page served by another). A page that misses an event still
catches up: its stream re-reads the conversation every few seconds whatever it hears.
"""

from __future__ import annotations

import logging

import redis.asyncio as redis

from serving.escalation.dispatcher import EscalationDispatcher
from serving.pubsub import PushHub, push_hub

logger = logging.getLogger(__name__)


def doctor_page_hub(redis_url: str | None, key_prefix: str) -> PushHub:
    """The hub dentists' pages listen on, keyed by conversation id."""
    return push_hub(redis_url, f"{key_prefix}doctor-page:")


async def announce(hub: PushHub, conversation_id: str) -> None:
    """Wake the pages showing the conversation (best effort: they poll too)."""
    try:
        await hub.publish(conversation_id, {"kind": "changed"})
    except (redis.RedisError, OSError) as error:
        logger.warning("doctor page event not published", extra={"error": type(error).__name__})


class EscalationHooks:
    """The assistant's `EscalationWatch`: a raised escalation pokes this process's
    dispatcher; a changed conversation wakes the dentists' pages showing it."""

    def __init__(self, dispatcher: EscalationDispatcher, hub: PushHub) -> None:
        self._dispatcher = dispatcher
        self._hub = hub

    async def escalation_raised(self, escalation_id: str, urgency: str) -> None:
        self._dispatcher.poke()

    async def conversation_changed(self, conversation_id: str) -> None:
        await announce(self._hub, conversation_id)
