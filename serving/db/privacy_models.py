"""Tables of a patient's privacy rights: the private links that open a patient's own data
(hashes only), and the receipts of erasures (ids and counts, never the data erased)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from serving.db.models import Base
from serving.db.types import UTCDateTime, utcnow


class PatientLink(Base):
    """A short-lived link to one patient's own data, sent in the chat they proved who they are
    in. Only the SHA-256 of its token is stored (`serving.privacy.patient_links`)."""

    __tablename__ = "patient_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(Integer, index=True)
    """The practice system's patient id, as on `conversations.patient_id` (no foreign key)."""
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    """The verified conversation it was asked for in."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ErasureReceipt(Base):
    """Proof that a patient's data was erased: when, at whose request, and how many rows and
    nodes each store removed. It outlives the erasure on purpose and holds nothing erased."""

    __tablename__ = "erasure_receipts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    patient_id: Mapped[int] = mapped_column(Integer, index=True)
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    requested_by: Mapped[str] = mapped_column(String(60))
    """`<role>:<staff user id>` (e.g. `admin:3`), or `patient` through their own link."""
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)
    """{"memory": {"nodes": n}, "app": {"<table>": rows, ...}}."""
