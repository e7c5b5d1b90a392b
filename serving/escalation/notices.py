"""What the on-call dentist is told: urgency, the patient's name, a short excerpt of what the
patient wrote (the patient's own words: the assistant adds no clinical reading of them), and
the private link. The conversation itself is only behind the link."""

from __future__ import annotations

from dataclasses import dataclass

from serving.notify import Notice

EXCERPT_CHARS = 160
SMS_EXCERPT_CHARS = 60

_URGENCY = {
    "en": {
        "EMERGENCY": "EMERGENCY",
        "DOCTOR_REQUIRED": "Question for a dentist",
        "ROUTINE": "Patient asks for a dentist",
    },
    "he": {
        "EMERGENCY": "חירום",
        "DOCTOR_REQUIRED": "שאלה לרופא/ת שיניים",
        "ROUTINE": "מטופל/ת מבקש/ת רופא/ת שיניים",
    },
}
_TEXT = {
    "en": {
        "unknown_patient": "an unidentified patient ({channel})",
        "subject": "[{urgency}] {patient} – {clinic}",
        "lead_emergency": "A patient may have a dental emergency and is waiting for a dentist.",
        "lead_other": "A patient is waiting for a dentist's answer.",
        "patient": "Patient",
        "wrote": "They wrote",
        "messages": "Messages so far",
        "open": "Open the conversation (private link, valid for 24 hours; do not forward it):",
        "repeat": "Reminder {round}: this repeats every few minutes until a dentist opens the "
        "link.",
        "sms": "{clinic} {urgency}: {patient}: \u201c{excerpt}\u201d {link}",
    },
    "he": {
        "unknown_patient": "מטופל/ת שלא זוהה/תה ({channel})",
        "subject": "[{urgency}] {patient} – {clinic}",
        "lead_emergency": "ייתכן שמדובר במקרה חירום דנטלי; המטופל/ת ממתין/ה לרופא/ת שיניים.",
        "lead_other": "מטופל/ת ממתין/ה לתשובה של רופא/ת שיניים.",
        "patient": "מטופל/ת",
        "wrote": "כתב/ה",
        "messages": "הודעות עד עכשיו",
        "open": "לפתיחת השיחה (קישור פרטי, בתוקף 24 שעות; אין להעביר אותו):",
        "repeat": "תזכורת {round}: ההודעה חוזרת כל כמה דקות עד שרופא/ה פותח/ת את הקישור.",
        "sms": "{clinic} {urgency}: {patient}: \u201c{excerpt}\u201d {link}",
    },
}


@dataclass(frozen=True)
class EscalationFacts:
    """What a notice is made of."""

    urgency: str
    patient_name: str | None
    channel: str
    summary: str
    message_count: int
    round: int
    repeats: bool
    """The notice repeats until the link is opened (an EMERGENCY)."""


def compose(facts: EscalationFacts, *, link: str, language: str, clinic: str) -> Notice:
    """The notice in the dentist's language."""
    words = _TEXT["he" if language == "he" else "en"]
    urgency = _URGENCY["he" if language == "he" else "en"].get(facts.urgency, facts.urgency)
    patient = facts.patient_name or words["unknown_patient"].format(channel=facts.channel)
    lead = words["lead_emergency"] if facts.urgency == "EMERGENCY" else words["lead_other"]
    lines = [
        f"{urgency}",
        lead,
        "",
        f"{words['patient']}: {patient}",
        f"{words['wrote']}: \u201c{_excerpt(facts.summary, EXCERPT_CHARS)}\u201d",
    ]
    if facts.message_count > 1:
        lines.append(f"{words['messages']}: {facts.message_count}")
    lines += ["", words["open"], link]
    if facts.repeats and facts.round > 1:
        lines += ["", words["repeat"].format(round=facts.round - 1)]
    short = words["sms"].format(
        clinic=clinic,
        urgency=urgency,
        patient=patient,
        excerpt=_excerpt(facts.summary, SMS_EXCERPT_CHARS),
        link=link,
    )
    return Notice(
        subject=words["subject"].format(urgency=urgency, patient=patient, clinic=clinic),
        text="\n".join(lines),
        short=short,
    )


def _excerpt(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "\u2026"
