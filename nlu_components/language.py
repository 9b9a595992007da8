"""Which language a message is in, and what that changes.

Language identification is Google's CLD2 (pycld2: its tables are compiled into
the wheel; nothing is downloaded). lingua was tried first: as accurate on our
sets but 62 MB of models in the server against CLD2's 2 MB (docs/eval.md). Every
message gets a `language` entity, which fills the `language` slot, so a domain
response picks its Spanish variant by slot condition without the action server.
A Spanish message that is not a crisis becomes `other_language` (answers are in
English for now); a crisis keeps its crisis intent and gets the reply in Spanish.
"""

from typing import Any, Dict, List, Sequence, Text, Tuple, Type

import pycld2
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_CONFIDENCE,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from nlu_components.intents import CRISIS_INTENTS

ENGLISH = "en"


def guesses(text: str, hint: str = "") -> List[Tuple[str, float]]:
    """CLD2's languages for the text, likeliest first, as (ISO 639-1 code, share of the text)."""
    if not text.strip():
        return []
    try:
        _, _, details = pycld2.detect(text, bestEffort=True, **({"hintLanguage": hint} if hint else {}))
    except pycld2.error:  # e.g. text that is not valid UTF-8 once encoded
        return []
    return [(code, percent / 100) for _, code, percent, _ in details if code != "un"]


def identify(text: str, languages: Sequence[str], not_english: bool = False) -> Tuple[str, float]:
    """English unless CLD2's likeliest language is another one the assistant replies in.

    `not_english`: another component (the topic classifier) already judged the text
    not English; CLD2 then gets our other language as a hint, which short texts need
    ("que es klonopin" is Shona to CLD2 without it, Spanish with it). The hint is not
    given otherwise: with it, 83 of 2,651 English test messages ("half life") came out Spanish.
    """
    hint = next((code for code in languages if code != ENGLISH), "") if not_english else ""
    found = guesses(text, hint)
    if found and found[0][0] in languages:
        return found[0]
    return ENGLISH, 0.0


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=False,
)
class LanguageRouter(GraphComponent, IntentClassifier, EntityExtractorMixin):
    """Sets the language entity; routes non-English, non-crisis messages to other_language."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return []

    @staticmethod
    def required_packages() -> List[Text]:
        return ["pycld2"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            # The languages the assistant replies in; any other is treated as English.
            "languages": ["en", "es"],
            "entity": "language",
            "other_language_intent": "other_language",
            # These keep their intent in any language: their replies have Spanish variants.
            "keep_intents": list(CRISIS_INTENTS),
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.config = {**self.get_default_config(), **config}
        self.languages = list(self.config["languages"])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LanguageRouter":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            # Second opinions that a text is not English: the topic classifier's other_language
            # (also when a crisis took the top of the ranking), or a crisis phrase from another
            # language's list ("me corto").
            topic = next(
                (
                    r.get(INTENT_NAME_KEY)
                    for r in message.get(INTENT_RANKING_KEY) or []
                    if r.get(INTENT_NAME_KEY) not in self.config["keep_intents"]
                ),
                None,
            )
            phrase_languages = (message.get("crisis") or {}).get("phrase_languages") or []
            not_english = self.config["other_language_intent"] in (intent, topic) or any(
                code != ENGLISH for code in phrase_languages
            )
            code, confidence = identify(text, self.languages, not_english)
            entity = {
                ENTITY_ATTRIBUTE_TYPE: self.config["entity"],
                ENTITY_ATTRIBUTE_VALUE: code,
                ENTITY_ATTRIBUTE_START: 0,
                ENTITY_ATTRIBUTE_END: len(text),
                ENTITY_ATTRIBUTE_CONFIDENCE: confidence,
                EXTRACTOR: self.__class__.__name__,
            }
            message.set(ENTITIES, [*(message.get(ENTITIES) or []), entity], add_to_output=True)
            if code != ENGLISH and text.strip() and intent not in self.config["keep_intents"]:
                routed = {INTENT_NAME_KEY: self.config["other_language_intent"], PREDICTED_CONFIDENCE_KEY: 1.0}
                ranking = [
                    r
                    for r in message.get(INTENT_RANKING_KEY) or []
                    if r.get(INTENT_NAME_KEY) != routed[INTENT_NAME_KEY]
                ]
                message.set(INTENT, routed, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [routed, *ranking], add_to_output=True)
        return messages
