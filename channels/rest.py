"""REST: POST /webhooks/rest/webhook {"sender": "...", "message": "..."}, answered with a
JSON list of bot messages, as Rasa's own REST channel, with these differences:

- Conversations are "rest:<sender>", a namespace no other channel uses, so a REST client
  cannot reach an SMS conversation ("sms:<hash>"). Without a sender (or an empty one) the
  request starts a new conversation with a random sender; every reply message carries the
  sender to send next time as `recipient_id`.
- Bad requests get 400 with {"error": "..."}; failures of the assistant get 500; a person
  never gets an empty list (see channels/door.py); metadata and input_channel are ignored.
- A typed "/intent" is text ("/restart" is read as the word "restart"), unless it is the
  payload of a button the bot offered in this conversation's session.
- Behind a load balancer that retries a request whose server died (HAProxy in cluster/), the
  proxy's X-Request-ID becomes the turn's message id; a retry of a turn already stored gets
  the stored answer and is not run again. The header counts only from `trusted_proxies`.
- No streaming (?stream=true is ignored).
Register in credentials.yml as `channels.rest.RestChannel:`.
"""

import json
import logging
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple, Union

from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.door import (
    Limits,
    Network,
    answer,
    from_proxy,
    offered_payloads,
    replayed,
    reply,
    stored_reply,
    trusted_proxies,
    typed_payloads_as_text,
)

logger = logging.getLogger(__name__)

NAMESPACE = "rest:"
REQUEST_ID = "X-Request-ID"  # set by the load balancer (cluster/haproxy.cfg), kept on its retries
MAX_SENDER_CHARS = 128
# The part of the API a developer reads; a person in the chat never sees these.
NOT_AN_OBJECT = 'The body must be a JSON object: {"sender": "...", "message": "..."}.'
BAD_MESSAGE = '"message" must be a string.'
BAD_SENDER = f'"sender" must be a string of at most {MAX_SENDER_CHARS} characters.'


def parse(body: bytes) -> Union[Tuple[Text, Text], Text]:
    """(sender, message) from a request body, or what is wrong with it.
    A missing or empty sender becomes a new random one: a conversation of its own."""
    try:
        data = json.loads(body)
    except ValueError:  # not JSON, or not UTF-8
        return NOT_AN_OBJECT
    if not isinstance(data, dict):
        return NOT_AN_OBJECT
    message, sender = data.get("message"), data.get("sender")
    if not isinstance(message, str):
        return BAD_MESSAGE
    if sender is not None and (not isinstance(sender, str) or len(sender) > MAX_SENDER_CHARS):
        return BAD_SENDER
    return (sender or "").strip() or uuid.uuid4().hex, message


def prepare() -> Callable[[Optional[DialogueStateTracker], UserMessage], Optional[UserMessage]]:
    """Under the conversation lock: a retried request already stored is skipped; a typed payload
    is text unless the bot offered it as a button."""

    def run(tracker: Optional[DialogueStateTracker], message: UserMessage) -> Optional[UserMessage]:
        if message.message_id and replayed(tracker, message.message_id):
            return None
        typed_payloads_as_text(message, offered_payloads(tracker))
        return message

    return run


async def respond(agent: Agent, body: bytes, limits: Limits, request_id: Optional[Text] = None) -> Tuple[int, Any]:
    """(HTTP status, JSON body) for a request body: the Sanic route only sends it.
    `request_id`: the load balancer's id for this request, the same on its retries."""
    parsed = parse(body)
    if isinstance(parsed, str):
        return 400, {"error": parsed}
    sender, text = parsed
    message = UserMessage(
        text, CollectingOutputChannel(), NAMESPACE + sender, input_channel=RestChannel.name(), message_id=request_id
    )
    try:
        messages = await answer(agent, message, prepare(), limits)
        if messages is None and request_id:
            logger.info(
                "REST channel: a retried request in %s was already answered; sent the stored answer.", message.sender_id
            )
            messages = stored_reply(await agent.tracker_store.retrieve(message.sender_id), request_id) or [
                reply("no_reply")
            ]
    except Exception as error:
        # The type only: the exception's text may quote the message.
        logger.error("REST channel: the assistant failed in %s: %s", message.sender_id, type(error).__name__)
        return 500, {"error": reply("failed")["text"]}
    return 200, [{**m, "recipient_id": sender} for m in messages or []]


class RestChannel(RestInput):
    """Rasa's REST channel, with the checks above; same name, so the same URL."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return cls(trusted_proxies=trusted_proxies(credentials))

    def __init__(self, limits: Optional[Limits] = None, trusted_proxies: Optional[List[Network]] = None) -> None:
        self.limits = limits or Limits.from_env()
        self.trusted_proxies = trusted_proxies or []

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        rest = self.limits.blueprint("rest_webhook")

        @rest.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            request_id = request.headers.get(REQUEST_ID) if from_proxy(request, self.trusted_proxies) else None
            status, body = await respond(request.app.ctx.agent, request.body, self.limits, request_id or None)
            return response.json(body, status=status)

        return rest
