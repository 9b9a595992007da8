"""Loads and renders the reviewed knowledge base in knowledge/*.yml.

Kept free of rasa-sdk so the same rendering serves actions, tests and tools.
"""
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Optional, Sequence

import yaml

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "knowledge"
ENTITIES_FILE = Path(__file__).resolve().parent.parent / "data" / "nlu" / "entities.yml"
DEFAULT_HELP = "substance_use"
UNLISTED_SUBSTANCE = "ask_interaction/unlisted"


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    publisher: Optional[str]


@dataclass(frozen=True)
class Fact:
    id: str
    text: str


@dataclass(frozen=True)
class Reference:
    """A reviewed public-authority document, cited only for safety warnings."""

    id: str
    title: str
    publisher: str
    cite_as: str
    date: str
    facts: List[Fact]
    # domain responses (crisis replies) whose advice rests on this reference
    backs: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    key: str
    topic: str
    text: str
    sources: List[str]
    help: str = DEFAULT_HELP
    safety_refs: List[str] = field(default_factory=list)


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
    references: Dict[str, Reference] = field(default_factory=dict)
    # What the channels say themselves (too long, no reply): text, then helplines.
    channel_replies: Dict[str, SeekHelp] = field(default_factory=dict)

    @property
    def crisis_intents(self) -> List[str]:
        """crisis_suicide for utter_crisis_suicide: each crisis reply is named after its intent."""
        return [response[len("utter_"):] for response in self.crisis_lines]

    def answer_for(self, intent: str, substances: Sequence[str] = ()) -> str:
        """The answer key for an intent; mixing questions depend on the substance.

        A substance the knowledge base maps wins over one it does not know, and
        among mapped ones the first in the map wins, so "xanax and beer" gets
        the alcohol answer rather than "not covered" or the general one.
        """
        if intent != "ask_interaction" or not substances:
            return intent
        known = [answer for substance, answer in self.substances.items() if substance in substances]
        return known[0] if known else UNLISTED_SUBSTANCE

    def substance_answer(self, substance: str) -> str:
        """The mixing answer for one named substance."""
        return self.substances.get(substance, UNLISTED_SUBSTANCE)

    def render_answer(self, key: str, substance: str = "") -> str:
        """The full reply: answer, the titles it came from, a seek-help prompt."""
        answer = self.answers[key]
        body = answer.text.replace("{substance}", substance or "that")
        citation = self.citation_line(answer)
        safety = self.safety_line(answer)
        if safety:
            citation = f"{citation}\n{safety}"
        return "\n\n".join([body, citation, self.render_seek_help(answer.help)])

    def citation_line(self, answer: Answer) -> str:
        titles = "; ".join(f"\u201c{self.sources[s].title}\u201d" for s in answer.sources)
        return f"Source{'s' if len(answer.sources) > 1 else ''}: {titles}"

    def safety_line(self, answer: Answer) -> str:
        """'Safety note: FDA, <title> (<date>)' for the references an answer cites, or ''."""
        notes = [self.references[r] for r in answer.safety_refs]
        if not notes:
            return ""
        cited = "; ".join(f"{r.cite_as}, \u201c{r.title}\u201d ({r.date})" for r in notes)
        return f"Safety note{'s' if len(notes) > 1 else ''}: {cited}"

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
        for ref_id in self.answers[key].safety_refs:
            ref = self.references[ref_id]
            rows.append(f"- Safety note: \u201c{ref.title}\u201d ({ref.publisher}, {ref.date})")
        topic = self.answers[key].topic.lower()
        return f"My answer on {topic} came from these articles:\n" + "\n".join(rows)


def _read(directory: Path, name: str) -> Dict[str, Any]:
    with (directory / name).open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _read_answers(directory: Path) -> Dict[str, Any]:
    """knowledge/answers/<topic>.yml merged into one mapping: each topic file holds
    `answers` and may hold another section (`substances`, `after_crisis`) once."""
    merged: Dict[str, Any] = {"answers": {}}
    for path in sorted(directory.glob("*.yml")):
        for section, value in (_read(directory, path.name) or {}).items():
            taken = set(value) & set(merged["answers"]) if section == "answers" else {section} & set(merged)
            if taken:
                raise ValueError(f"{path}: {sorted(taken)} defined in another answers file too")
            if section == "answers":
                merged["answers"].update(value)
            else:
                merged[section] = value
    return merged


def load(directory: Optional[Path] = None) -> KnowledgeBase:
    """Parse the knowledge files; KNOWLEDGE_DIR lets a deployer point elsewhere."""
    directory = Path(directory or os.environ.get("KNOWLEDGE_DIR") or DEFAULT_DIR)
    answers_file = _read_answers(directory / "answers")
    helplines_file = _read(directory, "helplines.yml")
    sources_file = _read(directory, "sources.yml")
    references_file = _read(directory, "references.yml") if (directory / "references.yml").exists() else {}
    return KnowledgeBase(
        answers={k: Answer(key=k, **v) for k, v in answers_file["answers"].items()},
        sources={k: Source(id=k, **v) for k, v in sources_file["sources"].items()},
        helplines={h["id"]: Helpline(**h) for h in helplines_file["helplines"]},
        seek_help={k: SeekHelp(**v) for k, v in helplines_file["seek_help"].items()},
        substances=answers_file.get("substances", {}),
        crisis_lines=helplines_file.get("crisis_lines", {}),
        reply_lines=helplines_file.get("reply_lines", {}),
        after_crisis=answers_file.get("after_crisis", []),
        references={
            k: Reference(id=k, **{**v, "facts": [Fact(**f) for f in v["facts"]]})
            for k, v in (references_file.get("references") or {}).items()
        },
        channel_replies={k: SeekHelp(**v) for k, v in helplines_file.get("channel_replies", {}).items()},
    )


@lru_cache(maxsize=1)
def knowledge_base() -> KnowledgeBase:
    """The knowledge base, parsed once per action-server process."""
    return load()


@lru_cache(maxsize=1)
def substance_spellings(path: Path = ENTITIES_FILE) -> FrozenSet[str]:
    """Every spelling of a substance in data/nlu/entities.yml (lookup values,
    synonym names and their examples), lower-cased: words that are safe to repeat."""
    items = _read(path.parent, path.name).get("nlu") or []
    lookup: Dict[str, Any] = next((i for i in items if i.get("lookup") == "substance"), {})
    canonical = set(_examples(lookup))
    spellings = set(canonical)
    for item in items:
        if item.get("synonym") in canonical:
            spellings.update(_examples(item))
    return frozenset(spellings)


def _examples(item: Dict[str, Any]) -> List[str]:
    """The "- example" lines of a Rasa NLU YAML item, lower-cased."""
    lines = (item.get("examples") or "").splitlines()
    return [line.strip()[2:].strip().lower() for line in lines if line.strip().startswith("- ")]
