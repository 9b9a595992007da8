"""Lists the helplines from knowledge/helplines.yml for "I need to talk to someone"."""

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import knowledge_base


class ActionListHelplines(Action):
    """Every configured line, so a deployer's own lines show up without code changes."""

    def name(self) -> Text:
        return "action_list_helplines"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        dispatcher.utter_message(text=knowledge_base().render_helplines(tracker.get_slot("language")))
        return []
