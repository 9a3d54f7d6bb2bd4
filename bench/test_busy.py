"""bench/busy.py runs end to end with the quick preset (never a check of times): the spinner is
started and stopped, every contender is timed, and gradflow "auto" gives BLAS fewer threads
than "all cores" while one core of two is busy."""

from __future__ import annotations

import json

import pytest
import suite

pytest.importorskip("torch")
pytest.importorskip("threadpoolctl")

import busy


def test_busy_steps_run_and_stop_their_spinner(tmp_path, monkeypatch):
    started = []
    real_start = busy.start_spinner

    def start():
        process = real_start()
        started.append(process)
        return process

    monkeypatch.setattr(busy, "start_spinner", start)
    settings = suite.Settings.quick(out_dir=tmp_path, blocks=1)
    busy.run(settings, ("mlp",), with_epochs=False)
    assert started and started[0].poll() is not None  # killed in the finally
    saved = json.loads((tmp_path / "busy_steps_mlp.json").read_text())
    names = set(saved["results"]["contenders"])
    assert {busy.GRADFLOW_AUTO, busy.GRADFLOW_ALL_CORES, suite.NUMPY, suite.TORCH} <= names
