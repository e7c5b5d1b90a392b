"""Live updates for dentists' pages and the staff console. The database holds every message
and delivery result; an event only says where to look, published in process, or through Redis
pub/sub when `REDIS_URL` is set (a patient answered by one process wakes a page served by
another). A page that misses an event still catches up by re-reading.

- The doctor-page hub is keyed by conversation id: "conversation X changed".
- The staff hub has one key (`STAFF_KEY`): every escalation that opens, rises, is claimed,
  joined or closed, and every message stored in any conversation (`StaffFeed`).
"""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as redis
from sqlalchemy import select

from serving.db import models as db
from serving.db.engine import Database
from serving.escalation.dispatcher import EscalationDispatcher
from serving.pubsub import PushHub, push_hub

logger = logging.getLogger(__name__)

STAFF_KEY = "all"
"""The staff hub's one key: every console hears every event (all staff may see every
conversation; what they open is audited)."""


def doctor_page_hub(redis_url: str | None, key_prefix: str) -> PushHub:
    """The hub dentists' pages listen on, keyed by conversation id."""
    return push_hub(redis_url, f"{key_prefix}doctor-page:")


def staff_hub(redis_url: str | None, key_prefix: str) -> PushHub:
    """The hub the staff console's event streams listen on (one key, `STAFF_KEY`)."""
    return push_hub(redis_url, f"{key_prefix}staff:")


async def announce(hub: PushHub, conversation_id: str) -> None:
    """Wake the pages showing the conversation (best effort: they poll too)."""
    await _publish(hub, conversation_id, {"kind": "changed"})


async def _publish(hub: PushHub, key: str, event: dict[str, Any]) -> None:
    try:
        await hub.publish(key, event)
    except (redis.RedisError, OSError) as error:
        logger.warning("live event not published", extra={"error": type(error).__name__})


class StaffFeed:
    """What the staff console's event stream hears (best effort, ids only: no patient text).

    `{"kind": "escalation", "id", "urgency", "status", "conversation_id"}` and
    `{"kind": "message", "conversation_id", "message_id"}`."""

    def __init__(self, database: Database, hub: PushHub) -> None:
        self._db = database
        self.hub = hub

    async def escalation_changed(self, escalation_id: str) -> None:
        """The escalation opened, rose, was claimed, joined or closed: its state now."""
        async with self._db.read() as session:
            found = (
                await session.execute(
                    select(
                        db.Escalation.urgency, db.Escalation.status, db.Escalation.conversation_id
                    ).where(db.Escalation.id == escalation_id)
                )
            ).first()
        if found is None:
            return
        urgency, status, conversation_id = found
        await _publish(
            self.hub,
            STAFF_KEY,
            {
                "kind": "escalation",
                "id": escalation_id,
                "urgency": urgency,
                "status": status,
                "conversation_id": conversation_id,
            },
        )

    async def message_stored(self, conversation_id: str, message_id: int) -> None:
        await _publish(
            self.hub,
            STAFF_KEY,
            {"kind": "message", "conversation_id": conversation_id, "message_id": message_id},
        )


class EscalationHooks:
    """The assistant's `EscalationWatch`: a raised escalation pokes this process's
    dispatcher and tells the staff console; a changed conversation wakes the dentists' pages
    showing it."""

    def __init__(self, dispatcher: EscalationDispatcher, hub: PushHub, feed: StaffFeed) -> None:
        self._dispatcher = dispatcher
        self._hub = hub
        self._feed = feed

    async def escalation_raised(self, escalation_id: str, urgency: str) -> None:
        self._dispatcher.poke()
        await self._feed.escalation_changed(escalation_id)

    async def conversation_changed(self, conversation_id: str) -> None:
        await announce(self._hub, conversation_id)

    async def escalation_closed(self, escalation_id: str) -> None:
        await self._feed.escalation_changed(escalation_id)
