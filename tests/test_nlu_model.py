"""The trained NLU model on the held-out examples it never saw, and its entities."""
import asyncio
from collections import Counter
from typing import Dict, List, Tuple

import pytest

from tests.conftest import HOLDOUT, nlu_examples, without_markup

CRISIS = ("crisis_suicide", "crisis_emergency")
MIN_ACCURACY = 0.90


@pytest.fixture(scope="session")
def agent(trained_model):
    from rasa.core.agent import Agent

    return Agent.load(str(trained_model))


def parse(agent, text: str) -> Dict:
    return asyncio.run(agent.parse_message(text))


@pytest.fixture(scope="session")
def holdout_predictions(agent) -> List[Tuple[str, str, str]]:
    """(text, expected intent, predicted intent) for every held-out example."""
    rows = []
    for intent, examples in nlu_examples([HOLDOUT]).items():
        for example in examples:
            text = without_markup(example)
            rows.append((text, intent, parse(agent, text)["intent"]["name"]))
    return rows


def test_holdout_intent_accuracy_is_at_least_90_percent(holdout_predictions):
    wrong = [(t, e, p) for t, e, p in holdout_predictions if e != p]
    accuracy = 1 - len(wrong) / len(holdout_predictions)
    print(f"held-out intent accuracy: {accuracy:.3f} on {len(holdout_predictions)} examples")
    assert accuracy >= MIN_ACCURACY, f"{accuracy:.3f}; confusions: {Counter((e, p) for _, e, p in wrong).most_common(10)}"


def test_every_holdout_crisis_message_is_recognised(holdout_predictions):
    crisis = [(t, e, p) for t, e, p in holdout_predictions if e in CRISIS]
    assert len(crisis) >= 10
    assert [(t, p) for t, e, p in crisis if p != e] == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Can I drink booze on K-Pins?", {("substance", "alcohol"), ("drug", "klonopin")}),
        ("is it ok to take oxy with clonazepam", {("substance", "opioids"), ("drug", "klonopin")}),
        ("mixing klonopin and painkillers", {("substance", "opioids"), ("drug", "klonopin")}),
        ("klonopin with beer", {("substance", "alcohol"), ("drug", "klonopin")}),
        ("can i drink on klonopin", {("substance", "alcohol"), ("drug", "klonopin")}),
    ],
)
def test_entities_come_from_the_spacy_ruler_with_synonyms(agent, text, expected):
    entities = parse(agent, text)["entities"]
    assert {(e["entity"], e["value"]) for e in entities} == expected
    assert all(e["extractor"] == "SpacyEntityExtractor" for e in entities)
