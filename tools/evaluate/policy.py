"""The selection rule, written once: RULE says it in words (docs/eval.md prints it), select() applies it."""

from typing import Any, Dict, Optional, Tuple

from tools.evaluate.metrics import pct

CHOSEN = "config"  # the project's config.yml, always evaluated first
TIE = 0.01  # CV macro-F1 within one point counts as a tie

# A missed crisis message is the worst error this assistant can make; the mixing answers depend on the
# substance entity; a pipeline that raises on an empty message leaves the person without any reply.
RULE = (
    "never choose a config that misses a held-out crisis message or a message of the crisis set "
    "(crisis recall below 100%), nor one whose model fails on an empty or blank message (no reply at all), "
    "nor one that extracts fewer held-out entities than `config.yml` (the mixing answers depend on the "
    f"substance entity); among the rest, the best cross-validated macro-F1 wins; configs within "
    f"{TIE * 100:.0f} point of it are tied, and the tie goes to held-out accuracy, then to the shorter "
    "training time."
)


def refusal(result: Dict[str, Any], baseline: Optional[float]) -> Optional[str]:
    """Why RULE never chooses this config (None: it may be chosen); baseline is config.yml's entity recall."""
    if result.get("crisis_recall") is None:
        return "not tested on the held-out set"
    if result.get("handles_empty") is False:
        return "its model fails on an empty or blank message (no reply at all)"
    if result["crisis_recall"] < 1.0:
        return f"missed {len(result.get('crisis_missed', [])) or 'a'} held-out crisis message(s)"
    if (result.get("crisis_set") or {}).get("recall", 1.0) < 1.0:
        return f"missed {len(result['crisis_set']['missed'])} message(s) of the crisis set"
    if baseline is not None and (result.get("entity_recall") or 0.0) < baseline:
        return f"finds {pct(result.get('entity_recall'))} of held-out entities, config.yml {pct(baseline)}"
    return None


def select(results: Dict[str, Dict[str, Any]]) -> Tuple[Optional[str], str]:
    """Apply RULE; return the winner (or None) and why, in words."""
    baseline = results.get(CHOSEN, {}).get("entity_recall")
    refusals = {name: why for name, r in results.items() if (why := refusal(r, baseline)) is not None}
    eligible = {n: r for n, r in results.items() if n not in refusals}
    refused = "; ".join(f"`{n}` refused: {why}" for n, why in refusals.items())
    if not eligible:
        return None, f"no config qualifies ({refused})"
    best_f1 = max(r["cv_macro_f1"] for r in eligible.values())
    tied = {n: r for n, r in eligible.items() if r["cv_macro_f1"] >= best_f1 - TIE}
    winner = min(tied, key=lambda n: (-tied[n]["holdout_accuracy"], tied[n]["train_seconds"], n))
    if len(tied) == 1:
        why = f"`{winner}` has the best cross-validated macro-F1 ({best_f1:.1%})"
    else:
        best_acc = tied[winner]["holdout_accuracy"]
        why = (
            f"{', '.join(f'`{n}`' for n in sorted(tied))} are within {TIE * 100:.0f} point of the best "
            f"cross-validated macro-F1 ({best_f1:.1%}); `{winner}` has the best held-out accuracy ({best_acc:.1%})"
        )
        if sum(r["holdout_accuracy"] == best_acc for r in tied.values()) > 1:
            why += f" and, among those with it, the shortest training ({tied[winner]['train_seconds']:.0f} s)"
    if refused:
        why += f". {refused}"
    return winner, why + "."
