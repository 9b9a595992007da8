"""The crisis intents, named once: the crisis detector sets them, the language router keeps
them in any language, and the evaluation tools and the tests score them. Each has a domain
response `utter_<intent>` (knowledge/helplines.yml lists its lines; a test checks the two agree)."""

from typing import Dict, List

# The detector's kind of crisis -> the intent it sets.
CRISIS_KINDS: Dict[str, str] = {"suicide": "crisis_suicide", "emergency": "crisis_emergency", "both": "crisis_both"}
CRISIS_INTENTS: List[str] = list(CRISIS_KINDS.values())
