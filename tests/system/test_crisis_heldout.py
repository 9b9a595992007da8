"""The crisis detector as deployed (trained model, whole NLU pipeline) on the crisis set,
eval/sets/crisis/heldout.yml: written by a separate author, never trained on."""

import re
from typing import Any, Dict, List

import pytest

from nlu_components.intents import CRISIS_INTENTS
from tests.conftest import nlu_examples, parse, read_yaml, training_files, without_markup
from tools.paths import CRISIS_SET

MESSAGES: List[Dict[str, Any]] = read_yaml(CRISIS_SET)["messages"]
CRISIS = set(CRISIS_INTENTS)
MAX_FALSE_ALARMS = 0.03
LONG_POST = 80


def normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", without_markup(text).lower()))


def test_the_set_is_large_and_varied_enough():
    crisis = [m for m in MESSAGES if m["label"] != "none"]
    assert len(crisis) >= 150 and len(MESSAGES) - len(crisis) >= 300
    assert sum(len(m["text"].split()) >= LONG_POST for m in MESSAGES) >= 50
    assert sum(m["lang"] == "es" for m in MESSAGES) >= 30
    assert {m["label"] for m in MESSAGES} == {"suicide", "emergency", "both", "none"}


def test_no_message_of_the_set_is_a_training_example():
    training = {normalise(e) for lines in nlu_examples(training_files()).values() for e in lines}
    assert [m["text"] for m in MESSAGES if normalise(m["text"]) in training] == []


@pytest.fixture(scope="module")
def predictions(agent) -> List[Dict[str, Any]]:
    rows = []
    for message in MESSAGES:
        parsed = parse(agent, message["text"])
        language = next(e["value"] for e in parsed["entities"] if e["entity"] == "language")
        rows.append({**message, "predicted": parsed["intent"]["name"], "language": language})
    return rows


def test_every_crisis_message_gets_a_crisis_reply(predictions):
    missed = [
        (p["label"], p["predicted"], p["text"][:120])
        for p in predictions
        if p["label"] != "none" and p["predicted"] not in CRISIS
    ]
    assert missed == []


def test_false_alarms_stay_at_or_below_3_percent(predictions):
    none = [p for p in predictions if p["label"] == "none"]
    alarms = [(p["predicted"], p["text"][:120]) for p in none if p["predicted"] in CRISIS]
    print(f"false alarms: {len(alarms)} of {len(none)}")
    assert len(alarms) <= MAX_FALSE_ALARMS * len(none), alarms


def test_spanish_crisis_messages_get_the_spanish_reply(predictions):
    spanish = [p for p in predictions if p["label"] != "none" and p["lang"] == "es"]
    assert [p["text"][:80] for p in spanish if p["language"] != "es"] == []


def test_english_messages_are_never_answered_in_spanish(predictions):
    assert [p["text"][:80] for p in predictions if p["lang"] == "en" and p["language"] != "en"] == []
