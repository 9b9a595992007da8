"""Sourced answers and the "where is that from?" follow-up."""

import re
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import knowledge_base, substance_spellings

# Words of the person's own that may be repeated in an answer: short, and
# letters, digits, spaces and hyphens only (no markup, links or sentences).
PLAIN_WORDS = re.compile(r"(?:[^\W_]|[ -]){1,40}")


def words_to_repeat(text: str, entity: Dict[str, Any]) -> str:
    """What the person called the substance, if it is safe to say back; else "".

    An entity can come from an intent payload (/ask_interaction{"substance": ...}),
    whose value is any text a client chose and whose span is the JSON itself, so
    only a known spelling (data/nlu/entities.yml) or plain words the person
    actually typed are repeated.
    """
    start, end = entity.get("start"), entity.get("end")
    span = text[start:end] if isinstance(start, int) and isinstance(end, int) and 0 <= start < end else ""
    value = entity.get("value")
    for candidate in (span, value if isinstance(value, str) else ""):
        if candidate.strip().lower() in substance_spellings():
            return candidate.strip()
    return span.strip() if PLAIN_WORDS.fullmatch(span.strip()) else ""


def named_substances(tracker: Tracker) -> List[Tuple[str, str]]:
    """(canonical value, words to repeat) for each substance in the message."""
    message = tracker.latest_message or {}
    text = message.get("text") or ""
    found = []
    for entity in message.get("entities") or []:
        if entity.get("entity") != "substance":
            continue
        found.append((str(entity.get("value", "")).lower(), words_to_repeat(text, entity)))
    return found


def asked_with_crisis(tracker: Tracker) -> Optional[str]:
    """The topic of a question asked in the same message as a crisis, if any.

    The crisis detector (nlu_components/crisis_detector.py) keeps the topic
    classifier's confident guess under latest_message["crisis"]["question"].
    """
    crisis = (tracker.latest_message or {}).get("crisis") or {}
    question = crisis.get("question") or {}
    return question.get("name")


class ActionAnswer(Action):
    """Answers any answering intent from knowledge/answers/.

    After a crisis reply it answers the question asked with the crisis, if the
    knowledge base allows that topic after a crisis, and otherwise says nothing.
    """

    def name(self) -> Text:
        return "action_answer"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        kb = knowledge_base()
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        if intent in kb.crisis_intents:
            intent = asked_with_crisis(tracker) or ""
            if intent not in kb.after_crisis:
                return []
        substances = named_substances(tracker)
        key = kb.answer_for(intent, [value for value, _ in substances])
        if key not in kb.answers:
            # An intent without an answer is a content bug; say so rather than guess.
            dispatcher.utter_message(response="utter_not_covered")
            return []
        # {substance} in the answer: the person's own words for the substance it is about
        said = next((words for value, words in substances if kb.substance_answer(value) == key), "")
        dispatcher.utter_message(text=kb.render_answer(key, substance=said, language=tracker.get_slot("language")))
        return [SlotSet("last_answer", key)]


class ActionCiteSources(Action):
    """Lists the articles, with publishers, behind the last sourced answer."""

    def name(self) -> Text:
        return "action_cite_sources"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        kb = knowledge_base()
        key = tracker.get_slot("last_answer")
        language = tracker.get_slot("language")
        if key not in kb.answers:
            dispatcher.utter_message(text=kb.render_all_sources(language))
            return []
        dispatcher.utter_message(text=kb.render_sources(key, language))
        return []
