"""Sourced answers and the "where is that from?" follow-up."""
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import knowledge_base


def named_substances(tracker: Tracker) -> List[Tuple[str, str]]:
    """(canonical value, words the person used) for each substance in the message."""
    message = tracker.latest_message or {}
    text = message.get("text") or ""
    found = []
    for entity in message.get("entities") or []:
        if entity.get("entity") != "substance":
            continue
        start, end = entity.get("start"), entity.get("end")
        said = text[start:end] if start is not None and end is not None else ""
        found.append((str(entity.get("value", "")).lower(), said or str(entity.get("value", ""))))
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
    """Answers any answering intent from knowledge/answers.yml.

    After a crisis reply it answers the question asked with the crisis, if the
    knowledge base allows that topic after a crisis, and otherwise says nothing.
    """

    def name(self) -> Text:
        return "action_answer"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
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
        dispatcher.utter_message(text=kb.render_answer(key, substance=said))
        return [SlotSet("last_answer", key)]


class ActionCiteSources(Action):
    """Lists the articles, with publishers, behind the last sourced answer."""

    def name(self) -> Text:
        return "action_cite_sources"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        kb = knowledge_base()
        key = tracker.get_slot("last_answer")
        if key not in kb.answers:
            titles = "\n".join(f"- \u201c{s.title}\u201d" for s in kb.sources.values())
            dispatcher.utter_message(
                text="I haven't given an answer yet. Everything I say comes from these articles:\n" + titles
            )
            return []
        dispatcher.utter_message(text=kb.render_sources(key))
        return []
