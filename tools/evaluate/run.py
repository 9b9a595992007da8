"""Running Rasa for the evaluation: cross-validation, training on all data, parsing the held-out
and crisis sets as deployed, and the patches of Rasa internals those runs need (fold watching,
progress bars, warning filters). Everything here imports Rasa lazily: tests import the package."""

import asyncio
import contextlib
import hashlib
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from tools.evaluate.metrics import (
    CRISIS,
    accuracy,
    confused_pairs,
    crisis_recall,
    crisis_set_summary,
    deployed_accuracy,
    entity_recall,
    macro_f1,
    missed_crisis,
)
from tools.evaluate.policy import CHOSEN
from tools.paths import CRISIS_SET, HOLDOUT, REAL_SET, ROOT, relative

CONFIG_DIR = ROOT / "eval" / "configs"
NLU_DATA = "data/nlu"
DOMAIN = "domain.yml"
SEED = 42
KEEP_FILES = ("intent_report.json", "intent_confusion_matrix.png")

_START = time.monotonic()


def set_environment() -> None:
    """Called by main() before rasa is imported, never on import (tests import this).

    A cached component from an earlier `rasa train` would make the training time
    meaningless, so Rasa's training cache is off; LOG_LEVEL=WARNING also turns off
    DIET's per-epoch progress bars; an evaluation should not send telemetry.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def progress(message: str) -> None:
    """One line on stderr with the elapsed time, so a 30-minute run shows where it is."""
    elapsed = int(time.monotonic() - _START)
    print(f"[{elapsed // 60:3d}:{elapsed % 60:02d}] {message}", file=sys.stderr, flush=True)


def config_paths(names: Optional[Sequence[str]] = None) -> Dict[str, Path]:
    """config.yml first, then eval/configs/*.yml by name; optionally only some of them."""
    paths = {CHOSEN: ROOT / "config.yml"}
    paths.update({p.stem: p for p in sorted(CONFIG_DIR.glob("*.yml"))})
    if names:
        unknown = set(names) - set(paths)
        if unknown:
            raise SystemExit(f"unknown config(s): {', '.join(sorted(unknown))}; known: {', '.join(paths)}")
        paths = {n: p for n, p in paths.items() if n in names}
    return paths


def load_training_data(folds: int) -> Any:
    """The NLU data exactly as `rasa test nlu --nlu data/nlu --cross-validation` loads it."""
    from rasa.nlu.test import drop_intents_below_freq
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_dict(training_data_paths=[NLU_DATA], domain_path=DOMAIN)
    return drop_intents_below_freq(importer.get_nlu_data(), cutoff=folds)


def fold_digest(test: Any) -> str:
    """sha256 of one test fold's sorted texts: equal digests mean equal folds."""
    texts = sorted(example.get("text") for example in test.intent_examples)
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()


def combine_digests(digests: Sequence[str]) -> str:
    return hashlib.sha256("".join(digests).encode("ascii")).hexdigest()


def fold_fingerprint(data: Any, folds: int, seed: int) -> str:
    """The folds Rasa's generate_folds makes after seeding numpy's global random state."""
    import numpy as np
    from rasa.nlu.test import generate_folds

    np.random.seed(seed)
    return combine_digests([fold_digest(test) for _, test in generate_folds(folds, data)])


@contextlib.contextmanager
def watched_folds(name: str, folds: int, digests: List[str]) -> Iterator[None]:
    """Wrap Rasa's generate_folds while cross_validate runs: report each fold on stderr
    and record the digest of the folds that were really used, not a recomputation."""
    import rasa.nlu.test as nlu_test

    original: Callable[..., Iterator[Tuple[Any, Any]]] = nlu_test.generate_folds

    def generate(n: int, data: Any) -> Iterator[Tuple[Any, Any]]:
        for i, (train, test) in enumerate(original(n, data), start=1):
            digests.append(fold_digest(test))
            progress(
                f"  {name}: fold {i}/{folds}: training on {len(train.intent_examples)}, "
                f"testing on {len(test.intent_examples)}"
            )
            yield train, test

    nlu_test.generate_folds = generate
    try:
        yield
    finally:
        nlu_test.generate_folds = original


def keep_only(directory: Path, keep: Sequence[str] = KEEP_FILES) -> None:
    """Rasa writes entity reports, histograms and error lists too; keep what goes in git."""
    for path in directory.iterdir():
        if path.is_file() and path.name not in keep:
            path.unlink()
        elif path.suffix == ".png":
            shrink_png(path)


def prune_stale(out: Path, names: Sequence[str]) -> None:
    """After a full run, drop the outputs of configs that no longer exist, so git holds no stale figures."""
    import shutil

    for kind in ("cv", "holdout"):
        for directory in (out / kind).glob("*"):
            if directory.is_dir() and directory.name not in names:
                shutil.rmtree(directory)


def shrink_png(path: Path) -> None:
    """A 64-colour palette keeps the blue scale readable at about a third of the size."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Rasa prints "Your Rasa model is trained and saved at ..." for every fold."""
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


def run_cv(name: str, config: Path, data: Any, folds: int, seed: int, out: Path) -> Dict[str, Any]:
    """Rasa's cross-validation on folds fixed by the seed; the figures the report needs."""
    import numpy as np
    from rasa.nlu.test import cross_validate

    out.mkdir(parents=True, exist_ok=True)
    digests: List[str] = []
    np.random.seed(seed)  # generate_folds uses StratifiedKFold(shuffle=True) with numpy's global state
    with watched_folds(name, folds, digests), quiet_stdout():
        intent, _, _ = asyncio.run(cross_validate(data, folds, str(config), str(out), errors=False))
    keep_only(out)
    evaluation = intent.evaluation
    fold_acc = intent.test["Accuracy"]
    return {
        "cv_accuracy": accuracy(evaluation["report"]),
        "cv_accuracy_fold_sd": statistics.stdev(fold_acc) if len(fold_acc) > 1 else 0.0,
        "cv_fold_accuracy": fold_acc,
        "cv_macro_f1": macro_f1(evaluation["report"]),
        "cv_confused_pairs": confused_pairs(evaluation["errors"]),
        "fold_fingerprint": combine_digests(digests),
    }


def run_holdout(name: str, config: Path, out: Path) -> Dict[str, Any]:
    """Train on all training data (timed) and test on the held-out file."""
    import rasa.model_training
    from rasa.core.agent import Agent
    from rasa.nlu.test import run_evaluation

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        progress(f"  {name}: training on all data")
        start = time.monotonic()
        with quiet_stdout():
            model = rasa.model_training.train_nlu(str(config), NLU_DATA, tmp, domain=DOMAIN)
        seconds = time.monotonic() - start
        progress(f"  {name}: trained in {seconds:.0f} s; testing on {relative(HOLDOUT)}")
        processor = Agent.load(model).processor
        with quiet_stdout():
            result = asyncio.run(run_evaluation(str(HOLDOUT), processor, str(out), domain_path=DOMAIN))
        deployed = asyncio.run(parse_as_deployed(processor, holdout_examples()))
        handles_empty = asyncio.run(parses_empty_messages(processor))
        progress(f"  {name}: parsing {relative(CRISIS_SET)} and {relative(REAL_SET)}")
        crisis_rows = asyncio.run(parse_crisis_set(processor, crisis_messages(CRISIS_SET)))
        real_rows = asyncio.run(parse_crisis_set(processor, crisis_messages(REAL_SET)))
    keep_only(out)
    evaluation = result["intent_evaluation"]
    return {
        "holdout_accuracy": accuracy(evaluation["report"]),
        "holdout_macro_f1": macro_f1(evaluation["report"]),
        "holdout_deployed_accuracy": deployed_accuracy(deployed),
        "crisis_recall": crisis_recall(deployed),
        "crisis_missed": missed_crisis(deployed),
        "entity_recall": entity_recall(deployed),
        "holdout_confused_pairs": confused_pairs(evaluation["errors"]),
        "train_seconds": round(seconds, 1),
        "handles_empty": handles_empty,
        "crisis_set": crisis_set_summary(crisis_rows),
        "real_set": crisis_set_summary(real_rows),
        "threshold": detector_threshold(config),
    }


def detector_threshold(config: Path) -> Optional[float]:
    """The CrisisDetector threshold a config sets (or the component's default)."""
    import yaml

    from nlu_components.crisis_detector import CrisisDetector

    for component in yaml.safe_load(config.read_text(encoding="utf-8")).get("pipeline", []):
        if component.get("name", "").endswith("CrisisDetector"):
            return float(component.get("threshold", CrisisDetector.get_default_config()["threshold"]))
    return None


def crisis_messages(path: Path) -> List[Dict[str, Any]]:
    """A crisis test set's messages: text, label, lang and the expected topic (if not a crisis)."""
    import yaml

    messages = yaml.safe_load(path.read_text(encoding="utf-8"))["messages"]
    return [
        {
            "text": m["text"],
            "label": m.get("label", m.get("crisis")),
            "lang": m.get("lang", "en"),
            "intent": m.get("intent"),
        }
        for m in messages
    ]


async def parse_crisis_set(processor: Any, messages: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    from rasa.core.channels.channel import UserMessage

    rows = []
    for message in messages:
        parsed = await processor.parse_message(UserMessage(message["text"]))
        language = next((e["value"] for e in parsed.get("entities") or [] if e["entity"] == "language"), "en")
        rows.append(
            {
                **message,
                "predicted": (parsed.get("intent") or {}).get("name"),
                "score": float((parsed.get("crisis") or {}).get("score") or 0.0),
                "language": language,
            }
        )
    return rows


async def parses_empty_messages(processor: Any) -> bool:
    """People send empty and blank messages; a pipeline that raises on them leaves the
    person without a reply (Rasa 3.6's LogisticRegressionClassifier does)."""
    from rasa.core.channels.channel import UserMessage

    try:
        for text in ("", "   "):
            await processor.parse_message(UserMessage(text))
    except Exception:  # any failure means no reply
        return False
    return True


async def parse_as_deployed(processor: Any, examples: Sequence[Any]) -> List[Dict[str, Any]]:
    """Parse like the running assistant: fallback not undone, spaCy entities kept."""
    from rasa.core.channels.channel import UserMessage

    rows = []
    for example in examples:
        parsed = await processor.parse_message(UserMessage(example.get("text")))
        rows.append(
            {
                "text": example.get("text"),
                "intent": example.get("intent"),
                "predicted": (parsed.get("intent") or {}).get("name"),
                "entities": [(e["entity"], e["start"], e["end"]) for e in example.get("entities") or []],
                "found": [(e["entity"], e["start"], e["end"]) for e in parsed.get("entities") or []],
            }
        )
    return rows


def holdout_examples() -> List[Any]:
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_dict(training_data_paths=[str(HOLDOUT)], domain_path=DOMAIN)
    return list(importer.get_nlu_data().intent_examples)


def holdout_sizes() -> Dict[str, int]:
    examples = holdout_examples()
    return {
        "holdout_examples": len(examples),
        "holdout_crisis_examples": sum(e.get("intent") in CRISIS for e in examples),
        "holdout_entities": sum(len(e.get("entities") or []) for e in examples),
    }


def quiet_libraries() -> None:
    """Silence what repeats for every fold and says nothing about the result.

    Rasa and its libraries install their own warning filters on import, so this
    imports them first and then sets Rasa's CLI logging (WARNING) plus ours on top.
    """

    def our_filters() -> None:
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category)
        # lbfgs stops at LogisticRegressionClassifier's max_iter 100 before converging, on every fold.
        for message in (
            "Slot auto-fill",
            "You have defined training data",
            "The least populated class",
            "lbfgs failed to converge",
        ):
            warnings.filterwarnings("ignore", message=f".*{message}")

    import sanic  # noqa: F401  (its import turns DeprecationWarnings back on, so it goes first)

    our_filters()  # for the imports themselves
    # Imported for their side effects on warnings.
    import rasa.core.agent
    import rasa.model_training
    import rasa.nlu.test
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING, warn_only_once=True, filter_repeated_logs=True)
    configure_structlog(logging.WARNING)  # else every parsed message is logged
    for noisy in ("rasa", "tensorflow", "absl", "matplotlib", "spacy"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    our_filters()
    # A progress bar per test set; our own progress lines say the same, once.
    rasa.nlu.test.tqdm = lambda iterable, *args, **kwargs: iterable
