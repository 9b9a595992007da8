"""The benchmark's own arithmetic, its report and plot (its REST client: tests/system/test_bench.py)."""

import json
import os

import pytest

from tools import bench
from tools.paths import HOLDOUT, ROOT


def test_percentile_is_nearest_rank():
    values = list(range(100, 0, -1))  # 1..100, unsorted on purpose
    assert [bench.percentile(values, q) for q in (50, 95, 99, 100)] == [50, 95, 99, 100]
    assert bench.percentile([7.0], 99) == 7.0
    assert bench.percentile([1, 2, 3], 50) == 2
    with pytest.raises(ValueError):
        bench.percentile([], 50)


def test_conversations_are_repeatable_and_vary_by_seed():
    messages = [f"m{i}" for i in range(30)]
    first = bench.conversations(messages, 5, 4, seed=1)
    assert first == bench.conversations(messages, 5, 4, seed=1)
    assert first != bench.conversations(messages, 5, 4, seed=2)
    assert len(first) == 5 and all(len(c) == 4 and len(set(c)) == 4 for c in first)


def test_nlu_messages_drop_entity_markup(tmp_path):
    nlu = tmp_path / "nlu.yml"
    nlu.write_text(
        'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - mixing [klonopin](drug) and '
        '[beer]{"entity": "substance", "value": "alcohol"}\n    - plain one\n'
        "- synonym: alcohol\n  examples: |\n    - booze\n"
    )
    assert bench.nlu_messages(nlu) == ["mixing klonopin and beer", "plain one"]
    assert len(bench.nlu_messages(HOLDOUT)) > 300


def test_peak_rss_reads_the_kernel_high_water_mark():
    ballast = bytearray(64 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page so it is resident
    assert bench.peak_rss_mb(os.getpid()) >= 64


def _figures(p50: float, throughput: float, rss: float) -> dict:
    load = {
        level: {
            "p50_ms": p50,
            "p95_ms": p50 * 2,
            "p99_ms": p50 * 3,
            "throughput_msg_s": throughput,
            "requests": 80,
            "errors": 0,
            "empty_replies": 1,
        }
        for level in ("c1", "c10")
    }
    return {
        "train_s": 60.0,
        "model_mb": 10.0,
        "first_answer_s": 12.0,
        "rasa_peak_rss_mb": rss,
        "action_peak_rss_mb": 100.0,
        "load": load,
    }


def test_ratios_and_targets():
    stock = _figures(p50=30.0, throughput=40.0, rss=1100.0)
    fast = _figures(p50=15.0, throughput=90.0, rss=600.0)
    ratio = bench.ratios(fast, stock)
    assert ratio["p50_ms_c1"] == 0.5 and ratio["throughput_msg_s_c10"] == 2.25
    assert all(check["met"] for check in bench.check_targets(fast, ratio).values())

    slow = _figures(p50=20.0, throughput=70.0, rss=800.0)
    failed = {k for k, check in bench.check_targets(slow, bench.ratios(slow, stock)).items() if not check["met"]}
    assert failed == {"p50_ratio_c1", "throughput_ratio_c10", "rasa_peak_rss_mb"}


def test_report_and_plot_are_written(tmp_path):
    ours, stock = _figures(15.0, 90.0, 600.0), _figures(30.0, 40.0, 1100.0)
    ratio = bench.ratios(ours, stock)
    results = {
        "date": "2026-11-21",
        "machine": "2 cores",
        "commit": "abc",
        "rasa": "3.6.21",
        "turns": 8,
        "rounds": 3,
        "ours": ours,
        "stock": stock,
        "ratios": ratio,
        "targets": bench.check_targets(ours, ratio),
    }
    text = bench.markdown(results)
    assert "| p50 latency, 1 at once (ms) | 15.0 | 30.0 | 0.5 |" in text
    assert "| throughput, 10 at once (msg/s) | 90.0 | 40.0 | 2.25 |" in text
    assert "| messages, 1 at once: sent / errors / replies without text | 80 / 0 / 1 | 80 / 0 / 1 | |" in text
    bench.plot(results, tmp_path / "bench.png")
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rounds_pool_latencies_and_wall_time():
    first, second = bench.LoadResult(10, [10.0, 20.0], 1.0, 0, 1), bench.LoadResult(10, [30.0], 0.5, 1, 0)
    pooled = first.extend(second).summary()
    assert pooled["requests"] == 3 and pooled["errors"] == 1 and pooled["empty_replies"] == 1
    assert pooled["p50_ms"] == 20.0 and pooled["throughput_msg_s"] == 2.0


def test_docs_bench_md_is_the_template_filled_from_the_stored_results():
    """What `python -m tools.bench --report-only` writes: docs/bench.md was not edited by hand."""
    results = json.loads((ROOT / "docs" / "bench" / "results.json").read_text())
    assert bench.markdown(results) == (ROOT / "docs" / "bench.md").read_text()
