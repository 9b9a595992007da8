"""scripts/run.sh (`make run`, `make shell`), endpoints.yml and `make help`, without starting
Rasa: a port already in use stops run.sh before any server starts."""

import os
import signal
import socket
import subprocess
import sys
from contextlib import nullcontext
from typing import ContextManager, Dict, Iterator, List, Optional

import pytest

from tests.conftest import ROOT
from tools.servers import free_port

PORT_VARIABLES = ("RASA_PORT", "ACTIONS_PORT", "WEB_PORT")


def run_script(args: List[str], ports: Dict[str, int], timeout: float = 60) -> subprocess.CompletedProcess:
    """scripts/run.sh with these ports only (none inherited). If it gets past its port check it
    starts real servers: then the whole process group is killed and the test fails."""
    env = {k: v for k, v in os.environ.items() if k not in PORT_VARIABLES}
    env.update({name: str(port) for name, port in ports.items()})
    process = subprocess.Popen(
        ["scripts/run.sh", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"scripts/run.sh {' '.join(args)} did not stop at the port check: it went on to start servers")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def listening(port: int = 0) -> socket.socket:
    """A socket listening on 127.0.0.1 (as the action server and the web page do)."""
    sock = socket.socket()
    # A port left in TIME_WAIT is free, as run.sh's own check counts it; only a listener stops us.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1)
    return sock


@pytest.fixture
def taken() -> Iterator[int]:
    with listening() as sock:
        yield sock.getsockname()[1]


def assert_refused(result: subprocess.CompletedProcess, port: int, variable: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert f"port {port}" in result.stderr and "already in use" in result.stderr, result.stderr
    assert f"{variable}=" in result.stderr, result.stderr  # says how to choose another one
    assert "Assistant starting" not in result.stdout  # nothing was started


# `make shell` serves no web page, so WEB_PORT is checked in run mode only.
@pytest.mark.parametrize(
    "mode, variable", [("run", v) for v in PORT_VARIABLES] + [("shell", v) for v in PORT_VARIABLES if v != "WEB_PORT"]
)
def test_run_sh_stops_with_a_clear_message_when_a_port_is_taken(mode, variable, taken):
    ports = {name: free_port() for name in PORT_VARIABLES}
    ports[variable] = taken
    assert_refused(run_script([] if mode == "run" else ["shell"], ports), taken, variable)


def test_make_shell_has_its_own_action_server_port_beside_make_run():
    """Without ACTIONS_PORT, `make shell` wants 5056 (5055 is `make run`'s): shown by taking 5056."""
    try:
        sock: ContextManager[Optional[socket.socket]] = listening(5056)
    except OSError:  # something else listens on 5056 already: taken all the same
        sock = nullcontext()
    with sock:
        assert_refused(run_script(["shell"], {"RASA_PORT": free_port()}), 5056, "ACTIONS_PORT")


def test_the_action_server_url_in_endpoints_yml_follows_actions_port():
    """Rasa's ${...} substitution works inside the (unquoted) URL."""
    code = (
        "from rasa.core.utils import read_endpoints_from_path as r; e = r('endpoints.yml'); "
        "print(e.action.url, e.action.token)"
    )
    env = {**os.environ, "ACTIONS_PORT": "5056", "ACTION_SERVER_TOKEN": "secret-token"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.stdout.split() == ["http://127.0.0.1:5056/webhook", "secret-token"], result.stderr[-2000:]


def test_make_help_lists_every_commented_target():
    result = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0]: " ".join(line.split()[1:]) for line in result.stdout.splitlines() if line.strip()}
    for target in ("help", "run", "shell", "test", "web", "actions", "clean"):
        assert listed.get(target), (target, result.stdout)
    assert listed["shell"].startswith("talk to the assistant in the terminal")
    commented = [
        line.split(":")[0]
        for line in (ROOT / "Makefile").read_text().splitlines()
        if "##" in line and not line.startswith(("#", "\t"))
    ]
    assert sorted(listed) == sorted(commented)
    # `make` alone still runs `run`.
    dry = subprocess.run(["make", "--no-print-directory", "-n"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert dry.stdout.strip().splitlines()[-1] == "scripts/run.sh", dry.stdout


def test_make_shell_answers_without_a_wall_of_warnings(trained_model):
    """`make shell` for real: the greeting comes back and no library's DeprecationWarning
    prints before the prompt (Sanic turns them all on; tools/rasa_cli.py turns them off)."""
    env = {k: v for k, v in os.environ.items() if k not in PORT_VARIABLES and k != "PYTHONWARNINGS"}
    env.update(RASA_PORT=str(free_port()), ACTIONS_PORT=str(free_port()))
    process = subprocess.Popen(
        ["scripts/run.sh", "shell"],
        cwd=ROOT,
        env=env,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate("hello\n/stop\n", timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert "I answer questions about Klonopin" in output, output[-3000:]
    assert "Warning:" not in output.replace("Warning: Input is not a terminal", ""), output[-3000:]
