"""tools/rasa_cli.py, the rasa command line every make target, test and benchmark uses."""

import subprocess
import sys

from tools.paths import RASA, ROOT


def test_the_rasa_command_line_keeps_jax_out_and_tensorflow_working():
    """tools.rasa_cli: TensorFlow loads (Rasa needs it) without jax (70 MB Rasa never uses)."""
    code = (
        "import sys, tools.rasa_cli; import rasa.core.agent; "
        "print('tensorflow' in sys.modules, 'jaxlib' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.stdout.split()[-2:] == ["True", "False"], result.stderr[-2000:]
    version = subprocess.run([*RASA, "--version"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert version.returncode == 0 and "Rasa Version      :         3.6.21" in version.stdout
