"""The Twilio SMS channel (channels/twilio_sms.py), talked to as Twilio would:
form-encoded posts to the real Rasa server, signed with Twilio's own validator,
answered with TwiML. The splitting and option rendering are unit-tested too."""

import asyncio
import itertools
import json
import re
import sqlite3
import time
import xml.etree.ElementTree as ET
from types import SimpleNamespace
from typing import Dict, List, Optional

import pytest
import requests
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from twilio.request_validator import RequestValidator

from channels.twilio_sms import (
    GSM_FRIENDLY,
    SMS_LIMIT,
    conversation_id,
    last_options,
    numbered,
    options,
    sms_text,
    split_sms,
)
from tools.servers import Assistant

TOKEN = "test-token"
KEY = "test-sender-key"
# Each message its own MessageSid, as from Twilio: a repeated one is a replay, answered once.
SIDS = (f"SM{n}" for n in itertools.count())
PAYLOAD = re.compile(r"(?<!\S)/\w")
INTERNAL = re.compile(r"\b(ask|utter|action|request|crisis)_\w+|nlu_fallback")
# Messages vague enough for "did you mean" buttons; the first one that gets them is used.
VAGUE = ["is it bad", "klonopin", "what about it", "help me with the thing"]
# The crisis replies' buttons (domain.yml): phone actions, whose numbers are in the text.
CALL_AND_TEXT = [
    {"title": "Call 988", "payload": "tel:988"},
    {"title": "Text 988", "payload": "sms:988"},
    {"title": "Call 911", "payload": "tel:911"},
]
TOPICS = [
    {"title": "Quitting safely", "payload": "/ask_quitting"},
    {"title": "What can you answer?", "payload": "/ask_capabilities"},
]


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, trained_model):
    running = Assistant(
        tmp_path_factory.mktemp("sms"),
        trained_model,
        env={"TWILIO_AUTH_TOKEN": TOKEN, "SMS_SENDER_KEY": KEY, "TRUSTED_PROXIES": "127.0.0.1"},
    )
    yield running
    running.close()


def sms_url(assistant: Assistant) -> str:
    return f"http://127.0.0.1:{assistant.rasa_port}/webhooks/twilio_sms/webhook"


def post(
    assistant: Assistant,
    params: Dict[str, str],
    signature: Optional[str] = None,
    headers: Optional[Dict[str, str]] = None,
) -> requests.Response:
    """Posts a form like Twilio; `signature` defaults to a correct one for the URL and params."""
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(sms_url(assistant), params)
    return requests.post(
        sms_url(assistant), data=params, timeout=60, headers={"X-Twilio-Signature": signature, **(headers or {})}
    )


def messages(response: requests.Response) -> List[str]:
    """The <Message> texts of a TwiML reply; no payload, intent name or tel: link may be in any."""
    assert response.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    texts = [m.text or "" for m in root.findall("Message")]
    for text in texts:
        assert not PAYLOAD.search(text) and not INTERNAL.search(text) and "tel:" not in text, text
    return texts


def sms(assistant: Assistant, sender: str, body: str) -> List[str]:
    response = post(assistant, {"From": sender, "To": "+15550000000", "Body": body, "MessageSid": next(SIDS)})
    assert response.status_code == 200, response.text
    return messages(response)


def stored_events(assistant: Assistant, sender: str) -> int:
    with sqlite3.connect(assistant.db) as db:
        return db.execute(
            "select count(*) from events where sender_id = ?", (conversation_id(KEY.encode(), sender),)
        ).fetchone()[0]


def received(assistant: Assistant, sender: str) -> List[str]:
    """What the assistant was given as the person's messages, from the tracker store."""
    with sqlite3.connect(assistant.db) as db:
        rows = db.execute(
            "select data from events where sender_id = ? and type_name = 'user' order by id",
            (conversation_id(KEY.encode(), sender),),
        ).fetchall()
    return [json.loads(data)["text"] for (data,) in rows]


# --- over the real server ---------------------------------------------------------------


def test_signed_request_gets_a_sourced_answer_as_twiml(assistant):
    reply = "\n".join(sms(assistant, "+15550000001", "can i drink on klonopin"))
    assert "alcohol" in reply.lower()
    assert "Sources:" in reply and "Klonopin Addiction Treatment" in reply
    assert "911" in reply


def test_unsigned_request_is_refused_and_never_reaches_the_assistant(assistant):
    response = requests.post(sms_url(assistant), data={"From": "+15550000002", "Body": "what is klonopin"}, timeout=30)
    assert response.status_code == 403
    assert stored_events(assistant, "+15550000002") == 0


