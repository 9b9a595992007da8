"""The NLU component that keeps crisis messages out of the fallback."""
import pytest
from rasa.shared.nlu.training_data.message import Message

from nlu_components.crisis_guard import CrisisGuard

GUARD = CrisisGuard(CrisisGuard.get_default_config())


def classified(top: str, ranking):
    """A message as the FallbackClassifier leaves it."""
    ranking = [{"name": n, "confidence": c} for n, c in ranking]
    return Message(data={"text": "x", "intent": {"name": top, "confidence": 0.5},
                         "intent_ranking": [{"name": "nlu_fallback", "confidence": 0.5}, *ranking]
                         if top == "nlu_fallback" else ranking})


@pytest.mark.parametrize("crisis", ["crisis_suicide", "crisis_emergency"])
def test_a_fallback_whose_best_guess_is_a_crisis_becomes_that_crisis(crisis):
    message = classified("nlu_fallback", [(crisis, 0.41), ("ask_overdose", 0.38)])
    GUARD.process([message])
    assert message.get("intent")["name"] == crisis
    assert [r["name"] for r in message.get("intent_ranking")] == [crisis, "ask_overdose"]


def test_a_fallback_whose_best_guess_is_not_a_crisis_stays_a_fallback():
    message = classified("nlu_fallback", [("ask_overdose", 0.41), ("crisis_emergency", 0.38)])
    GUARD.process([message])
    assert message.get("intent")["name"] == "nlu_fallback"


def test_a_very_unsure_crisis_guess_stays_a_fallback():
    message = classified("nlu_fallback", [("crisis_suicide", 0.1), ("greet", 0.09)])
    GUARD.process([message])
    assert message.get("intent")["name"] == "nlu_fallback"


def test_confident_predictions_are_left_alone():
    message = classified("ask_side_effects", [("ask_side_effects", 0.9), ("crisis_suicide", 0.05)])
    GUARD.process([message])
    assert message.get("intent")["name"] == "ask_side_effects"
