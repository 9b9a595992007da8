"""Dense features from WordLlama's token embeddings (nlu_components/embeddings.py).

Pretrained word knowledge for the topic classifier: "kick in" and "start
working" land near each other although the training data may hold only one.
Sentence features are the mean of the message's token vectors, scaled to a
fixed length so that they weigh the same against the sparse n-gram counts
whatever the message's length; sequence features are one vector per Rasa token.
"""

from typing import Any, Dict, List, Optional, Text, Type

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu_components.embeddings import DEFAULT_DIR, fingerprint, wordllama


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class WordLlamaFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds WordLlama vectors to the text of every message."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> List[Text]:
        return ["safetensors", "tokenizers"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            "path": DEFAULT_DIR,
            # Length of the sentence vector against the n-gram counts: 10 scored best of
            # 5, 10, 20 and 40 in 5-fold cross-validation outside Rasa (docs/eval.md).
            "scale": 10.0,
        }

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        return fingerprint(config.get("path", DEFAULT_DIR))

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if float(config.get("scale", 1.0)) <= 0:
            raise ValueError("WordLlamaFeaturizer: scale must be positive")

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, {**self.get_default_config(), **config})
        self.embeddings = wordllama(self._config["path"])
        self.scale = float(self._config["scale"])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "WordLlamaFeaturizer":
        return cls(config, execution_context.node_name)

    def sentence_vectors(self, texts: List[str]) -> np.ndarray:
        vectors = self.embeddings.embed(texts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.where(norms > 0, vectors / np.maximum(norms, 1e-9) * self.scale, 0.0).astype(np.float32)

    def process(self, messages: List[Message]) -> List[Message]:
        texts = [message.get(TEXT) or "" for message in messages]
        sentence = self.sentence_vectors(texts)
        for row, message in enumerate(messages):
            tokens = message.get(TOKENS_NAMES[TEXT]) or []
            sequence = (
                self.embeddings.embed([t.text for t in tokens])
                if tokens
                else np.zeros((1, self.embeddings.dimensions), dtype=np.float32)
            )
            self.add_features_to_message(sequence, sentence[row : row + 1], TEXT, message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process([m for m in training_data.training_examples if m.get(TEXT) is not None])
        return training_data
