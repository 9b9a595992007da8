"""Starting and stopping servers for the tools, the cluster and the tests: free ports, one
process group per server (so a stop takes its children too), a log file each, and the
action server and Rasa server as make starts them."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import requests
import yaml

from tools.paths import RASA, ROOT

HOST = "127.0.0.1"
START_TIMEOUT = 300


def tracker_store(db: Path) -> Dict[str, str]:
    """endpoints.yml's tracker store (the type `make run` uses), on another SQLite file."""
    section = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))["tracker_store"]
    return {**section, "db": str(db)}


def free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def environment(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """This process's environment, quiet, with the repository importable (`python -m tools.rasa_cli`
    from any working directory; rasa also needs it for ops/ and nlu_components/)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONPATH": path,
        **(extra or {}),
    }


def start(args: List[str], log: Path, extra_env: Optional[Dict[str, str]] = None, cwd: Path = ROOT) -> subprocess.Popen:
    """A server in its own process group (stopped as a whole, never by a Ctrl-C meant for us)."""
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=environment(extra_env),
        stdin=subprocess.DEVNULL,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_actions(port: int, log: Path, *extra: str, extra_env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    """The action server as `make actions` starts it, on this port."""
    return start([*RASA, "run", "actions", "--actions", "actions", "--port", str(port), *extra], log, extra_env)


def start_rasa(
    model: Path,
    endpoints: Path,
    port: int,
    log: Path,
    *extra: str,
    extra_env: Optional[Dict[str, str]] = None,
    cwd: Path = ROOT,
) -> subprocess.Popen:
    """The Rasa server (`rasa run`) with this model and endpoints file, on this port."""
    return start(
        [*RASA, "run", "--model", str(model), "--endpoints", str(endpoints), "--port", str(port), *extra],
        log,
        extra_env,
        cwd,
    )


def wait_until(
    ready: Callable[[], bool],
    what: str,
    process: subprocess.Popen,
    log: Path,
    timeout: float = START_TIMEOUT,
    poll: float = 0.5,
) -> None:
    """Until ready() (a request failing counts as not yet); fails with the log's tail if the
    process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if ready():
                return
        except requests.RequestException:
            pass
        time.sleep(poll)
    raise TimeoutError(f"{what} did not come up within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT) -> None:
    """Until GET url answers 2xx."""
    wait_until(lambda: requests.get(url, timeout=2).ok, url, process, log, timeout)


def stop(process: Optional[subprocess.Popen]) -> None:
    """SIGTERM the process group, SIGKILL it after 30 s; a process already gone is fine."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


class Assistant:
    """The action server and the Rasa server for real, on free ports, with a throw-away SQLite
    tracker store in `tmp`. Used by the end-to-end, SMS, browser and benchmark tests."""

    def __init__(self, tmp: Path, model: Path, env: Optional[Dict[str, str]] = None, cors: Optional[str] = None):
        self.tmp = tmp
        self.db = tmp / "trackers.db"
        self.action_port, self.rasa_port = free_port(), free_port()
        (tmp / "endpoints.yml").write_text(
            f'action_endpoint:\n  url: "http://{HOST}:{self.action_port}/webhook"\n'
            + yaml.safe_dump({"tracker_store": tracker_store(self.db)})
        )
        self.actions = start_actions(self.action_port, tmp / "actions.log")
        extra = ["--credentials", "credentials.yml", *(["--cors", cors] if cors else [])]
        self.rasa = start_rasa(model, tmp / "endpoints.yml", self.rasa_port, tmp / "rasa.log", *extra, extra_env=env)
        try:
            wait_for(f"http://{HOST}:{self.action_port}/health", self.actions, tmp / "actions.log")
            wait_for(f"http://{HOST}:{self.rasa_port}/", self.rasa, tmp / "rasa.log")
        except BaseException:
            self.close()
            raise

    @property
    def webhook(self) -> str:
        return f"http://{HOST}:{self.rasa_port}/webhooks/rest/webhook"

    def say(self, sender: str, message: str) -> List[Dict]:
        response = requests.post(self.webhook, json={"sender": sender, "message": message}, timeout=60)
        response.raise_for_status()
        return response.json()

    def text(self, sender: str, message: str) -> str:
        return "\n".join(m.get("text", "") for m in self.say(sender, message))

    def close(self) -> None:
        stop(self.rasa)
        stop(self.actions)
