"""tools.evaluate without training: report building, selection, folds, configs."""

import json
from pathlib import Path
from typing import Any, Dict

import pytest

from tests.conftest import ROOT, read_yaml
from tools.evaluate import metrics, policy, report, run

REPORT: Dict[str, Any] = {
    "ask_uses": {"precision": 0.8, "recall": 1.0, "f1-score": 0.889, "support": 4, "confused_with": {}},
    "crisis_suicide": {
        "precision": 1.0,
        "recall": 0.5,
        "f1-score": 0.667,
        "support": 2,
        "confused_with": {"ask_uses": 1},
    },
    "accuracy": 0.833,
    "macro avg": {"precision": 0.9, "recall": 0.75, "f1-score": 0.778, "support": 6},
    "weighted avg": {"precision": 0.867, "recall": 0.833, "f1-score": 0.815, "support": 6},
    "micro avg": {"precision": 0.833, "recall": 0.833, "f1-score": 0.833, "support": 6},
}


def error(expected: str, predicted: str) -> Dict[str, Any]:
    return {"text": "t", "intent": expected, "intent_prediction": {"name": predicted, "confidence": 0.4}}


def result(cv_f1: float, holdout: float, crisis: float, seconds: float, entities: float = 1.0) -> Dict[str, Any]:
    return {
        "cv_accuracy": cv_f1,
        "cv_macro_f1": cv_f1,
        "holdout_accuracy": holdout,
        "holdout_macro_f1": holdout,
        "crisis_recall": crisis,
        "train_seconds": seconds,
        "entity_recall": entities,
    }


def test_macro_f1_and_accuracy_are_read_from_the_summary_rows():
    assert metrics.macro_f1(REPORT) == pytest.approx(0.778)
    assert metrics.accuracy(REPORT) == pytest.approx(0.833)


def test_per_intent_rows_skip_summaries_and_put_the_weakest_first():
    rows = metrics.per_intent_rows(REPORT)
    assert [r[0] for r in rows] == ["crisis_suicide", "ask_uses"]
    assert rows[0] == ("crisis_suicide", 1.0, 0.5, 0.667, 2)


def test_confused_pairs_are_counted_and_sorted_most_frequent_first():
    errors = [
        error("a", "b"),
        error("c", "d"),
        error("c", "d"),
        error("c", "d"),
        error("a", "b"),
        error("e", "nlu_fallback"),
    ]
    assert metrics.confused_pairs(errors) == [("c", "d", 3), ("a", "b", 2), ("e", "nlu_fallback", 1)]
    assert metrics.confused_pairs(errors, n=1) == [("c", "d", 3)]
    assert metrics.confused_pairs([]) == []


def row(intent: str, predicted: str, entities=(), found=()) -> Dict[str, Any]:
    return {
        "text": f"{intent} text",
        "intent": intent,
        "predicted": predicted,
        "entities": list(entities),
        "found": list(found),
    }


def test_crisis_recall_counts_only_crisis_examples_and_a_fallback_is_a_miss():
    predictions = [
        row("crisis_suicide", "crisis_suicide"),
        row("crisis_emergency", "nlu_fallback"),
        row("crisis_suicide", "crisis_both"),  # another crisis reply: caught, but the wrong kind
        row("ask_uses", "ask_side_effects"),
    ]
    assert metrics.crisis_recall(predictions) == pytest.approx(2 / 3)
    assert metrics.crisis_recall(predictions[3:]) is None
    assert metrics.missed_crisis(predictions) == [("crisis_emergency text", "crisis_emergency", "nlu_fallback")]
    assert metrics.deployed_accuracy(predictions) == pytest.approx(1 / 4)


def test_entity_recall_needs_the_same_entity_and_span_in_the_same_message():
    predictions = [
        row("ask_interaction", "ask_interaction", [("substance", 4, 9)], [("substance", 4, 9), ("drug", 15, 23)]),
        row("ask_interaction", "ask_interaction", [("substance", 0, 4)], [("drug", 0, 4)]),
        row("ask_interaction", "ask_interaction", [], [("substance", 4, 9)]),
    ]
    assert metrics.entity_recall(predictions) == 0.5
    assert metrics.entity_recall([row("greet", "greet")]) is None


def test_selection_refuses_a_config_that_misses_a_crisis_message_even_if_it_scores_best():
    winner, why = policy.select(
        {
            "config": result(0.70, 0.90, 1.0, 60),
            "fast": result(0.80, 0.95, 29 / 30, 10),
        }
    )
    assert winner == "config"
    assert "`fast`" in why