@pytest.mark.parametrize("forgery", ["wrong token", "tampered body", "other url", "garbage"])
def test_forged_signature_is_refused(assistant, forgery):
    sent = {"From": "+15550000003", "Body": "what is klonopin"}
    signed, url = dict(sent), sms_url(assistant)
    if forgery == "tampered body":
        signed["Body"] = "hi"
    if forgery == "other url":
        url = "https://attacker.example/webhooks/twilio_sms/webhook"
    token = "not-the-token" if forgery == "wrong token" else TOKEN
    signature = "Zm9yZ2Vk" if forgery == "garbage" else RequestValidator(token).compute_signature(url, signed)
    assert post(assistant, sent, signature=signature).status_code == 403
    assert stored_events(assistant, "+15550000003") == 0


def test_signature_checks_the_public_url_behind_a_proxy(assistant):
    """The request comes from 127.0.0.1, a trusted proxy here (TRUSTED_PROXIES)."""
    params = {"From": "+15550000004", "Body": "what is klonopin"}
    public = "https://sms.example.org/webhooks/twilio_sms/webhook"
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.org"}
    signature = RequestValidator(TOKEN).compute_signature(public, params)
    response = post(assistant, params, signature=signature, headers=proxy)
    assert response.status_code == 200 and "clonazepam" in "".join(messages(response))


def test_crisis_first_message_gives_988_and_911(assistant):
    first = sms(assistant, "+15550000005", "i want to end it")[0]
    assert "988" in first and "911" in first


def test_buttons_become_numbered_options_and_a_number_picks_one(assistant, kb):
    sender = "+15550000006"
    for vague in VAGUE:
        offer = "\n".join(sms(assistant, sender, vague))
        choice = re.search(r"Reply 1 for (.+?), 2 for ", offer)
        if choice:
            break
    assert choice, "no vague message got numbered options"
    key = next(k for k, a in kb.answers.items() if a.label == choice.group(1))
    answer = "\n".join(sms(assistant, sender, "1"))
    assert kb.answers[key].text.translate(GSM_FRIENDLY)[:40] in answer
    assert "Source" in answer


@pytest.mark.parametrize("crisis", ["i want to kill myself", "my friend took a bunch of pills and won't wake up"])
def test_a_crisis_reply_has_no_numbered_options_and_a_number_never_dials(assistant, crisis):
    """The crisis replies' Call/Text buttons (tel:, sms:) are not options: the numbers are in the text."""
    sender = "+15550000011" if crisis.startswith("i want") else "+15550000012"
    reply = "\n".join(sms(assistant, sender, crisis))
    assert "911" in reply and ("988" in reply or "1-800-222-1222" in reply), reply
    assert "Reply" not in reply and not re.search(r"\b1 for\b", reply), reply
    assert sms(assistant, sender, "1")  # answered (by the fallback), not mapped to a phone action
    assert received(assistant, sender) == [crisis, "1"]


def test_a_number_without_options_is_just_a_message(assistant):
    sender = "+15550000007"
    sms(assistant, sender, "what is klonopin")
    assert sms(assistant, sender, "1")  # answered (by the fallback), not mapped to anything


def test_long_answer_is_split_without_losing_or_cutting_words(assistant):
    replies = sms(assistant, "+15550000008", "what are the side effects")
    assert len(replies) > 1 and all(len(r) <= SMS_LIMIT for r in replies)
    over_rest = assistant.text("rest-side-effects", "what are the side effects").translate(GSM_FRIENDLY)
    assert " ".join(" ".join(replies).split()) == " ".join(over_rest.split())


