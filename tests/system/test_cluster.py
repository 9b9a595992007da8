"""The cluster profile under faults: cluster/fault_test.py at a reduced size.

Starts PostgreSQL, Redis, HAProxy, two Rasa replicas and two action servers
(apt-get installs the first three when missing), sends 6 senders x 6 messages
and two bursts of 4 from one sender through HAProxy, SIGKILLs a Rasa replica
and stops an action server mid-run, then audits PostgreSQL's events table.
About a minute on two cores; the lock and tracker store tests below take
seconds. Run alone: pytest -m cluster
"""

import asyncio
import json
import subprocess
import time

import pytest

from cluster import fault_test
from tests.conftest import ROOT

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def summary(trained_model, tmp_path_factory):
    # The data directory stays under the project: PostgreSQL runs as its own
    # user, which cannot enter pytest's private temporary directories.
    out = tmp_path_factory.mktemp("cluster") / "cluster.json"
    return fault_test.run(
        senders=6, messages=6, parallel=4, calm_senders=2, calm_messages=4, home=ROOT / ".cluster" / "pytest", out=out
    )


def test_the_faults_happened_mid_run(summary):
    assert [k["target"] for k in summary["kills"]] == ["rasa2", "actions1"]
    assert all(k["after_messages"] < k["of"] for k in summary["kills"]), summary["kills"]


def test_every_request_is_answered_through_the_load_balancer(summary):
    assert summary["unanswered"] == 0, json.dumps(summary["unanswered_requests"], indent=1)
    assert summary["answered"] == summary["messages_sent"]


def test_no_stored_turn_is_lost_duplicated_or_reordered(summary):
    audit = {
        k: summary[k]
        for k in (
            "lost",
            "duplicated",
            "reordered",
            "split_conversations",
            "stored_turns_without_bot_reply",
            "failed_action_calls",
        )
    }
    assert audit == dict.fromkeys(audit, 0), (audit, summary["duplicated_refs"])
    assert summary["stored_user_turns"] == summary["messages_sent"]


# --- the two stores on their own: seconds, no Rasa server -------------------


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory):
    from cluster.run import ensure_packages
    from tools.servers import free_port, stop

    ensure_packages()
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--dir",
            str(tmp_path_factory.mktemp("redis")),
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    import redis

    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield port
    stop(server)


def lock_store(port: int, prefix: str):
    from rasa.utils.endpoints import EndpointConfig

    from cluster.lock_store import RedisTicketLockStore

    return RedisTicketLockStore(EndpointConfig(url="127.0.0.1", port=port, db=3, key_prefix=prefix, ticket_lifetime=1))


async def hold(store, log, name, seconds=0.0, delay=0.0):
    await asyncio.sleep(delay)
    async with store.lock("conversation"):
        log.append(("in", name))
        await asyncio.sleep(seconds)
        log.append(("out", name))


def test_a_dead_replicas_ticket_is_dropped_after_its_lifetime(redis_port):
    store = lock_store(redis_port, "dead")
    store._issue(store._keys("conversation"))  # a ticket nobody keeps alive: a killed replica
    started, log = time.monotonic(), []
    asyncio.run(asyncio.wait_for(hold(store, log, "next"), 10))
    assert log == [("in", "next"), ("out", "next")]
    assert 0.9 < time.monotonic() - started < 3


def test_two_replicas_never_hold_one_conversation_at_once(redis_port):
    a, b = lock_store(redis_port, "two"), lock_store(redis_port, "two")
    log = []

    async def many():
        await asyncio.gather(*(hold(a if i % 2 else b, log, i, 0.005) for i in range(30)))

    asyncio.run(asyncio.wait_for(many(), 30))
    assert [kind for kind, _ in log] == ["in", "out"] * 30  # strictly one after another


def test_a_turn_longer_than_the_lifetime_is_not_overtaken(redis_port):
    a, b = lock_store(redis_port, "long"), lock_store(redis_port, "long")
    log = []

    async def both():
        await asyncio.gather(hold(a, log, "long", 2.5), hold(b, log, "next", 0, delay=0.2))

    asyncio.run(asyncio.wait_for(both(), 15))
    assert log == [("in", "long"), ("out", "long"), ("in", "next"), ("out", "next")]


def test_the_audit_catches_what_it_is_meant_to_catch():
    """Fabricated runs: a lost, a duplicated and a reordered turn are each counted."""
    load = fault_test.Load("abc123")
    for sender, index, texts in [
        ("s00", 0, 3),
        ("s00", 1, 3),
        ("s00", 2, 3),
        ("s01", 0, 3),
        ("s01", 1, 3),
        ("s02", 0, 3),
        ("s02", 1, 3),
    ]:
        load.results.append(fault_test.Result(sender, index, f"abc123-{sender}-{index:02d}", "lb", 0, 1, 200, texts))
    turns = {
        "abc123-s00-00": [(1, "a")],
        "abc123-s00-01": [(5, "a")],
        "abc123-s00-02": [(3, "a")],  # 2 before 1
        "abc123-s01-00": [(2, "b"), (9, "b")],
        "abc123-s01-01": [(10, "b")],  # s01-00 stored twice
        "abc123-s02-00": [(4, "c")],
    }  # s02-01 answered, never stored
    audit = fault_test.audit(load, turns)
    assert (audit["lost"], audit["duplicated"], audit["reordered"]) == (1, 1, 1)
