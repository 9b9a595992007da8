"""The fault test (`make cluster-test`): load through HAProxy while one Rasa replica
is SIGKILLed and one action server stopped, then an audit of what PostgreSQL stored.

    .venv/bin/python -m cluster.fault_test                    # 20 senders x 15 messages -> docs/cluster.json
    .venv/bin/python -m cluster.fault_test --senders 6 --messages 6 --out /tmp/c.json

It starts its own cluster (fresh data directory under .cluster/fault-test, free
ports), so it never touches a running `make cluster`. Every message carries a
reference "(ref RUN-SENDER-NN)"; stored turns are matched by it, not by sender
id, so the audit still holds if the channel renames conversations.

Exit status 1 on any lost, duplicated or reordered stored turn, a conversation
split over two ids, any request left without an answer, or any action call that
failed (Rasa then answers without the action's messages). The reference in the
text can change which answer NLU picks; the test judges delivery, not content.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import requests

from cluster.run import ENDPOINTS, ROOT, Cluster, Ports, stop_leftovers

# Everyday questions that run the action server (sourced answers), one after another.
QUESTIONS = [
    "what is klonopin",
    "what are the side effects",
    "can i drink on klonopin",
    "how long does it stay in your system",
    "is klonopin addictive",
    "what does withdrawal feel like",
    "how do i quit safely",
    "what does the pill look like",
    "what is it prescribed for",
    "how fast does it work",
    "what is the half life",
    "is it like xanax",
    "where is that from?",
    "what are the street names",
    "can it affect memory",
]
REF = re.compile(r"\(ref ([0-9a-f]{6})-([a-z0-9]+)-(\d+)\)")
# Longest wait for turns still finishing after the load: the reply timeout (8 s), a dead ticket's
# lifetime (10 s) and the turn itself.
SETTLE_SECONDS = 30
RETRYABLE = {502, 503, 504}  # HAProxy's own answers when no server gave one


@dataclass
class Result:
    sender: str
    index: int
    token: str
    target: str  # "lb" or "direct"
    start: float
    end: float = 0.0
    status: Optional[int] = None  # None: no HTTP answer at all
    texts: int = 0
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.status == 200 and self.texts > 0

    @property
    def retryable(self) -> bool:
        """A failure the load balancer itself could have retried on the other server."""
        return not self.answered and (self.status is None or self.status in RETRYABLE)

    @property
    def latency_ms(self) -> float:
        return (self.end - self.start) * 1000


@dataclass
class Load:
    """One run's requests, and a counter the fault schedule watches."""

    run: str
    results: List[Result] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, session: requests.Session, url: str, target: str, sender: str, index: int) -> Result:
        token = f"{self.run}-{sender}-{index:02d}"
        text = f"{QUESTIONS[index % len(QUESTIONS)]} (ref {token})"
        result = Result(sender, index, token, target, time.monotonic())
        try:
            response = session.post(url, json={"sender": f"ft-{self.run}-{sender}", "message": text}, timeout=90)
            result.status = response.status_code
            if response.ok:
                result.texts = sum(1 for m in response.json() if m.get("text"))
        except (requests.RequestException, ValueError) as e:
            result.error = f"{type(e).__name__}: {str(e)[:160]}"
        result.end = time.monotonic()
        with self.lock:
            self.results.append(result)
        return result

    def done(self, target: str = "lb") -> int:
        with self.lock:
            return sum(1 for r in self.results if r.target == target)


def conversation(load: Load, url: str, target: str, sender: str, messages: int) -> None:
    """One person: each message waits for the answer to the one before."""
    with requests.Session() as session:
        for i in range(messages):
            load.send(session, url, target, sender, i)


def burst(load: Load, url: str, sender: str, first: int, count: int) -> None:
    """One person sending `count` messages at once (double taps, a flaky phone)."""
    with ThreadPoolExecutor(count) as pool:
        for i in range(first, first + count):
            pool.submit(load.send, requests.Session(), url, "lb", sender, i)


def percentiles(values: List[float]) -> Dict[str, float]:
    if not values:
        return {"n": 0}
    qs = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {"n": len(values), "p50_ms": round(qs[49], 1), "p95_ms": round(qs[94], 1), "max_ms": round(max(values), 1)}


