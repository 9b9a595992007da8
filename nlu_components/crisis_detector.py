"""Decides for every message: suicide or self-harm risk, an emergency now, both, or neither.

It runs inside the Rasa server after the topic classifier and the fallback, and
its decision overrides the topic, so a crisis reply never depends on the topic
classifier or on the action server. Two parts:

- a reviewed phrase list (knowledge/crisis_phrases.yml): a match is always a crisis;
- a trained detector: two logistic regressions trained on the crisis intents of
  the NLU data against every other example, whose probabilities are averaged: one
  over word and character n-grams and WordLlama vectors, one over words alone
  (character n-grams make "killing me" look like "kill myself"; words alone miss
  typos; together they raise fewer false alarms at the same recall, docs/eval.md).
  The sentences of non-crisis training posts are non-crisis examples too, so that
  a long post is not a crisis because of its length or mood. Scoring each pair of
  sentences of a message as well (the highest score counting) is an option
  (`windows`); it is off because on the crisis set it raised more false alarms on
  long posts than it found crises (3.9% against 3.4% at 100% recall).

A crisis message keeps the topic classifier's guess under "crisis" -> "question"
when it also asks something (action_answer answers it after the crisis reply).
"""

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Text, Tuple, Type

import numpy as np
import yaml
from joblib import Parallel, delayed
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression

from nlu_components.embeddings import DEFAULT_DIR, fingerprint, wordllama
from nlu_components.intents import CRISIS_KINDS
from nlu_components.text import normalise, sentences, windows

NONE = "none"
KINDS = ("suicide", "emergency", "both")
OUTPUT_KEY = "crisis"
QUESTION_WORDS = {
    "what",
    "whats",
    "how",
    "why",
    "when",
    "where",
    "which",
    "who",
    "is",
    "are",
    "can",
    "could",
    "does",
    "do",
    "did",
    "should",
    "will",
    "would",
    "was",
    "has",
    "have",
}


class PhraseList:
    """Phrases by kind and language, matched as whole words on normalised text."""

    def __init__(self, phrases: Dict[str, Dict[str, List[str]]]) -> None:
        self.phrases = [
            (kind, language, f" {normalise(p)} ")
            for kind, by_language in phrases.items()
            for language, items in (by_language or {}).items()
            for p in items or []
            if normalise(p)
        ]

    @classmethod
    def from_file(cls, path: Path) -> "PhraseList":
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        unknown = set(data) - set(KINDS)
        if unknown:
            raise ValueError(f"{path}: unknown kinds {sorted(unknown)}; use {', '.join(KINDS)}")
        return cls(data)

    def matches(self, text: str) -> List[Tuple[str, str, str]]:
        """(kind, language, phrase) for every phrase found in the text."""
        padded = f" {normalise(text)} "
        return [(kind, language, p.strip()) for kind, language, p in self.phrases if p in padded]


def decide_kind(kinds: Set[str]) -> Optional[str]:
    """Suicide and emergency signals together, or an explicit 'both', mean both replies."""
    if not kinds:
        return None
    if "both" in kinds or {"suicide", "emergency"} <= kinds:
        return "both"
    return "emergency" if "emergency" in kinds else "suicide"


def asks_something(text: str) -> bool:
    """A question mark, or a sentence that opens like an English question."""
    if "?" in text:
        return True
    return any((normalise(s).split() or [""])[0] in QUESTION_WORDS for s in sentences(text))


