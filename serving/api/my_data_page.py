"""`/my-data`: the page a patient opens from their private link (`/my-data#<token>`).

The token is in the URL's fragment, which the browser never sends: the page itself carries no
patient data and is the same for everyone; its script reads the token and loads the patient's
data from `/api/v1/memory/...` with it. Sent with `Cache-Control: no-store`, no Referer, and
never framed by another site.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from serving.api.web import ASSET_VERSION, PAGE_HEADERS, STATIC_PATH
from serving.privacy.patient_links import MY_DATA_PATH
from serving.web import TEMPLATES_DIR, choose_ui_language, text_direction
from serving.web.my_data_text import MY_DATA_UI_TEXT

MY_DATA_PAGE_HEADERS: Final = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"] + "; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)
_templates = Jinja2Templates(directory=TEMPLATES_DIR)


@router.get(MY_DATA_PATH, response_class=HTMLResponse)
async def my_data_page(
    request: Request,
    lang: str | None = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """The page in the link's language (`?lang=`, the patient's), else the browser's."""
    language = choose_ui_language(lang, None, accept_language)
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return _templates.TemplateResponse(
        request,
        "my_data.html",
        {
            "language": language,
            "direction": text_direction(language),
            "text": MY_DATA_UI_TEXT[language],
            "labels": MY_DATA_UI_TEXT,
            "link_url": f"{root}/api/v1/my-data",
            "memory_url": f"{root}/api/v1/memory",
            "static_url": f"{root}{STATIC_PATH}",
            "asset_version": ASSET_VERSION,
        },
        headers=MY_DATA_PAGE_HEADERS,
    )
