"""scripts/rasa_cli.py, the rasa command line every make target, test and benchmark uses."""
import subprocess
import sys

from tests.conftest import ROOT


def test_the_rasa_command_line_keeps_jax_out_and_tensorflow_working():
    """scripts/rasa_cli.py: TensorFlow loads (Rasa needs it) without jax (70 MB Rasa never uses)."""
    code = ("import runpy, sys; runpy.run_path('scripts/rasa_cli.py', run_name='not_main'); "
            "import rasa.core.agent; print('tensorflow' in sys.modules, 'jaxlib' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.stdout.split()[-2:] == ["True", "False"], result.stderr[-2000:]
    version = subprocess.run([sys.executable, "scripts/rasa_cli.py", "--version"], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert version.returncode == 0 and "Rasa Version      :         3.6.21" in version.stdout
