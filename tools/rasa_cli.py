"""Rasa's command line, with TensorFlow's optional import of jax turned off.

TensorFlow 2.12 (the one Rasa 3.6 pins) imports jax as it loads, only to offer
TFLite's jax converter, which Rasa never uses; jax and jaxlib then hold about
70 MB of the Rasa server's memory (636 MB instead of 705 MB, measured on the
running server). TensorFlow already treats a failed import of jax as "no jax".
make, scripts/run.sh, the tests and the benchmark run every rasa command through
this module, so what is measured is what runs.

    .venv/bin/python -m tools.rasa_cli run --model models/klonopin-faq.tar.gz
"""
import sys
from pathlib import Path

sys.modules["jax"] = None  # type: ignore[assignment]  # makes "import jax" raise ImportError
# Rasa reads --logging-config-file before it puts the working directory on the
# path; the project's filter (ops/log_redaction.py) must be importable by then,
# or Rasa skips the file with only a debug message.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from rasa.__main__ import main  # noqa: E402  (must come after the line above)

if __name__ == "__main__":
    sys.exit(main())
