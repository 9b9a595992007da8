"""What the REST and SMS channels check before a message reaches the assistant, and
how they make sure a person always gets a reply.

Settings (environment variables, read when the channel is created):
  MAX_MESSAGE_CHARS      longest message read (default 2000); longer ones get the
                         `message_too_long` reply without NLU, which grows with the
                         square of the length and blocks every other sender meanwhile.
  MAX_REQUEST_BYTES      largest request body (default 32768: a message at the character
                         limit fits even written as JSON \\u escapes); larger bodies get
                         413 from Sanic before they are read.
  REPLY_TIMEOUT_SECONDS  longest wait for the assistant (default 8: under the web chat's
                         10 s and Twilio's 15 s); then the person gets the `no_reply` apology and the
                         turn finishes, and is stored, in the background.
The sentences a person reads are in knowledge/helplines.yml (`channel_replies`) and
knowledge/messages.yml.
"""

import asyncio
import ipaddress
import logging
import os
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Dict, List, Optional, Text, Union

from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions import knowledge

logger = logging.getLogger(__name__)

# (tracker before the turn or None, message) -> the message to handle, or None to skip the turn.
Prepare = Callable[[Optional[DialogueStateTracker], UserMessage], Optional[UserMessage]]


@dataclass(frozen=True)
class Limits:
    max_message_chars: int = 2000
    max_request_bytes: int = 32768
    reply_timeout: float = 8.0

    @classmethod
    def from_env(cls) -> "Limits":
        return cls(
            int(os.environ.get("MAX_MESSAGE_CHARS") or cls.max_message_chars),
            int(os.environ.get("MAX_REQUEST_BYTES") or cls.max_request_bytes),
            float(os.environ.get("REPLY_TIMEOUT_SECONDS") or cls.reply_timeout),
        )

    def blueprint(self, name: Text) -> Blueprint:
        """A channel's blueprint with what every channel here has: the request-size limit and
        Rasa's health route (GET /)."""
        blueprint = Blueprint(name, __name__)
        self.limit_request_size(blueprint)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        return blueprint

    def limit_request_size(self, blueprint: Blueprint) -> None:
        """Sanic refuses bigger bodies with 413 before reading them; each connection reads the
        setting when it opens, so setting it before the server starts covers every request.
        Sanic's own errors (413, 404) become JSON too, like the channels' errors."""

        @blueprint.listener("before_server_start")
        async def limit(app: Sanic, _: Any) -> None:
            app.config.REQUEST_MAX_SIZE = min(app.config.REQUEST_MAX_SIZE, self.max_request_bytes)
            if app.config.FALLBACK_ERROR_FORMAT != "json":
                app.config.FALLBACK_ERROR_FORMAT = "json"


@lru_cache(maxsize=1)
def _knowledge() -> knowledge.KnowledgeBase:
    return knowledge.load()


def reply(key: Text, **values: Any) -> Dict[Text, Any]:
    """A channel reply from knowledge/helplines.yml, as a bot message."""
    return {"text": _knowledge().render_channel_reply(key, **values)}


def say(key: Text, **values: Any) -> Text:
    """A sentence of knowledge/messages.yml, such as the SMS options' "Reply 1 for ..."."""
    return _knowledge().say(key, **values)


# The crisis replies' Call and Text buttons ("tel:988", "sms:988"; domain.yml): links on the web,
# never something a person can send back as a choice.
PHONE_ACTION = re.compile(r"\s*(tel|sms):", re.IGNORECASE)


