"""The labels of a patient's own-data page (`/my-data`), in both languages.

my_data.html renders them in the page's language and hands the whole table to my_data.js for
the language toggle, so each label is written once; both languages have the same keys.
Placeholders in braces are filled by the script. `kept_<what>` label what an erasure keeps
(`serving.privacy.erasure.KEPT`).
"""

from __future__ import annotations

from typing import Final

from serving.web import UiLanguage

MY_DATA_UI_TEXT: Final[dict[UiLanguage, dict[str, str]]] = {
    "en": {
        "page_title": "What the clinic's assistant keeps about you",
        "switch_language": "עברית",
        "switch_language_label": "Switch the page to Hebrew",
        "loading": "Loading…",
        "no_link": "This page opens with the private link the assistant sends you in the chat. "
        "Write /mydata in the chat to get one.",
        "link_refused": "This link no longer works: links last a short while. Write /mydata in "
        "the chat for a new one.",
        "unavailable": "Your data cannot be read right now. Please try again in a few minutes.",
        "error_network": "We could not reach the clinic. Check your connection and try again.",
        "valid_until": "This link works until {time}.",
        "remembered_heading": "What the assistant remembers",
        "conversations": "Conversations",
        "last_seen": "Last conversation",
        "language": "Language",
        "usual_dentist": "Your usual dentist",
        "usual_time": "Your usual time of day",
        "part_morning": "Morning",
        "part_afternoon": "Afternoon",
        "part_evening": "Evening",
        "open_escalations": "Questions waiting for a dentist",
        "recent_heading": "Latest outcomes",
        "outcome_booked": "Visit booked",
        "outcome_moved": "Visit moved",
        "outcome_cancelled": "Visit cancelled",
        "outcome_no_show": "Visit missed",
        "outcome_escalated": "Passed to a dentist",
        "patterns_heading": "What your messages were about",
        "nothing_yet": "Nothing yet.",
        "export_heading": "A full copy",
        "export_text": "Download everything the assistant holds about you: your messages, "
        "questions passed to a dentist, what it remembers and who at the clinic looked at it.",
        "export_button": "Download my data (JSON)",
        "erase_heading": "Erase my data",
        "erase_text": "Erase your conversations and everything the assistant remembers about "
        "you. This cannot be undone.",
        "erase_button": "Erase my data",
        "erase_confirm": "Erase your conversations and everything the assistant remembers "
        "about you? This cannot be undone.",
        "erased_heading": "Your data was erased",
        "erased_text": "Receipt {id}, {time}. Removed: {rows} records and {nodes} memory entries.",
        "kept_heading": "What is kept, and why",
        "kept_practice_record": "Your clinical record, appointments and invoices in the "
        "clinic's practice system: medical and financial records the clinic must keep by law.",
        "kept_audit_trail": "The record of who at the clinic read or changed your data (names "
        "of actions and times only, never your messages).",
        "kept_erasure_receipts": "This receipt: when, at whose request, and how much was erased.",
        "kept_backups": "Backups made before today, until they are deleted on their schedule.",
    },
    "he": {
        "page_title": "מה שהעוזר של המרפאה שומר עליך",
        "switch_language": "English",
        "switch_language_label": "החלפת שפת הדף לאנגלית",
        "loading": "טוען…",
        "no_link": "הדף הזה נפתח בקישור הפרטי שהעוזר שולח לך בצ'אט. כתבו ‎/mydata בצ'אט כדי "
        "לקבל קישור.",
        "link_refused": "הקישור הזה כבר לא פעיל: קישורים פעילים לזמן קצר. כתבו ‎/mydata "
        "בצ'אט לקישור חדש.",
        "unavailable": "אי אפשר לקרוא את המידע שלך כרגע. אנא נסו שוב בעוד כמה דקות.",
        "error_network": "לא הצלחנו להתחבר למרפאה. בדקו את החיבור ונסו שוב.",
        "valid_until": "הקישור פעיל עד {time}.",
        "remembered_heading": "מה העוזר זוכר",
        "conversations": "שיחות",
        "last_seen": "השיחה האחרונה",
        "language": "שפה",
        "usual_dentist": "רופא השיניים הקבוע שלך",
        "usual_time": "השעה המועדפת שלך",
        "part_morning": "בוקר",
        "part_afternoon": "צהריים",
        "part_evening": "ערב",
        "open_escalations": "שאלות שממתינות לרופא",
        "recent_heading": "מה קרה לאחרונה",
        "outcome_booked": "נקבע תור",
        "outcome_moved": "תור הוזז",
        "outcome_cancelled": "תור בוטל",
        "outcome_no_show": "תור שהוחמץ",
        "outcome_escalated": "הועבר לרופא",
        "patterns_heading": "במה עסקו ההודעות שלך",
        "nothing_yet": "עדיין אין.",
        "export_heading": "עותק מלא",
        "export_text": "הורדה של כל מה שהעוזר מחזיק עליך: ההודעות שלך, שאלות שהועברו לרופא, "
        "מה שהוא זוכר ומי במרפאה עיין בזה.",
        "export_button": "הורדת המידע שלי (JSON)",
        "erase_heading": "מחיקת המידע שלי",
        "erase_text": "מחיקת השיחות שלך וכל מה שהעוזר זוכר עליך. אי אפשר לבטל את המחיקה.",
        "erase_button": "למחוק את המידע שלי",
        "erase_confirm": "למחוק את השיחות שלך וכל מה שהעוזר זוכר עליך? אי אפשר לבטל את זה.",
        "erased_heading": "המידע שלך נמחק",
        "erased_text": "אישור {id}, {time}. נמחקו: {rows} רשומות ו-{nodes} פריטי זיכרון.",
        "kept_heading": "מה נשמר, ולמה",
        "kept_practice_record": "התיק הרפואי, התורים והחשבוניות שלך במערכת המרפאה: רשומות "
        "רפואיות וכספיות שהמרפאה חייבת לשמור על פי חוק.",
        "kept_audit_trail": "הרישום של מי במרפאה עיין במידע שלך או שינה אותו (סוג הפעולה "
        "והזמן בלבד, אף פעם לא ההודעות שלך).",
        "kept_erasure_receipts": "האישור הזה: מתי, לבקשת מי, וכמה נמחק.",
        "kept_backups": "גיבויים שנעשו לפני היום, עד שיימחקו במועדם.",
    },
}
