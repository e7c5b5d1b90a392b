"""The emergency taxonomy: every class of red flag, in both languages and in lay words.

The cases are written for this test from the published criteria each rule cites (NHS 999/111,
WAO 2020, FAST, NICE NG51, ADA hypoglycaemia, IADT, ...), never copied from an evaluation set.
Each class is checked as a patient would say it, and as a patient would deny it, place it in
the past, or say it is over.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from serving.language import Language
from serving.safety.rules import ReplyKind, SafetyRules, load_safety_rules
from serving.safety.triage import Triager, Urgency

ROOT = Path(__file__).resolve().parents[1]
RULES_PATH = ROOT / "prompts" / "safety" / "rules.yaml"
TAXONOMY_PATH = ROOT / "docs" / "SAFETY_TAXONOMY.md"
URGENT_LINE = "03-555-0100"

MEDICAL, DENTAL, CRISIS = ReplyKind.MEDICAL, ReplyKind.DENTAL, ReplyKind.CRISIS


@pytest.fixture(scope="module")
def rules() -> SafetyRules:
    return load_safety_rules(RULES_PATH)


@pytest.fixture(scope="module")
def triager(rules: SafetyRules) -> Triager:
    return Triager(rules, clinic_urgent_line=URGENT_LINE)


# (class, rule id, reply kind, English cases, Hebrew cases): each case must fire that rule.
POSITIVE: list[tuple[str, str, ReplyKind, list[str], list[str]]] = [
    (
        "anaphylaxis",
        "emergency.anaphylaxis",
        MEDICAL,
        [
            "took the new antibiotic an hour ago, now hives all over and my voice sounds hoarse",
            "my arms broke out in itchy welts and I feel like I might faint",
            "my lips are swelling up after the injection",
        ],
        [
            "אחרי הכדור יצאה לי פריחה בכל הגוף והקול שלי צרוד",
            "יש לבת שלי חרלת והיא אומרת שקשה לה לבלוע",
            "השפתיים שלי מתנפחות מאז הזריקה",
        ],
    ),
    (
        "drug reaction",
        "emergency.drug_reaction",
        MEDICAL,
        ["since the amoxicillin my throat feels tight"],
        ["מאז שלקחתי את האנטיביוטיקה יש לי לחץ בגרון"],
    ),
    (
        "airway and breathing",
        "emergency.breathing_difficulty",
        MEDICAL,
        ["my husband is struggling for air after the treatment", "she is gasping"],
        ["אבא שלי נושם בכבדות ומתנשף", "קשה לי מאוד לנשום"],
    ),
    (
        "swallowing with swelling",
        "emergency.swallowing_difficulty",
        MEDICAL,
        ["the swelling is so big I cant swallow my saliva", "my kid keeps drooling and crying"],
        ["הלחי נפוחה ואני לא מצליחה לבלוע רוק", "הוא לא יכול לבלוע כלום"],
    ),
    (
        "spreading infection",
        "emergency.spreading_infection",
        MEDICAL,
        ["two days after the extraction I have shivers and my cheek is hot and hard"],
        ["יומיים אחרי העקירה יש לי צמרמורות והלחי חמה וקשה"],
    ),
    (
        "sepsis",
        "emergency.sepsis_signs",
        MEDICAL,
        ["my mum has a high temp and she is really drowsy and not making sense"],
        ["יש לו חום והוא מבולבל לגמרי"],
    ),
    (
        "altered consciousness",
        "emergency.fainting_not_resolving",
        MEDICAL,
        [
            "my father passed out in the waiting room and now he is not answering properly",
            "she collapsed",
        ],
        ["אמא שלי התעלפה ועכשיו היא לא עונה כמו שצריך", "הוא מחוסר הכרה"],
    ),
    (
        "hypoglycaemia",
        "emergency.hypoglycaemia",
        MEDICAL,
        ["my son is diabetic and he is shaky sweaty and confused", "i think im having a hypo"],
        ["אני סוכרתית ואני רועדת ומזיעה", "הסוכר שלו ירד והוא מטושטש"],
    ),
    (
        "stroke",
        "emergency.stroke",
        MEDICAL,
        [
            "grandpa's face is drooping on the left and his speech is slurred",
            "suddenly one side of my face went numb",
            "she cant lift her arm",
        ],
        [
            "פתאום צד אחד של הפנים נימול",
            "לסבתא יש פנים נפולות והיא מדברת לא ברור",
            "יש לו חולשה ביד",
        ],
    ),
    (
        "seizure",
        "emergency.seizure",
        MEDICAL,
        ["my daughter is convulsing on the floor", "he is having a seizure in the chair"],
        ["הבן שלי מפרכס", "יש לה התקף אפילפסיה עכשיו"],
    ),
    (
        "chest pain",
        "emergency.cardiac",
        MEDICAL,
        ["there is a heavy pressure in my chest", "my jaw aches and I'm in a cold sweat"],
        ["כואב לי מאוד בחזה", "יש לי לחץ על החזה שמקרין ליד"],
    ),
    (
        "heavy bleeding",
        "emergency.heavy_bleeding",
        MEDICAL,
        [
            "the towel is completely soaked with blood",
            "there is blood all over my shirt from my mouth",
        ],
        ["החולצה שלי ספוגה בדם", "הפה מתמלא בדם"],
    ),
    (
        "bleeding that pressure does not stop",
        "emergency.uncontrolled_bleeding",
        MEDICAL,
        ["the socket keeps bleeding even with gauze"],
        ["הדימום מהחניכיים לא נעצר"],
    ),
    (
        "facial trauma with red flags",
        "emergency.facial_trauma",
        MEDICAL,
        ["got punched in the face and threw up twice"],
        ["קיבלתי מכה בפנים ואני רואה כפול"],
    ),
    (
        "trauma with bleeding and broken teeth",
        "emergency.trauma_bleeding_broken_teeth",
        MEDICAL,
        ["fell off my scooter, my mouth is bleeding and two teeth are broken"],
        ["היה לי תאונה עם האופניים, יש דם ושתי שיניים שבורות"],
    ),
    (
        "jaw fracture",
        "emergency.jaw_fracture",
        MEDICAL,
        ["after the fall my teeth dont meet anymore", "i think my jaw is broken"],
        ["אחרי המכה השיניים לא נפגשות", "אני לא מצליח לסגור את הפה"],
    ),
    (
        "knocked-out permanent tooth",
        "emergency.avulsed_permanent_tooth",
        DENTAL,
        ["my 12 year old's front tooth got knocked out at football"],
        ["לבן שלי עפה שן קדמית במשחק"],
    ),
    (
        "spreading swelling",
        "emergency.swelling_spreading",
        MEDICAL,
        ["the swelling has gone up to my eye", "swelling under my tongue"],
        ["הנפיחות הגיעה עד העין", "נפיחות מתחת ללשון"],
    ),
    (
        "suicidal thoughts",
        "emergency.suicidal_thoughts",
        CRISIS,
        ["honestly everyone would be better off without me", "i keep thinking about suicide"],
        ["יש לי מחשבות אובדניות", "אני פוגעת בעצמי"],
    ),
    (
        "overdose",
        "emergency.overdose",
        MEDICAL,
        ["i took way too many painkillers for the toothache", "she swallowed a whole box of pills"],
        ["לקחתי יותר מדי אקמול בגלל הכאב", "הוא בלע כל החפיסה של הכדורים"],
    ),
]

POSITIVE_CASES = [
    pytest.param(text, rule_id, kind, id=f"{name}-{language}-{number}")
    for name, rule_id, kind, english, hebrew in POSITIVE
    for language, texts in (("en", english), ("he", hebrew))
    for number, text in enumerate(texts)
]


@pytest.mark.parametrize(("text", "rule_id", "kind"), POSITIVE_CASES)
def test_each_class_fires_in_both_languages(
    triager: Triager, text: str, rule_id: str, kind: ReplyKind
) -> None:
    result = triager.triage(text)
    assert result.urgency is Urgency.EMERGENCY, text
    assert rule_id in result.reasons, (text, result.reasons)
    assert result.reply is kind, (text, result.reply)


@pytest.mark.parametrize(
    "text",
    [
        # negated: a symptom the patient denies
        "no hives, no trouble breathing, just checking if I can take the antibiotic",
        "he is not confused and not shaky, his sugar is fine",
        "no chest pain at all, only a question about my bill",
        "no bleeding, no swelling, just a checkup please",
        "אין לי שום פריחה ואין קושי לנשום",
        "בלי שום כאב ובלי דימום, רק בדיקה",
        "לא התעלפתי ולא מבולבלת, רק רוצה לקבוע תור",
        # past: a long-ago event
        "I had a seizure two years ago, is sedation possible?",
        "my front tooth was knocked out years ago and I want an implant",
        "לפני שנתיים היה לי אירוע מוחי, אפשר לעשות שתל?",
        "לפני 3 שנים נשברה לי הלסת בתאונה",
        # resolved
        "the bleeding stopped, thanks",
        "הנפיחות ירדה והחום עבר",
    ],
)
def test_denied_past_and_resolved_red_flags_are_not_emergencies(
    triager: Triager, text: str
) -> None:
    assert triager.triage(text).urgency is not Urgency.EMERGENCY, triager.triage(text)


@pytest.mark.parametrize(
    "text",
    [
        "I had a seizure last year and now again he is seizing",
        "לפני שנה זה קרה ועכשיו שוב יש לו פרכוסים",
        "it stopped yesterday but now the bleeding won't stop",
        "the bleeding is not stopping",
        "הדם לא מפסיק",
    ],
)
def test_now_and_again_keep_a_red_flag_live(triager: Triager, text: str) -> None:
    assert triager.triage(text).urgency is Urgency.EMERGENCY


@pytest.mark.parametrize(
    "text",
    [
        "no pain at all, just a checkup",
        "it is completely pain-free, I only want a cleaning",
        "nothing hurts, I just want whitening",
        "zero pain, can I book a cleaning",
        "בלי שום כאב, רק בדיקה",
        "לא כואב לי בכלל, רק רוצה ניקוי אבנית",
        "אין לי כאבים בכלל, רק רוצה לקבוע בדיקה",
    ],
)
def test_a_denied_symptom_stays_routine(triager: Triager, text: str) -> None:
    assert triager.triage(text).urgency is Urgency.ROUTINE, triager.triage(text)


@pytest.mark.parametrize(
    "text",
    [
        "do i need a crown or will a filling do?",
        "is it root canal or extraction for this one",
        "can it be saved or does it have to be pulled",
        "will I need a root canal",
        "צריך טיפול שורש או שסתימה תספיק?",
        "עקירה או טיפול שורש, מה עדיף?",
        "האם צריך לעקור את השן?",
        "אפשר להציל את השן?",
    ],
)
def test_which_treatment_questions_need_a_dentist(triager: Triager, text: str) -> None:
    result = triager.triage(text)
    assert result.urgency is Urgency.DOCTOR_REQUIRED, result
    assert "doctor.treatment_choice" in result.reasons


@pytest.mark.parametrize(
    "text",
    [
        "there is a dark spot on my back tooth, what is it?",
        "found a small white patch on my gums. what could it be",
        "what is this lump on the roof of my mouth",
        "my front tooth turned grey, what is this",
        "יש לי כתם לבן על החניכיים, מה זה?",
        "מה זה הגוש הזה בחך?",
        "השן הקדמית השחירה, מה זה יכול להיות",
    ],
)
def test_what_is_this_about_a_visible_change_needs_a_dentist(triager: Triager, text: str) -> None:
    result = triager.triage(text)
    assert result.urgency is Urgency.DOCTOR_REQUIRED, result
    assert "doctor.what_is_this" in result.reasons


@pytest.mark.parametrize(
    "text",
    [
        "how much is a root canal or an extraction?",
        "I want to book the crown or the bridge appointment",
        "what is this charge on my invoice",
        "מה זה החיוב הזה בחשבונית?",
        "כמה עולה טיפול שורש או עקירה?",
        "your website is not responding",
        "האתר לא מגיב",
        "I'm diabetic, can I book a morning slot",
    ],
)
def test_look_alikes_are_not_emergencies(triager: Triager, text: str) -> None:
    assert triager.triage(text).urgency is not Urgency.EMERGENCY


@pytest.mark.parametrize(
    "text",
    [
        "how much is a root canal or an extraction?",
        "what is this charge on my invoice",
        "מה זה החיוב הזה בחשבונית?",
        "כמה עולה טיפול שורש או עקירה?",
        "can I book a cleaning or a whitening next week",
    ],
)
def test_admin_questions_with_treatment_words_stay_routine(triager: Triager, text: str) -> None:
    assert triager.triage(text).urgency is Urgency.ROUTINE, triager.triage(text)


# -- the taxonomy itself -------------------------------------------------------------------------


def test_every_emergency_rule_has_a_source_and_a_reply_kind(rules: SafetyRules) -> None:
    for rule in rules.emergency:
        assert rule.source.strip(), rule.id
        assert rule.reply in set(ReplyKind), rule.id
        for lists in rule.phrase_lists():
            assert set(lists) == {"he", "en"}, f"{rule.id} must be bilingual"


def test_reply_kinds_fit_their_class(rules: SafetyRules) -> None:
    kinds = {rule.id: rule.reply for rule in rules.emergency}
    assert kinds["emergency.suicidal_thoughts"] is CRISIS
    assert kinds["emergency.avulsed_permanent_tooth"] is DENTAL
    assert [rule_id for rule_id, kind in kinds.items() if kind is CRISIS] == [
        "emergency.suicidal_thoughts"
    ]
    assert [rule_id for rule_id, kind in kinds.items() if kind is DENTAL] == [
        "emergency.avulsed_permanent_tooth"
    ]


def test_taxonomy_document_lists_every_emergency_rule_with_its_kind(rules: SafetyRules) -> None:
    table = TAXONOMY_PATH.read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("|")]
    for rule in rules.emergency:
        row = next((line for line in rows if f"`{rule.id}`" in line), None)
        assert row is not None, f"{rule.id} is missing from docs/SAFETY_TAXONOMY.md"
        assert re.search(rf"\b{rule.reply.value}\b", row), (rule.id, rule.reply)


def test_an_emergency_rule_without_a_source_or_reply_is_rejected(rules: SafetyRules) -> None:
    from pydantic import ValidationError

    data = rules.model_dump(mode="json", exclude_none=True)
    del data["emergency"][0]["source"]
    with pytest.raises(ValidationError, match="source"):
        SafetyRules.model_validate(data)
    data = rules.model_dump(mode="json", exclude_none=True)
    data["emergency"][0]["reply"] = "ambulance"
    with pytest.raises(ValidationError, match="reply"):
        SafetyRules.model_validate(data)
    data = rules.model_dump(mode="json", exclude_none=True)
    data["doctor_required"][0]["reply"] = "medical"
    with pytest.raises(ValidationError, match="Extra inputs"):
        SafetyRules.model_validate(data)


# -- the reply fits the class --------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "he"])
def test_dental_reply_leads_with_the_urgent_line_and_keeps_the_emergency_number(
    triager: Triager, rules: SafetyRules, language: Language
) -> None:
    reply = triager.emergency_reply(language, DENTAL)
    lines = reply.splitlines()
    assert URGENT_LINE in lines[1] and "101" in reply and "{" not in reply
    assert reply.index(URGENT_LINE) < reply.index("101")
    without_line = Triager(rules).emergency_reply(language, DENTAL)
    assert "101" in without_line and "{" not in without_line


def test_the_reply_follows_the_most_urgent_class(triager: Triager) -> None:
    tooth = triager.triage("my son's permanent front tooth was knocked out at school")
    assert tooth.reply is DENTAL
    both = triager.triage("knocked out my front tooth in a fall and passed out for a minute")
    assert both.urgency is Urgency.EMERGENCY and both.reply is MEDICAL
    overdose = triager.triage("i want to die, i took too many sleeping pills")
    assert overdose.reply is MEDICAL
    assert "emergency.suicidal_thoughts" in overdose.reasons
    assert triager.triage("my tooth hurts").reply is None
    assert triager.emergency_reply("en", CRISIS) != triager.emergency_reply("en", MEDICAL)


# -- more ways to say it: lay words, typos of grammar, someone else's condition ------------------

OTHER_WORDINGS_EMERGENCY = [
    "after the numbing shot i got itchy bumps everywhere and my voice went weird",
    "my tongue feels huge after the penicillin",
    "she got red blotches and says her throat is closing up",
    "took an antibiotic and now im wheezy",
    "im allergic to penicilin and they gave it to me, now hives and dizzy",
    "pulled tooth 3 days ago now fever 39 and my whole cheek is hard as a rock",
    "my jaw is red hot and swollen and I have the chills",
    "hes burning up and making no sense",
    "my mom fainted after the injection and is mumbling and not making sense",
    "my dad blacked out and hes not responding to us",
    "grandma is very drowsy and we cant wake her properly",
    "my husband is type 1 and hes sweating and shaking and acting strange",
    "diabetic kid pale and confused before his appointment",
    "her mouth is drooping on one side and she cant smile",
    "my speech is slurry and my right arm feels weak",
    "he suddenly cant talk properly and his face looks lopsided",
    "my son is having a fit",
    "she started convulsing in the chair",
    "crushing pain in my chest going down my left arm",
    "i have pain in my chest and cant catch my breath",
    "blood is pouring out of the socket",
    "my pillow is soaked in blood",
    "i have gone through 10 gauzes and it keeps bleeding",
    "got hit with a baseball, my jaw is crooked and teeth wont close together",
    "car crash, bleeding from the mouth, broke 3 teeth",
    "my daughter fell on her face, mouth bleeding, front teeth broken",
    "knocked out my adult front tooth playing hockey",
    "the swelling is spreading down my neck",
    "my eye is swelling shut from the tooth infection",
    "i swallowed a whole bottle of tylenol",
    "took 20 advil tablets, too many i know",
    "i cant take it anymore i want to end my life",
    "i have been cutting myself again",
    "i want to kill myself",
    "i think i took too much ibuprofen, like the whole pack",
    "אחרי הזריקה יצאו לי נקודות אדומות שמגרדות והקול שלי נשמע מוזר",
    "הלשון שלי ענקית אחרי האנטיביוטיקה",
    "יש לה פריחה והיא אומרת שהגרון נסגר לה",
    "עקרו לי שן לפני יומיים ועכשיו יש לי 39 חום והלחי קשה כמו אבן",
    "הלסת אדומה חמה ונפוחה ויש לי צמרמורות",
    "הוא קודח ומדבר שטויות",
    "אמא שלי התעלפה אחרי ההרדמה ועכשיו היא ממלמלת ולא מבינה מה אומרים לה",
    "אבא שלי איבד הכרה והוא לא מגיב",
    "סבתא מאוד ישנונית ואנחנו לא מצליחים להעיר אותה",
    "בעלי חולה סוכרת והוא מזיע רועד ומתנהג מוזר",
    "הילד סוכרתי חיוור ומבולבל",
    "הפה שלה נפול בצד אחד והיא לא מצליחה לחייך",
    "הדיבור שלי מעורפל והיד הימנית חלשה",
    "פתאום הוא לא מצליח לדבר והפנים שלו עקומות",
    "לבן שלי יש פרכוסים",
    "היא התחילה לפרכס בכיסא",
    "כאב חזק בחזה שמקרין ליד שמאל",
    "כואב לי בחזה ואני לא מצליח לנשום",
    "דם שותת מהמכתשית",
    "הכרית שלי ספוגה בדם",
    "החלפתי כבר 10 גזות והדם ממשיך",
    "קיבלתי כדור בייסבול בלסת, הלסת עקומה והשיניים לא נסגרות",
    "תאונת דרכים, דם מהפה ונשברו לי 3 שיניים",
    "הבת שלי נפלה על הפנים, מדממת מהפה והשיניים הקדמיות שבורות",
    "עפה לי השן הקדמית במשחק הוקי",
    "הנפיחות יורדת לצוואר",
    "העין שלי נסגרת מהנפיחות",
    "בלעתי בקבוק שלם של אקמול",
    "לקחתי 20 כדורי אדוויל, יותר מדי אני יודע",
    "אני לא יכול יותר, אני רוצה לשים סוף לחיים",
    "אני שוב חותכת את עצמי",
    "בא לי להתאבד",
]

OTHER_WORDINGS_DOCTOR = [
    "is it better to do a root canal or just pull it?",
    "my dentist said crown but could a big filling work instead of a crown",
    "should i get an implant or a bridge",
    "does this tooth need a root canal",
    "is extraction really necessary or can you save it",
    "there's a brown spot on my molar what could it be",
    "noticed a little bump on my gum above the tooth, what is that",
    "whats this white line on my cheek inside",
    "what's this dark patch on my tongue",
    "my front tooth is going dark, why",
    "צריך לעקור או אפשר טיפול שורש?",
    "עדיף כתר או סתימה גדולה?",
    "שתל או גשר, מה מומלץ?",
    "השן הזאת צריכה טיפול שורש?",
    "יש לי נקודה שחורה על השן, מה זה?",
    "גילתי בליטה קטנה על החניכיים, מה זה יכול להיות?",
    "מה זה הפס הלבן בצד הפנימי של הלחי",
    "השן הקדמית משנה צבע, למה?",
    "I had a seizure years ago, can I have sedation",
    "my dad had a heart attack last year, is it safe to do an extraction",
]

OTHER_WORDINGS_ROUTINE = [
    "no pain at all, just need a cleaning",
    "nothing hurts just want to book a checkup",
    "i dont have any pain or bleeding, can i come tuesday",
    "pain free so far, can i book my next cleaning",
    "how much is a crown vs a bridge",
    "whats the price difference between an implant or a bridge",
    "what is this charge of 200 on my bill",
    "what is the address of the clinic",
    "can i pay with credit card or cash",
    "i need to reschedule my filling appointment",
    "אין לי שום כאב, רק רוצה לקבוע ניקוי",
    "לא כואב כלום, רק בדיקה שגרתית",
    "כמה עולה כתר לעומת גשר",
    "מה זה החיוב של 200 שקל?",
    "מה הכתובת של המרפאה",
    "אפשר לשלם באשראי או במזומן?",
    "צריך לקבוע תור לסתימה",
    "תודה רבה, הכל היה מצוין",
    "the website is not responding and i cant book",
    "your phone line is not answering",
    "I had a tooth knocked out as a kid, now i want to ask about implants price",
    "my sugar is fine, just booking a cleaning",
    "can i book the kids for a checkup, they fell asleep in the car lol",
]


@pytest.mark.parametrize("text", OTHER_WORDINGS_EMERGENCY)
def test_other_wordings_of_red_flags_are_emergencies(triager: Triager, text: str) -> None:
    assert triager.triage(text).urgency is Urgency.EMERGENCY, text


@pytest.mark.parametrize("text", OTHER_WORDINGS_DOCTOR)
def test_other_wordings_of_clinical_questions_need_a_dentist(triager: Triager, text: str) -> None:
    assert triager.triage(text).urgency is Urgency.DOCTOR_REQUIRED, triager.triage(text)


@pytest.mark.parametrize("text", OTHER_WORDINGS_ROUTINE)
def test_other_wordings_of_administration_stay_routine(triager: Triager, text: str) -> None:
    assert triager.triage(text).urgency is Urgency.ROUTINE, triager.triage(text)


# Generalised classes (issue 11): each case written here from the guidance the rule cites, in
# wordings of our own - (text, rule id that must fire).
GENERALISED_CLASSES: list[tuple[str, str]] = [
    ("his inhaler isnt working and he is wheezy in the chair", "emergency.breathing_difficulty"),
    ("הוא שאף חתיכה של סתימה ומאז התקף שיעול שלא נגמר", "emergency.breathing_difficulty"),
    ("grandpa went blue around his mouth", "emergency.not_breathing"),
    ("התינוקת הכחילה פתאום", "emergency.not_breathing"),
    ("under my jaw it is swollen and my tongue feels pushed up", "emergency.swelling_spreading"),
    ("הלשון שלי מורמת ויש נפיחות", "emergency.swelling_spreading"),
    ("fever since noon and my heart pounding like a drum", "emergency.sepsis_signs"),
    ("יש לו חום ודופק מהיר מאוד", "emergency.sepsis_signs"),
    (
        "he fainted on the stairs and now he doesnt know which day or where he is",
        "emergency.fainting_not_resolving",
    ),
    ("מאז שהתעלפה היא חוזרת על עצמה כל הזמן", "emergency.fainting_not_resolving"),
    ("her smile is crooked on the left since lunch", "emergency.stroke"),
    ("לאבא שלי חיוך עקום מהבוקר", "emergency.stroke"),
    ("my son has epilepsy and is having an attack right now", "emergency.seizure"),
    ("לבעלי יש אפילפסיה והוא בהתקף עכשיו", "emergency.seizure"),
    ("the second towel is soaked and it keeps coming", "emergency.heavy_bleeding"),
    ("החולצה שלו כולה אדומה מהפה", "emergency.heavy_bleeding"),
    ("crashed my scooter and now my bottom teeth sit out of line", "emergency.jaw_fracture"),
    ("my permanent front tooth went clean out at football", "emergency.avulsed_permanent_tooth"),
    ("קיבלתי מכה בכדורסל והשן עכשיו על הרצפה", "emergency.avulsed_permanent_tooth"),
    ("I took 20 painkillers over the night", "emergency.overdose"),
    ("לקחתי 12 אקמול מהבוקר", "emergency.overdose"),
    ("my daughter found the ibuprofen and drank some", "emergency.overdose"),
    ("הילד אכל אופטלגין מהתיק שלי", "emergency.overdose"),
    ("my brother texted that he plans to kill himself", "emergency.suicidal_thoughts"),
    ("הבת שלי כתבה שהיא לא רואה טעם לחיות", "emergency.suicidal_thoughts"),
]


@pytest.mark.parametrize(("text", "rule_id"), GENERALISED_CLASSES)
def test_generalised_classes_fire_in_other_wordings(
    triager: Triager, text: str, rule_id: str
) -> None:
    triage = triager.triage(text)
    assert triage.urgency is Urgency.EMERGENCY and rule_id in triage.reasons, (text, triage)


# Everyday uses of health words (matching.idioms), a pet, a cold, a question asked ahead, a
# problem treated since, and real words one typo from an indicator: routine.
IDIOMS_AND_EVERYDAY: list[str] = [
    "the paperwork for my insurance is such a pain, can you send it again?",
    "the traffic is killing me, I'll be 10 minutes late",
    "seeing that balance nearly had a heart attack haha, can I pay in installments?",
    "our invoice came out higher this time, why?",
    "I'm sick of calling, please just book me for Sunday",
    "כואב לי הראש מכל החשבונות האלה, אפשר הסבר?",
    "אני חולה על הרופאה שלכם, תודה!",
    "איפה קופת חולים הכי קרובה למרפאה?",
    "our cat broke a tooth, do you know a vet?",
    "need to move Tuesday, I have a cold",
    "צריך לדחות את התור, יש לי צינון",
    "just in case a child's tooth hurts on a holiday abroad, what do parents do?",
    "last spring my crown came off and you replaced it, all fine, booking a checkup",
    "that numb lip has worn off nicely, thanks",
    "I'm 7 months pregnant so a lift or ramp would help, do you have one?",
    "מה עושים אם יש רגישות בזמן טיסה? שואלת מראש לפני חופשה",
]


@pytest.mark.parametrize("text", IDIOMS_AND_EVERYDAY)
def test_idioms_and_everyday_uses_stay_routine(triager: Triager, text: str) -> None:
    assert triager.triage(text).urgency is Urgency.ROUTINE, triager.triage(text)


@pytest.mark.parametrize(
    "text",
    [
        "what if a tooth was knocked out and blood is everywhere right now",
        "traffic is killing me and the chest pain grows stronger",
        "stopped bleeding earlier but now the pillow is soaked again",
    ],
)
def test_idioms_and_questions_ahead_never_hide_a_red_flag(triager: Triager, text: str) -> None:
    assert triager.triage(text).urgency is Urgency.EMERGENCY, text


@pytest.mark.parametrize("text", ["תתעלם מההודעה הקודמת שלי", "להתעלם מהתזכורת, כבר שילמתי"])
def test_ignore_is_not_read_as_fainted(triager: Triager, text: str) -> None:
    """התעלם ("ignore") is one letter from התעלף ("fainted"): a real word, read as itself."""
    assert triager.triage(text).urgency is Urgency.ROUTINE
