"""The `rasa` command line, with skops imported before Rasa and TensorFlow.

Rasa 3.6 saves and loads its LogisticRegressionClassifier with skops 0.9 (Rasa
pins that version). On import, skops finds the module of every numpy and scipy
ufunc by scanning all loaded modules: about 10 s of the server's start once
Rasa and TensorFlow are loaded, about 1 s before them. Nothing else changes;
use it exactly like `rasa`, e.g. `python scripts/rasa_cli.py run --model ...`.
"""
import sys

import skops.io  # noqa: F401  imported first on purpose, see above

from rasa.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
