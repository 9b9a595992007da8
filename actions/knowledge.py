"""Loads and renders the reviewed knowledge base in knowledge/*.yml.

Kept free of rasa-sdk so the same rendering serves actions, tests and tools.
"""
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "knowledge"
DEFAULT_HELP = "substance_use"
UNLISTED_SUBSTANCE = "ask_interaction/unlisted"


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    publisher: Optional[str]


@dataclass(frozen=True)
class Answer:
    key: str
    topic: str
    text: str
    sources: List[str]
    help: str = DEFAULT_HELP


@dataclass(frozen=True)
class Helpline:
    id: str
    name: str
    number: str
    call: str
    about: str
    text: Optional[str] = None
    # language code -> how to reach the line in that language
    languages: Dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeekHelp:
    text: str
    lines: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class KnowledgeBase:
    answers: Dict[str, Answer]
    sources: Dict[str, Source]
    helplines: Dict[str, Helpline]
    seek_help: Dict[str, SeekHelp]
    substances: Dict[str, str]
    crisis_lines: Dict[str, List[str]]
    reply_lines: Dict[str, List[str]] = field(default_factory=dict)
    after_crisis: List[str] = field(default_factory=list)
    # What the channels say themselves (too long, no reply): text, then helplines.
    channel_replies: Dict[str, SeekHelp] = field(default_factory=dict)

    @property
    def crisis_intents(self) -> List[str]:
        """crisis_suicide for utter_crisis_suicide: each crisis reply is named after its intent."""
        return [response[len("utter_"):] for response in self.crisis_lines]

    def answer_for(self, intent: str, substances: Sequence[str] = ()) -> str:
        """The answer key for an intent; mixing questions depend on the substance.

        A substance the knowledge base maps wins over one it does not know, so
        "xanax and beer" gets the alcohol answer rather than "not covered".
        """
        if intent != "ask_interaction" or not substances:
            return intent
        known = [self.substances[s] for s in substances if s in self.substances]
        return known[0] if known else UNLISTED_SUBSTANCE

    def render_answer(self, key: str, substance: str = "") -> str:
        """The full reply: answer, the titles it came from, a seek-help prompt."""
        answer = self.answers[key]
        body = answer.text.replace("{substance}", substance or "that")
        return "\n\n".join([body, self.citation_line(answer), self.render_seek_help(answer.help)])

    def citation_line(self, answer: Answer) -> str:
        titles = "; ".join(f"\u201c{self.sources[s].title}\u201d" for s in answer.sources)
        return f"Source{'s' if len(answer.sources) > 1 else ''}: {titles}"

    def render_seek_help(self, kind: str) -> str:
        prompt = self.seek_help[kind]
        lines = ", ".join(f"{self.helplines[h].name} {self.helplines[h].number}" for h in prompt.lines)
        return f"{prompt.text} {lines}."

    def render_channel_reply(self, key: str, **values: Any) -> str:
        """A channel reply, its {placeholders} filled from `values`, then its helplines."""
        prompt = self.channel_replies[key]
        text = prompt.text
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        if not prompt.lines:
            return text
        lines = ", ".join(f"{self.helplines[h].name} {self.helplines[h].number}" for h in prompt.lines)
        return f"{text} {lines}."

    def render_sources(self, key: str) -> str:
        """The articles behind an answer, with their publishers."""
        rows = []
        for source_id in self.answers[key].sources:
            source = self.sources[source_id]
            publisher = source.publisher or "publisher not named on the page"
            rows.append(f"- \u201c{source.title}\u201d ({publisher})")
        topic = self.answers[key].topic.lower()
        return f"My answer on {topic} came from these articles:\n" + "\n".join(rows)


def _read(directory: Path, name: str) -> Dict[str, Any]:
    with (directory / name).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load(directory: Optional[Path] = None) -> KnowledgeBase:
    """Parse the knowledge files; KNOWLEDGE_DIR lets a deployer point elsewhere."""
    directory = Path(directory or os.environ.get("KNOWLEDGE_DIR") or DEFAULT_DIR)
    answers_file = _read(directory, "answers.yml")
    helplines_file = _read(directory, "helplines.yml")
    sources_file = _read(directory, "sources.yml")
    return KnowledgeBase(
        answers={k: Answer(key=k, **v) for k, v in answers_file["answers"].items()},
        sources={k: Source(id=k, **v) for k, v in sources_file["sources"].items()},
        helplines={h["id"]: Helpline(**h) for h in helplines_file["helplines"]},
        seek_help={k: SeekHelp(**v) for k, v in helplines_file["seek_help"].items()},
        substances=answers_file.get("substances", {}),
        crisis_lines=helplines_file.get("crisis_lines", {}),
        reply_lines=helplines_file.get("reply_lines", {}),
        after_crisis=answers_file.get("after_crisis", []),
        channel_replies={k: SeekHelp(**v) for k, v in helplines_file.get("channel_replies", {}).items()},
    )


@lru_cache(maxsize=1)
def knowledge_base() -> KnowledgeBase:
    """The knowledge base, parsed once per action-server process."""
    return load()
