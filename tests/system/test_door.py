"""What the REST and SMS channels check at the door (channels/door.py, channels/rest.py,
channels/twilio_sms.py): limits, conversation namespaces, typed payloads, a reply when the
assistant gives none, errors as errors, SMS replays and proxies.

Units run the channels' code against a stand-in agent; the rest talks to the real servers,
and stops the action server at the end (slow, then down)."""

import asyncio
import hashlib
import hmac
import json
import re
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import pytest
import requests
from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import InMemoryLockStore, LockError
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from twilio.request_validator import RequestValidator

from channels import rest
from channels.door import Limits, networks, replayed, reply, stored_reply, typed_payloads_as_text
from channels.twilio_sms import conversation_id, sender_key
from tools.servers import Assistant, stop

TOKEN, KEY = "door-token", "door-sender-key"
LIMITS = Limits(max_message_chars=50, max_request_bytes=1000, reply_timeout=0.5)
CRISIS = "i want to end it"


# --- units: a stand-in agent --------------------------------------------------------------


class Processor:
    def __init__(self, replies: List[Dict[str, Any]], delay: float = 0.0, error: Optional[Exception] = None):
        self.replies, self.delay, self.error, self.seen = replies, delay, error, []

    async def handle_message(self, message: UserMessage) -> List[Dict[str, Any]]:
        self.seen.append(message.text)
        await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        return list(self.replies)


class BrokenLocks(InMemoryLockStore):
    def lock(self, *args: Any, **kwargs: Any) -> Any:
        raise LockError("lock store unreachable")


def fake_agent(processor: Processor, locks: Optional[InMemoryLockStore] = None) -> SimpleNamespace:
    domain = Domain.empty()
    return SimpleNamespace(
        lock_store=locks or InMemoryLockStore(),
        tracker_store=InMemoryTrackerStore(domain),
        processor=processor,
        domain=domain,
        is_ready=lambda: True,
    )


def respond(agent: SimpleNamespace, body: Any) -> tuple:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return asyncio.run(rest.respond(agent, raw, LIMITS))


