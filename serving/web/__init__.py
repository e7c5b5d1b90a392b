"""The web pages: where their templates and static files are, and their interface text.

The patient web chat is chrome around `POST /api/v1/chat`: what the assistant says comes from the
assistant in the language of the conversation. The doctor chat page (`/doctor/<token>`, opened
from an escalation's private link) is chrome around `/api/v1/doctor/<token>`, and the staff
dashboard (`/staff`, labels in `staff_text`) around `/api/v1/admin/...`. Only the pages' own
labels live here, in both languages; each template renders them and hands the same catalog to
its page's script for the language toggle, so each label is written once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal, TypedDict

UiLanguage = Literal["he", "en"]
TextDirection = Literal["rtl", "ltr"]

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
STATIC_DIR: Final = Path(__file__).parent / "static"

CHAT_API_PATH: Final = "/api/v1/chat"
STREAM_API_PATH: Final = "/api/v1/chat/stream"
"""Server-sent events: what the clinic sends the visitor outside a reply (channels/web/push)."""
IDENTITY_API_PATH: Final = "/api/v1/web/identity"
"""The web chat's phone verification: `{IDENTITY_API_PATH}/code` sends a code by SMS,
`{IDENTITY_API_PATH}/verify` checks it (channels/web/identity)."""
MY_DATA_API_PATH: Final = "/api/v1/web/my-data"
"""The web chat's "/mydata": the verified visitor's private link to their own data."""
DOCTOR_API_PATH: Final = "/api/v1/doctor"
"""The doctor chat page's API: `{DOCTOR_API_PATH}/{token}` and the routes under it."""
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
        "verify_phone": "Verify my phone",
        "verify_title": "Verify your phone to book and to see your appointments and invoices.",
        "verify_phone_label": "Your mobile number",
        "verify_phone_placeholder": "050-123-4567",
        "verify_send_code": "Send me a code",
        "verify_code_sent": "We sent a 6-digit code by SMS. It works for {minutes} minutes.",
        "verify_code_label": "The code from the SMS",
        "verify_submit": "Verify",
        "verify_resend": "Send a new code",
        "verify_cancel": "Cancel",
        "verify_working": "One moment…",
        "verify_wrong_code": "That code is not right. Tries left: {count}.",
        "verify_code_expired": "This code no longer works. Ask for a new one.",
        "verify_too_many": "Too many wrong codes. Ask for a new one.",
        "verify_invalid_phone": "That does not look like a phone number. Try the form "
        "050-123-4567.",
        "verify_rate_limited": "Too many codes were asked for. Please wait a while, then try "
        "again.",
        "verify_unavailable": "Phone verification is not available right now. You can call the "
        "clinic instead.",
        "verify_not_sent": "We could not send the code. Please try again in a moment.",
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
        "verify_phone": "אימות הטלפון שלי",
        "verify_title": "אמתו את מספר הטלפון כדי לקבוע תורים ולראות את התורים והחשבוניות שלכם.",
        "verify_phone_label": "מספר הטלפון הנייד שלך",
        "verify_phone_placeholder": "050-123-4567",
        "verify_send_code": "שלחו לי קוד",
        "verify_code_sent": "שלחנו קוד בן 6 ספרות ב־SMS. הקוד תקף {minutes} דקות.",
        "verify_code_label": "הקוד מההודעה",
        "verify_submit": "אימות",
        "verify_resend": "שליחת קוד חדש",
        "verify_cancel": "ביטול",
        "verify_working": "רק רגע…",
        "verify_wrong_code": "הקוד שגוי. נותרו ניסיונות: {count}.",
        "verify_code_expired": "הקוד כבר לא בתוקף. בקשו קוד חדש.",
        "verify_too_many": "יותר מדי קודים שגויים. בקשו קוד חדש.",
        "verify_invalid_phone": "זה לא נראה כמו מספר טלפון. נסו בצורה 050-123-4567.",
        "verify_rate_limited": "התבקשו יותר מדי קודים. המתינו מעט ונסו שוב.",
        "verify_unavailable": "אימות הטלפון לא זמין כרגע. אפשר להתקשר למרפאה.",
        "verify_not_sent": "לא הצלחנו לשלוח את הקוד. נסו שוב בעוד רגע.",
    },
}


