"""Low-confidence messages: offer the likeliest topics as "did you mean" buttons."""

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import knowledge_base

MAX_SUGGESTIONS = 3


class ActionSuggestTopics(Action):
    """Turns the NLU ranking into buttons whose payloads trigger the answer directly."""

    def name(self) -> Text:
        return "action_suggest_topics"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        kb = knowledge_base()
        language = tracker.get_slot("language")
        capabilities = {"title": kb.say("capabilities_button", language), "payload": "/ask_capabilities"}
        if not (tracker.latest_message.get("text") or "").strip():
            dispatcher.utter_message(text=kb.say("empty_message", language), buttons=[capabilities])
            return []
        ranking = tracker.latest_message.get("intent_ranking") or []
        candidates = [r["name"] for r in ranking if r.get("name") in kb.answers][:MAX_SUGGESTIONS]
        buttons = [{"title": kb.answers[name].label, "payload": f"/{name}"} for name in candidates]
        dispatcher.utter_message(text=kb.say("not_understood", language), buttons=buttons + [capabilities])
        return []
