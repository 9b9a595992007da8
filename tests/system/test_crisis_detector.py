"""The crisis detector's parts that need no trained model: phrase list, decision rules,
the override of the topic, and saving and loading a trained detector."""

from pathlib import Path

import numpy as np
import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.crisis_detector import CrisisDetector, PhraseList, asks_something, decide_kind
from nlu_components.text import normalise, windows
from tests.conftest import ROOT

PHRASES = PhraseList.from_file(ROOT / "knowledge" / "crisis_phrases.yml")


def detector(tmp_path: Path, **config) -> CrisisDetector:
    return CrisisDetector(
        {**CrisisDetector.get_default_config(), **config}, LocalModelStorage(tmp_path), Resource("crisis_detector")
    )


def classified(text: str, intent: str, confidence: float = 0.9) -> Message:
    """A message as the topic classifier and the fallback leave it."""
    top = {"name": intent, "confidence": confidence}
    return Message(data={"text": text, "intent": top, "intent_ranking": [top, {"name": "greet", "confidence": 0.01}]})


def test_normalising_drops_case_accents_apostrophes_and_punctuation():
    assert normalise("Ya NO quiero vivir...") == "ya no quiero vivir"
    assert normalise("I DON’T want to live!!") == "i dont want to live"
    assert normalise("  ¿Mi amigo   no respira? ") == "mi amigo no respira"


@pytest.mark.parametrize(
    "text, kind",
    [
        ("honestly i want to kms fr", "suicide"),
        ("I don't want to live anymore.", "suicide"),
        ("ya no quiero vivir", "suicide"),
        # Spanish wishes in the infinitive and gerund, not only "quiero ..."
        ("llevo semanas pensando en matarme", "suicide"),
        ("otra vez con ganas de morirme", "suicide"),
        ("solo quiero acostarme y no despertarme mas", "suicide"),
        # A method or a wish to overdose named in passing, inside a longer message
        ("theres nothing stopping me from just hanging myself tonight", "suicide"),
        ("i wanna overdose on whatever is in the cabinet", "suicide"),
        ("Is there a reason to live anymore when everything's gone?", "suicide"),
        ("Mi amigo NO RESPIRA!!", "emergency"),
        ("he is not breathing", "emergency"),
        ("i took all my pills", "both"),
    ],
)
def test_listed_phrases_match_whatever_the_spelling_around_them(text, kind):
    assert kind in {k for k, _, _ in PHRASES.matches(text)}


@pytest.mark.parametrize(
    "text",
    [
        "can klonopin cause suicidal thoughts?",
        "what are the signs of an overdose",
        "kmsx",  # whole words only
        "this taper is brutal",
        "el clonazepam puede causar ideas suicidas?",
        "me muero de sueño con la pastilla",
    ],
)
def test_phrases_do_not_match_questions_about_risks_or_parts_of_words(text):
    assert PHRASES.matches(text) == []


def test_a_phrase_file_with_an_unknown_kind_is_refused(tmp_path):
    path = tmp_path / "phrases.yml"
    path.write_text("suicide:\n  en: [kms]\nsad:\n  en: [meh]\n")
    with pytest.raises(ValueError, match="unknown kinds"):
        PhraseList.from_file(path)


@pytest.mark.parametrize(
    "kinds, decision",
    [
        (set(), None),
        ({"suicide"}, "suicide"),
        ({"emergency"}, "emergency"),
        ({"suicide", "emergency"}, "both"),
        ({"both", "suicide"}, "both"),
    ],
)
def test_suicide_and_emergency_signals_together_mean_both_replies(kinds, decision):
    assert decide_kind(kinds) == decision


@pytest.mark.parametrize(
    "text, asks",
    [
        ("i keep thinking i'd be better off gone. could it be the meds?", True),
        ("i want to die. is klonopin addictive", True),
        ("i want to die", False),
        ("everyone would be better off without me", False),
    ],
)
def test_a_question_is_a_question_mark_or_a_sentence_opening_like_one(text, asks):
    assert asks_something(text) is asks


def test_windows_are_each_sentence_and_each_pair():
    assert windows("One. Two! Three?") == ["One.", "Two!", "Three?", "One. Two!", "Two! Three?"]
    assert windows("just one sentence") == []


def test_a_phrase_crisis_overrides_the_topic_and_keeps_the_question(tmp_path):
    message = classified("I want to die since starting klonopin, is that from the medicine?", "ask_mood_effects", 0.8)
    detector(tmp_path).process([message])
    assert message.get("intent") == {"name": "crisis_suicide", "confidence": 1.0}
    assert message.get("intent_ranking")[1]["name"] == "ask_mood_effects"
    crisis = message.get("crisis")
    assert crisis["kind"] == "suicide" and "i want to die" in crisis["phrases"]
    assert crisis["question"] == {"name": "ask_mood_effects", "confidence": 0.8}


@pytest.mark.parametrize(
    "text, intent, confidence",
    [
        ("i want to die", "ask_mood_effects", 0.8),  # no question asked
        ("i want to die, what is klonopin?", "ask_what_is_klonopin", 0.4),  # the topic guess is unsure
        ("i want to die?", "nlu_fallback", 0.3),
    ],
)
def test_no_question_is_kept_without_a_question_or_a_confident_topic(tmp_path, text, intent, confidence):
    message = classified(text, intent, confidence)
    detector(tmp_path).process([message])
    assert message.get("intent")["name"] == "crisis_suicide"
    assert message.get("crisis")["question"] is None


def test_no_crisis_leaves_the_topic_alone(tmp_path):
    message = classified("what are the side effects", "ask_side_effects")
    detector(tmp_path).process([message])
    assert message.get("intent")["name"] == "ask_side_effects"
    assert message.get("crisis")["kind"] is None


def test_a_crisis_guess_the_detector_does_not_share_becomes_a_fallback(tmp_path):
    message = classified("what are the side effects", "crisis_suicide")
    detector(tmp_path).process([message])
    assert message.get("intent")["name"] == "nlu_fallback"
    assert "crisis_suicide" not in [r["name"] for r in message.get("intent_ranking")]


def tiny_training_data() -> TrainingData:
    examples = [
        ("i want to end my life tonight", "crisis_suicide"),
        ("im going to kill myself", "crisis_suicide"),
        ("he is not breathing and blue", "crisis_emergency"),
        ("she had a seizure and wont wake", "crisis_emergency"),
        ("i took them all to die", "crisis_both"),
        ("swallowed every pill on purpose", "crisis_both"),
        ("what are the side effects", "ask_side_effects"),
        ("is klonopin addictive", "ask_addictive"),
        ("how long does withdrawal last", "ask_withdrawal_duration"),
        ("hello there", "greet"),
    ]
    return TrainingData([Message(data={"text": t, "intent": i}) for t, i in examples])


def test_a_trained_detector_is_saved_and_loaded_with_the_same_scores(tmp_path):
    storage, resource = LocalModelStorage(tmp_path), Resource("crisis_detector")
    trained = CrisisDetector(CrisisDetector.get_default_config(), storage, resource)
    trained.train(tiny_training_data())
    loaded = CrisisDetector.load(CrisisDetector.get_default_config(), storage, resource, None)
    texts = ["he is not breathing", "what are the side effects"]
    assert trained.classes == loaded.classes == ["both", "emergency", "none", "suicide"]
    assert np.allclose(trained.probabilities(texts), loaded.probabilities(texts))
    assert loaded.assess("he is not breathing")["kind"] == "emergency"