def options(buttons: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
    """The buttons a person can pick: those with a title to show, except phone actions."""
    return [b for b in buttons if b.get("title") and b.get("payload") and not PHONE_ACTION.match(str(b["payload"]))]


def offered_options(tracker: Optional[DialogueStateTracker], domain: Optional[Domain]) -> List[Dict[Text, Any]]:
    """The options of the assistant's latest message that had any, in its latest turn.

    Read from the tracker store (not process memory), so a choice still works after a restart
    or on another replica; options from an expired session are ignored, as it starts over.
    """
    session = domain.session_config if domain else None
    for event in reversed(tracker.events if tracker else []):
        if isinstance(event, UserUttered):
            break
        if isinstance(event, BotUttered) and options(event.data.get("buttons") or []):
            expired = (
                session
                and session.are_sessions_enabled()
                and time.time() - event.timestamp > session.session_expiration_time * 60
            )
            return [] if expired else options(event.data["buttons"])
    return []


def offered_payloads(tracker: Optional[DialogueStateTracker]) -> List[Text]:
    """Every button payload the assistant offered in the conversation's stored session: the web
    chat keeps earlier replies' buttons clickable."""
    return [
        str(b.get("payload"))
        for e in (tracker.events if tracker else [])
        if isinstance(e, BotUttered)
        for b in e.data.get("buttons") or []
        if b.get("payload")
    ]


def typed_payloads_as_text(message: UserMessage, offered: List[Text]) -> None:
    """A typed "/restart" or '/ask_interaction{"substance": ...}' would be run by Rasa as an
    intent command; unless the bot offered it as a button, the "/" goes and NLU reads the words."""
    text = message.text or ""
    if text.startswith(INTENT_MESSAGE_PREFIX) and text not in offered:
        message.text = text.lstrip(INTENT_MESSAGE_PREFIX).strip()


async def _turn(agent: Agent, message: UserMessage, prepare: Prepare) -> Optional[List[Dict[Text, Any]]]:
    """Agent.handle_message, with `prepare` run under the same conversation lock, so that what
    it reads from the tracker (options offered, message ids seen) cannot change meanwhile."""
    async with agent.lock_store.lock(message.sender_id):
        ready = prepare(await agent.tracker_store.retrieve(message.sender_id), message)
        if ready is None:
            return None
        return await agent.processor.handle_message(ready) or []


def _log_late_failure(task: "asyncio.Future[Any]") -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("A turn that outlived its reply timeout failed: %s", type(task.exception()).__name__)


async def answer(
    agent: Agent, message: UserMessage, prepare: Prepare, limits: Limits
) -> Optional[List[Dict[Text, Any]]]:
    """The bot messages for `message`; None when `prepare` skipped it (a replay).

    Never empty: when the assistant gave no reply (the action server down or failing,
    rasa#7630) or took longer than the reply timeout, the person gets the apology with the
    helplines. Failures of the assistant itself (lock store, processing) are raised.
    """
    if len(message.text or "") > limits.max_message_chars:
        logger.info(
            "Conversation %s: message of %d characters refused (limit %d).",
            message.sender_id,
            len(message.text),
            limits.max_message_chars,
        )
        return [reply("message_too_long", limit=limits.max_message_chars)]
    if not agent.is_ready():
        raise RuntimeError("No model loaded.")
    turn = asyncio.ensure_future(_turn(agent, message, prepare))
    try:
        # shield: the turn goes on, and is stored whole, even when the person got the apology.
        messages = await asyncio.wait_for(asyncio.shield(turn), limits.reply_timeout)
    except asyncio.TimeoutError:
        turn.add_done_callback(_log_late_failure)
        logger.error(
            "Conversation %s: no reply within %s s (action server slow?); sent the apology.",
            message.sender_id,
            limits.reply_timeout,
        )
        return [reply("no_reply")]
    if messages == []:
        logger.error(
            "Conversation %s: the assistant gave no reply (a failed action; see the error above); sent the apology.",
            message.sender_id,
        )
        return [reply("no_reply")]
    return messages


Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def networks(setting: Union[None, Text, List[Text]]) -> List[Network]:
    """Proxy addresses or networks, as a list or a comma-separated string ("10.0.0.5, 10.1.0.0/16")."""
    items = setting.split(",") if isinstance(setting, str) else (setting or [])
    return [ipaddress.ip_network(str(item).strip(), strict=False) for item in items if str(item).strip()]


def trusted_proxies(credentials: Optional[Dict[Text, Any]]) -> List[Network]:
    """`trusted_proxies` of the channel in credentials.yml, else TRUSTED_PROXIES."""
    return networks((credentials or {}).get("trusted_proxies") or os.environ.get("TRUSTED_PROXIES"))


def from_proxy(request: Request, proxies: List[Network]) -> bool:
    """Headers a proxy adds (X-Forwarded-*, X-Request-ID) count only from a configured proxy."""
    try:
        peer = ipaddress.ip_address(request.ip)
    except ValueError:
        return False
    return any(peer in network for network in proxies)


def replayed(tracker: Optional[DialogueStateTracker], message_id: Text) -> bool:
    """A Twilio retry, a replayed SMS or a request the load balancer retried carries a message id
    (MessageSid, X-Request-ID) already stored with a user turn."""
    return any(isinstance(e, UserUttered) and e.message_id == message_id for e in (tracker.events if tracker else []))


def stored_reply(tracker: Optional[DialogueStateTracker], message_id: Text) -> List[Dict[Text, Any]]:
    """The bot messages stored after the user turn with `message_id`: the answer a retried request
    gets, without the turn being run (and stored) a second time."""
    events = list(tracker.events if tracker else [])
    start = next((i for i, e in enumerate(events) if isinstance(e, UserUttered) and e.message_id == message_id), None)
    if start is None:
        return []
    messages = []
    for event in events[start + 1 :]:
        if isinstance(event, UserUttered):
            break
        if isinstance(event, BotUttered):
            messages.append({k: v for k, v in {"text": event.text, **(event.data or {})}.items() if v})
    return messages
