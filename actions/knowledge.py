"""Loads and renders the reviewed knowledge base in knowledge/*.yml.

Kept free of rasa-sdk so the same loader serves actions, channels, the web server (web/server.py),
tools and tests. Every sentence a person reads comes from these files; the code only joins them.
"""

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Optional, Sequence

import yaml

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "knowledge"
ENTITIES_FILE = Path(__file__).resolve().parent.parent / "data" / "nlu" / "entities.yml"
DEFAULT_HELP = "substance_use"
UNLISTED_SUBSTANCE = "ask_interaction/unlisted"
# The language every text has; other languages may leave keys out (messages.yml, web.yml).
DEFAULT_LANGUAGE = "en"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: str, **values: Any) -> str:
    """`template` with each {name} given in `values` replaced; other braces stay as they are."""
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


@dataclass(frozen=True)
class Texts:
    """A text file keyed by language (messages.yml, web.yml): language -> key -> text."""

    languages: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    def get(self, key: str, language: Optional[str] = None) -> Any:
        """The text (or list, or section) under `key` in `language`, else in the default language."""
        for code in (language, DEFAULT_LANGUAGE):
            if code and key in (self.languages.get(code) or {}):
                return self.languages[code][key]
        raise KeyError(f"no text {key!r} in {language or DEFAULT_LANGUAGE!r} or {DEFAULT_LANGUAGE!r}")

    def say(self, key: str, language: Optional[str] = None, **values: Any) -> str:
        """The text under `key`, its {placeholders} filled from `values`."""
        return fill(self.get(key, language), **values)

    def section(self, key: str, language: Optional[str] = None) -> Dict[str, Any]:
        """A section (web.yml's `page`, `widget`): the default language's, overlaid with `language`'s."""
        default = (self.languages.get(DEFAULT_LANGUAGE) or {}).get(key) or {}
        chosen = (self.languages.get(language or DEFAULT_LANGUAGE) or {}).get(key) or {}
        return {**default, **chosen}


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
    label: str
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
    # What the actions and channels say around the knowledge (messages.yml), per language.
    messages: Texts = field(default_factory=Texts)
    # What the web page and widget say (web.yml), per language.
    web: Texts = field(default_factory=Texts)

    @property
    def crisis_intents(self) -> List[str]:
        """crisis_suicide for utter_crisis_suicide: each crisis reply is named after its intent."""
        return [response[len("utter_") :] for response in self.crisis_lines]

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

    def say(self, key: str, language: Optional[str] = None, **values: Any) -> str:
        """A sentence of messages.yml in `language` (else English), its {placeholders} filled."""
        return self.messages.say(key, language, **values)

    def quoted(self, title: str, language: Optional[str] = None) -> str:
        return self.say("quoted_title", language, title=title)

    def render_answer(self, key: str, substance: str = "", language: Optional[str] = None) -> str:
        """The full reply: answer, the titles it came from, a seek-help prompt."""
        answer = self.answers[key]
        body = answer.text.replace("{substance}", substance or "that")
        citation = self.citation_line(answer, language)
        safety = self.safety_line(answer, language)
        if safety:
            citation = f"{citation}\n{safety}"
        return "\n\n".join([body, citation, self.render_seek_help(answer.help)])

    def citation_line(self, answer: Answer, language: Optional[str] = None) -> str:
        titles = "; ".join(self.quoted(self.sources[s].title, language) for s in answer.sources)
        label = self.say("citation_labels" if len(answer.sources) > 1 else "citation_label", language)
        return self.say("citation", language, label=label, titles=titles)

    def safety_line(self, answer: Answer, language: Optional[str] = None) -> str:
        """'Safety note: FDA, <title> (<date>)' for the references an answer cites, or ''."""
        notes = [self.references[r] for r in answer.safety_refs]
        if not notes:
            return ""
        cited = "; ".join(
            self.say("safety_note_item", language, cite_as=r.cite_as, title=self.quoted(r.title, language), date=r.date)
            for r in notes
        )
        label = self.say("safety_labels" if len(notes) > 1 else "safety_label", language)
        return self.say("safety_citation", language, label=label, notes=cited)

    def render_seek_help(self, kind: str) -> str:
        return self.render_prompt(self.seek_help[kind])

    def render_channel_reply(self, key: str, **values: Any) -> str:
        """A channel reply, its {placeholders} filled from `values`, then its helplines."""
        return self.render_prompt(self.channel_replies[key], **values)

    def render_prompt(self, prompt: SeekHelp, **values: Any) -> str:
        """The prompt's text, each {<helpline id>} the line's number, then the lines it names."""
        numbers = {line.id: line.number for line in self.helplines.values()}
        text = fill(prompt.text, **{**numbers, **values})
        if not prompt.lines:
            return text
        lines = ", ".join(f"{self.helplines[h].name} {self.helplines[h].number}" for h in prompt.lines)
        return f"{text} {lines}."

    def render_sources(self, key: str, language: Optional[str] = None) -> str:
        """The articles behind an answer, with their publishers."""
        rows = []
        for source_id in self.answers[key].sources:
            source = self.sources[source_id]
            publisher = source.publisher or self.say("publisher_unknown", language)
            rows.append(
                self.say("source_item", language, title=self.quoted(source.title, language), publisher=publisher)
            )
        for ref_id in self.answers[key].safety_refs:
            ref = self.references[ref_id]
            rows.append(
                self.say(
                    "safety_source_item",
                    language,
                    title=self.quoted(ref.title, language),
                    publisher=ref.publisher,
                    date=ref.date,
                )
            )
        intro = self.say("sources_intro", language, label=self.answers[key].label.lower())
        return "\n".join([intro, *rows])

    def render_all_sources(self, language: Optional[str] = None) -> str:
        """Every article, for "where is that from?" before any answer."""
        rows = [self.say("title_item", language, title=self.quoted(s.title, language)) for s in self.sources.values()]
        return "\n".join([self.say("no_answer_yet", language), *rows])

    def render_helplines(self, language: Optional[str] = None) -> str:
        """Every helpline, with what it is for, for "I need to talk to someone"."""
        rows = [
            self.say(
                "helpline_item",
                language,
                name=line.name,
                number=line.number,
                about=line.about,
                how=self.say("helpline_call_or_text", language) if line.text else "",
            )
            for line in self.helplines.values()
        ]
        return "\n".join([self.say("helplines_intro", language), *rows])


# libyaml's parser when PyYAML has it: the web server reads the files on every page request.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(directory: Path, name: str) -> Dict[str, Any]:
    with (directory / name).open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=SAFE_LOADER)


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
        messages=Texts(_read(directory, "messages.yml")),
        web=Texts(_read(directory, "web.yml")),
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
