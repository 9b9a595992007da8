"""Both servers started for real, talked to over REST; then the action server
is stopped and crisis messages must still get their helplines."""
import json
import sqlite3

import pytest
import requests

from tests.servers import Assistant, stop


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, trained_model):
    running = Assistant(tmp_path_factory.mktemp("e2e"), trained_model)
    yield running
    running.close()


def test_a_conversation_over_rest(assistant):
    greeting = assistant.text("alex", "hi")
    assert "not medical advice" in greeting and "988" in greeting

    answer = assistant.text("alex", "can i drink on klonopin")
    assert answer.startswith("The articles warn against drinking alcohol with Klonopin")
    assert "Klonopin Addiction Treatment" in answer and "Sources:" in answer
    assert "911" in answer  # the seek-help prompt

    sources = assistant.text("alex", "where is that from?")
    assert "American Addiction Centers" in sources

    k_pins = assistant.text("alex", "what are k pins")
    assert "clonazepam" in k_pins and "Source" in k_pins


def test_crisis_first_reply_gives_988_and_911(assistant):
    replies = assistant.say("sam", "i want to end it")
    assert "988" in replies[0]["text"] and "911" in replies[0]["text"]


def test_overdose_now_gives_911_first(assistant):
    first = assistant.say("jo", "my friend took a bunch of pills and won't wake up")[0]["text"]
    assert "911" in first and "1-800-222-1222" in first
    assert first.index("911") < first.index("1-800-222-1222")


def test_conversations_persist_in_sqlite(assistant):
    assistant.say("persisted-user", "what is klonopin")
    with sqlite3.connect(assistant.db) as db:
        count = db.execute("select count(*) from events where sender_id = ?", ("persisted-user",)).fetchone()[0]
    assert count > 0


@pytest.mark.parametrize(
    "message",
    ["", "   ", "😀😀😀", "<script>alert(1)</script>", "¿Qué es el clonazepam?", "klonopin " * 5000],
)
def test_odd_input_gets_a_reply_and_the_server_keeps_working(assistant, message):
    replies = assistant.say("odd", message)
    assert replies and all(r.get("text") or r.get("buttons") for r in replies)
    assert "<script>" not in json.dumps(replies)
    assert "clonazepam" in assistant.text("odd", "what is klonopin")


def test_malformed_request_is_rejected_cleanly(assistant):
    response = requests.post(assistant.webhook, data="{not json", headers={"Content-Type": "application/json"}, timeout=30)
    assert 400 <= response.status_code < 500
    assert "clonazepam" in assistant.text("after-malformed", "what is klonopin")


def test_crisis_replies_survive_the_action_server_going_down(assistant):
    stop(assistant.actions)
    for message in ("i want to kms", "thinking about taking all my pills so i dont wake up"):
        first = assistant.say("after-outage", message)[0]["text"]
        assert "988" in first and "911" in first
    overdose = assistant.say("after-outage", "he took a whole bottle of klonopin and is not breathing")[0]["text"]
    assert "911" in overdose
