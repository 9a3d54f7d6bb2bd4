"""`gradflow check`: the table, the exit code, and catching a broken backward rule."""

import numpy as np
import pytest

import gradflow as gf
from gradflow.autograd.function import Function
from gradflow.testing import check, registry
from gradflow.testing.registry import OpSpec, Sample


class BrokenSquare(Function):
    grad_reads = ((0,),)

    def forward(self, x):
        return x * x

    def backward(self, grad):
        return grad * self.inputs[0] * 3.0  # wrong: d(x^2)/dx = 2x


@pytest.fixture
def small_registry(monkeypatch):
    everything = registry.load_all()
    chosen = {name: everything[name] for name in ("add", "tanh", "matmul", "softmax")}
    monkeypatch.setattr(check, "load_all", lambda: chosen)
    return chosen


def test_check_passes_on_cpu_and_strict_devices(small_registry):
    report = check.run_check(["cpu", "strict", "strict:device1", "cuda"])
    assert report.ok, report.table()
    table = report.table()
    assert "tanh" in table and "strict:device1" in table
    assert "model: cnn+batchnorm+dropout" in table or "model: mlp" in table
    assert "cuda" in report.skipped or gf.cuda.is_available()


def test_check_catches_and_names_a_broken_backward_rule(small_registry):
    small_registry["broken_square"] = OpSpec(
        "broken_square", lambda x: BrokenSquare.apply(x),
        lambda: [Sample((np.linspace(0.5, 1.5, 6).reshape(2, 3),))], np.square)
    report = check.run_check(["cpu", "strict:device1"])
    assert not report.ok
    failed = [row for row in report.rows if not row.ok]
    assert {row.name for row in failed} == {"broken_square"}
    assert "gradcheck" in failed[0].detail
    assert "FAIL" in report.table()


def test_cli_check_exit_codes(small_registry, capsys):
    from gradflow.cli import main

    assert main(["check", "--devices", "cpu,strict,strict:device1"]) == 0
    assert "passed, 0 failed" in capsys.readouterr().out
    small_registry["broken_square"] = OpSpec(
        "broken_square", lambda x: BrokenSquare.apply(x),
        lambda: [Sample((np.linspace(0.5, 1.5, 4),))], np.square)
    assert main(["check", "--devices", "cpu,strict", "--json"]) == 1
