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
import warnings
from pathlib import Path

import sanic  # noqa: F401  (imported first so that the filter below overrides the one it installs)

sys.modules["jax"] = None  # type: ignore[assignment]  # makes "import jax" raise ImportError
# Rasa reads --logging-config-file before it puts the working directory on the
# path; the project's filter (ops/log_redaction.py) must be importable by then,
# or Rasa skips the file with only a debug message.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

# Sanic turns every DeprecationWarning on for the whole process, so about twenty warnings
# from libraries Rasa pins (pkg_resources, pyparsing, click, SQLAlchemy) would print before
# `rasa shell`'s prompt; they are not ours to fix. PYTHONWARNINGS still brings them back.
# Rasa later puts a "once" filter for UserWarning in front, which would show pyparsing's
# (a UserWarning too); Rasa re-applies its EXPECTED_WARNINGS after that, so ours goes there.
if not sys.warnoptions:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from rasa.utils.common import EXPECTED_WARNINGS

    EXPECTED_WARNINGS.append((DeprecationWarning, ""))

from rasa.__main__ import main  # noqa: E402  (must come after the lines above)

if __name__ == "__main__":
    sys.exit(main())
