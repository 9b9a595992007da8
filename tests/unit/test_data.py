"""Training data and held-out data (`rasa data validate` is tests/system/test_data_validate.py)."""

import re

from tests.conftest import nlu_examples, training_files, without_markup
from tools.paths import HOLDOUT

MIN_TRAINING = 20
MIN_HOLDOUT = 5


def normalise(example: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", without_markup(example).lower()))


def test_every_intent_has_enough_varied_training_examples(domain):
    examples = nlu_examples(training_files())
    assert set(examples) == set(domain["intents"])
    for intent, lines in examples.items():
        assert len({normalise(line) for line in lines}) >= MIN_TRAINING, intent


def test_holdout_covers_every_intent_and_copies_no_training_example(domain):
    holdout = nlu_examples([HOLDOUT])
    assert set(holdout) == set(domain["intents"])
    assert all(len(lines) >= MIN_HOLDOUT for lines in holdout.values())
    training = {normalise(line) for lines in nlu_examples(training_files()).values() for line in lines}
    copied = [line for lines in holdout.values() for line in lines if normalise(line) in training]
    assert copied == []
