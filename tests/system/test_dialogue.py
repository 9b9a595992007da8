"""Dialogue: test stories through the trained model, with prediction errors failing."""

import subprocess

from tests.conftest import ROOT
from tools.paths import RASA


def test_test_stories_have_no_prediction_errors(trained_model, tmp_path):
    result = subprocess.run(
        [
            *RASA,
            "test",
            "core",
            "--model",
            str(trained_model),
            "--stories",
            "tests/system/test_stories.yml",
            "--fail-on-prediction-errors",
            "--out",
            str(tmp_path / "results"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert (tmp_path / "results" / "failed_test_stories.yml").read_text().count("- story:") == 0