class Features:
    """Word 1-2-grams, optionally character 2-5-grams (hashed: nothing to store) and WordLlama vectors."""

    def __init__(self, embeddings_dir: str, embedding_weight: float, words_only: bool = False) -> None:
        self.words = HashingVectorizer(
            ngram_range=(1, 2),
            n_features=2**18,
            alternate_sign=False,
            norm="l2",
            preprocessor=normalise,
            token_pattern=r"\b\w+\b",
        )
        self.chars = (
            None
            if words_only
            else HashingVectorizer(
                analyzer="char_wb",
                ngram_range=(2, 5),
                n_features=2**18,
                alternate_sign=False,
                norm="l2",
                preprocessor=normalise,
            )
        )
        self.embeddings_dir = embeddings_dir
        self.embedding_weight = embedding_weight

    def __call__(self, texts: Sequence[str]) -> csr_matrix:
        if self.chars is None:
            return self.words.transform(texts).tocsr()
        vectors = wordllama(self.embeddings_dir).embed(texts)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        return hstack(
            [self.words.transform(texts), self.chars.transform(texts), csr_matrix(vectors * self.embedding_weight)]
        ).tocsr()


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class CrisisDetector(GraphComponent, IntentClassifier):
    """Phrase list plus trained detector; overrides the intent when it finds a crisis."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return []

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "phrases": "knowledge/crisis_phrases.yml",
            "embeddings": DEFAULT_DIR,
            # Crisis when 1 - P(none) reaches this (in the message, or any window if on).
            # config.yml sets the value chosen for recall on eval/sets/crisis/heldout.yml.
            "threshold": 0.5,
            # A crisis signal of the other kind this strong as well means both replies.
            "second_kind": 0.35,
            # The topic guess kept as the question asked with a crisis needs this confidence.
            "question_confidence": 0.5,
            "intents": dict(CRISIS_KINDS),
            "windows": False,
            "C": 4.0,
            "embedding_weight": 1.0,
        }

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Retrain when the phrase list or the embedding table changes (Rasa cannot see them)."""
        merged = {**cls.get_default_config(), **config}
        phrases = Path(merged["phrases"])
        content = phrases.read_bytes() if phrases.exists() else b""
        return hashlib.sha256(content + fingerprint(merged["embeddings"]).encode()).hexdigest()

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource) -> None:
        self.config = {**self.get_default_config(), **config}
        self.phrases = PhraseList.from_file(Path(self.config["phrases"]))
        weight = float(self.config["embedding_weight"])
        self.features = [Features(self.config["embeddings"], weight), Features(self.config["embeddings"], weight, True)]
        self.intents: Dict[str, str] = dict(self.config["intents"])
        self.kind_of_intent = {intent: kind for kind, intent in self.intents.items()}
        self.classes: List[str] = []
        # (coefficients, intercepts) per feature set; coefficients as (features, classes), C order:
        # scipy copies a transposed view on every product, 8 MB per message.
        self.weights: List[Tuple[np.ndarray, np.ndarray]] = []
        self._model_storage = model_storage
        self._resource = resource

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "CrisisDetector":
        return cls(config, model_storage, resource)

    # --- training ---------------------------------------------------------------

    def training_set(self, training_data: TrainingData) -> Tuple[List[str], List[str]]:
        """Every example with its kind (crisis intents) or none; plus the sentence windows
        of non-crisis posts as none: a sentence of a post that is not a crisis is not one."""
        texts, labels = [], []
        for example in training_data.intent_examples:
            text = example.get(TEXT) or ""
            kind = self.kind_of_intent.get(example.get(INTENT), NONE)
            texts.append(text)
            labels.append(kind)
            if kind == NONE:
                extra = windows(text)
                texts.extend(extra)
                labels.extend([NONE] * len(extra))
        return texts, labels

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = self.training_set(training_data)
        if len(set(labels)) < 2:
            return self._resource

        def fit(features: Features) -> LogisticRegression:
            model = LogisticRegression(C=float(self.config["C"]), class_weight="balanced", max_iter=2000)
            return model.fit(features(texts), labels)

        # One model per core: the two fits are independent and take most of the training time.
        models = Parallel(n_jobs=len(self.features), prefer="threads")(delayed(fit)(f) for f in self.features)
        self.classes = [str(c) for c in models[0].classes_]
        self.weights = [
            (np.ascontiguousarray(m.coef_.T, dtype=np.float32), m.intercept_.astype(np.float32)) for m in models
        ]
        self.persist()
        return self._resource

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(
                directory / "detector.npz",
                **{
                    f"{kind}{i}": array
                    for i, pair in enumerate(self.weights)
                    for kind, array in zip(("coef", "intercept"), pair)
                },
            )
            (directory / "classes.json").write_text(json.dumps(self.classes), encoding="utf-8")

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "CrisisDetector":
        detector = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory:
                arrays = np.load(directory / "detector.npz", allow_pickle=False)
                detector.weights = [
                    (np.ascontiguousarray(arrays[f"coef{i}"]), arrays[f"intercept{i}"])
                    for i in range(len(detector.features))
                ]
                detector.classes = json.loads((directory / "classes.json").read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError, KeyError):
            pass  # untrained: the phrase list still works
        return detector

    # --- scoring ----------------------------------------------------------------

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), len(classes)) class probabilities of the trained detector."""
        if not self.weights or not texts:
            return np.zeros((len(texts), max(len(self.classes), 1)))
        total = np.zeros((len(texts), len(self.classes)))
        for features, (coef, intercept) in zip(self.features, self.weights):
            # Features in the weights' dtype: a float64 matrix times float32 weights makes
            # scipy copy all the weights (8 MB) on every message.
            scores = np.asarray(features(texts).astype(coef.dtype) @ coef + intercept)
            if scores.shape[1] == 1:  # two classes: sklearn keeps one row of weights
                scores = np.hstack([-scores, scores])
            exp = np.exp(scores - np.max(scores, axis=1, keepdims=True))
            total += exp / exp.sum(axis=1, keepdims=True)
        return total / len(self.weights)

    def assess(self, text: str) -> Dict[str, Any]:
        """{"kind", "score", "phrases", "phrase_languages"}: the decision for one message."""
        matched = self.phrases.matches(text)
        kinds = {kind for kind, _, _ in matched}
        score = 1.0 if matched else 0.0
        if self.weights and text.strip():
            parts = [text] + (windows(text) if self.config["windows"] else [])
            probs = self.probabilities(parts)
            crisis = {k: probs[:, self.classes.index(k)] for k in KINDS if k in self.classes}
            total = sum(crisis.values(), np.zeros(len(parts)))  # zeros when no crisis kind was trained
            best = int(np.argmax(total))
            model_score = float(total[best])
            score = max(score, model_score)
            if model_score >= self.config["threshold"]:
                top = max(crisis, key=lambda k: crisis[k][best])
                kinds.add(top)
                # The other kind also clearly present somewhere in the message: both replies.
                for other in ("suicide", "emergency"):
                    if other != top and other in crisis and float(np.max(crisis[other])) >= self.config["second_kind"]:
                        kinds.add(other)
        return {
            "kind": decide_kind(kinds),
            "score": round(score, 4),
            "phrases": [p for _, _, p in matched],
            "phrase_languages": sorted({language for _, language, _ in matched}),
        }

    def question(self, message: Message) -> Optional[Dict[str, Any]]:
        """The topic guess worth answering after the crisis reply, if the message asks one."""
        intent = message.get(INTENT) or {}
        name = intent.get(INTENT_NAME_KEY)
        if (
            not name
            or name == DEFAULT_NLU_FALLBACK_INTENT_NAME
            or name in self.kind_of_intent
            or (intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0) < self.config["question_confidence"]
            or not asks_something(message.get(TEXT) or "")
        ):
            return None
        return {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: intent.get(PREDICTED_CONFIDENCE_KEY)}

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            decision = self.assess(message.get(TEXT) or "")
            ranking = [
                r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) not in self.kind_of_intent
            ]
            if decision["kind"]:
                decision["question"] = self.question(message)
                crisis_intent = {INTENT_NAME_KEY: self.intents[decision["kind"]], PREDICTED_CONFIDENCE_KEY: 1.0}
                message.set(INTENT, crisis_intent, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [crisis_intent] + ranking, add_to_output=True)
            elif (message.get(INTENT) or {}).get(INTENT_NAME_KEY) in self.kind_of_intent:
                # A topic classifier that still knows crisis intents guessed one; the
                # detector did not agree, so offer the likeliest topics instead.
                fallback = {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME, PREDICTED_CONFIDENCE_KEY: 1.0}
                message.set(INTENT, fallback, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [fallback] + ranking, add_to_output=True)
            message.set(OUTPUT_KEY, decision, add_to_output=True)
        return messages
