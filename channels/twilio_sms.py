"""SMS through Twilio: a signed webhook that answers in its own TwiML response.

Answering in the webhook's HTTP response needs no outbound Twilio API call, so
the only secret is the auth token, which proves that a request came from Twilio.
Register in credentials.yml as `channels.twilio_sms.TwilioSmsInput:`; Twilio
then posts to /webhooks/twilio_sms/webhook.
"""

import hashlib
import hmac
import logging
import os
import re
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, Text, Tuple

from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from channels.door import (
    Limits,
    Network,
    answer,
    from_proxy,
    offered_options,
    options,
    replayed,
    reply,
    say,
    trusted_proxies,
    typed_payloads_as_text,
)

logger = logging.getLogger(__name__)

# Three concatenated SMS segments of plain text at most; longer replies become several messages.
SMS_LIMIT = 320
# For whoever calls the webhook without Twilio's signature: not a person texting.
BAD_SIGNATURE = "Invalid or missing X-Twilio-Signature."
# Curly quotes and long dashes force UCS-2, which cuts the characters per SMS segment from 153 to 67.
GSM_FRIENDLY = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2013": "-", "\u2014": "-", "\u2026": "..."}
)
# A button payload or intent command ("/ask_quitting"); "24/7" is left alone.
PAYLOAD = re.compile(r"(?<!\S)/\w+(\{[^}]*\})?")
NUMBER_CHOICE = re.compile(r"\s*(\d{1,2})\s*[.)]?\s*")
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


def numbered(buttons: List[Dict[Text, Any]]) -> str:
    """Buttons as "Reply 1 for ..., 2 for ...": SMS has no buttons, and payloads must not show.
    Empty when no button is an option."""
    picks = options(buttons)
    if not picks:
        return ""
    line = say(
        "sms_options", options=", ".join(say("sms_option", number=i, title=b["title"]) for i, b in enumerate(picks, 1))
    )
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
    """The options of the assistant's latest turn for conversation `sender`, from the tracker store."""
    return offered_options(await agent.tracker_store.retrieve(sender), agent.domain)


def conversation_id(key: bytes, phone: Text) -> Text:
    """The phone number never becomes the conversation id: a keyed hash of it does, in the
    "sms:" namespace no REST sender can reach (REST ids start with "rest:")."""
    return "sms:" + hmac.new(key, phone.strip().encode("utf-8"), hashlib.sha256).hexdigest()


def sender_key(auth_token: Optional[Text]) -> Optional[bytes]:
    """SMS_SENDER_KEY; when unset, a key derived from the Twilio auth token (without which the
    channel refuses every request anyway). Changing either starts every SMS conversation afresh."""
    key = os.environ.get("SMS_SENDER_KEY")
    if key:
        return key.encode("utf-8")
    if auth_token:
        return hmac.new(auth_token.encode("utf-8"), b"sms-conversation-id", hashlib.sha256).digest()
    return None


class TwilioSmsInput(InputChannel):
    """Twilio SMS webhook: checks Twilio's signature, answers with TwiML."""

    @classmethod
    def name(cls) -> Text:
        return "twilio_sms"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        return cls(credentials.get("auth_token"), credentials.get("public_url"), trusted_proxies(credentials))

    def __init__(
        self,
        auth_token: Optional[Text] = None,
        public_url: Optional[Text] = None,
        trusted_proxies: Optional[List[Network]] = None,
        limits: Optional[Limits] = None,
    ) -> None:
        """Without a token every request is refused, rather than the server failing to start."""
        token = auth_token or os.environ.get("TWILIO_AUTH_TOKEN")
        self.validator = RequestValidator(token) if token else None
        self.key = sender_key(token)
        self.public_url = public_url
        self.trusted_proxies = trusted_proxies or []
        self.limits = limits or Limits.from_env()
        if not token:
            logger.warning(
                "SMS channel: no auth_token in credentials.yml and no TWILIO_AUTH_TOKEN; "
                "every request to /webhooks/twilio_sms/webhook will get 403."
            )
        elif not os.environ.get("SMS_SENDER_KEY"):
            logger.warning(
                "SMS channel: no SMS_SENDER_KEY; conversation ids are keyed with a key derived "
                "from the Twilio auth token, so rotating the token starts every conversation afresh."
            )

    def from_proxy(self, request: Request) -> bool:
        return from_proxy(request, self.trusted_proxies)

    def signed_url(self, request: Request) -> str:
        """The URL Twilio called and signed; behind a proxy that is not the URL we see.
        X-Forwarded-* count only from a trusted proxy: anyone else could name any URL."""
        if self.public_url:
            return self.public_url
        forwarded = self.from_proxy(request)
        proto = (forwarded and request.headers.get("X-Forwarded-Proto")) or request.scheme
        host = (forwarded and request.headers.get("X-Forwarded-Host")) or request.host
        query = f"?{request.query_string}" if request.query_string else ""
        return f"{proto.split(',')[0].strip()}://{host.split(',')[0].strip()}{request.path}{query}"

    def is_from_twilio(self, request: Request) -> bool:
        """Twilio's own validator; anyone who knows the URL could otherwise post as any number."""
        signature = request.headers.get("X-Twilio-Signature")
        return bool(
            self.validator and signature and self.validator.validate(self.signed_url(request), request.form, signature)
        )

    @staticmethod
    def prepare(agent: Agent, message_id: Optional[Text]) -> Callable[..., Optional[UserMessage]]:
        """Under the conversation lock: a replay is skipped; a number picks an option the assistant
        offered; anything else typed is text (payloads are never shown by SMS, so never typed)."""

        def run(tracker: Optional[DialogueStateTracker], message: UserMessage) -> Optional[UserMessage]:
            if message_id and replayed(tracker, message_id):
                return None
            offered = offered_options(tracker, agent.domain)
            choice = NUMBER_CHOICE.fullmatch(message.text or "")
            if choice and 0 < int(choice.group(1)) <= len(offered):
                message.text = offered[int(choice.group(1)) - 1]["payload"]
            else:
                typed_payloads_as_text(message, [])
            return message

        return run

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sms = self.limits.blueprint("twilio_sms_webhook")

        @sms.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.is_from_twilio(request) or not self.key:
                return response.text(BAD_SIGNATURE, status=403)
            phone = (request.form.get("From") or "").strip()
            text = (request.form.get("Body") or "").strip()
            if not phone:
                return twiml([reply("no_sender")["text"]], status=400)
            if not text:
                return twiml([reply("empty_sms")["text"]])
            sid = request.form.get("MessageSid") or None
            # No metadata: nothing from the request but the text is stored.
            message = UserMessage(
                text,
                CollectingOutputChannel(),
                conversation_id(self.key, phone),
                input_channel=self.name(),
                message_id=sid,
            )
            try:
                messages = await answer(
                    request.app.ctx.agent, message, self.prepare(request.app.ctx.agent, sid), self.limits
                )
            except Exception as error:
                # A 5xx would leave the person with nothing: Twilio does not send a failed webhook's reply.
                logger.error(
                    "SMS channel: the assistant failed on a message in %s: %s", message.sender_id, type(error).__name__
                )
                return twiml([reply("no_reply")["text"]])
            if messages is None:
                logger.info("SMS channel: MessageSid already answered (a replay or Twilio retry); empty reply.")
                return twiml([])
            return twiml(split_sms(sms_text(messages)))

        return sms
