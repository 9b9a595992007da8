"""Lists the helplines from knowledge/helplines.yml for "I need to talk to someone"."""
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import knowledge_base


class ActionListHelplines(Action):
    """Every configured line, so a deployer's own lines show up without code changes."""

    def name(self) -> Text:
        return "action_list_helplines"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        lines = [
            f"- {line.name}: {line.number}{' (call or text)' if line.text else ''}. {line.about}"
            for line in knowledge_base().helplines.values()
        ]
        dispatcher.utter_message(text="You can talk to a person at any of these:\n" + "\n".join(lines))
        return []
