"""The integration key on the embedded default: created once, kept under `var/`.

Production sets `DENTAL_INTEGRATION_KEY` through the secrets chain; on a developer machine
`make run` needs one without a manual step, so it is generated and its file path printed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from serving.settings import Settings

LOCAL_KEY_FILE = Path("var/integration_key")


def ensure_local_integration_key(settings: Settings, path: Path = LOCAL_KEY_FILE) -> Settings:
    """Settings with an integration key: the configured one, else (outside production) the
    local file's, created readable by the owner only on first use."""
    if settings.integration_key is not None or settings.environment == "production":
        return settings
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
    key = path.read_text(encoding="utf-8").strip()
    return settings.model_copy(update={"integration_key": SecretStr(key)})
