"""`POST /api/v1/web/my-data`: the web chat's "/mydata". A visitor whose conversation is bound to
a verified patient gets the private link to that patient's own data (docs/PRIVACY.md); anyone
else is asked to verify their phone first. The page shows the answer and keeps no copy: it
carries a live credential, so it is not part of the stored conversation either.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.assistant import Assistant, RateKey
from serving.channels.web.stream import WEB_VISITOR_PATTERN
from serving.language import as_language
from serving.web import MY_DATA_API_PATH

router = APIRouter(tags=["web chat"])

CHANNEL = "web"


class MyDataRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(pattern=WEB_VISITOR_PATTERN, description="The page's visitor id.")
    language: Literal["he", "en"] = Field(
        default="he", description="The answer's language for a visitor without a conversation."
    )


class MyDataResponse(BaseModel):
    verified: bool
    """False: the visitor has not proved a patient's phone, and `reply` asks them to."""
    language: Literal["he", "en"]
    reply: str
    """The link and how long it works, or the request to verify first."""


@router.post(
    MY_DATA_API_PATH,
    response_model=MyDataResponse,
    responses={429: {"description": "Too many requests: `Retry-After` s."}},
)
async def my_data(body: MyDataRequest, request: Request) -> MyDataResponse:
    """The visitor's private link to their own data, or the request to verify first."""
    assistant: Assistant = request.app.state.assistant
    rate_keys = [RateKey.user(CHANNEL, body.user_id)]
    if request.client is not None:
        rate_keys.append(RateKey.address(request.client.host))
    link = await assistant.my_data_link(
        CHANNEL, body.user_id, language_hint=body.language, rate_keys=tuple(rate_keys)
    )
    return MyDataResponse(
        verified=link.verified, language=as_language(link.language), reply=link.text
    )
