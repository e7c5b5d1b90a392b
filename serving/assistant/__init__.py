"""The assistant: one patient message in, one safe reply out (see `Assistant.respond`).

These names are the door every channel uses (docs/ASSISTANT.md, "The channels' API"); a channel
imports nothing else of the assistant, the practice system, the tools or the agents
(import-linter enforces it, see pyproject.toml).
"""

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
from serving.assistant.identity_codes import (
    CodeExpired,
    CodeNotSent,
    CodePolicy,
    CodeRejected,
    CodeSent,
    CodeUsedUp,
    IdentityCodes,
    PhoneVerificationUnavailable,
    TooManyCodes,
    WrongCode,
)
from serving.assistant.outbound import (
    MAX_OUTBOUND_TEXT,
    Channel,
    Image,
    InvalidOutbound,
    NoChannel,
    Outbox,
    Place,
    Recipient,
    Sent,
    outbound_text,
)
from serving.assistant.patient_text import InvalidMessage
from serving.assistant.service import (
    Assistant,
    ConversationView,
    Inbound,
    MyDataLink,
    Reply,
    Welcome,
)
from serving.assistant.store import Author, ConversationBusy
from serving.conversation.turn import Button
from serving.ratelimit import RateKey, RateLimited

__all__ = [
    "MAX_OUTBOUND_TEXT",
    "Assistant",
    "Author",
    "Button",
    "Channel",
    "CodeExpired",
    "CodeNotSent",
    "CodePolicy",
    "CodeRejected",
    "CodeSent",
    "CodeUsedUp",
    "ConversationBusy",
    "ConversationView",
    "IdentityCheckUnavailable",
    "IdentityClaim",
    "IdentityCodes",
    "IdentityProof",
    "Image",
    "Inbound",
    "InvalidButton",
    "InvalidMessage",
    "InvalidOutbound",
    "InvalidPhone",
    "MyDataLink",
    "NoChannel",
    "Outbox",
    "PhoneVerificationUnavailable",
    "Place",
    "RateKey",
    "RateLimited",
    "Recipient",
    "Reply",
    "Sent",
    "StaleButton",
    "TooManyCodes",
    "UnprovenIdentity",
    "Verification",
    "VerificationOutcome",
    "Welcome",
    "WrongCode",
    "outbound_text",
]
