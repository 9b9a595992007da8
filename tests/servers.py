"""Starting the action server and the Rasa server for real, on free ports,
with a throw-away SQLite tracker store. Used by the end-to-end, SMS and browser tests."""
import importlib.util
import os
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

import requests

from tests.conftest import ROOT

# The rasa command line as make runs it (scripts/rasa_cli.py keeps jax out of the server).
RASA = [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "scripts" / "rasa_cli.py")]

# scripts/bench.py starts and stops servers the same way; one copy serves both.
_spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
free_port, stop = bench.free_port, bench.stop
START_TIMEOUT = 240


def wait_for(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not come up:\n{log.read_text()[-3000:]}")


def start(args: List[str], log: Path, extra_env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1", **(extra_env or {})}
    return subprocess.Popen(args, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)


class Assistant:
    def __init__(self, tmp: Path, trained_model: Path, env: Optional[Dict[str, str]] = None,
                 cors: Optional[str] = None):
        self.tmp = tmp
        self.db = tmp / "trackers.db"
        self.action_port, self.rasa_port = free_port(), free_port()
        (tmp / "endpoints.yml").write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{self.action_port}/webhook"\n'
            f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{self.db}"\n'
        )
        self.actions = start([*RASA, "run", "actions", "--actions", "actions", "--port", str(self.action_port)],
                             tmp / "actions.log")
        rasa_args = [*RASA, "run", "--model", str(trained_model), "--endpoints", str(tmp / "endpoints.yml"),
                     "--credentials", "credentials.yml", "--port", str(self.rasa_port)]
        if cors:
            rasa_args += ["--cors", cors]
        self.rasa = start(rasa_args, tmp / "rasa.log", env)
        wait_for(f"http://127.0.0.1:{self.action_port}/health", self.actions, tmp / "actions.log")
        wait_for(f"http://127.0.0.1:{self.rasa_port}/", self.rasa, tmp / "rasa.log")

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook"

    def say(self, sender: str, message: str) -> List[Dict]:
        response = requests.post(self.webhook, json={"sender": sender, "message": message}, timeout=60)
        response.raise_for_status()
        return response.json()

    def text(self, sender: str, message: str) -> str:
        return "\n".join(m.get("text", "") for m in self.say(sender, message))

    def close(self) -> None:
        stop(self.rasa)
        stop(self.actions)