# Keys are read by doctor.html and doctor.js; both languages must have the same keys. The
# dentist reads these on a phone, often in a hurry: short, and the patient's safety first.
DOCTOR_UI_TEXT: Final[dict[UiLanguage, dict[str, str]]] = {
    "en": {
        "page_title": "Patient conversation",
        "for_doctor": "For {name}",
        "switch_language": "עברית",
        "switch_language_label": "Switch the page to Hebrew",
        "loading": "Loading the conversation…",
        "urgency_emergency": "Emergency",
        "urgency_doctor_required": "Dentist needed",
        "urgency_routine": "Routine",
        "status_open": "Waiting for a dentist",
        "status_claimed": "You are on it",
        "status_closed": "Closed",
        "opened_at": "Opened {time}",
        "summary_label": "Summary",
        "hand_back": "Hand back to the assistant",
        "hand_back_confirm": "Hand this conversation back to the assistant? You will no longer "
        "be able to write to the patient from this page.",
        "closed_notice": "This conversation is closed: the assistant answers the patient again.",
        "patient_heading": "Patient",
        "unidentified_patient": "Unidentified patient",
        "phone_label": "Phone",
        "no_phone": "No phone number on file",
        "allergies_heading": "Allergies",
        "no_allergies": "No allergies on file",
        "severity_mild": "mild",
        "severity_moderate": "moderate",
        "severity_severe": "severe",
        "appointments_heading": "Upcoming appointments",
        "no_appointments": "No upcoming appointments",
        "language_label": "Language",
        "language_he": "Hebrew",
        "language_en": "English",
        "channel_label": "Channel",
        "channel_telegram": "Telegram",
        "channel_web": "Web chat",
        "conversation_label": "Conversation with the patient",
        "empty_conversation": "No messages yet.",
        "role_patient": "Patient",
        "role_assistant": "Assistant",
        "role_doctor": "Dentist",
        "role_staff": "Clinic staff",
        "delivery_sent": "Delivered",
        "delivery_failed": "Not delivered",
        "delivery_pending": "Sending…",
        "input_label": "Your reply to the patient",
        "input_placeholder": "Write to the patient…",
        "send": "Send",
        "sending": "Sending…",
        "retry": "Retry",
        "error_network": "The clinic could not be reached. Check your connection and try again.",
        "error_server": "Something went wrong on the clinic’s side. Try again in a moment.",
        "error_too_long": "The reply is too long: at most 4000 characters.",
        "error_slot_taken": "That time was just taken. Choose another one.",
        "stream_reconnecting": "Live updates interrupted: reconnecting…",
        "booking_heading": "Appointments",
        "booking_unavailable": "Appointments cannot be booked from here: the patient is not "
        "identified. Ask for their name and phone number and book through the clinic.",
        "treatment_label": "Treatment",
        "date_label": "Date",
        "provider_label": "Dentist",
        "any_provider": "Any dentist",
        "duration": "{minutes} min",
        "find_slots": "Show free times",
        "searching": "Looking for free times…",
        "slots_label": "Free times",
        "no_slots": "No free times on this day. Try another date.",
        "book": "Book",
        "booked": "Booked: {time}.",
        "move": "Move",
        "move_here": "Move here",
        "moving": "A new time for {appointment}",
        "stop_moving": "Keep the current time",
        "moved": "Moved to {time}.",
        "cancel_appointment": "Cancel",
        "cancel_confirm": "Cancel the appointment on {time}?",
        "cancelled": "The appointment on {time} was cancelled.",
    },
    "he": {
        "page_title": "שיחה עם מטופל/ת",
        "for_doctor": "עבור {name}",
        "switch_language": "English",
        "switch_language_label": "החלפת שפת הדף לאנגלית",
        "loading": "טוענים את השיחה…",
        "urgency_emergency": "חירום",
        "urgency_doctor_required": "נדרש/ת רופא/ה",
        "urgency_routine": "שגרתי",
        "status_open": "ממתין לרופא/ה",
        "status_claimed": "בטיפולך",
        "status_closed": "סגור",
        "opened_at": "נפתח {time}",
        "summary_label": "תקציר",
        "hand_back": "החזרה לעוזר",
        "hand_back_confirm": "להחזיר את השיחה לעוזר? לא תהיה אפשרות לכתוב למטופל/ת מהדף הזה.",
        "closed_notice": "השיחה נסגרה: העוזר עונה שוב למטופל/ת.",
        "patient_heading": "מטופל/ת",
        "unidentified_patient": "מטופל/ת לא מזוהה",
        "phone_label": "טלפון",
        "no_phone": "אין מספר טלפון ברשומה",
        "allergies_heading": "אלרגיות",
        "no_allergies": "לא רשומות אלרגיות",
        "severity_mild": "קלה",
        "severity_moderate": "בינונית",
        "severity_severe": "חמורה",
        "appointments_heading": "תורים קרובים",
        "no_appointments": "אין תורים קרובים",
        "language_label": "שפה",
        "language_he": "עברית",
        "language_en": "אנגלית",
        "channel_label": "ערוץ",
        "channel_telegram": "טלגרם",
        "channel_web": "צ׳אט באתר",
        "conversation_label": "השיחה עם המטופל/ת",
        "empty_conversation": "אין עדיין הודעות.",
        "role_patient": "מטופל/ת",
        "role_assistant": "העוזר",
        "role_doctor": "רופא/ה",
        "role_staff": "צוות המרפאה",
        "delivery_sent": "נמסרה",
        "delivery_failed": "לא נמסרה",
        "delivery_pending": "נשלחת…",
        "input_label": "התשובה שלך למטופל/ת",
        "input_placeholder": "כתבו למטופל/ת…",
        "send": "שליחה",
        "sending": "שולחים…",
        "retry": "ניסיון חוזר",
        "error_network": "אין חיבור למרפאה. בדקו את החיבור ונסו שוב.",
        "error_server": "משהו השתבש בצד המרפאה. נסו שוב בעוד רגע.",
        "error_too_long": "התשובה ארוכה מדי: עד 4000 תווים.",
        "error_slot_taken": "המועד נתפס הרגע. בחרו מועד אחר.",
        "stream_reconnecting": "העדכונים החיים נקטעו: מתחברים מחדש…",
        "booking_heading": "תורים",
        "booking_unavailable": "אי אפשר לקבוע תורים מכאן: המטופל/ת לא מזוהה. בקשו שם ומספר "
        "טלפון וקבעו את התור דרך המרפאה.",
        "treatment_label": "טיפול",
        "date_label": "תאריך",
        "provider_label": "רופא/ה",
        "any_provider": "כל רופא/ה",
        "duration": "{minutes} דק׳",
        "find_slots": "הצגת מועדים פנויים",
        "searching": "מחפשים מועדים פנויים…",
        "slots_label": "מועדים פנויים",
        "no_slots": "אין מועדים פנויים ביום הזה. נסו תאריך אחר.",
        "book": "קביעה",
        "booked": "נקבע תור: {time}.",
        "move": "הזזה",
        "move_here": "העברה לכאן",
        "moving": "מועד חדש עבור {appointment}",
        "stop_moving": "השארת המועד הנוכחי",
        "moved": "התור הועבר ל־{time}.",
        "cancel_appointment": "ביטול",
        "cancel_confirm": "לבטל את התור ב־{time}?",
        "cancelled": "התור ב־{time} בוטל.",
    },
}

