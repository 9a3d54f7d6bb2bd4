"""The BLAS thread policy: fixed counts, "auto" from the free cores, and the command's setup."""

import os
import subprocess
import sys
import time

import pytest

import gradflow as gf
from gradflow.backends import threads
from gradflow.errors import ConfigError

threadpoolctl = pytest.importorskip("threadpoolctl")


def blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpoolctl.threadpool_info()
            if pool["user_api"] == "blas"}


@pytest.fixture
def restore_policy():
    saved = dict(threads._state)
    yield
    threads._state.update(saved)
    if saved["threads"] is not None:
        threads._set_pool(saved["threads"])


def test_set_num_threads_sets_the_blas_pool(restore_policy):
    gf.zeros(1)  # the CPU backend applies its default policy when first made
    gf.set_num_threads(1)
    assert gf.get_num_threads() == 1
    assert blas_threads() <= {1}
    assert threads.policy()["policy"] == "fixed"


@pytest.mark.parametrize("bad", [0, -1, 1.5, "two", True, None])
def test_set_num_threads_rejects_bad_counts(bad, restore_policy):
    with pytest.raises(ConfigError, match="set_num_threads") as info:
        gf.set_num_threads(bad)
    assert isinstance(info.value, ValueError)


def fake_snapshots(monkeypatch, stats, own_seconds):
    """Feed free_cores() /proc/stat readings and own-CPU times, one per call."""
    stats, own_seconds = iter(stats), iter(own_seconds)
    monkeypatch.setattr(threads, "_read_proc_stat", lambda: next(stats))
    monkeypatch.setattr(os, "times", lambda: os.times_result((next(own_seconds), 0, 0, 0, 0)))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(os, "sysconf", lambda name: 100)


@pytest.mark.parametrize(
    "busy_ticks, own_seconds, expected_threads",
    [
        (0, 0.0, 2),      # idle machine: both cores
        (100, 0.0, 1),    # another process spun on one core for the whole second
        (100, 1.0, 2),    # the busy core was our own work: still both
        (180, 0.0, 1),    # nearly two busy cores elsewhere: never fewer than one thread
        (30, 0.0, 2),     # light background load: a core 70% free still counts
    ],
)
def test_auto_follows_the_cores_other_processes_leave_free(
    monkeypatch, restore_policy, busy_ticks, own_seconds, expected_threads
):
    # 2 cores for 1 s at 100 ticks/s: 200 ticks in all between the two readings
    fake_snapshots(monkeypatch, [(0, 0), (busy_ticks, 200)], [0.0, own_seconds])
    applied = []
    monkeypatch.setattr(threads, "_set_pool", lambda n: applied.append(n))
    threads._state.update(policy="auto", threads=None, snapshot=None)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    assert threads._apply_auto() == expected_threads
    assert applied == [expected_threads]


def test_free_cores_sees_a_real_spinning_process(restore_policy):
    if threads._read_proc_stat() is None:
        pytest.skip("no /proc/stat on this system")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        threads._state["snapshot"] = None
        threads.free_cores(sample_seconds=0.5)
        assert threads._state["other_busy"] >= 0.5
    finally:
        spinner.kill()
        spinner.wait()


def run_python(code: str, env_changes: dict, *args: str) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                        "GRADFLOW_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT")}
    env.update(env_changes)
    done = subprocess.run([sys.executable, *args, code] if code else [sys.executable, *args],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_environment_fixes_the_count():
    out = run_python("import gradflow as gf; gf.zeros(1); print(gf.get_num_threads())",
                     {"GRADFLOW_NUM_THREADS": "1"}, "-c")
    assert out.strip() == "1"


def test_bad_environment_value_is_a_config_error():
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["GRADFLOW_NUM_THREADS"] = "many"
    done = subprocess.run([sys.executable, "-c", "import gradflow as gf; gf.zeros(1)"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "GRADFLOW_NUM_THREADS" in done.stderr


def test_the_command_sets_the_openblas_spin_timeout_and_a_library_import_does_not():
    out = run_python("", {}, "-m", "gradflow", "info")
    assert "OPENBLAS_THREAD_TIMEOUT=4" in out
    out = run_python("import os, gradflow; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))",
                     {}, "-c")
    assert out.strip() == "None"