def test_empty_body_gets_a_clear_reply(assistant):
    response = post(assistant, {"From": "+15550000009", "Body": "   ", "NumMedia": "1"})
    assert response.status_code == 200
    assert "text" in messages(response)[0]


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"\xff\xfe=%zz&&", "application/x-www-form-urlencoded"),
        (b'{"From": "+1555", "Body": "hi"}', "application/json"),
        (b"Body=hi", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_form_gets_a_clear_reply_not_a_500(assistant, body, content_type):
    params = {"Body": "hi"} if body == b"Body=hi" else {}
    signature = RequestValidator(TOKEN).compute_signature(sms_url(assistant), params)
    response = requests.post(
        sms_url(assistant),
        data=body,
        timeout=30,
        headers={"Content-Type": content_type, "X-Twilio-Signature": signature},
    )
    assert response.status_code == 400
    assert "From" in messages(response)[0]


def test_without_a_token_every_request_is_refused(tmp_path_factory, trained_model):
    bare = Assistant(tmp_path_factory.mktemp("sms-no-token"), trained_model, env={"TWILIO_AUTH_TOKEN": ""})
    try:
        for _ in range(2):
            assert post(bare, {"From": "+15550000010", "Body": "hi"}).status_code == 403
    finally:
        bare.close()
    assert (bare.tmp / "rasa.log").read_text().count("no auth_token in credentials.yml") == 1


# --- units ------------------------------------------------------------------------------

SENTENCES = " ".join(f"Sentence number {i} says something about Klonopin and its effects." for i in range(30))


def test_short_text_is_one_message():
    assert split_sms("Call 911 now.") == ["Call 911 now."]


def test_long_text_is_split_at_sentence_ends():
    chunks = split_sms(SENTENCES)
    assert len(chunks) > 1
    assert all(len(c) <= SMS_LIMIT and c.endswith(".") for c in chunks)
    assert " ".join(chunks) == SENTENCES


def test_paragraphs_and_list_lines_keep_their_breaks():
    text = 'Signs:\n- one.\n- two.\n\nSources: "A".'
    assert split_sms(text) == [text]
    assert split_sms(text, limit=14) == ["Signs:\n- one.", "- two.", 'Sources: "A".']


def test_a_title_ending_in_a_question_mark_does_not_end_the_sentence():
    text = '"What Is Klonopin?" notes it builds up less.'
    assert split_sms("First sentence here. " + text, limit=50) == ["First sentence here.", text]


def test_an_overlong_sentence_is_split_between_words():
    sentence = " ".join(f"word{i}" for i in range(200))
    chunks = split_sms(sentence)
    assert len(chunks) > 1 and all(len(c) <= SMS_LIMIT for c in chunks)
    assert " ".join(chunks).split() == sentence.split()


def test_a_single_overlong_word_is_never_cut():
    url = "https://example.org/" + "a" * 400
    assert split_sms(f"See {url} now.") == ["See", url, "now."]


def test_buttons_are_numbered_and_payloads_never_shown():
    buttons = [
        {"title": "Side effects", "payload": "/ask_side_effects"},
        {"title": "What can you answer?", "payload": "/ask_capabilities"},
    ]
    assert numbered(buttons) == "Reply 1 for Side effects, 2 for What can you answer?"
    text = sms_text([{"text": "Did you mean?", "buttons": buttons}, {"text": "Try /ask_quitting, open 24/7."}])
    assert not PAYLOAD.search(text) and "24/7" in text and "Reply 1 for Side effects" in text


def test_call_and_text_buttons_are_not_options():
    crisis = "Call or text 988, the Suicide & Crisis Lifeline. If you are in danger, call 911 now."
    assert options(CALL_AND_TEXT) == []
    assert sms_text([{"text": crisis, "buttons": CALL_AND_TEXT}]) == crisis  # no "Reply ..." line
    assert numbered(CALL_AND_TEXT) == ""


def test_only_topic_buttons_are_numbered_when_mixed_with_call_and_text():
    odd = [
        {"title": "Call us", "payload": " TEL:+15550100"},
        {"title": "Text us", "payload": "Sms:5550100"},
        {"title": "Dial", "payload": "tel:9-1-1"},
    ]
    mixed = [CALL_AND_TEXT[0], TOPICS[0], *odd, CALL_AND_TEXT[1], TOPICS[1]]
    assert options(mixed) == TOPICS
    assert numbered(mixed) == "Reply 1 for Quitting safely, 2 for What can you answer?"
    text = sms_text([{"text": "Call or text 988.", "buttons": mixed}])
    assert text == "Call or text 988.\nReply 1 for Quitting safely, 2 for What can you answer?"
    assert "tel:" not in text.lower() and "sms:" not in text.lower() and "Call us" not in text


def offered_after(*turn) -> List[Dict[str, str]]:
    """last_options for a conversation whose latest turn is `turn` (bot messages' buttons), read
    from a real (in-memory) tracker store, as the channel reads it before mapping a number."""
    domain = Domain.empty()
    store = InMemoryTrackerStore(domain)
    now = time.time()
    events = [UserUttered("hmm", timestamp=now - 2)]
    events += [BotUttered("text", {"buttons": buttons}, timestamp=now - 1) for buttons in turn]
    asyncio.run(store.save(DialogueStateTracker.from_events("+15550000099", events)))
    return asyncio.run(last_options(SimpleNamespace(tracker_store=store, domain=domain), "+15550000099"))


def test_a_number_never_picks_a_call_or_text_button():
    assert offered_after(CALL_AND_TEXT) == []
    assert offered_after([CALL_AND_TEXT[0], TOPICS[0], CALL_AND_TEXT[1]]) == [TOPICS[0]]
    # A crisis reply after a did-you-mean in the same turn: 1 is still the topic that was numbered.
    assert offered_after(TOPICS, CALL_AND_TEXT) == TOPICS
