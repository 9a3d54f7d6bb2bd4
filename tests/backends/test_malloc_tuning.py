"""The CPU backend's malloc tuning: on by default on glibc, off with GRADFLOW_MALLOC_TUNING=0."""

import json
import os
import subprocess
import sys

import pytest

PROBE = (
    "import json, gradflow as gf; gf.ones(2).sum(); "
    "from gradflow.backends.numpy import MALLOC_TUNING; print(json.dumps(MALLOC_TUNING))"
)


def _probe(**env) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env={**os.environ, **env}, check=True, timeout=60)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_on_by_default_and_reported():
    state = _probe(GRADFLOW_MALLOC_TUNING="1")
    try:
        import ctypes

        ctypes.CDLL(None).mallopt  # noqa: B018 - probing for glibc
    except AttributeError:
        assert state == {"active": False, "reason": "no glibc mallopt on this system"}
    else:
        assert state["active"] is True and "32 MiB" in state["reason"]


def test_opt_out():
    assert _probe(GRADFLOW_MALLOC_TUNING="0") == {
        "active": False, "reason": "disabled by GRADFLOW_MALLOC_TUNING=0"}


def test_info_reports_it():
    import gradflow as gf

    report = gf.info(print_out=False)
    assert set(report["malloc_tuning"]) == {"active", "reason"}
