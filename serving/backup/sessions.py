"""AI development session exports: each session's `session.json` and its artifacts.

The exporter is an HTTP API (the work plan's Manus `getSession`): `GET {base}/sessions/{id}`
with `Authorization: Bearer <token>` returns the session as JSON, whose `artifacts` list names
each file (`name`) and where to fetch it (`url`, absolute or relative to the base). The token
is sent only to the exporter's own origin, never to an artifact host elsewhere.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from serving.backup.errors import CollectionFailed

TRAILER_KEYS = ("Session-ID", "Manus-Session-ID")
"""Commit trailers naming the session that made a commit (docs/GIT_PROTOCOL.md)."""
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
TIMEOUT_SECONDS = 30.0


def session_ids_from_commits(repository: Path) -> list[str]:
    """Session ids named in the repository's commit trailers, in first-seen order."""
    keys = ",".join(f"key={key}" for key in TRAILER_KEYS)
    try:
        output = subprocess.run(  # noqa: S603 - a fixed git command
            ["git", "log", "--all", f"--format=%(trailers:{keys},valueonly,separator=%x00)"],  # noqa: S607
            cwd=repository,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found: list[str] = []
    for value in re.split(r"[\x00\n]", output):
        value = value.strip()
        # A malformed trailer must not stop the backup; it names no session we could fetch.
        if _SAFE_ID.match(value) and value not in found:
            found.append(value)
    return found


class SessionExporter:
    """A client of the session exporter's API."""

    def __init__(
        self, base_url: str, token: str | None, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._origin = _origin(self.base_url)
        self._token = token
        self._client = httpx.Client(
            timeout=TIMEOUT_SECONDS, transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        self._client.close()

    def export(self, session_id: str, directory: Path) -> Path:
        """Write `<directory>/<id>/session.json` and `<directory>/<id>/artifacts/<name>`."""
        if not _SAFE_ID.match(session_id):
            raise CollectionFailed(f"session id {session_id[:40]!r} is not a valid id")
        target = directory / session_id
        (target / "artifacts").mkdir(parents=True, exist_ok=True)
        session = self._get(
            urljoin(self.base_url, f"sessions/{session_id}"), what=f"session {session_id}"
        )
        try:
            document: dict[str, Any] = json.loads(session)
        except ValueError:
            raise CollectionFailed(
                f"the exporter returned no JSON for session {session_id}"
            ) from None
        (target / "session.json").write_bytes(session)
        for artifact in document.get("artifacts") or []:
            name = Path(str(artifact.get("name", ""))).name  # no directories: no path traversal
            url = str(artifact.get("url", ""))
            if not name or not url:
                raise CollectionFailed(
                    f"session {session_id} lists an artifact without name or url"
                )
            content = self._get(
                urljoin(self.base_url, url), what=f"artifact {name} of {session_id}"
            )
            (target / "artifacts" / name).write_bytes(content)
        return target

    def _get(self, url: str, *, what: str) -> bytes:
        headers = {}
        if self._token and _origin(url) == self._origin:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = self._client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            raise CollectionFailed(
                f"the session exporter is unreachable fetching {what} ({type(exc).__name__})"
            ) from None
        if response.status_code in (401, 403):
            raise CollectionFailed(
                f"the session exporter refused {what} ({response.status_code}); "
                "check BACKUP_SESSION_API_TOKEN"
            )
        if response.status_code != 200:
            raise CollectionFailed(
                f"the session exporter answered {response.status_code} for {what}"
            )
        return response.content


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc
