"""SMS through Twilio: a signed webhook that answers in its own TwiML response.

Answering in the webhook's HTTP response needs no outbound Twilio API call, so
the only secret is the auth token, which proves that a request came from Twilio.
Register in credentials.yml as `channels.twilio_sms.TwilioSmsInput:`; Twilio
then posts to /webhooks/twilio_sms/webhook.
"""
import logging
import os
import re
import time
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, Text, Tuple

from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

logger = logging.getLogger(__name__)

# Three concatenated SMS segments of plain text at most; longer replies become several messages.
SMS_LIMIT = 320
EMPTY_REPLY = ("I can only read text. Send your question about Klonopin in words, "
               "for example: what are the side effects?")
NO_SENDER_REPLY = "This request has no sender (From), so there is no one to answer."
# Said when the assistant fails, so that even then a person in crisis gets the lines.
ERROR_REPLY = ("Sorry, something went wrong on my side. Please try again in a moment. "
               "In an emergency call 911; for thoughts of suicide call or text 988.")
# Curly quotes and long dashes force UCS-2, which cuts the characters per SMS segment from 153 to 67.
GSM_FRIENDLY = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'",
                              "\u2013": "-", "\u2014": "-", "\u2026": "..."})
# A button payload or intent command ("/ask_quitting"); "24/7" is left alone.
PAYLOAD = re.compile(r"(?<!\S)/\w+(\{[^}]*\})?")
NUMBER_CHOICE = re.compile(r"\s*(\d{1,2})\s*[.)]?\s*")
# The crisis replies' Call and Text buttons ("tel:988", "sms:988"; domain.yml). On the web they
# are links; by SMS they are left out, since their numbers are in the reply's text, and a
# number a person replies with must never send "tel:988" to the assistant as a message.
PHONE_ACTION = re.compile(r"\s*(tel|sms):", re.IGNORECASE)
# A line break (list lines, paragraphs), or the space after a sentence's end when
# no lowercase word follows: '"What Is Klonopin?" notes' is one sentence.
BREAK = re.compile(r"(\s*\n\s*|(?:(?<=[.!?])|(?<=[.!?][\"')\u201d]))[ \t]+(?=[^a-z\s]))")


def split_sms(text: str, limit: int = SMS_LIMIT) -> List[str]:
    """Packs whole sentences into messages of at most `limit` characters.

    Carriers deliver long texts in pieces, sometimes cut mid-word; sending
    our own pieces keeps each readable. Only a sentence longer than `limit`
    is cut, and then between words; a single longer word is kept whole.
    """
    chunks: List[str] = []
    for glue, unit in _units(text, limit):
        if chunks and len(chunks[-1]) + len(glue) + len(unit) <= limit:
            chunks[-1] += glue + unit
        else:
            chunks.append(unit)
    return chunks


def _units(text: str, limit: int) -> Iterator[Tuple[str, str]]:
    """(separator to put before it, sentence or word), keeping paragraph and line breaks."""
    parts = BREAK.split(text.strip())
    for separator, sentence in zip([""] + parts[1::2], parts[0::2]):
        glue = "\n\n" if separator.count("\n") > 1 else "\n" if "\n" in separator else " "
        for i, unit in enumerate([sentence] if len(sentence) <= limit else sentence.split()):
            if unit:
                yield (glue if i == 0 else " "), unit


def options(buttons: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
    """The buttons a person can pick by number: those with a title to show, except phone actions."""
    return [b for b in buttons if b.get("title") and b.get("payload")
            and not PHONE_ACTION.match(str(b["payload"]))]


def numbered(buttons: List[Dict[Text, Any]]) -> str:
    """Buttons as "Reply 1 for ..., 2 for ...": SMS has no buttons, and payloads must not show.
    Empty when no button is an option."""
    picks = options(buttons)
    if not picks:
        return ""
    line = "Reply " + ", ".join(f"{i} for {b['title']}" for i, b in enumerate(picks, 1))
    return line if line[-1] in ".?!" else line + "."


def sms_text(messages: List[Dict[Text, Any]]) -> str:
    """A turn's bot messages as one plain text: numbered options (no Call/Text buttons), no payloads,
    GSM-friendly characters."""
    parts = []
    for message in messages:
        text = message.get("text") or ""
        if options(message.get("buttons") or []):
            text = f"{text}\n{numbered(message['buttons'])}".strip()
        parts.append(text)
    return PAYLOAD.sub("", "\n\n".join(p for p in parts if p)).translate(GSM_FRIENDLY)


def twiml(texts: List[str], status: int = 200) -> HTTPResponse:
    """Twilio sends each <Message> of the webhook's response as an SMS to the sender."""
    reply = MessagingResponse()
    for text in texts:
        reply.message(text)
    return response.text(str(reply), status=status, content_type="text/xml")


async def last_options(agent: Agent, sender: Text) -> List[Dict[Text, Any]]:
    """The buttons of the assistant's latest turn for `sender`, read from the tracker store.

    The tracker store (not process memory) so that a numbered reply still works
    after a restart or when another server process took the previous message;
    buttons from an expired session are ignored, as the conversation starts over.
    """
    tracker = await agent.tracker_store.retrieve(sender)
    session = agent.domain.session_config if agent.domain else None
    for event in reversed(tracker.events if tracker else []):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, BotUttered) and options(event.data.get("buttons") or []):
            expired = session and session.are_sessions_enabled() and \
                time.time() - event.timestamp > session.session_expiration_time * 60
            return [] if expired else options(event.data["buttons"])
    return []


class TwilioSmsInput(InputChannel):
    """Twilio SMS webhook: checks Twilio's signature, answers with TwiML."""

    @classmethod
    def name(cls) -> Text:
        return "twilio_sms"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        return cls(credentials.get("auth_token"), credentials.get("public_url"))

    def __init__(self, auth_token: Optional[Text] = None, public_url: Optional[Text] = None) -> None:
        """Without a token every request is refused, rather than the server failing to start."""
        token = auth_token or os.environ.get("TWILIO_AUTH_TOKEN")
        self.validator = RequestValidator(token) if token else None
        self.public_url = public_url
        if not token:
            logger.warning("SMS channel: no auth_token in credentials.yml and no TWILIO_AUTH_TOKEN; "
                           "every request to /webhooks/twilio_sms/webhook will get 403.")

    def signed_url(self, request: Request) -> str:
        """The URL Twilio called and signed; behind a proxy that is not the URL we see."""
        if self.public_url:
            return self.public_url
        proto = request.headers.get("X-Forwarded-Proto") or request.scheme
        host = request.headers.get("X-Forwarded-Host") or request.host
        query = f"?{request.query_string}" if request.query_string else ""
        return f"{proto.split(',')[0].strip()}://{host.split(',')[0].strip()}{request.path}{query}"

    def is_from_twilio(self, request: Request) -> bool:
        """Twilio's own validator; anyone who knows the URL could otherwise post as any number."""
        signature = request.headers.get("X-Twilio-Signature")
        return bool(self.validator and signature
                    and self.validator.validate(self.signed_url(request), request.form, signature))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sms = Blueprint("twilio_sms_webhook", __name__)

        @sms.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sms.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.is_from_twilio(request):
                return response.text("Invalid or missing X-Twilio-Signature.", status=403)
            sender = (request.form.get("From") or "").strip()
            text = (request.form.get("Body") or "").strip()
            if not sender:
                return twiml([NO_SENDER_REPLY], status=400)
            if not text:
                return twiml([EMPTY_REPLY])
            choice = NUMBER_CHOICE.fullmatch(text)
            if choice:
                offered = await last_options(request.app.ctx.agent, sender)
                if 0 < int(choice.group(1)) <= len(offered):
                    text = offered[int(choice.group(1)) - 1]["payload"]
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(text, collector, sender, input_channel=self.name(),
                                                 metadata=self.get_metadata(request)))
            except Exception:
                logger.exception("SMS channel: the assistant failed to answer a message.")
                return twiml([ERROR_REPLY])
            return twiml(split_sms(sms_text(collector.messages)))

        return sms
