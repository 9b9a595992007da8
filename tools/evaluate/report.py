"""docs/eval.md: the template report.md.j2 filled from results.json and Rasa's intent reports.

The words are in the template; this module only computes what fills it (tables, shown configs)."""

import json
import os
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from tools import templates
from tools.evaluate.metrics import THRESHOLDS_LABELS, Report, pct, per_intent_rows
from tools.evaluate.policy import CHOSEN, RULE, select
from tools.paths import CRISIS_SET, HOLDOUT, REAL_SET, ROOT, relative

NLU_DATA = "data/nlu"
TEMPLATE = Path(__file__).with_name("report.md.j2")
SETS = (("crisis_set", "crisis set", CRISIS_SET), ("real_set", "real messages", REAL_SET))


def comparison_table(results: Dict[str, Dict[str, Any]], winner: Optional[str]) -> str:
    """One Markdown row per config with every figure the selection rule uses."""
    lines = [
        "| Config | CV accuracy (± fold sd) | CV macro-F1 | Held-out accuracy | Held-out macro-F1 "
        "| Held-out accuracy as deployed | Crisis recall (held-out, as deployed) "
        "| Crisis set: recall / false alarms | Real messages: recall / false alarms / topic accuracy "
        "| Entity recall (held-out) | Training (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        label = f"**{name}** (selected)" if name == winner else name
        sd = r.get("cv_accuracy_fold_sd")
        cv_acc = pct(r["cv_accuracy"]) + (f" ± {sd * 100:.1f}" if sd is not None else "")
        seconds = "n/a" if r.get("train_seconds") is None else f"{r['train_seconds']:.0f}"
        crisis_set, real = r.get("crisis_set") or {}, r.get("real_set") or {}
        lines.append(
            f"| {label} | {cv_acc} | {pct(r['cv_macro_f1'])} | {pct(r.get('holdout_accuracy'))} "
            f"| {pct(r.get('holdout_macro_f1'))} | {pct(r.get('holdout_deployed_accuracy'))} "
            f"| {pct(r.get('crisis_recall'))} "
            f"| {pct(crisis_set.get('recall'))} / {pct(crisis_set.get('false_alarm_rate'))} "
            f"| {pct(real.get('recall'))} / {pct(real.get('false_alarm_rate'))} / "
            f"{pct(real.get('topic_accuracy'))} "
            f"| {pct(r.get('entity_recall'))} | {seconds} |"
        )
    return "\n".join(lines)


def folds_table(results: Dict[str, Dict[str, Any]]) -> str:
    """Accuracy per fold: the folds are the same for every config, so rows compare fold by fold."""
    n = max(len(r.get("cv_fold_accuracy", [])) for r in results.values())
    lines = ["| Config | " + " | ".join(f"Fold {i}" for i in range(1, n + 1)) + " |", "| --- |" + " --- |" * n]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(pct(a) for a in r.get("cv_fold_accuracy", [])) + " |")
    return "\n".join(lines)


def folds_ahead(result: Dict[str, Any], baseline: Dict[str, Any]) -> str:
    """ "Ahead of config.yml on k of n folds. ": the paired view the shared folds allow."""
    mine, theirs = result.get("cv_fold_accuracy", []), baseline.get("cv_fold_accuracy", [])
    if not mine or len(mine) != len(theirs):
        return ""
    ahead = sum(a > b for a, b in zip(mine, theirs))
    return f"It is ahead of `config.yml` on {ahead} of {len(mine)} cross-validation folds. "


