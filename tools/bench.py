"""`make bench`: the assistant and the stock `rasa init` bot, measured side by side.

Both bots are trained from scratch (fresh Rasa cache), served by the same Rasa
install on loopback, and driven over REST by the same client: whole
conversations, one at a time and ten at once. Results go to docs/bench.md,
docs/bench/results.json and docs/bench/bench.png.

    .venv/bin/python -m tools.bench                # everything (make bench, about 10 min)
    .venv/bin/python -m tools.bench --report-only  # rebuild docs/bench.md from docs/bench/results.json
"""

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import aiohttp
import yaml

# Both bots run through tools.rasa_cli (RASA), as make runs the assistant (it keeps jax out).
from tools.paths import HOLDOUT, RASA, ROOT
from tools.servers import (
    START_TIMEOUT,
    environment,
    free_port,
    start_actions,
    start_rasa,
    stop,
    tracker_store,
    wait_until,
)
from tools.templates import render

REQUEST_TIMEOUT = 60
CONCURRENCY = (1, 10)

# Targets from the issue: ours relative to stock, or absolute.
TARGETS = {
    "p50_ratio_c1": ("p50 latency, 1 conversation (ours / stock)", "<=", 0.6),
    "throughput_ratio_c10": ("throughput, 10 conversations (ours / stock)", ">=", 2.0),
    "first_answer_s": ("start to first answer (s)", "<=", 15.0),
    "rasa_peak_rss_mb": ("Rasa server peak RSS (MB)", "<=", 700.0),
    "train_s": ("full training (s)", "<=", 180.0),
}


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: an observed latency, never an interpolated one."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def peak_rss_mb(pid: int) -> float:
    """VmHWM is the kernel's own high-water mark of a process's resident memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def nlu_messages(path: Path) -> List[str]:
    """Plain example texts of a Rasa NLU file, read by Rasa's own loader (no entity markup)."""
    from rasa.shared.nlu.training_data.loading import load_data

    return [example.get("text") for example in load_data(str(path)).intent_examples]


def conversations(messages: Sequence[str], count: int, turns: int, seed: int) -> List[List[str]]:
    """The same deterministic conversations on every run, so runs compare."""
    rng = random.Random(seed)
    return [rng.sample(list(messages), turns) for _ in range(count)]


@dataclass
class LoadResult:
    concurrency: int
    latencies_ms: List[float] = field(default_factory=list)
    wall_s: float = 0.0
    errors: int = 0  # not HTTP 200
    empty: int = 0  # HTTP 200 without any text (e.g. the stock bot's unmatched messages)

    def extend(self, other: "LoadResult") -> "LoadResult":
        self.latencies_ms += other.latencies_ms
        self.wall_s += other.wall_s
        self.errors += other.errors
        self.empty += other.empty
        return self

    def summary(self) -> Dict[str, float]:
        return {
            "requests": len(self.latencies_ms),
            "errors": self.errors,
            "empty_replies": self.empty,
            "p50_ms": round(percentile(self.latencies_ms, 50), 1),
            "p95_ms": round(percentile(self.latencies_ms, 95), 1),
            "p99_ms": round(percentile(self.latencies_ms, 99), 1),
            "mean_ms": round(statistics.mean(self.latencies_ms), 1),
            "throughput_msg_s": round(len(self.latencies_ms) / self.wall_s, 1),
        }