def calm_latency(cluster: Cluster, load: Load, senders: int, messages: int, rounds: int = 2) -> Dict:
    """The same small load straight at replica 1 and through HAProxy, alternating."""
    spans: Dict[str, float] = defaultdict(float)
    for r in range(rounds):
        for target, url in (("direct", cluster.replica_webhook(0)), ("lb", cluster.webhook)):
            started = time.monotonic()
            with ThreadPoolExecutor(senders) as pool:
                for s in range(senders):
                    pool.submit(conversation, load, url, target, f"calm{target}{r}x{s}", messages)
            spans[target] += time.monotonic() - started
    out = {}
    for target in ("direct", "lb"):
        done = [x for x in load.results if x.target == target]
        out[target] = {
            **percentiles([x.latency_ms for x in done if x.answered]),
            "msg_per_s": round(len(done) / spans[target], 1),
        }
    return out


def faulted_load(cluster: Cluster, load: Load, senders: int, messages: int, parallel: int) -> List[Dict]:
    """Many people at once through HAProxy; meanwhile the kills and the bursts."""
    total = senders * messages + 2 * parallel
    first = load.done("lb")
    kills: List[Dict] = []

    def at(fraction: float) -> None:
        deadline = time.monotonic() + 300  # never hang the run if requests stall
        while load.done("lb") - first < fraction * total and time.monotonic() < deadline:
            time.sleep(0.02)

    bursts: List[threading.Thread] = []

    def start_burst(first_index: int) -> None:
        bursts.append(threading.Thread(target=burst, args=(load, cluster.webhook, "par", first_index, parallel)))
        bursts[-1].start()

    def faults() -> None:
        at(0.15)
        start_burst(0)  # both replicas up: the Redis lock keeps the turns apart
        at(0.30)
        kills.append(fault(cluster, load, "rasa2", signal.SIGKILL, first, total))
        at(0.50)
        kills.append(fault(cluster, load, "actions1", signal.SIGTERM, first, total))
        at(0.60)
        start_burst(parallel)  # one replica left

    schedule = threading.Thread(target=faults)
    schedule.start()
    with ThreadPoolExecutor(senders) as pool:
        for s in range(senders):
            pool.submit(conversation, load, cluster.webhook, "lb", f"s{s:02d}", messages)
    schedule.join()
    for thread in bursts:
        thread.join()
    return kills


def fault(cluster: Cluster, load: Load, name: str, sig: signal.Signals, first: int, total: int) -> Dict:
    finished = load.done("lb") - first
    cluster.kill(name, sig)
    return {"target": name, "signal": sig.name, "after_messages": finished, "of": total}


def stored_turns(cluster: Cluster, run: str) -> Tuple[Dict[str, List[Tuple[int, str]]], int]:
    """token -> [(event id, sender_id)] for this run's user events; and turns with no bot reply."""
    rows = cluster.query("SELECT id, sender_id, type_name, data FROM events ORDER BY id")
    turns: Dict[str, List[Tuple[int, str]]] = defaultdict(list)
    last_user: Dict[str, Optional[str]] = {}  # sender_id -> token of a user turn not yet answered
    unanswered = 0
    for event_id, sender_id, type_name, data in rows:
        if type_name == "user":
            unanswered += last_user.get(sender_id) is not None
            match = REF.search(json.loads(data).get("text") or "")
            token = "-".join(match.groups()) if match and match.group(1) == run else None
            if token:
                turns[token].append((event_id, sender_id))
            last_user[sender_id] = token
        elif type_name == "bot":
            last_user[sender_id] = None
    unanswered += sum(1 for t in last_user.values() if t is not None)
    return turns, unanswered


def settled_turns(cluster: Cluster, load: Load) -> Tuple[Dict[str, List[Tuple[int, str]]], int, float]:
    """stored_turns() once every answered turn is stored and has its bot reply, or after SETTLE_SECONDS.
    A request that waited longer than REPLY_TIMEOUT_SECONDS got the apology while its turn goes on in
    the background, possibly queued behind a killed replica's lock ticket (ticket_lifetime, 10 s): it
    is stored a few seconds after the load ends, and is lost only if it never is."""
    answered = {r.token for r in load.results if r.answered}
    started = time.monotonic()
    while True:
        time.sleep(1)
        turns, unreplied = stored_turns(cluster, load.run)
        waited = time.monotonic() - started
        if (answered <= set(turns) and not unreplied) or waited > SETTLE_SECONDS:
            return turns, unreplied, waited


