"""The topic classifier's guards and the language router, on hand-made messages."""

import numpy as np
import pytest
import scipy.sparse
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.intents import CRISIS_INTENTS
from nlu_components.language import LanguageRouter, identify
from nlu_components.topic_classifier import TopicClassifier
from tests.conftest import ROOT, read_yaml


def featurised(text: str, intent: str = None, sparse=None, dense=None) -> Message:
    message = Message(data={"text": text, **({"intent": intent} if intent else {})})
    if sparse is not None:
        message.add_features(Features(scipy.sparse.coo_matrix([sparse]), "sentence", "text", "words"))
    if dense is not None:
        message.add_features(Features(np.array([dense], dtype=np.float32), "sentence", "text", "vectors"))
    return message


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    config = {**TopicClassifier.get_default_config(), "ignore_intents": ["crisis_suicide"]}
    component = TopicClassifier(config, "topic", LocalModelStorage(tmp_path_factory.mktemp("m")), Resource("topic"))
    examples = [
        featurised("side effects", "ask_side_effects", [1, 0, 0], [1.0, 0.0]),
        featurised("side effects?", "ask_side_effects", [1, 0, 1], [0.9, 0.1]),
        featurised("hello", "greet", [0, 1, 0], [0.0, 1.0]),
        featurised("hi", "greet", [0, 1, 1], [0.1, 0.9]),
        featurised("i want to die", "crisis_suicide", [0, 0, 1], [0.5, 0.5]),
    ]
    component.train(TrainingData(examples))
    return component


def test_ignored_intents_are_never_predicted(classifier):
    assert list(classifier.clf.classes_) == ["ask_side_effects", "greet"]


@pytest.mark.parametrize("text", ["", "   "])
def test_a_blank_message_gets_no_intent_so_the_fallback_asks_for_text(classifier, text):
    message = featurised(text)
    classifier.process([message])
    assert message.get("intent") == {"name": None, "confidence": 0.0}
    assert message.get("intent_ranking") == []


def test_a_message_without_sparse_features_gets_zeros_for_them(classifier):
    message = featurised("😀", dense=[1.0, 0.0])  # no word or character n-grams
    classifier.process([message])
    assert message.get("intent")["name"] == "ask_side_effects"
    assert isinstance(message.get("intent")["confidence"], float)


def test_the_feature_rows_are_rasas_combined_sentence_features_in_pipeline_order(classifier):
    # Two sparse featurizers (words, characters) and a dense one, as in config.yml.
    message = featurised("side effects", sparse=[0, 2], dense=[0.5, 0.25])
    message.add_features(Features(scipy.sparse.coo_matrix([[0, 3, 0]]), "sentence", "text", "chars"))
    message.add_features(Features(scipy.sparse.coo_matrix([[1, 1], [1, 0]]), "sequence", "text", "words"))
    sparse, dense = message.get_sparse_features("text")[1], message.get_dense_features("text")[1]
    expected = np.hstack([sparse.features.toarray(), dense.features])
    assert np.array_equal(classifier._create_X([message, message]).toarray(), np.vstack([expected, expected]))


@pytest.mark.parametrize(
    "text, code",
    [
        ("what are the side effects of klonopin", "en"),
        ("i want to die", "en"),
        ("kms", "en"),
        ("hola, ¿hablas español?", "es"),
        ("mi amigo no respira y tiene los labios morados", "es"),
        ("", "en"),
    ],
)
def test_language_is_english_unless_another_is_the_likeliest(text, code):
    assert identify(text, ["en", "es"])[0] == code


def routed(text: str, intent: str) -> Message:
    message = Message(
        data={
            "text": text,
            "intent": {"name": intent, "confidence": 0.8},
            "intent_ranking": [{"name": intent, "confidence": 0.8}],
            "entities": [],
        }
    )
    LanguageRouter(LanguageRouter.get_default_config()).process([message])
    return message


def test_a_spanish_message_that_is_not_a_crisis_goes_to_other_language():
    message = routed("¿es peligroso tomar clonazepam con cerveza?", "ask_interaction")
    assert message.get("intent") == {"name": "other_language", "confidence": 1.0}
    assert {"entity": "language", "value": "es"}.items() <= message.get("entities")[-1].items()


def test_a_spanish_crisis_keeps_its_intent_and_gets_the_spanish_entity():
    message = routed("mi amigo no respira", "crisis_emergency")
    assert message.get("intent")["name"] == "crisis_emergency"
    assert message.get("entities")[-1]["value"] == "es"


def test_when_the_topic_classifier_also_saw_another_language_cld2_gets_a_spanish_hint():
    message = routed("que es klonopin", "other_language")  # CLD2 alone says Shona
    assert message.get("entities")[-1]["value"] == "es"


def test_a_crisis_phrase_from_the_spanish_list_is_a_second_opinion_for_spanish():
    message = Message(
        data={
            "text": "me corto",
            "intent": {"name": "crisis_suicide", "confidence": 1.0},
            "crisis": {"phrase_languages": ["es"]},
            "entities": [],
        }
    )
    LanguageRouter(LanguageRouter.get_default_config()).process([message])
    assert message.get("entities")[-1]["value"] == "es"  # CLD2 alone says English


def test_english_keeps_its_intent_and_gets_the_english_entity():
    message = routed("can i drink on klonopin", "ask_interaction")
    assert message.get("intent")["name"] == "ask_interaction"
    assert [e["value"] for e in message.get("entities") if e["entity"] == "language"] == ["en"]


def test_a_saved_classifier_is_plain_arrays_and_loads_to_the_same_predictions(classifier):
    with classifier._model_storage.read_from(classifier._resource) as directory:
        assert sorted(p.name for p in directory.iterdir()) == ["topic_classifier.npz"]  # no pickle, no skops
    loaded = TopicClassifier.load(
        {**TopicClassifier.get_default_config(), "ignore_intents": ["crisis_suicide"]},
        classifier._model_storage,
        classifier._resource,
        type("Ctx", (), {"node_name": "t"}),
    )
    first, second = (
        featurised("side effects", sparse=[1, 0, 0], dense=[1.0, 0.0]),
        featurised("side effects", sparse=[1, 0, 0], dense=[1.0, 0.0]),
    )
    classifier.process([first])
    loaded.process([second])
    assert first.get("intent_ranking") == second.get("intent_ranking")


def test_a_crisis_whose_topic_guess_was_other_language_is_answered_in_that_language():
    crisis = {"name": "crisis_suicide", "confidence": 1.0}
    message = Message(
        data={
            "text": "ya les escribí cartas de despedida a mi familia",
            "intent": crisis,
            "intent_ranking": [crisis, {"name": "other_language", "confidence": 0.9}],
            "entities": [],
        }
    )
    LanguageRouter(LanguageRouter.get_default_config()).process([message])
    assert message.get("intent")["name"] == "crisis_suicide"
    assert message.get("entities")[-1]["value"] == "es"  # CLD2 alone: English, 98%


@pytest.mark.parametrize(
    "config", ["config.yml", *(f"eval/configs/{p.name}" for p in (ROOT / "eval/configs").glob("*.yml"))]
)
def test_every_pipeline_keeps_the_topic_classifier_blind_to_exactly_the_crisis_intents(config):
    """Rasa configs cannot import a constant, so each names the crisis intents; they must be
    nlu_components/intents.py's, or the topic classifier would learn a crisis as a topic."""
    pipeline = read_yaml(ROOT / config)["pipeline"]
    topic = [c for c in pipeline if c["name"].endswith("TopicClassifier")]
    assert topic and all(sorted(c["ignore_intents"]) == sorted(CRISIS_INTENTS) for c in topic)
