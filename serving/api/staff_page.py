"""`/staff`: the clinic staff's dashboard, chrome around `/api/v1/admin/*`.

The page itself is the same for everyone and carries no patient data: the script signs in
through `/api/v1/auth/*`, keeps the access token in memory only, and loads everything after
that. The menu lists every section with the permission it needs; the script shows those the
signed-in role has (`/api/v1/auth/me`), and the API refuses the rest regardless.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Cookie, Header, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from serving.api import staff_auth
from serving.api.web import ASSET_VERSION, PAGE_HEADERS, STATIC_PATH
from serving.staff.roles import Permission
from serving.web import TEMPLATES_DIR, UI_LANGUAGE_COOKIE, choose_ui_language, text_direction
from serving.web.staff_text import STAFF_UI_TEXT

STAFF_PAGE_PATH: Final = "/staff"
ADMIN_API_PATH: Final = "/api/v1/admin"

# What a signed-in session shows must not be framed by another site or kept in a cache.
STAFF_PAGE_HEADERS: Final = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"] + "; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}

STAFF_SECTIONS: Final[tuple[tuple[str, Permission], ...]] = (
    ("conversations", "conversations"),
    ("escalations", "escalations.view"),
    ("calendar", "appointments"),
    ("operations", "operations"),
    ("setup", "setup"),
    ("audit", "audit"),
    ("users", "users"),
    ("oncall", "oncall"),
)
"""The dashboard's sections in menu order, each with the permission its API routes declare."""

router = APIRouter(include_in_schema=False)
_templates = Jinja2Templates(directory=TEMPLATES_DIR)


@router.get(STAFF_PAGE_PATH, response_class=HTMLResponse)
async def staff_page(
    request: Request,
    lang: str | None = None,
    ui_lang: Annotated[str | None, Cookie(alias=UI_LANGUAGE_COOKIE)] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """The dashboard, its labels in the language from `?lang=`, the visitor's earlier choice or
    the browser's preference; the sign-in form shows until the script has a session."""
    language = choose_ui_language(lang, ui_lang, accept_language)
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return _templates.TemplateResponse(
        request,
        "staff.html",
        {
            "language": language,
            "direction": text_direction(language),
            "text": STAFF_UI_TEXT[language],
            "labels": STAFF_UI_TEXT,
            "sections": [{"id": id_, "permission": perm} for id_, perm in STAFF_SECTIONS],
            "api_root": f"{root}{ADMIN_API_PATH}",
            "auth_root": f"{root}{staff_auth.router.prefix}",
            "static_url": f"{root}{STATIC_PATH}",
            "asset_version": ASSET_VERSION,
        },
        headers=STAFF_PAGE_HEADERS,
    )
