"""Shared fixtures: project paths, the knowledge base, trackers, the trained model; the two lanes.

tests/unit/ is fast (no servers, no trained model, no browser): `make test-unit`, `pytest -m unit`.
tests/system/ starts servers, drives the browser or loads the trained model: `pytest -m system`."""

import asyncio
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import knowledge
from tools.paths import MODEL, ROOT

SHARED_SOURCES = ROOT.parent / "shared" / "sources"


def read_yaml(path: Path) -> Dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def without_markup(example: str) -> str:
    """The text a person typed: "[booze](substance)" -> "booze"."""
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", example)


def nlu_examples(paths: List[Path]) -> Dict[str, List[str]]:
    """intent -> example texts (entity markup kept) from Rasa NLU YAML files."""
    examples: Dict[str, List[str]] = {}
    for path in paths:
        for item in read_yaml(path).get("nlu", []):
            if "intent" in item:
                lines = [line.strip()[2:] for line in item["examples"].splitlines() if line.strip().startswith("- ")]
                examples.setdefault(item["intent"], []).extend(lines)
    return examples


def training_files() -> List[Path]:
    return sorted((ROOT / "data" / "nlu").glob("*.yml"))


@pytest.fixture(scope="session")
def kb() -> knowledge.KnowledgeBase:
    return knowledge.load()


@pytest.fixture(scope="session")
def domain() -> Dict[str, Any]:
    return read_yaml(ROOT / "domain.yml")


def make_tracker(
    intent: str,
    text: str = "",
    entities: Optional[List[Dict[str, Any]]] = None,
    slots: Optional[Dict[str, Any]] = None,
    ranking: Optional[List[Dict[str, Any]]] = None,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "intent_ranking": ranking or [{"name": intent, "confidence": 0.9}],
    }
    return Tracker("tester", slots or {}, latest, [], False, None, {}, "action_listen")


def substance(text: str, said: str, value: str) -> Dict[str, Any]:
    """An entity as SpacyEntityExtractor + EntitySynonymMapper would give it."""
    start = text.index(said)
    return {"entity": "substance", "value": value, "start": start, "end": start + len(said)}


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


def parse(agent: Any, text: str) -> Dict[str, Any]:
    """What the running assistant's NLU makes of a message."""
    return asyncio.run(agent.parse_message(text))


@pytest.fixture(scope="session")
def agent(trained_model: Path) -> Any:
    from rasa.core.agent import Agent

    return Agent.load(str(trained_model))


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The trained model; `make test` builds it first, this trains it if run bare."""
    if not MODEL.exists():
        subprocess.run(["make", "model"], cwd=ROOT, check=True)
    return MODEL


LANES = {
    "unit": "fast: no servers, no trained model, no browser (tests/unit/)",
    "system": "servers, browser, trained model, rasa CLI runs (tests/system/)",
}


# A deployer's own number, to check it reaches every channel (tests/unit/test_one_home.py and
# tests/system/test_web_server.py).
NEW = {"number": "112", "call": "112"}  # a deployer outside the US: 112 for emergencies


@pytest.fixture
def moved_number(tmp_path: Path, monkeypatch) -> Iterator[Path]:
    """A copy of knowledge/ whose emergency line is 112, as $KNOWLEDGE_DIR."""
    directory = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", directory)
    data = read_yaml(directory / "helplines.yml")
    next(line for line in data["helplines"] if line["id"] == "emergency_911").update(NEW)
    (directory / "helplines.yml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("KNOWLEDGE_DIR", str(directory))
    from channels import door

    for cache in (knowledge.knowledge_base, door._knowledge):
        cache.cache_clear()
    yield directory
    for cache in (knowledge.knowledge_base, door._knowledge):
        cache.cache_clear()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster: starts the PostgreSQL/Redis/HAProxy cluster (test_cluster.py)")
    for lane, what in LANES.items():
        config.addinivalue_line("markers", f"{lane}: {what}")


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    """The lane is the folder: a test in tests/unit/ is marked unit, one in tests/system/ system."""
    for item in items:
        lane = item.path.relative_to(ROOT / "tests").parts[0]
        if lane not in LANES:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/unit/ or tests/system/")
        item.add_marker(lane)
