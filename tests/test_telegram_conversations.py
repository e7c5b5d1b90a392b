"""The Telegram channel end to end: updates posted to the webhook as Telegram posts them,
answered through the assistant, the answers read from the Bot API stand-in (real HTTP, with
python-telegram-bot as the client). Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from serving.db import models as db
from serving.db.engine import Database
from tests.assistant_client import DANA_PHONE, JOHN_PHONE
from tests.telegram_client import TelegramUser, telegram_bot, telegram_settings, texts
from tests.telegram_stand_in import TOKEN, BotApiStandIn, bot_api_fixture  # noqa: F401


def _hebrew(text: str) -> bool:
    return any("\u0590" <= ch <= "\u05ff" for ch in text)


async def _scheduled(database: Database, phone: str) -> int:
    async with database.transaction() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(db.Appointment)
            .join(db.Patient, db.Patient.id == db.Appointment.patient_id)
            .where(db.Patient.phone == phone, db.Appointment.status == "scheduled")
        )
    return int(count or 0)


@pytest.mark.parametrize("language", ["he", "en"])
async def test_full_booking_by_buttons(
    database_url: str, database: Database, bot_api: BotApiStandIn, language: str
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7001, language_code=language)
        welcome = await user.say("/start")
        assert _hebrew(welcome[0].text) == (language == "he")
        assert [data for _, data in welcome[0].buttons] == [
            "quick:book",
            "quick:invoices",
            "quick:doctor",
        ]
        assert welcome[1].asks_for_contact, "the share-my-phone keyboard is offered"

        verified = await user.share_contact(JOHN_PHONE.lstrip("+"))
        assert verified[0].params["reply_markup"] == {"remove_keyboard": True}
        before = await _scheduled(database, JOHN_PHONE)

        treatments = await user.press(verified, "quick:book")
        assert [c.method for c in treatments[:2]] == [
            "answerCallbackQuery",
            "editMessageReplyMarkup",
        ]
        slots = await user.press(treatments, "treat:cleaning")
        offered = [data for call in slots for _, data in call.buttons if data.startswith("slot:")]
        assert 1 <= len(offered) <= 3
        assert all(len(data.encode()) <= 64 for data in offered)
        proposal = await user.press(slots, "slot:")
        assert {data.split(":")[0] for call in proposal for _, data in call.buttons} == {
            "confirm",
            "decline",
        }
        assert await _scheduled(database, JOHN_PHONE) == before, "nothing booked before confirm"
        booked = await user.press(proposal, "confirm:")
        assert await _scheduled(database, JOHN_PHONE) == before + 1
        assert _hebrew(texts(booked)) == (language == "he")
        presses = bot_api.sent("answerCallbackQuery")
        assert len(presses) == 4, "every button press is answered"


async def test_contact_verification_accepts_only_the_senders_own(
    database_url: str, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7002)
        refused = await user.share_contact(DANA_PHONE, owner=9999)
        assert "only accept your own phone number" in texts(refused)
        assert refused[0].asks_for_contact
        still_anonymous = await user.say("how much do I owe?")
        assert "INV/2026/0042" not in texts(still_anonymous)
        assert any(call.asks_for_contact for call in still_anonymous)

        accepted = await user.share_contact(DANA_PHONE)
        assert "verified" in texts(accepted)
        unknown = await TelegramUser(bot, 7003).share_contact("+972509999999")
        assert "couldn't find a patient record" in texts(unknown)


async def test_invoice_question_before_and_after_verification(
    database_url: str, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7004, language_code="he")
        before = await user.say("כמה אני חייבת?")
        assert "INV/2026/0042" not in texts(before)
        assert any(call.asks_for_contact for call in before), "asked to share the phone"
        await user.share_contact(DANA_PHONE)
        after = await user.say("כמה אני חייבת?")
        assert "INV/2026/0042" in texts(after) and "450.00" in texts(after)
        assert _hebrew(texts(after))


async def test_emergency_gets_the_fixed_reply_and_an_escalation(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7005)
        reply = await user.say("my face is swelling and I can't swallow")
        assert "101" in texts(reply) and "+97235550199" in texts(reply)
        assert not any(call.method == "sendPhoto" for call in reply)
        async with database.transaction() as session:
            escalations = (await session.scalars(select(db.Escalation))).all()
        assert [e.urgency for e in escalations] == ["EMERGENCY"]


@pytest.mark.parametrize(
    ("language", "danger", "question"),
    [
        ("en", "my cheek is getting worse fast since the filling", "unconscious"),
        ("he", "הלחי שלי הולכת ומחמירה מאז הסתימה", "מחוסר הכרה"),
    ],
)
async def test_the_safety_question_arrives_with_buttons_and_yes_is_an_emergency(
    database_url: str,
    database: Database,
    bot_api: BotApiStandIn,
    language: str,
    danger: str,
    question: str,
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7010, language_code=language)
        asked = await user.say(danger)
        assert question in texts(asked)
        assert [data for call in asked for _, data in call.buttons] == [
            "safety:yes",
            "safety:no",
        ]
        answered = await user.press(asked, "safety:yes")
        assert [c.method for c in answered[:2]] == [
            "answerCallbackQuery",
            "editMessageReplyMarkup",
        ], "the press is answered and the question's keyboard removed"
        assert "101" in texts(answered)
        async with database.transaction() as session:
            escalations = (await session.scalars(select(db.Escalation))).all()
            answers = (
                await session.scalars(
                    select(db.Message.safety_answer).where(db.Message.button == "safety:yes")
                )
            ).all()
        assert [(e.urgency, e.reasons) for e in escalations] == [
            ("EMERGENCY", "fail_safe.safety_question_yes")
        ]
        assert answers == ["yes"]


async def test_language_command_is_remembered(
    database_url: str, database: Database, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7006, language_code="en")
        chosen = await user.say("/language he")
        assert texts(chosen) == "מעכשיו אכתוב לך בעברית."
        helped = await user.say("/help")
        assert _hebrew(texts(helped)) and "/language" in texts(helped)
        usage = await user.say("/language fr")
        assert "/language he" in texts(usage)
        async with database.transaction() as session:
            language = await session.scalar(
                select(db.Conversation.language).where(
                    db.Conversation.channel == "telegram",
                    db.Conversation.external_user_id == "7006",
                )
            )
        assert language == "he"


async def test_location_and_care_card(database_url: str, bot_api: BotApiStandIn) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7007)
        where = await user.say("where is the clinic?")
        [venue] = [call for call in where if call.method == "sendVenue"]
        assert venue.params["title"] == "Smile Dental Clinic"
        assert "Herzl" in venue.params["address"]
        assert [c.method for c in await user.say("/location")] == ["sendVenue"]

        first = await user.say("how should I take care after the extraction?")
        [upload] = [call for call in first if call.method == "sendPhoto"]
        assert upload.uploaded == ("photo",), "the card is uploaded the first time"
        second = await user.say("what should I do after an extraction?")
        [by_id] = [call for call in second if call.method == "sendPhoto"]
        assert (
            by_id.uploaded == () and by_id.params["photo"] == upload.result["photo"][-1]["file_id"]
        ), "then sent by the cached file id"


async def test_html_is_escaped_and_long_help_fits(
    database_url: str, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7008)
        reply = await user.say("hi <b>there</b> & welcome")
        for call in reply:
            if call.method == "sendMessage":
                assert call.params["parse_mode"] == "HTML"
                assert "<b>" not in call.text
                assert len(call.text) <= 4096


async def test_the_token_never_reaches_the_logs(
    database_url: str, bot_api: BotApiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        user = TelegramUser(bot, 7009)
        await user.say("/start")
        bot_api.fail("sendMessage", 403)
        await user.say("hello")
    assert TOKEN not in caplog.text
    assert "stand-in-token" not in caplog.text


async def test_deep_links_choose_the_language_or_start_an_action(
    database_url: str, bot_api: BotApiStandIn
) -> None:
    async with telegram_bot(telegram_settings(database_url, bot_api), bot_api) as bot:
        english = await TelegramUser(bot, 7010, language_code="he").say("/start en")
        assert "automated assistant" in english[0].text
        booking = await TelegramUser(bot, 7011).say("/start book")
        assert "first need to know it's you" in booking[-1].text, "booking started: who is it?"
        assert booking[-1].asks_for_contact
        ignored = await TelegramUser(bot, 7012).say("/start <script>")
        assert "automated assistant" in texts(ignored), "a bad payload is just a /start"
