"""bench/protocol_ab.py's machinery (never its times): an earlier commit's gradflow imported
beside this one as a separate package, computing the same results. Part of `make test`."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import protocol_ab
import pytest
from hostinfo import REPO_ROOT

import gradflow


def _has_commit(revision: str) -> bool:
    if shutil.which("git") is None:
        return False
    found = subprocess.run(["git", "cat-file", "-e", f"{revision}^{{commit}}"], cwd=REPO_ROOT,
                           capture_output=True)
    return found.returncode == 0


pytestmark = pytest.mark.skipif(not _has_commit("HEAD"), reason="not a git checkout")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return protocol_ab.import_base("HEAD", tmp_path_factory.mktemp("base"))


def test_the_base_is_a_separate_package_with_its_own_classes(base):
    assert base.__name__ == "gradflow_base" and base is not gradflow
    assert base.Tensor is not gradflow.Tensor
    a = base.ones(3, requires_grad=True)
    (a * 2.0).sum().backward()
    assert type(a).__module__.startswith("gradflow_base.")
    assert a.grad.tolist() == [2.0, 2.0, 2.0]


def test_both_versions_compute_the_same_chain_and_mlp_losses(base):
    chain_base, chain_now = protocol_ab.chain_factory(base)(), protocol_ab.chain_factory(gradflow)()
    np.testing.assert_array_equal(chain_base.numpy(), chain_now.numpy())
    step_base, step_now = protocol_ab.mlp_factory(base), protocol_ab.mlp_factory(gradflow)
    for _ in range(2):
        assert float(step_base()) == pytest.approx(float(step_now()), rel=1e-6)


def test_a_quick_run_reports_both_workloads_against_the_base(capsys):
    results = protocol_ab.main(["--base", "HEAD", "--quick", "--no-write"])
    for workload in ("chain", "mlp"):
        stats = results[workload]["contenders"]
        assert set(stats) == {f"{workload} base", f"{workload} current"}
        assert stats[f"{workload} current"]["ratio_to_baseline"] > 0
    printed = capsys.readouterr().out
    assert "chain: base (HEAD)" in printed and "mlp: base (HEAD)" in printed
