"""The benchmark's REST client against a real assistant (its arithmetic: tests/unit/test_bench.py)."""

import asyncio

from tools import bench
from tools.paths import HOLDOUT
from tools.servers import Assistant


def test_the_client_drives_whole_conversations_against_the_assistant(tmp_path, trained_model):
    assistant = Assistant(tmp_path, trained_model)
    try:
        convs = bench.conversations(bench.nlu_messages(HOLDOUT), 4, 3, seed=0)
        result = asyncio.run(bench.drive(assistant.webhook, convs, 2, "test"))
    finally:
        assistant.close()
    summary = result.summary()
    assert summary["requests"] == 12 and summary["errors"] == 0 and summary["empty_replies"] == 0
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    assert summary["throughput_msg_s"] > 0
