"""The figures of an evaluation, from plain dicts and lists (Rasa's reports and our parses),
so tests can check them without training anything."""

from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

from nlu_components.intents import CRISIS_INTENTS, CRISIS_KINDS

CRISIS = tuple(CRISIS_INTENTS)
KIND_OF = {intent: kind for kind, intent in CRISIS_KINDS.items()}  # crisis_suicide -> suicide
LONG_POST = 80  # words
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
THRESHOLDS_LABELS = [f"{t:.1f}" for t in THRESHOLDS]
SUMMARY_KEYS = ("accuracy", "macro avg", "weighted avg", "micro avg")

Report = Dict[str, Any]  # Rasa's intent_report.json: label -> {precision, recall, ...}
Pair = Tuple[str, str, int]  # expected, predicted, count


def pct(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def accuracy(report: Report) -> float:
    """Rasa's report always has "accuracy" (it infers it when sklearn gives micro avg)."""
    return float(report["accuracy"])


def macro_f1(report: Report) -> float:
    """Unweighted mean F1 over the intents in the test data: every intent counts the same."""
    return float(report["macro avg"]["f1-score"])


def per_intent_rows(report: Report) -> List[Tuple[str, float, float, float, int]]:
    """(intent, precision, recall, F1, support), weakest F1 first, so problems lead."""
    rows = [
        (label, float(v["precision"]), float(v["recall"]), float(v["f1-score"]), int(v["support"]))
        for label, v in report.items()
        if label not in SUMMARY_KEYS and isinstance(v, dict)
    ]
    return sorted(rows, key=lambda r: (r[3], r[0]))


def confused_pairs(errors: Sequence[Dict[str, Any]], n: int = 10) -> List[Pair]:
    """The n most frequent (expected -> predicted) mistakes in Rasa's intent error list."""
    counts = Counter((e["intent"], e["intent_prediction"]["name"]) for e in errors)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(expected, predicted, count) for (expected, predicted), count in ranked[:n]]


def crisis_recall(predictions: Sequence[Dict[str, Any]]) -> Optional[float]:
    """Share of crisis examples that get a crisis intent, whichever of the three: each crisis
    reply gives the emergency numbers first (the kind is scored by accuracy); None if none."""
    crisis = [p for p in predictions if p["intent"] in CRISIS]
    if not crisis:
        return None
    return sum(p["predicted"] in CRISIS for p in crisis) / len(crisis)


def missed_crisis(predictions: Sequence[Dict[str, Any]]) -> List[Tuple[str, str, str]]:
    """(text, expected, predicted) for every crisis message that got no crisis reply."""
    return [
        (p["text"], p["intent"], p["predicted"])
        for p in predictions
        if p["intent"] in CRISIS and p["predicted"] not in CRISIS
    ]


def deployed_accuracy(predictions: Sequence[Dict[str, Any]]) -> float:
    """Accuracy as a user meets it: a message sent to nlu_fallback counts as wrong."""
    return sum(p["predicted"] == p["intent"] for p in predictions) / len(predictions)


def entity_recall(predictions: Sequence[Dict[str, Any]]) -> Optional[float]:
    """Share of annotated (entity, start, end) spans that the pipeline extracted.

    Rasa's own evaluation leaves SpacyEntityExtractor out (it counts as pretrained),
    so this is where losing the drug and substance entities shows up.
    """
    annotated = [(i, tuple(span)) for i, p in enumerate(predictions) for span in p["entities"]]
    if not annotated:
        return None
    found = {(i, tuple(span)) for i, p in enumerate(predictions) for span in p["found"]}
    return sum(a in found for a in annotated) / len(annotated)


def short(text: str) -> str:
    return text if len(text) <= 140 else text[:137] + "..."


def crisis_set_summary(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Recall, false alarms and the rest for a crisis test set parsed as deployed.

    Each row: text, label (suicide/emergency/both/none), lang, intent (expected topic or None),
    predicted (intent), score (the detector's crisis score), language (the language entity).
    """
    crisis = [r for r in rows if r["label"] != "none"]
    none = [r for r in rows if r["label"] == "none"]
    caught = [r for r in crisis if r["predicted"] in KIND_OF]
    alarms = [r for r in none if r["predicted"] in KIND_OF]
    spanish = [r for r in caught if r["lang"] == "es"]
    topics = [r for r in none if r.get("intent")]
    curve = {
        f"{t:.1f}": [
            sum(r["score"] >= t for r in crisis) / max(len(crisis), 1),
            sum(r["score"] >= t for r in none) / max(len(none), 1),
        ]
        for t in THRESHOLDS
    }
    return {
        "crisis": len(crisis),
        "none": len(none),
        "long": sum(len(r["text"].split()) >= LONG_POST for r in rows),
        "spanish": sum(r["lang"] == "es" for r in rows),
        "recall": len(caught) / len(crisis) if crisis else None,
        "false_alarm_rate": len(alarms) / len(none) if none else None,
        "kind_agreement": sum(KIND_OF[r["predicted"]] == r["label"] for r in caught) / len(caught) if caught else None,
        "spanish_replies": sum(r["language"] == "es" for r in spanish) / len(spanish) if spanish else None,
        "topic_accuracy": sum(r["predicted"] == r["intent"] for r in topics) / len(topics) if topics else None,
        "topic_examples": len(topics),
        "lowest_crisis_score": min((r["score"] for r in crisis), default=None),
        "curve": curve,
        "missed": [[short(r["text"]), r["label"], r["predicted"]] for r in crisis if r not in caught],
        "false_alarms": [[short(r["text"]), KIND_OF[r["predicted"]]] for r in alarms],
    }
