"""Checks of the benchmark harness's bookkeeping (never of times). Not part of the main suite;
run with ``python -m pytest bench/test_harness.py``.
"""

from __future__ import annotations

import json
import sys

import pytest
from harness import (
    Contender,
    environment,
    markdown_table,
    measure,
    peak_rss_mib,
    wait_for_quiet_host,
    write_results,
)


def _counting(calls: dict[str, int], name: str) -> Contender:
    def setup():
        calls[name] = 0

        def step():
            calls[name] += 1

        return step

    return Contender(name, setup)


def test_measure_rotates_and_counts():
    calls: dict[str, int] = {}
    contenders = [_counting(calls, name) for name in ("a", "b", "c")]
    results = measure(contenders, blocks=4, iters_per_block=5, warmup=2, pause=0, baseline="b")
    assert results["rounds"] == [
        ["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]
    ]
    assert calls == {"a": 2 + 4 * 5, "b": 2 + 4 * 5, "c": 2 + 4 * 5}
    stats = results["contenders"]["a"]
    assert len(stats["block_seconds_per_iter"]) == 4
    assert stats["min_s"] <= stats["median_s"] <= stats["max_s"]
    assert results["contenders"]["b"]["ratio_to_baseline"] == 1.0
    assert len(stats["round_ratios"]) == 4


def test_measure_calibrates_iterations():
    results = measure(
        [Contender("noop", lambda: (lambda: None), ops_per_step=10)],
        blocks=1, pause=0, target_block_seconds=0.01,
    )
    stats = results["contenders"]["noop"]
    assert stats["iters_per_block"] > 1
    assert stats["median_s_per_op"] == pytest.approx(stats["median_s"] / 10)


def test_measure_rejects_bad_input():
    noop = Contender("x", lambda: (lambda: None))
    with pytest.raises(ValueError):
        measure([noop, noop], pause=0)
    with pytest.raises(ValueError):
        measure([noop], baseline="missing", pause=0)


def test_markdown_table_any_baseline():
    calls: dict[str, int] = {}
    results = measure(
        [_counting(calls, "a"), _counting(calls, "b")], blocks=2, iters_per_block=3, pause=0
    )
    table = markdown_table(results, baseline="b", names=["b", "a"])
    lines = table.splitlines()
    assert "× b" in lines[0]
    assert lines[2].startswith("| b |") and "1.000 (1.000–1.000)" in lines[2]
    assert lines[3].startswith("| a |")


def test_write_results_is_complete_json(tmp_path):
    env = environment()
    assert set(env["env_vars"]) >= {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "GLIBC_TUNABLES"}
    path = write_results("unit", {"contenders": {}}, env, out_dir=tmp_path)
    assert path == tmp_path / "unit.json"
    assert json.loads(path.read_text())["environment"]["python"] == env["python"]
    assert [p.name for p in tmp_path.iterdir()] == ["unit.json"]
    with pytest.raises(ValueError):
        write_results("../escape", {}, env, out_dir=tmp_path)


def test_peak_rss_is_the_child_not_this_process():
    ballast = bytearray(300 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])  # touch every page
    small = peak_rss_mib([sys.executable, "-c", "pass"])
    big = peak_rss_mib(
        [sys.executable, "-c", "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])"]
    )
    del ballast
    assert small < 100
    assert 200 < big < 300


def test_peak_rss_reports_failure():
    import subprocess

    with pytest.raises(subprocess.CalledProcessError):
        peak_rss_mib([sys.executable, "-c", "raise SystemExit(3)"])
    assert peak_rss_mib([sys.executable, "-c", "raise SystemExit(3)"], check=False) > 0


def test_disturbed_rounds_are_redone_and_counted():
    calls: dict[str, int] = {}
    results = measure(
        [_counting(calls, "a"), _counting(calls, "b")],
        blocks=2, iters_per_block=1, warmup=0, pause=0,
        max_other_load=-1.0, max_round_retries=2, quiet_wait_seconds=0,  # always disturbed
    )
    assert results["rounds_retried"] == 2 * 2
    assert results["disturbed_rounds"] == 2
    assert calls == {"a": 2 * 3, "b": 2 * 3}
    assert len(results["contenders"]["a"]["block_other_load"]) == 2


def test_wait_for_quiet_host_returns_a_share():
    load = wait_for_quiet_host(max_other_load=1.0, window=0.05, timeout=1)
    assert 0.0 <= load <= 1.0
