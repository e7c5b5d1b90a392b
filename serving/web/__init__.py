"""The patient web chat page: where its template and static files are, and its interface text.

The page is chrome around `POST /api/v1/chat`: what the assistant says comes from the assistant
in the language of the conversation. Only the page's own labels live here, in both languages; the
template renders them and hands the same catalog to the page's script for the language toggle,
so each label is written once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

UiLanguage = Literal["he", "en"]
TextDirection = Literal["rtl", "ltr"]

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
STATIC_DIR: Final = Path(__file__).parent / "static"

CHAT_API_PATH: Final = "/api/v1/chat"
STREAM_API_PATH: Final = "/api/v1/chat/stream"
"""Server-sent events: what the clinic sends the visitor outside a reply (channels/web/push)."""
UI_LANGUAGE_COOKIE: Final = "ui_lang"
DEFAULT_UI_LANGUAGE: Final[UiLanguage] = "en"

# Keys are read by chat.html and chat.js; both languages must have the same keys.
UI_TEXT: Final[dict[UiLanguage, dict[str, str]]] = {
    "en": {
        "page_title": "Chat with the clinic",
        "assistant_name": "Clinic assistant",
        "automated_note": (
            "Automated assistant, not a dentist: it books appointments and answers questions "
            "about the clinic, but does not diagnose or advise on medication. "
            "Emergency? Call 101 (Magen David Adom)."
        ),
        "switch_language": "עברית",
        "switch_language_label": "Switch the page to Hebrew",
        "new_conversation": "New conversation",
        "new_conversation_confirm": "Start a new conversation? The messages on this page will "
        "be cleared.",
        "conversation_label": "Conversation with the clinic assistant",
        "empty_hint": "Write a message to start, for example “I’d like to book a cleaning”.",
        "input_label": "Your message",
        "input_placeholder": "Type your message…",
        "send": "Send",
        "sending": "Sending…",
        "you": "You wrote",
        "assistant": "The assistant wrote",
        "typing": "The assistant is typing…",
        "suggested_replies": "Suggested replies",
        "emergency_label": "Emergency",
        "escalation_emergency": "The clinic’s team has been alerted (reference {id}).",
        "escalation_doctor": "A dentist has been asked to get back to you (reference {id}).",
        "escalation_other": "A member of the clinic’s team has been notified (reference {id}).",
        "error_network": "We could not reach the clinic. Check your connection and try again.",
        "error_server": "Something went wrong on our side. Please try again in a moment.",
        "error_rate_limited": "That was a lot of messages in a short time. Please wait a "
        "little, then send yours again. An emergency? Call 101.",
        "error_reference": "Reference: {id}",
        "not_delivered": "Not delivered",
        "open_map": "Open in a map",
    },
    "he": {
        "page_title": "צ׳אט עם המרפאה",
        "assistant_name": "העוזר של המרפאה",
        "automated_note": (
            "עוזר אוטומטי, לא רופא שיניים: קובע תורים ועונה על שאלות על המרפאה, "
            "אך לא מאבחן ולא ממליץ על תרופות. חירום? התקשרו ל־101 (מגן דוד אדום)."
        ),
        "switch_language": "English",
        "switch_language_label": "החלפת שפת הדף לאנגלית",
        "new_conversation": "שיחה חדשה",
        "new_conversation_confirm": "להתחיל שיחה חדשה? ההודעות בדף יימחקו.",
        "conversation_label": "שיחה עם העוזר של המרפאה",
        "empty_hint": "כתבו הודעה כדי להתחיל, למשל „אני רוצה לקבוע תור לניקוי אבנית”.",
        "input_label": "ההודעה שלך",
        "input_placeholder": "הקלידו הודעה…",
        "send": "שליחה",
        "sending": "שולחים…",
        "you": "כתבת",
        "assistant": "העוזר כתב",
        "typing": "העוזר מקליד…",
        "suggested_replies": "תשובות מוצעות",
        "emergency_label": "מקרה חירום",
        "escalation_emergency": "צוות המרפאה קיבל התראה (מספר פנייה {id}).",
        "escalation_doctor": "ביקשנו מרופא/ת שיניים לחזור אליך (מספר פנייה {id}).",
        "escalation_other": "הפנייה הועברה לצוות המרפאה (מספר פנייה {id}).",
        "error_network": "לא הצלחנו להתחבר למרפאה. בדקו את החיבור ונסו שוב.",
        "error_server": "משהו השתבש אצלנו. נסו שוב בעוד רגע.",
        "error_rate_limited": "נשלחו הרבה הודעות בזמן קצר. המתינו מעט ושלחו שוב. "
        "מקרה חירום? התקשרו ל־101.",
        "error_reference": "מספר תקלה: {id}",
        "not_delivered": "לא נשלחה",
        "open_map": "פתיחה במפה",
    },
}


def text_direction(language: UiLanguage) -> TextDirection:
    """The writing direction of `language`."""
    return "rtl" if language == "he" else "ltr"


def choose_ui_language(
    requested: str | None, remembered: str | None, accept_language: str | None
) -> UiLanguage:
    """The language of the page's labels: asked for in the URL (`?lang=he`), else the one the
    visitor chose before (cookie), else the browser's preference, else English."""
    for candidate in (requested, remembered):
        language = _as_ui_language(candidate)
        if language is not None:
            return language
    return _preferred_by_browser(accept_language or "") or DEFAULT_UI_LANGUAGE


def _as_ui_language(value: str | None) -> UiLanguage | None:
    """`he`/`en` (any region, any case; `iw` is Hebrew's old code) or None."""
    if not value:
        return None
    primary = value.strip().lower().split("-", 1)[0].split("_", 1)[0]
    if primary in ("he", "iw"):
        return "he"
    if primary == "en":
        return "en"
    return None


def _preferred_by_browser(accept_language: str) -> UiLanguage | None:
    """The supported language with the highest weight in an `Accept-Language` header."""
    best: tuple[float, UiLanguage] | None = None
    for entry in accept_language.split(","):
        tag, _, params = entry.partition(";")
        language = _as_ui_language(tag)
        if language is None:
            continue
        weight = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                weight = float(value)
            except ValueError:
                continue
        if weight > 0 and (best is None or weight > best[0]):
            best = (weight, language)
    return best[1] if best else None
