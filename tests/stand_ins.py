"""Local stand-ins for the services a clinic's dentist is notified through, for trying the
dentist in the loop by hand with `make run` (docs/ESCALATION.md, "Try it on this machine"):

    make stand-ins        # this: SMTP on 2525, Twilio on 8701, Telegram Bot API on 8702

prints the settings to give `make run` (put them in `.env`), then every e-mail, SMS and
Telegram message the app sends, with its doctor link. The same servers the tests use: a real
SMTP server (aiosmtpd) and HTTP stand-ins speaking Twilio's Messages API and the Bot API.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack

from aiosmtpd.controller import Controller

from tests.smtp_server import HOST, SmtpServer
from tests.telegram_stand_in import TOKEN, running_bot_api
from tests.twilio_stand_in import ACCOUNT_SID, AUTH_TOKEN, running_twilio

WEBHOOK_SECRET = "local-webhook-secret"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smtp-port", type=int, default=2525)
    parser.add_argument("--twilio-port", type=int, default=8701)
    parser.add_argument("--telegram-port", type=int, default=8702)
    options = parser.parse_args()
    with ExitStack() as stack:
        smtp = SmtpServer(host=HOST, port=options.smtp_port)
        controller = Controller(smtp, hostname=HOST, port=smtp.port)
        controller.start()
        stack.callback(controller.stop)
        twilio = stack.enter_context(running_twilio(options.twilio_port))
        bot_api = stack.enter_context(running_bot_api(options.telegram_port))
        print("Stand-ins running. Settings for `make run` (.env):\n")
        print(
            f"SMTP_HOST={HOST}\nSMTP_PORT={smtp.port}\nSMTP_STARTTLS=false\n"
            "SMTP_FROM=alerts@smile-clinic.example\n"
            f"TWILIO_ACCOUNT_SID={ACCOUNT_SID}\nTWILIO_AUTH_TOKEN={AUTH_TOKEN}\n"
            f"TWILIO_FROM=+15005550006\nTWILIO_API_BASE_URL={twilio.base_url}\n"
            f"TELEGRAM_BOT_TOKEN={TOKEN}\nTELEGRAM_WEBHOOK_SECRET={WEBHOOK_SECRET}\n"
            f"TELEGRAM_API_BASE_URL={bot_api.base_url}\n"
            "PUBLIC_BASE_URL=http://127.0.0.1:8000\n",
            flush=True,
        )
        shown = {"mail": 0, "sms": 0, "telegram": 0}
        try:
            while True:
                for received in smtp.received[shown["mail"] :]:
                    body = received.message.get_body(preferencelist=("plain",))
                    text = body.get_content() if body is not None else ""
                    print(f"--- e-mail to {', '.join(received.rcpt_tos)}: "
                          f"{received.message['Subject']}\n{text}", flush=True)  # fmt: skip
                shown["mail"] = len(smtp.received)
                for sms in twilio.messages[shown["sms"] :]:
                    print(f"--- SMS to {sms.to}\n{sms.body}", flush=True)
                shown["sms"] = len(twilio.messages)
                calls = bot_api.sent("sendMessage")
                for call in calls[shown["telegram"] :]:
                    print(f"--- Telegram to chat {call.chat_id}\n{call.text}", flush=True)
                shown["telegram"] = len(calls)
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