def crisis_table(result: Dict[str, Any]) -> str:
    rows = [
        "| Set | Crisis | Not crisis | Long posts | Spanish | Recall | False alarms | Kind agreed "
        "| Spanish crisis answered in Spanish | Topic accuracy (not crisis) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, name, path in SETS:
        c = result.get(key)
        if c:
            rows.append(
                f"| {name} (`{relative(path)}`) | {c['crisis']} | {c['none']} | {c['long']} | {c['spanish']} "
                f"| {pct(c['recall'])} | {pct(c['false_alarm_rate'])} | {pct(c['kind_agreement'])} "
                f"| {pct(c['spanish_replies'])} | {pct(c['topic_accuracy'])} of {c['topic_examples']} |"
            )
    return "\n".join(rows)


def curve_table(result: Dict[str, Any]) -> str:
    """Recall and false alarms if the detector's threshold were t (phrase matches always count)."""
    rows = ["| Threshold | " + " | ".join(THRESHOLDS_LABELS) + " |", "| --- |" + " --- |" * len(THRESHOLDS_LABELS)]
    for key, name, _ in SETS:
        curve = (result.get(key) or {}).get("curve")
        if curve:
            rows.append(f"| {name}: recall | " + " | ".join(pct(curve[t][0]) for t in THRESHOLDS_LABELS) + " |")
            rows.append(f"| {name}: false alarms | " + " | ".join(pct(curve[t][1]) for t in THRESHOLDS_LABELS) + " |")
    return "\n".join(rows)


def intent_table(report: Report) -> str:
    rows = ["| Intent | Precision | Recall | F1 | Support |", "| --- | --- | --- | --- | --- |"]
    rows += [f"| {i} | {p:.2f} | {r:.2f} | {f:.2f} | {s} |" for i, p, r, f, s in per_intent_rows(report)]
    return "\n".join(rows)


def pairs_table(pairs: Sequence[Sequence[Any]]) -> str:
    if not pairs:
        return "No confusions."
    rows = ["| Expected | Predicted | Count |", "| --- | --- | --- |"]
    rows += [f"| {e} | {p} | {c} |" for e, p, c in pairs]
    return "\n".join(rows)


def shown_configs(results: Dict[str, Dict[str, Any]]) -> List[str]:
    """The configs shown in detail: config.yml (what runs) and the selected one if it differs."""
    winner, _ = select(results)
    names = [CHOSEN] if CHOSEN in results else []
    if winner is not None and winner not in names:
        names.append(winner)
    return names


def crisis_context(results: Dict[str, Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The crisis detector as config.yml runs it, on the crisis set and on real messages (None: not run)."""
    result = results.get(CHOSEN) or {}
    if not result.get("crisis_set"):
        return None
    return {
        "threshold": result.get("threshold"),
        "crisis_set": result["crisis_set"],
        "sets": [(name, result.get(key) or {}) for key, name, _ in SETS],
    }


def details(
    results: Dict[str, Dict[str, Any]], reports: Dict[str, Dict[str, Optional[Report]]], images: str
) -> List[Dict[str, Any]]:
    shown = []
    for name in shown_configs(results):
        parts = []
        for kind, title in (("cv", "Cross-validated"), ("holdout", "Held-out")):
            report = reports.get(name, {}).get(kind)
            if report is not None:
                parts.append(
                    {
                        "title": title,
                        "intent_table": intent_table(report),
                        "pairs_table": pairs_table(results[name][f"{kind}_confused_pairs"]),
                        "image": f"{images}/{kind}/{name}/intent_confusion_matrix.png",
                    }
                )
        shown.append({"name": name, "parts": parts})
    return shown


def markdown_report(
    summary: Dict[str, Any],
    reports: Dict[str, Dict[str, Optional[Report]]],
    images: str,
    changes: Optional[Dict[str, str]] = None,
) -> str:
    """docs/eval.md from results.json, intent reports (config -> cv/holdout -> report), what each config changes."""
    results: Dict[str, Dict[str, Any]] = summary["configs"]
    winner, why = select(results)
    return templates.render(
        TEMPLATE,
        summary=summary,
        data=summary["data"],
        nlu_data=NLU_DATA,
        holdout=relative(HOLDOUT),
        chosen=CHOSEN,
        fingerprints=sorted({r["fold_fingerprint"] for r in results.values()}),
        comparison_table=comparison_table(results, winner),
        changes=changes or {},
        folds_table=folds_table(results),
        fold_spread=statistics.mean(r.get("cv_accuracy_fold_sd", 0.0) for r in results.values()),
        missed_crisis=[(name, *missed) for name, r in results.items() for missed in r.get("crisis_missed", [])],
        crisis=crisis_context(results),
        crisis_table=crisis_table(results.get(CHOSEN) or {}),
        curve_table=curve_table(results.get(CHOSEN) or {}),
        rule=RULE,
        winner=winner,
        why=why,
        ahead=folds_ahead(results[winner], results.get(CHOSEN, {})) if winner else "",
        details=details(results, reports, images),
    )


def describe(path: Path) -> str:
    """The first sentence of a config's leading comment: what it changes."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    text = " ".join(lines).replace("Alternative to config.yml: ", "")
    return text.split(". ")[0].rstrip(".") + "." if text else ""


def read_report(path: Path) -> Optional[Report]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def render(summary: Dict[str, Any], out: Path, images: str) -> str:
    """The report for results.json's summary; out holds the intent reports, images is out as the page links it."""
    reports = {
        name: {kind: read_report(out / kind / name / "intent_report.json") for kind in ("cv", "holdout")}
        for name in shown_configs(summary["configs"])
    }
    changes = {name: describe(ROOT / r["path"]) for name, r in summary["configs"].items()}
    return markdown_report(summary, reports, images, changes)


def write_markdown(summary: Dict[str, Any], out: Path, markdown: Path) -> None:
    images = Path(os.path.relpath(out, markdown.parent)).as_posix()
    markdown.write_text(render(summary, out, images), encoding="utf-8")
