"""Keeps a likely crisis message from being answered with "did you mean" buttons.

The FallbackClassifier turns uncertain predictions into nlu_fallback. For a
message whose best guess is a crisis intent that is the wrong trade-off: an
unneeded helpline number costs little, a missed one can cost a life. This
component runs after the FallbackClassifier, inside the Rasa server, so it
works even when the action server is down.
"""
from typing import Any, Dict, List, Text, Type

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class CrisisGuard(GraphComponent, IntentClassifier):
    """Restores a crisis intent that the fallback would otherwise swallow."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [IntentClassifier]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"crisis_intents": ["crisis_suicide", "crisis_emergency"], "min_confidence": 0.2}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.crisis_intents = set(config["crisis_intents"])
        self.min_confidence = float(config["min_confidence"])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "CrisisGuard":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            if intent.get(INTENT_NAME_KEY) != DEFAULT_NLU_FALLBACK_INTENT_NAME:
                continue
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or []
                       if r.get(INTENT_NAME_KEY) != DEFAULT_NLU_FALLBACK_INTENT_NAME]
            if not ranking:
                continue
            best = ranking[0]
            if best[INTENT_NAME_KEY] in self.crisis_intents and best[PREDICTED_CONFIDENCE_KEY] >= self.min_confidence:
                message.set(INTENT, best, add_to_output=True)
                message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