def audit(load: Load, turns: Dict[str, List[Tuple[int, str]]]) -> Dict:
    """Compare what was sent and answered with what PostgreSQL holds."""
    sent = {r.token: r for r in load.results}
    by_sender: Dict[str, List[Tuple[int, int]]] = defaultdict(list)  # sender -> [(event id, index)]
    ids_by_sender: Dict[str, set] = defaultdict(set)
    for token, stored in turns.items():
        _, sender, index = token.split("-")
        by_sender[sender].extend((event_id, int(index)) for event_id, _ in stored)
        ids_by_sender[sender].update(sender_id for _, sender_id in stored)
    reordered = 0
    for sender, pairs in by_sender.items():
        if sender == "par":
            continue  # sent at once: any order is right
        order = list(dict.fromkeys(index for _, index in sorted(pairs)))  # a duplicate counts once, above
        reordered += sum(1 for a, b in zip(order, order[1:]) if b < a)
    answered = {t for t, r in sent.items() if r.answered}
    return {
        "stored_user_turns": sum(len(v) for v in turns.values()),
        "lost": len(answered - set(turns)),
        "duplicated": sum(len(v) - 1 for v in turns.values() if len(v) > 1),
        "reordered": reordered,
        "split_conversations": sum(1 for ids in ids_by_sender.values() if len(ids) > 1),
        "unanswered_but_stored": len((set(sent) - answered) & set(turns)),
        "unanswered_not_stored": len(set(sent) - answered - set(turns)),
        "stored_but_never_sent": len(set(turns) - set(sent)),
    }


def haproxy_counters(cluster: Cluster) -> Dict[str, Dict[str, str]]:
    """Retries and redispatches HAProxy made, and each server's state at the end."""
    keep = ("status", "wretr", "wredis", "eresp", "econ", "hrsp_5xx", "stot")
    return {
        f"{r['# pxname']}/{r['svname']}": {k: r.get(k, "") for k in keep}
        for r in cluster.lb_stats()
        if r["# pxname"] in ("rasa", "actions")
    }


def stock_endpoints(home: Path) -> Path:
    """cluster/endpoints.yml with Rasa's own `type: redis` lock store, for comparison."""
    text = ENDPOINTS.read_text().replace("type: cluster.lock_store.RedisTicketLockStore", "type: redis")
    path = home / "endpoints-stock-lock.yml"
    path.write_text("\n".join(line for line in text.splitlines() if "ticket_lifetime" not in line) + "\n")
    return path


def run(
    senders: int = 20,
    messages: int = 15,
    parallel: int = 8,
    calm_senders: int = 4,
    calm_messages: int = 8,
    home: Optional[Path] = None,
    out: Optional[Path] = None,
    stock_lock_store: bool = False,
) -> Dict:
    home = home or ROOT / ".cluster" / "fault-test"
    stop_leftovers(home)
    shutil.rmtree(home, ignore_errors=True)  # a fresh database: only this run's turns
    home.mkdir(parents=True)
    endpoints = stock_endpoints(home) if stock_lock_store else ENDPOINTS
    cluster = Cluster(home, Ports.free(), endpoints=endpoints)
    load = Load(secrets.token_hex(3))
    started = time.monotonic()
    try:
        cluster.start()
        startup = time.monotonic() - started
        calm = calm_latency(cluster, load, calm_senders, calm_messages)
        load_start = time.monotonic()
        kills = faulted_load(cluster, load, senders, messages, parallel)
        load_seconds = time.monotonic() - load_start
        turns, unreplied, settle_seconds = settled_turns(cluster, load)
        lb_counters = haproxy_counters(cluster)
    finally:
        cluster.stop()
    logs = [log.read_text(errors="replace") for log in cluster.logs.glob("rasa*.log")]
    replays = sum(log.count("was already answered; sent the stored answer") for log in logs)
    failed_actions = sum(log.count("Encountered an exception while running action") for log in logs)
    summary = summarise(
        load,
        cluster,
        calm,
        kills,
        turns,
        unreplied,
        replays,
        failed_actions,
        lb_counters,
        {
            "senders": senders,
            "messages_each": messages,
            "parallel_bursts": [parallel, parallel],
            "lock_store": ("rasa RedisLockStore" if stock_lock_store else "cluster.lock_store.RedisTicketLockStore"),
        },
        {
            "startup_s": round(startup, 1),
            "faulted_load_s": round(load_seconds, 1),
            "settle_s": round(settle_seconds, 1),
            "total_s": round(time.monotonic() - started, 1),
        },
    )
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def summarise(
    load: Load,
    cluster: Cluster,
    calm: Dict,
    kills: List[Dict],
    turns: Dict,
    unreplied: int,
    replays: int,
    failed_actions: int,
    lb_counters: Dict,
    shape: Dict,
    times: Dict,
) -> Dict:
    faulted = [r for r in load.results if r.target == "lb" and not r.sender.startswith("calm")]
    unanswered = [r for r in load.results if not r.answered]
    checks = audit(load, turns)
    checks["stored_turns_without_bot_reply"] = unreplied
    checks["failed_action_calls"] = failed_actions  # Rasa's log: the turn lost its action's messages
    checks["retried_turns_not_stored_twice"] = replays  # channels/rest.py's log lines
    failures = [
        k for k in ("lost", "duplicated", "reordered", "split_conversations", "failed_action_calls") if checks[k]
    ]
    if unanswered:
        failures.append("unanswered")
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, shared",
        "shape": shape,
        "replicas": {"rasa": len(cluster.ports.rasa), "action_servers": len(cluster.ports.actions)},
        "kills": kills,
        "messages_sent": len(load.results),
        "answered": len(load.results) - len(unanswered),
        "unanswered": len(unanswered),
        "unanswered_retryable": sum(1 for r in unanswered if r.retryable),
        "unanswered_by_cause": dict(
            Counter(
                str(r.status or r.error.split(":")[0]) if r.status != 200 else "200 without text" for r in unanswered
            )
        ),
        "unanswered_requests": [
            {
                "ref": r.token,
                "status": r.status,
                "error": r.error,
                "ms": round(r.latency_ms),
                "stored": r.token in turns,
            }
            for r in unanswered
        ],
        "duplicated_refs": {t: [event_id for event_id, _ in v] for t, v in turns.items() if len(v) > 1},
        **checks,
        "latency": {
            "faulted_load_through_lb": percentiles([r.latency_ms for r in faulted if r.answered]),
            "calm_direct_one_replica": calm["direct"],
            "calm_through_lb": calm["lb"],
        },
        "haproxy": lb_counters,
        "times": times,
        "failures": failures,
        "passed": not failures,
    }


