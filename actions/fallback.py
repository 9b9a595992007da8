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

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        answers = knowledge_base().answers
        capabilities = {"title": "What can you answer?", "payload": "/ask_capabilities"}
        if not (tracker.latest_message.get("text") or "").strip():
            dispatcher.utter_message(
                text="I didn't get any text. Type a question about Klonopin, for example: what are the side effects?",
                buttons=[capabilities],
            )
            return []
        ranking = tracker.latest_message.get("intent_ranking") or []
        candidates = [r["name"] for r in ranking if r.get("name") in answers][:MAX_SUGGESTIONS]
        buttons = [{"title": answers[name].topic, "payload": f"/{name}"} for name in candidates]
        dispatcher.utter_message(
            text="I'm not sure I understood. Did you mean one of these? "
            "Or try asking in other words (I read English only).",
            buttons=buttons + [capabilities],
        )
        return []
