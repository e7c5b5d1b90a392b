"""The clinic's public profile in the database: one row, a JSON document (`ClinicProfile`)
and a version stamp that every write raises, so each process sees an edit on its next turn."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Integer
from sqlalchemy.orm import Mapped, mapped_column

from serving.db.models import Base
from serving.db.types import UTCDateTime, utcnow

PROFILE_ROW_ID = 1


class ClinicProfileRow(Base):
    __tablename__ = "clinic_profile"
    __table_args__ = (CheckConstraint("id = 1", name="clinic_profile_one_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
