"""Files kept in the repository and sent on Telegram: uploaded once, then re-sent by the
`file_id` Telegram returned (cached in the app database, shared by every replica)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from serving.db.engine import Database
from serving.db.telegram_models import TelegramFile

ASSETS = Path(__file__).parent / "assets"


def care_card(language: str) -> str:
    """The asset name of the post-extraction care card in `language`."""
    return f"care_card.{'he' if language == 'he' else 'en'}"


def asset_path(name: str) -> Path:
    """The PNG of asset `name` (for example `care_card.en`)."""
    path = ASSETS / f"{name}.png"
    if not path.is_file():
        raise FileNotFoundError(f"Telegram asset {name} is missing from {ASSETS}")
    return path


class FileIds:
    """Telegram file ids of uploaded assets."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, name: str) -> str | None:
        async with self._db.transaction() as session:
            row = await session.get(TelegramFile, name)
            return row.file_id if row is not None else None

    async def remember(self, name: str, file_id: str) -> None:
        try:
            async with self._db.transaction() as session:
                row = await session.get(TelegramFile, name)
                if row is None:
                    session.add(TelegramFile(name=name, file_id=file_id))
                else:
                    row.file_id = file_id
        except IntegrityError:
            pass  # another replica uploaded it at the same time; its id serves as well

    async def forget(self, name: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(delete(TelegramFile).where(TelegramFile.name == name))