DoctorLinkState = Literal["link_not_found", "link_expired", "link_revoked", "escalation_closed"]
"""Why a doctor's link opens no conversation: the `error` of the doctor API's 404 and 410."""
DOCTOR_LINK_STATES: Final[tuple[DoctorLinkState, ...]] = (
    "link_not_found",
    "link_expired",
    "link_revoked",
    "escalation_closed",
)


class DoctorLinkText(TypedDict):
    """What the "link not usable" page says: what happened, and what the dentist can do."""

    title: str
    advice: str


# The page a doctor's link opens when it is no longer usable (doctor_link.html), and the notice
# doctor.js shows when the API answers 404 or 410 mid-session. No patient data, by design.
DOCTOR_PAGE_LINK_STATES: Final[dict[UiLanguage, dict[DoctorLinkState, DoctorLinkText]]] = {
    "en": {
        "link_not_found": {
            "title": "This link is not valid",
            "advice": "It may be incomplete or mistyped. Ask the clinic to send you a new link.",
        },
        "link_expired": {
            "title": "This link has expired",
            "advice": "To protect the patient’s privacy, a conversation link works for a "
            "limited time only. Ask the clinic to send you a new link.",
        },
        "link_revoked": {
            "title": "This link was cancelled",
            "advice": "The clinic cancelled this link. If you still need the conversation, "
            "ask the clinic for a new link.",
        },
        "escalation_closed": {
            "title": "This conversation is closed",
            "advice": "It was handed back to the assistant, so this link no longer opens it. "
            "If the patient needs a dentist again, the clinic will send a new link.",
        },
    },
    "he": {
        "link_not_found": {
            "title": "הקישור אינו תקין",
            "advice": "ייתכן שהקישור חסר או שגוי. בקשו מהמרפאה לשלוח קישור חדש.",
        },
        "link_expired": {
            "title": "תוקף הקישור פג",
            "advice": "כדי לשמור על פרטיות המטופל/ת, קישור לשיחה פעיל לזמן מוגבל בלבד. "
            "בקשו מהמרפאה לשלוח קישור חדש.",
        },
        "link_revoked": {
            "title": "הקישור בוטל",
            "advice": "המרפאה ביטלה את הקישור. אם השיחה עדיין נחוצה לך, בקשו מהמרפאה קישור חדש.",
        },
        "escalation_closed": {
            "title": "השיחה נסגרה",
            "advice": "השיחה הוחזרה לעוזר, ולכן הקישור כבר לא פותח אותה. אם המטופל/ת יצטרכו "
            "שוב רופא/ה, המרפאה תשלח קישור חדש.",
        },
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
        language = as_ui_language(candidate)
        if language is not None:
            return language
    return _preferred_by_browser(accept_language or "") or DEFAULT_UI_LANGUAGE


def as_ui_language(value: str | None) -> UiLanguage | None:
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
        language = as_ui_language(tag)
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
