"""The assistant: one patient message in, one safe reply out (see `Assistant.respond`).

These names are the door every channel uses (docs/ASSISTANT.md, "The channels' API"); a channel
imports nothing else of the assistant, the practice system, the tools or the agents
(import-linter enforces it, see pyproject.toml).

The names load on first use: the tools and agents import the turn's types from this package's
modules, and an eager import of the service here would run back into them half-loaded.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from serving.assistant.buttons import InvalidButton, StaleButton
    from serving.assistant.identity import (
        IdentityCheckUnavailable,
        IdentityClaim,
        IdentityProof,
        InvalidPhone,
        UnprovenIdentity,
        Verification,
        VerificationOutcome,
    )
    from serving.assistant.outbound import (
        Channel,
        Image,
        InvalidOutbound,
        NoChannel,
        Outbox,
        Place,
        Recipient,
    )
    from serving.assistant.service import (
        Assistant,
        ConversationView,
        Inbound,
        InvalidMessage,
        Reply,
        Welcome,
    )
    from serving.assistant.store import ConversationBusy
    from serving.assistant.turn import Button

_MODULE_OF = {
    "InvalidButton": "buttons",
    "StaleButton": "buttons",
    "IdentityCheckUnavailable": "identity",
    "IdentityClaim": "identity",
    "IdentityProof": "identity",
    "InvalidPhone": "identity",
    "UnprovenIdentity": "identity",
    "Verification": "identity",
    "VerificationOutcome": "identity",
    "Channel": "outbound",
    "Image": "outbound",
    "InvalidOutbound": "outbound",
    "NoChannel": "outbound",
    "Outbox": "outbound",
    "Place": "outbound",
    "Recipient": "outbound",
    "Assistant": "service",
    "ConversationView": "service",
    "Inbound": "service",
    "InvalidMessage": "service",
    "Reply": "service",
    "Welcome": "service",
    "ConversationBusy": "store",
    "Button": "turn",
}

__all__ = [
    "Assistant",
    "Button",
    "Channel",
    "ConversationBusy",
    "ConversationView",
    "IdentityCheckUnavailable",
    "IdentityClaim",
    "IdentityProof",
    "Image",
    "Inbound",
    "InvalidButton",
    "InvalidMessage",
    "InvalidOutbound",
    "InvalidPhone",
    "NoChannel",
    "Outbox",
    "Place",
    "Recipient",
    "Reply",
    "StaleButton",
    "UnprovenIdentity",
    "Verification",
    "VerificationOutcome",
    "Welcome",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