def test_selection_takes_the_best_cv_macro_f1_outside_a_tie():
    winner, _ = policy.select(
        {
            "config": result(0.70, 0.95, 1.0, 60),
            "better": result(0.75, 0.90, 1.0, 90),
        }
    )
    assert winner == "better"


def test_selection_breaks_a_tie_by_holdout_accuracy_then_training_time():
    tied = {"config": result(0.700, 0.90, 1.0, 60), "close": result(0.695, 0.92, 1.0, 90)}
    assert policy.select(tied)[0] == "close"
    same_holdout = {"config": result(0.700, 0.90, 1.0, 60), "close": result(0.695, 0.90, 1.0, 30)}
    winner, why = policy.select(same_holdout)
    assert winner == "close"
    assert "shortest training" in why


def test_selection_refuses_a_config_that_finds_fewer_entities_than_config_yml():
    winner, why = policy.select(
        {
            "config": result(0.70, 0.90, 1.0, 60),
            "no_entities": result(0.80, 0.95, 1.0, 60, entities=None),
            "fewer": result(0.80, 0.95, 1.0, 60, entities=0.9),
        }
    )
    assert winner == "config"
    assert "`no_entities` refused" in why and "`fewer` refused" in why


def test_selection_refuses_a_config_whose_model_fails_on_an_empty_message():
    crashes = result(0.80, 0.95, 1.0, 10)
    crashes["handles_empty"] = False
    winner, why = policy.select({"config": result(0.70, 0.90, 1.0, 60), "crashes": crashes})
    assert winner == "config"
    assert "`crashes` refused" in why and "empty" in why


def test_selection_chooses_nothing_when_every_config_misses_a_crisis_message():
    assert policy.select({"config": result(0.7, 0.9, 0.9, 60)})[0] is None
    assert policy.select({"config": result(0.7, 0.9, None, 60)})[0] is None


def test_markdown_report_says_plainly_when_an_alternative_beats_config_yml():
    summary = {
        "command": "make eval",
        "date": "2026-01-01",
        "wall_seconds": 60,
        "folds": 5,
        "seed": 42,
        "data": {
            "train_examples": 10,
            "intents": 2,
            "holdout_examples": 6,
            "holdout_crisis_examples": 2,
            "holdout_entities": 1,
        },
        "configs": {
            "config": {
                **result(0.70, 0.90, 1.0, 60),
                "fold_fingerprint": "ab" * 32,
                "cv_fold_accuracy": [0.7, 0.7],
                "cv_confused_pairs": [],
                "holdout_confused_pairs": [],
            },
            "better": {
                **result(0.80, 0.90, 1.0, 60),
                "fold_fingerprint": "ab" * 32,
                "cv_fold_accuracy": [0.8, 0.8],
                "cv_confused_pairs": [["a", "b", 3]],
                "holdout_confused_pairs": [],
            },
            "unsafe": {
                **result(0.90, 0.90, 0.5, 60),
                "fold_fingerprint": "ab" * 32,
                "cv_fold_accuracy": [0.9, 0.9],
                "crisis_missed": [["i want to die", "crisis_suicide", "greet"]],
                "cv_confused_pairs": [],
                "holdout_confused_pairs": [],
            },
        },
    }
    reports = {"config": {"cv": REPORT, "holdout": REPORT}, "better": {"cv": REPORT, "holdout": None}}
    text = report.markdown_report(summary, reports, "eval", {"config": "", "better": "More epochs."})
    assert "`better` beats `config.yml`" in text
    assert "- `better`: More epochs." in text
    assert "identical for every config" in text
    assert "| a | b | 3 |" in text
    assert "| better | 80.0% | 80.0% |" in text
    assert "ahead of `config.yml` on 2 of 2 cross-validation folds" in text
    assert '`unsafe`: "i want to die" (crisis_suicide -> greet)' in text
    assert report.shown_configs(summary["configs"]) == ["config", "better"]
    assert "eval/cv/config/intent_confusion_matrix.png" in text
    assert "eval/holdout/config/intent_confusion_matrix.png" in text
    assert "eval/cv/better/intent_confusion_matrix.png" in text
    assert "eval/holdout/better/" not in text


def crisis_row(
    label: str, predicted: str, score: float, lang: str = "en", language: str = "en", intent: str = None
) -> Dict[str, Any]:
    return {
        "text": f"{label} {predicted}",
        "label": label,
        "predicted": predicted,
        "score": score,
        "lang": lang,
        "language": language,
        "intent": intent,
    }


