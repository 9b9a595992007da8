"""The cluster profile on one machine: PostgreSQL, Redis, HAProxy, two Rasa
replicas and two action servers, each with its own port and data directory.

    .venv/bin/python -m cluster.run          # start, print what runs where, Ctrl-C stops it
    .venv/bin/python -m cluster.run stop     # stop a cluster left running by a killed start

`make cluster`, `make cluster-test` (cluster/fault_test.py) and tests/system/test_cluster.py
all start and stop it through `Cluster`. PostgreSQL, Redis and HAProxy come from
Debian packages and are installed with apt-get when missing. Logs go to
<home>/logs/ (home is .cluster/run for `make cluster`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set

from tools.paths import MODEL, ROOT
from tools.servers import HOST, free_port, start, start_actions, start_rasa, stop

# Message texts, phone numbers and tokens masked in every server's log, as `make run` does.
LOGGING = ["--logging-config-file", str(ROOT / "ops" / "logging.yml")]  # keeps jax out, as make does
ENDPOINTS = ROOT / "cluster" / "endpoints.yml"
DB_NAME = DB_USER = "rasa"
# Only read by Rasa's own RedisLockStore (the fault test's --stock-lock-store);
# cluster/lock_store.py has its own ticket_lifetime in endpoints.yml.
TICKET_LOCK_LIFETIME = 20
START_TIMEOUT = 300
PACKAGES = {"haproxy": "haproxy", "redis-server": "redis-server", "initdb": "postgresql"}


@dataclass
class Ports:
    lb: int = 55005
    actions_lb: int = 55055
    stats: int = 55080
    rasa: List[int] = field(default_factory=lambda: [55101, 55102])
    actions: List[int] = field(default_factory=lambda: [55151, 55152])
    postgres: int = 55432
    redis: int = 56379

    @classmethod
    def free(cls) -> Ports:
        """Free ports, so a test cluster never collides with `make cluster`."""
        return cls(
            free_port(),
            free_port(),
            free_port(),
            [free_port(), free_port()],
            [free_port(), free_port()],
            free_port(),
            free_port(),
        )


def postgres_bin() -> Optional[Path]:
    """Debian keeps the server binaries out of PATH, one directory per version."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def ensure_packages() -> None:
    """apt-get install PostgreSQL, Redis and HAProxy when one is missing."""
    missing = [
        pkg
        for tool, pkg in PACKAGES.items()
        if (postgres_bin() is None if tool == "initdb" else shutil.which(tool) is None)
    ]
    if not missing:
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"missing {missing}: run `sudo apt-get install -y {' '.join(missing)}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, check=True)
        subprocess.run(install, env=env, check=True)