async def drive(url: str, convs: List[List[str]], concurrency: int, label: str, quiet: bool = False) -> LoadResult:
    """Each worker holds one conversation at a time; errors and textless replies are counted."""
    result = LoadResult(concurrency)
    queue: asyncio.Queue = asyncio.Queue()
    for i, conv in enumerate(convs):
        queue.put_nowait((f"bench-{label}-{concurrency}-{i}", conv))
    total = sum(len(c) for c in convs)
    step = max(1, total // 10)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            sender, conv = queue.get_nowait()
            for message in conv:
                started = time.perf_counter()
                async with session.post(url, json={"sender": sender, "message": message}) as response:
                    body = await response.json() if response.status == 200 else None
                elapsed = (time.perf_counter() - started) * 1000
                if body is None:
                    result.errors += 1
                elif not any(m.get("text") for m in body):
                    result.empty += 1
                result.latencies_ms.append(elapsed)
                if not quiet and len(result.latencies_ms) % step == 0:
                    progress(f"{label}: {concurrency} at once, {len(result.latencies_ms)}/{total} messages")

    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        result.wall_s = time.perf_counter() - started
    return result


def wait_for_answer(url: str, process: subprocess.Popen, log: Path, message: str, started: float) -> float:
    """Seconds from `started` until the server gives a REST answer with text."""
    import requests

    def answered() -> bool:
        reply = requests.post(url, json={"sender": "bench-start", "message": message}, timeout=5)
        return reply.ok and any(m.get("text") for m in reply.json())

    wait_until(answered, url, process, log, START_TIMEOUT - (time.monotonic() - started), poll=0.1)
    return time.monotonic() - started


@dataclass
class Bot:
    """What differs between the two bots; everything else is measured the same way."""

    name: str
    project: Path
    messages: List[str]
    endpoints: Path
    actions: bool = False
    train_args: List[str] = field(default_factory=list)
    run_args: List[str] = field(default_factory=list)


def stock_bot(work: Path) -> Bot:
    """The files `rasa init` copies, from the same Rasa install; its own NLU examples drive it."""
    import rasa.cli

    project = work / "stock"
    shutil.copytree(
        Path(rasa.cli.__file__).parent / "initial_project", project, ignore=shutil.ignore_patterns("__pycache__")
    )
    return Bot("stock", project, nlu_messages(project / "data" / "nlu.yml"), endpoints=project / "endpoints.yml")


def our_bot(work: Path) -> Bot:
    """The assistant as `make run` serves it; held-out questions it never trained on drive it."""
    endpoints = work / "endpoints.yml"
    endpoints.write_text(yaml.safe_dump({"tracker_store": tracker_store(work / "trackers.db")}))
    return Bot(
        "ours",
        ROOT,
        nlu_messages(HOLDOUT),
        endpoints=endpoints,
        actions=True,
        train_args=["--config", "config.yml", "--domain", "domain.yml", "--data", "data"],
        run_args=["--credentials", "credentials.yml"],
    )


def cache_env(cache: Path) -> Dict[str, str]:
    """Each bot's own Rasa cache (fresh, so a training reuses nothing)."""
    return {"RASA_CACHE_DIRECTORY": str(cache)}


@dataclass
class Served:
    """A running bot: its processes, REST address and start-up time."""

    processes: List[subprocess.Popen]
    url: str
    rasa_pid: int
    action_pid: Optional[int]
    first_answer_s: float


def train(bot: Bot, work: Path) -> Dict:
    """A full training from scratch: a fresh Rasa cache, so no component is reused."""
    models = work / f"models-{bot.name}"
    progress(f"{bot.name}: training from scratch")
    started = time.monotonic()
    subprocess.run(
        [*RASA, "train", *bot.train_args, "--out", str(models), "--fixed-model-name", bot.name],
        cwd=bot.project,
        env=environment(cache_env(work / f"cache-{bot.name}")),
        check=True,
        stdout=(work / f"train-{bot.name}.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    train_s = time.monotonic() - started
    model = models / f"{bot.name}.tar.gz"
    progress(f"{bot.name}: trained in {train_s:.0f}s, model {model.stat().st_size / 1e6:.1f} MB")
    return {"train_s": round(train_s, 1), "model_mb": round(model.stat().st_size / 1e6, 2), "model": model}


def serve(bot: Bot, model: Path, work: Path) -> Served:
    """Start the bot's servers together, like `make run`, and time the first answer."""
    env = cache_env(work / f"cache-{bot.name}")
    processes: List[subprocess.Popen] = []
    started = time.monotonic()
    try:
        endpoints = Path(bot.endpoints)
        action_pid = None
        if bot.actions:
            action_port = free_port()
            endpoints.write_text(
                endpoints.read_text() + f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n"
            )
            actions = start_actions(action_port, work / "actions.log", extra_env=env)
            processes.append(actions)
            action_pid = actions.pid
        port = free_port()
        url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
        log = work / f"rasa-{bot.name}.log"
        rasa = start_rasa(model, endpoints, port, log, *bot.run_args, extra_env=env, cwd=bot.project)
        processes.append(rasa)
        progress(f"{bot.name}: starting the server")
        first_answer_s = wait_for_answer(url, rasa, log, bot.messages[0], started)
        progress(f"{bot.name}: first answer {first_answer_s:.1f}s after start")
        return Served(processes, url, rasa.pid, action_pid, first_answer_s)
    except BaseException:
        for process in reversed(processes):
            stop(process)
        raise


def load_rounds(bots: Sequence[Bot], served: Dict[str, Served], args: argparse.Namespace) -> Dict[str, Dict]:
    """Load phases alternate between the bots, round after round, so a slower spell of
    this shared machine hits both alike; each bot's figures pool all its rounds."""
    pooled = {bot.name: {c: LoadResult(c) for c in CONCURRENCY} for bot in bots}
    for bot in bots:
        asyncio.run(
            drive(
                served[bot.name].url,
                conversations(bot.messages, 2, args.turns, seed=0),
                1,
                f"{bot.name}-warm-up",
                quiet=True,
            )
        )
    for round_ in range(args.rounds):
        for concurrency in CONCURRENCY:
            for bot in bots:
                convs = conversations(
                    bot.messages, args.conversations * concurrency, args.turns, seed=1000 * round_ + concurrency
                )
                label = f"round {round_ + 1}/{args.rounds}, {bot.name}"
                pooled[bot.name][concurrency].extend(
                    asyncio.run(drive(served[bot.name].url, convs, concurrency, label))
                )
    return {name: {f"c{c}": result.summary() for c, result in levels.items()} for name, levels in pooled.items()}


def ratios(ours: Dict, stock: Dict) -> Dict[str, float]:
    """Ours divided by stock; below 1 is better for time and memory, above 1 for throughput."""
    result = {}
    for key in ("train_s", "model_mb", "first_answer_s", "rasa_peak_rss_mb"):
        result[key] = round(ours[key] / stock[key], 2)
    for level in ours["load"]:
        for key in ("p50_ms", "p95_ms", "p99_ms", "throughput_msg_s"):
            result[f"{key}_{level}"] = round(ours["load"][level][key] / stock["load"][level][key], 2)
    return result


def check_targets(ours: Dict, ratio: Dict[str, float]) -> Dict[str, Dict]:
    values = {
        "p50_ratio_c1": ratio["p50_ms_c1"],
        "throughput_ratio_c10": ratio["throughput_msg_s_c10"],
        "first_answer_s": ours["first_answer_s"],
        "rasa_peak_rss_mb": ours["rasa_peak_rss_mb"],
        "train_s": ours["train_s"],
    }
    checked = {}
    for key, (label, op, limit) in TARGETS.items():
        value = values[key]
        met = value <= limit if op == "<=" else value >= limit
        checked[key] = {"label": label, "value": value, "target": f"{op} {limit:g}", "met": met}
    return checked


def markdown(results: Dict) -> str:
    """docs/bench.md: the template bench.md.j2 filled from results.json."""
    return render(Path(__file__).with_name("bench.md.j2"), r=results)


def plot(results: Dict, path: Path) -> None:
    """Latency percentiles per load level, then throughput: the two bots side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = list(results["ours"]["load"])
    fig, axes = plt.subplots(1, len(levels) + 1, figsize=(4 * (len(levels) + 1), 4))
    width, names = 0.38, {"ours": "assistant", "stock": "stock bot"}
    for offset, name in ((-width / 2, "ours"), (width / 2, "stock")):
        load = results[name]["load"]
        for ax, level in zip(axes, levels):
            ax.bar(
                [i + offset for i in range(3)],
                [load[level][k] for k in ("p50_ms", "p95_ms", "p99_ms")],
                width,
                label=names[name],
            )
        axes[-1].bar(
            [i + offset for i in range(len(levels))],
            [load[level]["throughput_msg_s"] for level in levels],
            width,
            label=names[name],
        )
    for ax, level in zip(axes, levels):
        ax.set_xticks(range(3), ["p50", "p95", "p99"])
        ax.set_title(f"latency, {level[1:]} conversation(s) at once")
        ax.set_ylabel("ms")
        ax.legend()
    axes[-1].set_xticks(range(len(levels)), [f"{level[1:]} at once" for level in levels])
    axes[-1].set_title("throughput")
    axes[-1].set_ylabel("messages per second")
    axes[-1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--conversations",
        type=int,
        default=5,
        help="conversations per concurrent conversation slot and round (default 5)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating load rounds (default 3)")
    parser.add_argument("--turns", type=int, default=8, help="messages per conversation (default 8)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--report-only", action="store_true", help="re-render OUT/bench.md from OUT/bench/results.json")
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads((args.out / "bench" / "results.json").read_text())
        (args.out / "bench.md").write_text(markdown(results))
        progress(f"wrote {args.out / 'bench.md'}")
        return 0

    import rasa

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        results = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
            "commit": git_commit(),
            "rasa": rasa.__version__,
            "turns": args.turns,
            "conversations_per_slot": args.conversations,
            "rounds": args.rounds,
        }
        bots = [our_bot(work), stock_bot(work)]
        trained = {bot.name: train(bot, work) for bot in bots}
        served: Dict[str, Served] = {}
        try:
            for bot in bots:  # one at a time, so neither start competes with the other
                served[bot.name] = serve(bot, trained[bot.name].pop("model"), work)
            load = load_rounds(bots, served, args)
            for bot in bots:
                running = served[bot.name]
                results[bot.name] = {
                    **trained[bot.name],
                    "first_answer_s": round(running.first_answer_s, 1),
                    "rasa_peak_rss_mb": round(peak_rss_mb(running.rasa_pid)),
                    "action_peak_rss_mb": round(peak_rss_mb(running.action_pid)) if running.action_pid else None,
                    "load": load[bot.name],
                }
        finally:
            for running in served.values():
                for process in reversed(running.processes):
                    stop(process)
    results["ratios"] = ratios(results["ours"], results["stock"])
    results["targets"] = check_targets(results["ours"], results["ratios"])

    (args.out / "bench").mkdir(parents=True, exist_ok=True)
    (args.out / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "bench.md").write_text(markdown(results))
    plot(results, args.out / "bench" / "bench.png")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
