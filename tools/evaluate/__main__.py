"""Measured NLU evaluation: config.yml against the alternatives in eval/configs/.

For every config: Rasa's own cross-validation (`rasa.nlu.test.cross_validate`, what
`rasa test nlu --cross-validation` runs) on the same folds, then a model trained on
all training data and tested on the held-out set. Writes docs/eval/results.json,
the per-config reports and confusion matrices, and docs/eval.md.

    .venv/bin/python -m tools.evaluate                      # everything (make eval)
    .venv/bin/python -m tools.evaluate --configs config no_spacy --folds 2 --out /tmp/ev
    .venv/bin/python -m tools.evaluate --report-only        # re-render docs/eval.md from docs/eval/results.json

The parts: metrics.py (the figures), policy.py (the selection rule), run.py (Rasa runs),
report.py and report.md.j2 (docs/eval.md).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from tools.evaluate.metrics import pct
from tools.evaluate.policy import select
from tools.evaluate.report import write_markdown
from tools.evaluate.run import (
    _START,
    NLU_DATA,
    SEED,
    config_paths,
    fold_fingerprint,
    holdout_sizes,
    load_training_data,
    progress,
    prune_stale,
    quiet_libraries,
    run_cv,
    run_holdout,
    set_environment,
)
from tools.paths import ROOT


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--configs", nargs="+", metavar="NAME", help="only these (config = config.yml)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "eval")
    parser.add_argument("--markdown", type=Path, help="default: docs/eval.md, or OUT/eval.md for another --out")
    parser.add_argument("--skip-holdout", action="store_true", help="cross-validation only (no selection)")
    parser.add_argument("--report-only", action="store_true", help="rebuild the Markdown from OUT/results.json")
    args = parser.parse_args(argv)
    set_environment()
    os.chdir(ROOT)  # the configs name build/spacy_en relative to the repo
    out = args.out.resolve()
    markdown = args.markdown or (ROOT / "docs" / "eval.md" if out == ROOT / "docs" / "eval" else out / "eval.md")
    if args.report_only:
        write_markdown(json.loads((out / "results.json").read_text(encoding="utf-8")), out, markdown)
        progress(f"wrote {markdown}")
        return 0

    quiet_libraries()
    configs = config_paths(args.configs)
    progress(f"loading {NLU_DATA}")
    data = load_training_data(args.folds)
    expected_print = fold_fingerprint(data, args.folds, args.seed)
    summary: Dict[str, Any] = {
        "command": "make eval"
        if args.configs is None and args.folds == 5 and not args.skip_holdout
        else "python -m tools.evaluate " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "folds": args.folds,
        "seed": args.seed,
        "data": {"train_examples": len(data.intent_examples), "intents": len(data.intents), **holdout_sizes()},
        "configs": {},
    }
    for k, (name, path) in enumerate(configs.items(), start=1):
        progress(f"config {k}/{len(configs)}: {name} ({path.relative_to(ROOT)}), {args.folds}-fold CV")
        result: Dict[str, Any] = {"path": str(path.relative_to(ROOT))}
        result.update(run_cv(name, path, data, args.folds, args.seed, out / "cv" / name))
        if result["fold_fingerprint"] != expected_print:
            raise SystemExit(f"{name}: cross-validation used other folds than seed {args.seed} gives")
        progress(f"  {name}: CV accuracy {result['cv_accuracy']:.1%}, macro-F1 {result['cv_macro_f1']:.1%}")
        if not args.skip_holdout:
            result.update(run_holdout(name, path, out / "holdout" / name))
            progress(
                f"  {name}: held-out accuracy {result['holdout_accuracy']:.1%} "
                f"(as deployed {result['holdout_deployed_accuracy']:.1%}), crisis recall "
                f"{pct(result['crisis_recall'])}, entity recall {pct(result['entity_recall'])}"
            )
        summary["configs"][name] = result
    summary["wall_seconds"] = round(time.monotonic() - _START)
    winner, why = select(summary["configs"])
    summary["selected"], summary["why"] = winner, why
    if args.configs is None:
        prune_stale(out, list(configs))
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_markdown(summary, out, markdown)
    progress(f"selected: {winner}: {why}")
    progress(f"wrote {out / 'results.json'} and {markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
