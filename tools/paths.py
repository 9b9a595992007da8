"""Where things are, named once for the tools, the cluster and the tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
# Every rasa command the tools and tests start, as make runs it (tools/rasa_cli.py keeps jax out).
# `-m` needs the repository on the path: tools.servers.environment() puts it there.
RASA = [PYTHON, "-m", "tools.rasa_cli"]
MODEL = ROOT / "models" / "klonopin-faq.tar.gz"

# The evaluation sets, never trained on (eval/sets/; the tests read them too, the tools never read tests/).
SETS = ROOT / "eval" / "sets"
# Held-out NLU examples: every intent, written by another author than the training data.
HOLDOUT = SETS / "nlu" / "holdout.yml"
# Written for the crisis detector separately from its training data (its threshold is chosen on it).
CRISIS_SET = SETS / "crisis" / "heldout.yml"
# Real people's messages from public datasets: never trained on, never a source of training examples.
REAL_SET = SETS / "real" / "messages.yml"


def relative(path: Path) -> str:
    """A project path as the reports and messages name it (eval/sets/nlu/holdout.yml)."""
    return path.relative_to(ROOT).as_posix()