def as_postgres(args: List[str]) -> List[str]:
    """initdb and postgres refuse to run as root; Debian's package adds a postgres user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def chown_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


class Cluster:
    """Start with start(), stop with stop(); kill() and processes serve the fault test."""

    def __init__(
        self, home: Path, ports: Optional[Ports] = None, model: Path = MODEL, endpoints: Path = ENDPOINTS
    ) -> None:
        self.home, self.ports, self.model, self.endpoints = home, ports or Ports(), model, endpoints
        self.logs = home / "logs"
        self.processes: Dict[str, subprocess.Popen] = {}
        self.stopped: Set[str] = set()  # names taken down on purpose (the fault test's kills)
        self.pgdata = home / "postgres"
        self.secrets = self._secrets()

    # --- what runs where -------------------------------------------------
    @property
    def webhook(self) -> str:
        return f"http://{HOST}:{self.ports.lb}/webhooks/rest/webhook"

    def replica_webhook(self, i: int) -> str:
        return f"http://{HOST}:{self.ports.rasa[i]}/webhooks/rest/webhook"

    def env(self) -> Dict[str, str]:
        """The variables cluster/endpoints.yml and cluster/haproxy.cfg read."""
        p = self.ports
        return {
            "DB_HOST": HOST,
            "DB_PORT": str(p.postgres),
            "DB_NAME": DB_NAME,
            "DB_USER": DB_USER,
            "DB_PASSWORD": self.secrets["db"],
            "REDIS_HOST": HOST,
            "REDIS_PORT": str(p.redis),
            "REDIS_DB": "1",
            "REDIS_PASSWORD": self.secrets["redis"],
            "ACTION_SERVER_URL": f"http://{HOST}:{p.actions_lb}/webhook",
            "TICKET_LOCK_LIFETIME": str(TICKET_LOCK_LIFETIME),
            # X-Request-ID (set by HAProxy) counts only from HAProxy's address: channels/rest.py.
            "TRUSTED_PROXIES": HOST,
            "LB_HOST": HOST,
            "LB_PORT": str(p.lb),
            "ACTIONS_LB_PORT": str(p.actions_lb),
            "STATS_PORT": str(p.stats),
            "RASA1_ADDR": f"{HOST}:{p.rasa[0]}",
            "RASA2_ADDR": f"{HOST}:{p.rasa[1]}",
            "ACTIONS1_ADDR": f"{HOST}:{p.actions[0]}",
            "ACTIONS2_ADDR": f"{HOST}:{p.actions[1]}",
        }

    def describe(self) -> str:
        p = self.ports
        return "\n".join(
            [
                f"REST through HAProxy:  {self.webhook}",
                f"HAProxy stats:         http://{HOST}:{p.stats}/",
                f"Rasa replicas:         {', '.join(f'{HOST}:{x}' for x in p.rasa)}",
                f"Action servers:        {', '.join(f'{HOST}:{x}' for x in p.actions)} (behind {HOST}:{p.actions_lb})",
                f"PostgreSQL:            {HOST}:{p.postgres} db {DB_NAME} user {DB_USER} (data {self.pgdata})",
                f"Redis lock store:      {HOST}:{p.redis} db 1",
                f"Logs:                  {self.logs}/",
            ]
        )

    # --- start -----------------------------------------------------------
    def start(self) -> None:
        ensure_packages()
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            self._start_postgres()
            self._start_redis()
            for i, port in enumerate(self.ports.actions, 1):
                self._add(f"actions{i}", start_actions(port, self._log(f"actions{i}"), *LOGGING, extra_env=self.env()))
            self._spawn("haproxy", ["haproxy", "-db", "-f", str(ROOT / "cluster" / "haproxy.cfg")])
            for i, port in enumerate(self.ports.rasa, 1):
                self._add(
                    f"rasa{i}",
                    start_rasa(
                        self.model,
                        self.endpoints,
                        port,
                        self._log(f"rasa{i}"),
                        "-i",
                        HOST,
                        "--credentials",
                        "credentials.yml",
                        *LOGGING,
                        extra_env=self.env(),
                    ),
                )
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _secrets(self) -> Dict[str, str]:
        """Passwords made once per data directory (alphanumeric: Rasa's ${} check trips on '$')."""
        path = self.home / "secrets.json"
        if path.exists():
            return json.loads(path.read_text())
        self.home.mkdir(parents=True, exist_ok=True)
        made = {"db": secrets.token_hex(16), "redis": secrets.token_hex(16)}
        path.touch(mode=0o600)
        path.write_text(json.dumps(made))
        return made

    def _start_postgres(self) -> None:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise RuntimeError(
                "PostgreSQL's server binaries are not under /usr/lib/postgresql: `sudo apt-get install -y postgresql`"
            )
        log = self.logs / "postgres.log"
        log.touch()
        chown_postgres(log)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bin_dir)
        options = (
            f"-p {self.ports.postgres} -c listen_addresses={HOST} -c unix_socket_directories= -c max_connections=100"
        )
        subprocess.run(
            as_postgres(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self._write_pids()
        self._create_database()

    def _initdb(self, bin_dir: Path) -> None:
        self.pgdata.mkdir(mode=0o700, parents=True, exist_ok=True)
        chown_postgres(self.pgdata)
        pwfile = self.home / "pgpass.tmp"
        pwfile.touch(mode=0o600)  # never readable by others, even for the moment initdb needs it
        pwfile.write_text(self.secrets["db"] + "\n")
        chown_postgres(pwfile)
        try:
            subprocess.run(
                as_postgres(
                    [
                        str(bin_dir / "initdb"),
                        "-D",
                        str(self.pgdata),
                        "-U",
                        DB_USER,
                        f"--pwfile={pwfile}",
                        "-A",
                        "scram-sha-256",
                        "-E",
                        "UTF8",
                        "--no-instructions",
                    ]
                ),
                check=True,
                stdout=(self.logs / "initdb.log").open("w"),
                stderr=subprocess.STDOUT,
            )
        finally:
            pwfile.unlink()

    def _create_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(
            host=HOST, port=self.ports.postgres, user=DB_USER, password=self.secrets["db"], dbname="postgres"
        )
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
            if cur.fetchone() is None:
                cur.execute(f"CREATE DATABASE {DB_NAME}")
        conn.close()

    def _start_redis(self) -> None:
        data = self.home / "redis"
        data.mkdir(exist_ok=True)
        # Locks live for seconds: no snapshots, no append-only file.
        self._spawn(
            "redis",
            [
                "redis-server",
                "--bind",
                HOST,
                "--port",
                str(self.ports.redis),
                "--dir",
                str(data),
                "--save",
                "",
                "--appendonly",
                "no",
                "--requirepass",
                self.secrets["redis"],
            ],
        )

    def _spawn(self, name: str, args: List[str]) -> None:
        self._add(name, start(args, self._log(name), self.env()))

    def _log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def _add(self, name: str, process: subprocess.Popen) -> None:
        """Each runs in its own process group (tools.servers): stopped as a whole, never by Ctrl-C twice."""
        self.processes[name] = process
        self._write_pids()

    def _write_pids(self) -> None:
        pids = {n: p.pid for n, p in self.processes.items()}
        (self.home / "pids.json").write_text(json.dumps({"pids": pids, "ports": asdict(self.ports)}))

    # --- health ----------------------------------------------------------
    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Every process up and HAProxy seeing every server UP."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            status = self.lb_status()
            if status and all(s == "UP" for s in status.values()) and len(status) == 4:
                return
            time.sleep(1)
        raise TimeoutError(f"cluster not healthy after {timeout:.0f} s: {self.lb_status()}; logs in {self.logs}")

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None and name not in self.stopped:
                log = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{log}")

    def lb_status(self) -> Dict[str, str]:
        """backend/server -> UP, DOWN, ... from HAProxy's stats CSV."""
        return {
            f"{r['# pxname']}/{r['svname']}": r["status"].split()[0]
            for r in self.lb_stats()
            if r["svname"] not in ("FRONTEND", "BACKEND")
        }

    def lb_stats(self) -> List[Dict[str, str]]:
        import requests

        try:
            text = requests.get(f"http://{HOST}:{self.ports.stats}/;csv", timeout=2).text
        except requests.RequestException:
            return []
        return list(csv.DictReader(io.StringIO(text)))

    # --- faults and stop -------------------------------------------------
    def kill(self, name: str, sig: signal.Signals) -> None:
        """SIGKILL a Rasa replica, or SIGTERM an action server (a clean stop)."""
        self.stopped.add(name)
        os.killpg(self.processes[name].pid, sig)

    def stop(self) -> None:
        """Reverse order: the doors first, the stores last (PostgreSQL, with pg_ctl)."""
        for name in reversed(list(self.processes)):
            stop(self.processes[name])
        self.processes = {}
        self._stop_postgres()
        (self.home / "pids.json").unlink(missing_ok=True)

    def _stop_postgres(self) -> None:
        bin_dir = postgres_bin()
        if bin_dir and (self.pgdata / "postmaster.pid").exists():
            subprocess.run(
                as_postgres([str(bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"]),
                stdout=subprocess.DEVNULL,
            )

    def query(self, sql: str, args: tuple = ()) -> List[tuple]:
        """Read the tracker store (the fault test counts stored turns here)."""
        import psycopg2

        conn = psycopg2.connect(
            host=HOST, port=self.ports.postgres, user=DB_USER, password=self.secrets["db"], dbname=DB_NAME
        )
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        finally:
            conn.close()


def stop_leftovers(home: Path) -> bool:
    """`make cluster-stop`: whatever a killed `make cluster` left behind, from its pids.json."""
    path = home / "pids.json"
    if not path.exists():
        return False
    recorded = json.loads(path.read_text())
    cluster = Cluster(home, Ports(**recorded["ports"]))
    for pid in reversed(list(recorded["pids"].values())):
        try:
            os.killpg(pid, signal.SIGTERM)  # each was started as its own process group
        except ProcessLookupError:
            pass
    time.sleep(3)  # let the Rasa replicas close their database connections
    cluster._stop_postgres()
    path.unlink()
    return True


def main(argv: List[str]) -> int:
    home = Path(os.environ.get("CLUSTER_HOME", ROOT / ".cluster" / "run"))
    if argv[:1] == ["stop"]:
        print("stopped" if stop_leftovers(home) else f"nothing recorded in {home / 'pids.json'}")
        return 0
    cluster = Cluster(home)
    # Ctrl-C or a TERM from outside: stop everything in reverse order.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        print("Starting PostgreSQL, Redis, 2 action servers, HAProxy and 2 Rasa replicas ...", flush=True)
        cluster.start()
        print(cluster.describe(), "\nAll up. Ctrl-C stops the cluster.", flush=True)
        while True:
            time.sleep(2)
            cluster._check_alive()
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopping the cluster ...", flush=True)
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