MALFORMED = {
    "not json": b"{not json",
    "not utf-8": b'{"message": "\xff"}',
    "a list": [{"sender": "a", "message": "hi"}],
    "a string": "hi",
    "null body": None,
    "message null": {"sender": "a", "message": None},
    "message a number": {"sender": "a", "message": 1},
    "message a list": {"sender": "a", "message": ["hi"]},
    "message an object": {"sender": "a", "message": {"text": "hi"}},
    "message missing": {"sender": "a"},
    "sender a number": {"sender": 5, "message": "hi"},
    "sender an object": {"sender": {"id": 1}, "message": "hi"},
    "sender too long": {"sender": "s" * 200, "message": "hi"},
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_request_gets_400_and_never_reaches_the_assistant(kind):
    processor = Processor([{"text": "hello"}])
    status, body = respond(fake_agent(processor), MALFORMED[kind])
    assert status == 400 and set(body) == {"error"} and body["error"], body
    assert processor.seen == []


@pytest.mark.parametrize("failure", ["lock store", "processing"])
def test_a_failure_of_the_assistant_is_a_500_not_an_empty_200(failure):
    if failure == "lock store":
        agent = fake_agent(Processor([{"text": "hi"}]), locks=BrokenLocks())
    else:
        agent = fake_agent(Processor([], error=ValueError("the message text")))
    status, body = respond(agent, {"sender": "a", "message": "the message text"})
    assert status == 500 and "error" in body and "the message text" not in json.dumps(body)


def test_no_reply_from_the_assistant_becomes_the_apology_with_the_helplines(caplog):
    status, body = respond(fake_agent(Processor([])), {"sender": "a", "message": "secret words"})
    assert status == 200 and body == [{**reply("no_reply"), "recipient_id": "a"}]
    assert "988" in body[0]["text"] and "911" in body[0]["text"]
    assert "no reply" in caplog.text and "secret words" not in caplog.text


def test_a_slow_assistant_gives_the_apology_in_time_and_the_turn_still_finishes():
    processor = Processor([{"text": "late"}], delay=1.5)
    agent = fake_agent(processor)

    async def scenario() -> tuple:
        started = time.monotonic()
        result = await rest.respond(agent, json.dumps({"sender": "a", "message": "hi"}).encode(), LIMITS)
        took = time.monotonic() - started
        await asyncio.sleep(1.5)  # the shielded turn goes on
        return result, took

    (status, body), took = asyncio.run(scenario())
    assert status == 200 and body[0]["text"] == reply("no_reply")["text"]
    assert took < 1.0 and processor.seen == ["hi"]


def test_a_message_over_the_limit_gets_the_reply_without_nlu():
    processor = Processor([{"text": "hi"}])
    status, body = respond(fake_agent(processor), {"sender": "a", "message": "x" * 51})
    assert status == 200 and body[0]["text"] == reply("message_too_long", limit=50)["text"]
    assert "50 characters" in body[0]["text"] and "988" in body[0]["text"]
    assert processor.seen == []
    assert respond(fake_agent(processor), {"sender": "a", "message": "x" * 50})[0] == 200
    assert processor.seen == ["x" * 50]


def test_no_sender_gets_a_new_conversation_each_time_and_its_id_back():
    processor = Processor([{"text": "hi"}])
    ids = {
        respond(fake_agent(processor), body)[1][0]["recipient_id"]
        for body in ({"message": "a"}, {"message": "b", "sender": ""}, {"message": "c", "sender": "  "})
    }
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert respond(fake_agent(processor), {"sender": "me", "message": "a"})[1][0]["recipient_id"] == "me"


def tracker_with_buttons(*payloads: str) -> DialogueStateTracker:
    buttons = [{"title": p, "payload": p} for p in payloads]
    return DialogueStateTracker.from_events("x", [UserUttered("hmm"), BotUttered("Did you mean", {"buttons": buttons})])


@pytest.mark.parametrize(
    "typed, offered, read_as",
    [
        ("/restart", [], "restart"),
        ('/ask_interaction{"substance": "anything at all"}', [], 'ask_interaction{"substance": "anything at all"}'),
        ("//stop", [], "stop"),
        ("/ask_quitting", ["/ask_capabilities"], "ask_quitting"),
        ("/ask_quitting", ["/ask_quitting"], "/ask_quitting"),
        ("is it safe 24/7", [], "is it safe 24/7"),
    ],
)
def test_a_typed_payload_is_text_unless_the_bot_offered_it(typed, offered, read_as):
    message = UserMessage(typed)
    typed_payloads_as_text(message, offered)
    assert message.text == read_as


def test_rest_passes_a_button_payload_the_bot_offered_and_strips_another():
    processor = Processor([{"text": "ok"}])
    agent = fake_agent(processor)
    earlier = tracker_with_buttons("/ask_quitting", "tel:988").events
    latest = tracker_with_buttons("/ask_capabilities").events
    asyncio.run(agent.tracker_store.save(DialogueStateTracker.from_events("rest:a", earlier + latest)))
    for typed in ("/ask_quitting", "/ask_capabilities", "/restart", "/ask_side_effects", "tel:988"):
        respond(agent, {"sender": "a", "message": typed})
    assert processor.seen == ["/ask_quitting", "/ask_capabilities", "restart", "ask_side_effects", "tel:988"]
    respond(agent, {"sender": "b", "message": "/ask_quitting"})  # offered to someone else
    assert processor.seen[-1] == "ask_quitting"


def test_sms_conversation_ids_are_keyed_hashes_in_their_own_namespace(monkeypatch):
    phone = "+15550001234"
    expected = "sms:" + hmac.new(KEY.encode(), phone.encode(), hashlib.sha256).hexdigest()
    monkeypatch.setenv("SMS_SENDER_KEY", KEY)
    assert conversation_id(sender_key(TOKEN), phone) == expected
    monkeypatch.delenv("SMS_SENDER_KEY")
    derived = sender_key(TOKEN)
    assert derived and derived != TOKEN.encode() and conversation_id(derived, phone) != expected
    assert sender_key(None) is None


def test_replays_are_recognised_by_message_id():
    tracker = DialogueStateTracker.from_events("sms:x", [UserUttered("hi", message_id="SM1")])
    assert replayed(tracker, "SM1") and not replayed(tracker, "SM2") and not replayed(None, "SM1")


def test_a_retried_rest_request_gets_the_stored_answer_and_is_not_run_again():
    """The load balancer retries a request whose replica died after storing the turn: same id."""
    processor = Processor([{"text": "fresh answer"}])
    agent = fake_agent(processor)
    stored = [
        UserUttered("what is it", message_id="req-1"),
        BotUttered("stored answer", {"buttons": None}),
        UserUttered("later", message_id="req-2"),
        BotUttered("later answer"),
    ]
    asyncio.run(agent.tracker_store.save(DialogueStateTracker.from_events("rest:a", stored)))
    body = json.dumps({"sender": "a", "message": "what is it"}).encode()
    status, messages = asyncio.run(rest.respond(agent, body, LIMITS, "req-1"))
    assert status == 200 and messages == [{"text": "stored answer", "recipient_id": "a"}]
    assert processor.seen == []
    status, messages = asyncio.run(rest.respond(agent, body, LIMITS, "req-3"))
    assert messages == [{"text": "fresh answer", "recipient_id": "a"}] and processor.seen == ["what is it"]


def test_stored_reply_is_only_the_answer_to_that_turn():
    tracker = DialogueStateTracker.from_events(
        "rest:a",
        [UserUttered("one", message_id="r1"), BotUttered("a1"), BotUttered("a2"), UserUttered("two"), BotUttered("b")],
    )
    assert stored_reply(tracker, "r1") == [{"text": "a1"}, {"text": "a2"}] and stored_reply(tracker, "r9") == []


def test_trusted_proxies_parse_from_a_list_or_a_comma_separated_string():
    assert [str(n) for n in networks("127.0.0.1, 10.0.0.0/8")] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert [str(n) for n in networks(["::1"])] == ["::1/128"] and networks(None) == []


# --- over the real servers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, trained_model):
    running = Assistant(
        tmp_path_factory.mktemp("door"),
        trained_model,
        env={
            "TWILIO_AUTH_TOKEN": TOKEN,
            "SMS_SENDER_KEY": KEY,
            "REPLY_TIMEOUT_SECONDS": "4",
            "TRUSTED_PROXIES": "10.9.9.9",
        },
    )
    yield running
    running.close()


def post(assistant: Assistant, body: Any, raw: Optional[bytes] = None) -> requests.Response:
    if raw is None:
        raw = json.dumps(body).encode()
    return requests.post(assistant.webhook, data=raw, headers={"Content-Type": "application/json"}, timeout=60)


def sms_url(assistant: Assistant) -> str:
    return f"http://127.0.0.1:{assistant.rasa_port}/webhooks/twilio_sms/webhook"


def sms(
    assistant: Assistant, params: Dict[str, str], headers: Optional[Dict[str, str]] = None, url: Optional[str] = None
) -> requests.Response:
    signature = RequestValidator(TOKEN).compute_signature(url or sms_url(assistant), params)
    return requests.post(
        sms_url(assistant), data=params, timeout=60, headers={"X-Twilio-Signature": signature, **(headers or {})}
    )


def sms_texts(response: requests.Response) -> List[str]:
    return re.findall(r"<Message>(.*?)</Message>", response.text, re.S)


def rows(assistant: Assistant, sql: str, *args: Any) -> List[tuple]:
    with sqlite3.connect(assistant.db) as db:
        return db.execute(sql, args).fetchall()


def user_texts(assistant: Assistant, conversation: str) -> List[str]:
    return [
        json.loads(d)["text"]
        for (d,) in rows(
            assistant, "select data from events where sender_id = ? and type_name = 'user' order by id", conversation
        )
    ]


def timed_crisis(assistant: Assistant, sender: str) -> tuple:
    started = time.monotonic()
    first = assistant.say(sender, CRISIS)[0]["text"]
    return time.monotonic() - started, first


def test_a_long_message_never_holds_up_a_crisis_message(assistant):
    """Without the length limit, NLU of the three 30,000-character messages (each under the body
    limit) holds the server for about 2 s, and the crisis message waits behind them."""
    alone, _ = timed_crisis(assistant, "crisis-alone")
    words = "my doctor said klonopin and i am worried about taking it with my other medicines and "
    at_limit = (words * 30)[:2000]
    over = (words * 400)[:30000]
    huge = "klonopin " * 200_000  # 1.8 MB: refused by size before it is read
    with ThreadPoolExecutor(6) as pool:
        long_ones = [
            pool.submit(post, assistant, {"sender": f"long-{i}", "message": m})
            for i, m in enumerate([over, over, over, at_limit, huge])
        ]
        time.sleep(0.2)  # the long messages go first
        crisis = pool.submit(timed_crisis, assistant, "crisis-during")
        took, first = crisis.result()
        replies = [f.result() for f in long_ones]
    assert "988" in first and "911" in first
    assert took < alone + 0.5, (took, alone)
    assert [r.status_code for r in replies] == [200, 200, 200, 200, 413]
    assert all("too long" in r.json()[0]["text"] for r in replies[:3])
    assert "too large" in replies[4].json()["description"].lower()


def test_an_over_long_message_gets_the_too_long_reply_with_helplines_and_is_not_stored(assistant):
    response = post(assistant, {"sender": "too-long", "message": "why " * 600})
    assert response.status_code == 200
    text = response.json()[0]["text"]
    assert "too long" in text and "2000" in text and "988" in text and "911" in text
    assert user_texts(assistant, "rest:too-long") == []


def test_an_over_long_sms_gets_the_too_long_reply_and_is_not_stored(assistant):
    phone = "+15550007007"
    texts = sms_texts(sms(assistant, {"From": phone, "Body": "why " * 600, "MessageSid": "SMlong1"}))
    assert len(texts) == 1 and "too long" in texts[0] and "988" in texts[0] and "911" in texts[0]
    assert user_texts(assistant, "sms:" + hmac.new(KEY.encode(), phone.encode(), hashlib.sha256).hexdigest()) == []


def test_metadata_is_not_stored(assistant):
    post(
        assistant,
        {
            "sender": "meta",
            "message": "what is klonopin",
            "metadata": {"junk": "x" * 5000},
            "input_channel": "twilio_sms",
        },
    )
    (data,) = rows(assistant, "select data from events where sender_id = 'rest:meta' and type_name = 'user'")[0]
    assert "junk" not in data and json.loads(data)["input_channel"] == "rest"


@pytest.mark.parametrize(
    "kind",
    [
        "not json",
        "a list",
        "message null",
        "message a number",
        "message an object",
        "message missing",
        "sender a number",
    ],
)
def test_malformed_rest_requests_get_a_clear_400_over_http(assistant, kind):
    body = MALFORMED[kind]
    response = post(assistant, None, raw=body if isinstance(body, bytes) else json.dumps(body).encode())
    assert response.status_code == 400 and response.json()["error"]
    assert "Traceback" not in response.text


def test_without_a_sender_a_new_conversation_whose_id_comes_back(assistant):
    first = post(assistant, {"message": "can i drink on klonopin"}).json()
    again = post(assistant, {"message": "can i drink on klonopin", "sender": ""}).json()
    sender = first[0]["recipient_id"]
    assert sender != again[0]["recipient_id"] and all(m["recipient_id"] == sender for m in first)
    assert not rows(assistant, "select 1 from events where sender_id in ('default', 'rest:default', 'rest:')")
    assert "American Addiction Centers" in assistant.text(sender, "where is that from?")


def test_rest_cannot_reach_an_sms_conversation(assistant):
    phone = "+15550007001"
    sms(assistant, {"From": phone, "To": "+15550000000", "Body": "can i drink on klonopin", "MessageSid": "SMr1"})
    owner = "sms:" + hmac.new(KEY.encode(), phone.encode(), hashlib.sha256).hexdigest()
    assert user_texts(assistant, owner) == ["can i drink on klonopin"]
    assert not rows(assistant, "select 1 from events where sender_id like ?", f"%{phone}%")
    for sender in (phone, owner):
        assert "alcohol" not in assistant.text(sender, "where is that from?").lower()
        assistant.say(sender, "/restart")
    assert user_texts(assistant, owner) == ["can i drink on klonopin"]
    assert user_texts(assistant, f"rest:{owner}") == ["where is that from?", "restart"]


def test_a_typed_restart_does_not_restart(assistant):
    assistant.say("restarter", "can i drink on klonopin")
    assistant.say("restarter", "/restart")
    assert user_texts(assistant, "rest:restarter") == ["can i drink on klonopin", "restart"]
    assert not rows(assistant, "select 1 from events where sender_id = 'rest:restarter' and type_name = 'restart'")
    assert "American Addiction Centers" in assistant.text("restarter", "where is that from?")


def test_a_typed_payload_with_an_entity_is_never_repeated(assistant):
    planted = "PLANTED WORDS call 555-0100"
    for sender in ("planter", "+15550007002"):
        message = f'/ask_interaction{{"substance": "{planted}"}}'
        if sender.startswith("+"):
            texts = sms_texts(sms(assistant, {"From": sender, "Body": message, "MessageSid": "SMp1"}))
        else:
            texts = [assistant.text(sender, message)]
        assert texts and not any("PLANTED" in t or "555-0100" in t for t in texts), texts


def test_a_button_the_bot_offered_still_works_over_rest(assistant, kb):
    for vague in ["is it bad", "klonopin", "what about it", "help me with the thing"]:
        offer = assistant.say("chooser", vague)
        buttons = [b for m in offer for b in m.get("buttons", []) if b["payload"].startswith("/")]
        if buttons:
            break
    assert buttons, "no vague message got buttons"
    answer = assistant.text("chooser", buttons[0]["payload"])
    key = next(k for k, a in kb.answers.items() if a.label == buttons[0]["title"])
    assert kb.answers[key].text[:40] in answer
    assert user_texts(assistant, "rest:chooser")[-1] == buttons[0]["payload"]


def test_a_replayed_sms_is_stored_and_answered_once(assistant):
    params = {"From": "+15550007003", "To": "+15550000000", "Body": "what is klonopin", "MessageSid": "SMreplay1"}
    answers = [sms_texts(sms(assistant, params)) for _ in range(3)]
    assert answers[0] and "clonazepam" in " ".join(answers[0]) and answers[1:] == [[], []]
    owner = "sms:" + hmac.new(KEY.encode(), params["From"].encode(), hashlib.sha256).hexdigest()
    assert user_texts(assistant, owner) == ["what is klonopin"]


def test_a_request_id_from_a_client_that_is_no_proxy_is_ignored(assistant):
    """Only the configured proxy's X-Request-ID marks a retry; a client's own would let it
    replay someone's stored answer or silence their turns."""
    for _ in range(2):
        response = requests.post(
            assistant.webhook,
            json={"sender": "rid", "message": "is klonopin addictive"},
            headers={"X-Request-ID": "same-id"},
            timeout=30,
        )
        assert response.status_code == 200
    assert user_texts(assistant, "rest:rid") == ["is klonopin addictive"] * 2


def test_forwarded_headers_from_a_client_that_is_no_proxy_are_ignored(assistant):
    params = {"From": "+15550007004", "Body": "what is klonopin", "MessageSid": "SMfwd1"}
    public = "https://sms.example.org/webhooks/twilio_sms/webhook"
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.org"}
    assert sms(assistant, params, headers=forged, url=public).status_code == 403
    assert sms(assistant, params, headers=forged).status_code == 200  # signed for the URL as received


# Last: these stop the action server.


def hold_port(port: int) -> socket.socket:
    """A server that accepts connections and never answers: an action server stuck."""
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    stuck.bind(("127.0.0.1", port))
    stuck.listen(50)
    return stuck


def test_with_a_stuck_action_server_everyone_still_gets_a_reply_in_time(assistant):
    stop(assistant.actions)
    stuck = hold_port(assistant.action_port)
    try:
        started = time.monotonic()
        texts = assistant.text("stuck", "can i drink on klonopin")
        assert time.monotonic() - started < 8 and "988" in texts and "try again" in texts
        response = sms(assistant, {"From": "+15550007005", "Body": "can i drink on klonopin", "MessageSid": "SMs1"})
        assert "988" in " ".join(sms_texts(response))
        first = assistant.say("stuck-crisis", CRISIS)[0]["text"]
        assert "988" in first and "911" in first
    finally:
        stuck.close()


def test_with_the_action_server_down_rest_and_sms_get_the_apology(assistant):
    rest_reply = assistant.say("down", "can i drink on klonopin")
    assert rest_reply == [{**reply("no_reply"), "recipient_id": "down"}]
    texts = sms_texts(sms(assistant, {"From": "+15550007006", "Body": "what is klonopin", "MessageSid": "SMd1"}))
    assert texts and "988" in texts[0] and "911" in texts[0]
    first = assistant.say("down-crisis", CRISIS)[0]["text"]
    assert "988" in first and "911" in first
    log = (assistant.tmp / "rasa.log").read_text()
    assert "gave no reply" in log and "can i drink on klonopin" not in log