def print_summary(s: Dict) -> None:
    lat = s["latency"]
    faulted, direct, via_lb = lat["faulted_load_through_lb"], lat["calm_direct_one_replica"], lat["calm_through_lb"]
    lb_rasa, lb_actions = s["haproxy"].get("rasa/BACKEND", {}), s["haproxy"].get("actions/BACKEND", {})
    times = s["times"]
    rows = [
        ("messages sent", s["messages_sent"]),
        ("answered", s["answered"]),
        (
            "unanswered (retryable by the LB)",
            f"{s['unanswered']} ({s['unanswered_retryable']}) {s['unanswered_by_cause'] or ''}",
        ),
        (
            "replicas",
            f"{s['replicas']['rasa']} Rasa, {s['replicas']['action_servers']} action servers; "
            f"lock store {s['shape']['lock_store']}",
        ),
        (
            "kills",
            "; ".join(
                f"{k['target']} {k['signal']} after {k['after_messages']} of {k['of']} messages" for k in s["kills"]
            ),
        ),
        ("stored user turns", s["stored_user_turns"]),
        ("lost", s["lost"]),
        ("duplicated", s["duplicated"]),
        ("reordered", s["reordered"]),
        ("split conversations", s["split_conversations"]),
        ("unanswered but stored", s["unanswered_but_stored"]),
        ("stored turns without a bot reply", s["stored_turns_without_bot_reply"]),
        ("failed action calls (Rasa's log)", s["failed_action_calls"]),
        ("p50 / p95 under faults, through LB (ms)", f"{faulted.get('p50_ms')} / {faulted.get('p95_ms')}"),
        (
            "calm p50 / p95, one replica direct (ms)",
            f"{direct.get('p50_ms')} / {direct.get('p95_ms')}, {direct['msg_per_s']} msg/s",
        ),
        (
            "calm p50 / p95, through LB (ms)",
            f"{via_lb.get('p50_ms')} / {via_lb.get('p95_ms')}, {via_lb['msg_per_s']} msg/s",
        ),
        ("retried turns recognised, not stored twice", s["retried_turns_not_stored_twice"]),
        ("HAProxy retries / redispatches (rasa)", f"{lb_rasa.get('wretr')} / {lb_rasa.get('wredis')}"),
        ("HAProxy retries / redispatches (actions)", f"{lb_actions.get('wretr')} / {lb_actions.get('wredis')}"),
        (
            "time: start-up / faulted load / total (s)",
            f"{times['startup_s']} / {times['faulted_load_s']} / {times['total_s']}",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print("PASSED" if s["passed"] else f"FAILED: {', '.join(s['failures'])}")


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--messages", type=int, default=15)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "cluster.json")
    parser.add_argument(
        "--stock-lock-store",
        action="store_true",
        help="Rasa's own `type: redis` lock store instead of cluster/lock_store.py",
    )
    args = parser.parse_args(argv)
    summary = run(args.senders, args.messages, args.parallel, out=args.out, stock_lock_store=args.stock_lock_store)
    print_summary(summary)
    print(f"(saved to {args.out})")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
