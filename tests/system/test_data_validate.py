"""`rasa data validate` over the training data, domain and config: warnings fail."""

import subprocess

from tools.paths import RASA, ROOT


def test_rasa_data_validate_has_no_errors_or_warnings():
    result = subprocess.run(
        [*RASA, "data", "validate", "--fail-on-warnings"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "UserWarning" not in output, output
