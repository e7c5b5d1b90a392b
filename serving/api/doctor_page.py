"""`/doctor/<token>`: the page an on-call dentist opens from an escalation's private link.

The lead's router checks the token and calls one of the two functions here: the page itself,
which loads everything from `/api/v1/doctor/<token>` in the browser, or the "link not usable"
page, which shows no patient data at all. The token is in the URL, so both are sent with
`Referrer-Policy: no-referrer` (it must never leave in a Referer) and `Cache-Control: no-store`
(no copy of a patient's page on a shared device), and may not be framed by another site.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from serving.api.web import ASSET_VERSION, PAGE_HEADERS, STATIC_PATH
from serving.web import (
    DOCTOR_API_PATH,
    DOCTOR_LINK_STATES,
    DOCTOR_PAGE_LINK_STATES,
    DOCTOR_UI_TEXT,
    TEMPLATES_DIR,
    DoctorLinkState,
    UiLanguage,
    as_ui_language,
    choose_ui_language,
    text_direction,
)

DOCTOR_PAGE_HEADERS: Final = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"] + "; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

# 404 when the link never existed; 410 when it did and is no longer usable.
_LINK_STATE_STATUS: Final[dict[DoctorLinkState, int]] = {
    "link_not_found": 404,
    "link_expired": 410,
    "link_revoked": 410,
    "escalation_closed": 410,
}

_templates = Jinja2Templates(directory=TEMPLATES_DIR)


def render_doctor_page(
    request: Request,
    *,
    token_path: str,
    language: str | None,
    doctor_language: str | None,
) -> HTMLResponse:
    """The doctor chat page for a link already checked by the caller.

    `token_path` is the token as it appears in the link's path (`/doctor/{token_path}`); the
    page's script talks to `/api/v1/doctor/{token_path}`. The labels are in `language` (the
    link's `?lang=`) if it is Hebrew or English, else in the doctor's language, else in the
    browser's; the script then follows `doctor.language` from the API unless `?lang=` was given.
    """
    chosen = choose_ui_language(language, doctor_language, request.headers.get("accept-language"))
    root = _root_path(request)
    return _templates.TemplateResponse(
        request,
        "doctor.html",
        {
            "language": chosen,
            "direction": text_direction(chosen),
            "text": DOCTOR_UI_TEXT[chosen],
            "page_text": {"labels": DOCTOR_UI_TEXT, "link_states": DOCTOR_PAGE_LINK_STATES},
            "api_url": f"{root}{DOCTOR_API_PATH}/{quote(token_path, safe='')}",
            "static_url": f"{root}{STATIC_PATH}",
            "asset_version": ASSET_VERSION,
        },
        headers=DOCTOR_PAGE_HEADERS,
    )


def render_doctor_link_page(request: Request, state: str, language: str | None) -> HTMLResponse:
    """The page for a link that opens no conversation: `state` is the doctor API's error code
    (`link_not_found`, `link_expired`, `link_revoked`, `escalation_closed`; anything else reads
    as not found). In `language` when it is Hebrew or English, else in both, the browser's
    preferred one first. 404 for an unknown link, 410 for one no longer usable."""
    known: DoctorLinkState = next((s for s in DOCTOR_LINK_STATES if s == state), "link_not_found")
    chosen = as_ui_language(language)
    if chosen is not None:
        languages: list[UiLanguage] = [chosen]
    else:
        first = choose_ui_language(None, None, request.headers.get("accept-language"))
        languages = [first, "en" if first == "he" else "he"]
    return _templates.TemplateResponse(
        request,
        "doctor_link.html",
        {
            "language": languages[0],
            "direction": text_direction(languages[0]),
            "notices": [
                {
                    "language": lang,
                    "direction": text_direction(lang),
                    **DOCTOR_PAGE_LINK_STATES[lang][known],
                }
                for lang in languages
            ],
            "static_url": f"{_root_path(request)}{STATIC_PATH}",
            "asset_version": ASSET_VERSION,
        },
        status_code=_LINK_STATE_STATUS[known],
        headers=DOCTOR_PAGE_HEADERS,
    )


def _root_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")
