"""`/`: the patient web chat page, and `/static/...`: its script and style sheet.

The page talks to `POST /api/v1/chat` without an integration key, as channel `web`: the
assistant shows it no patient's data until the visitor proves a phone with a code sent by SMS
(`/api/v1/web/identity`, offered only when an SMS provider is configured). The page needs no
login and no cookies beyond the visitor's choice of interface language.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Final

from fastapi import APIRouter, Cookie, Header, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from serving.web import (
    CHAT_API_PATH,
    IDENTITY_API_PATH,
    MY_DATA_API_PATH,
    STATIC_DIR,
    STREAM_API_PATH,
    TEMPLATES_DIR,
    UI_LANGUAGE_COOKIE,
    UI_TEXT,
    choose_ui_language,
    text_direction,
)

STATIC_PATH: Final = "/static"

# Only same-origin script, style and API calls: the page works without any CDN, and an injected
# `<script>` could not run even if text ever slipped through unescaped. No `frame-ancestors`, so
# a clinic can embed the page in its own site.
PAGE_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)
router.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")

_templates = Jinja2Templates(directory=TEMPLATES_DIR)


def _fingerprint_static_files() -> str:
    """A short hash of the static files, appended to their URLs so an upgrade is never served
    a browser's cached old script."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


ASSET_VERSION: Final = _fingerprint_static_files()


@router.get("/", response_class=HTMLResponse)
async def chat_page(
    request: Request,
    lang: str | None = None,
    ui_lang: Annotated[str | None, Cookie(alias=UI_LANGUAGE_COOKIE)] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """The chat page, its labels in the language from `?lang=`, the visitor's earlier choice or
    the browser's preference."""
    language = choose_ui_language(lang, ui_lang, accept_language)
    clinic = request.app.state.clinic
    await clinic.refresh()  # the clinic's name as set up now, by whichever process
    root = str(request.scope.get("root_path", "")).rstrip("/")
    phone_verification: bool = request.app.state.identity_codes.available
    return _templates.TemplateResponse(
        request,
        "chat.html",
        {
            "language": language,
            "direction": text_direction(language),
            "text": UI_TEXT[language],
            "ui_text": UI_TEXT,
            "clinic_name": clinic.current().name(language),
            "chat_url": f"{root}{CHAT_API_PATH}",
            "stream_url": f"{root}{STREAM_API_PATH}",
            "identity_url": f"{root}{IDENTITY_API_PATH}" if phone_verification else "",
            "my_data_url": f"{root}{MY_DATA_API_PATH}",
            "static_url": f"{root}{STATIC_PATH}",
            "asset_version": ASSET_VERSION,
            "language_cookie": UI_LANGUAGE_COOKIE,
        },
        headers=PAGE_HEADERS,
    )