def test_crisis_set_summary_counts_recall_false_alarms_kinds_and_spanish_replies():
    rows = [
        crisis_row("suicide", "crisis_suicide", 0.9),
        crisis_row("emergency", "crisis_both", 0.6),
        crisis_row("suicide", "crisis_suicide", 1.0, lang="es", language="es"),
        crisis_row("both", "nlu_fallback", 0.2),
        crisis_row("none", "ask_uses", 0.1, intent="ask_uses"),
        crisis_row("none", "crisis_suicide", 0.7),
        crisis_row("none", "greet", 0.0, intent="thank"),
        crisis_row("none", "greet", 0.0),
    ]
    summary = metrics.crisis_set_summary(rows)
    assert (summary["crisis"], summary["none"]) == (4, 4)
    assert summary["recall"] == 0.75 and summary["false_alarm_rate"] == 0.25
    assert summary["kind_agreement"] == 2 / 3
    assert summary["spanish_replies"] == 1.0
    assert summary["topic_accuracy"] == 0.5 and summary["topic_examples"] == 2
    assert summary["lowest_crisis_score"] == 0.2
    assert summary["curve"]["0.5"] == [0.75, 0.25]
    assert summary["missed"] == [["both nlu_fallback", "both", "nlu_fallback"]]
    assert summary["false_alarms"] == [["none crisis_suicide", "suicide"]]


def test_selection_refuses_a_config_that_misses_a_message_of_the_crisis_set():
    results = {"config": result(0.80, 0.9, 1.0, 60), "better": result(0.90, 0.9, 1.0, 60)}
    results["better"]["crisis_set"] = {"recall": 0.99, "missed": [["x", "suicide", "greet"]]}
    winner, why = policy.select(results)
    assert winner == "config"
    assert "`better` refused: missed 1 message(s) of the crisis set" in why


def test_describe_takes_the_first_sentence_of_the_leading_comment(tmp_path):
    path = tmp_path / "x.yml"
    path.write_text("# Alternative to config.yml: fewer epochs. Why it is worth it.\n# More.\nrecipe: default.v1\n")
    assert report.describe(path) == "fewer epochs."


@pytest.fixture(scope="module")
def training_data():
    return run.load_training_data(folds=5)


def test_the_same_seed_gives_the_same_folds_and_another_seed_other_folds(training_data):
    first = run.fold_fingerprint(training_data, 5, seed=42)
    assert run.fold_fingerprint(training_data, 5, seed=42) == first
    assert run.fold_fingerprint(training_data, 5, seed=43) != first


CONFIGS = sorted((ROOT / "eval" / "configs").glob("*.yml"))


def test_the_alternative_is_the_pipeline_without_wordllama_vectors():
    assert {p.stem for p in CONFIGS} >= {"ngrams_only"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_each_alternative_is_a_valid_rasa_config_differing_from_config_yml_only_in_its_pipeline(path: Path):
    from rasa.engine.recipes.recipe import Recipe
    from rasa.shared.importers.importer import TrainingDataImporter

    config = TrainingDataImporter.load_from_config(str(path)).get_config()  # validates the schema
    chosen = read_yaml(ROOT / "config.yml")
    assert {k: v for k, v in config.items() if k != "pipeline"} == {k: v for k, v in chosen.items() if k != "pipeline"}
    assert config["pipeline"] != chosen["pipeline"]
    names = [c["name"] for c in config["pipeline"]]
    # Every alternative keeps the crisis detector and the language router after the fallback,
    # so configs differ only in how they find the topic.
    assert names[-3:] == [
        "FallbackClassifier",
        "nlu_components.crisis_detector.CrisisDetector",
        "nlu_components.language.LanguageRouter",
    ]
    # The recipe resolves every component name and builds the training graph.
    Recipe.recipe_for_name(config.get("recipe")).graph_config_for_recipe(config, {}, is_finetuning=False)


def test_the_report_states_the_rule_that_select_applies():
    """The rule is written once (policy.RULE); the report prints it, never its own copy."""
    assert f"Rule: {policy.RULE}" in (ROOT / "docs" / "eval.md").read_text(encoding="utf-8")
    assert "empty or blank message" in policy.RULE and f"within {policy.TIE * 100:.0f} point" in policy.RULE


def test_docs_eval_md_is_the_template_filled_from_the_stored_results():
    """What `python -m tools.evaluate --report-only` writes: docs/eval.md was not edited by hand."""
    out = ROOT / "docs" / "eval"
    summary = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert report.render(summary, out, "eval") == (ROOT / "docs" / "eval.md").read_text(encoding="utf-8")
