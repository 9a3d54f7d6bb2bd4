"""The testing toolkit never passes when nothing was tested: `gradflow check`, the pytest
plugin, compare_devices / compare_training, gradcheck and assert_close."""

import warnings

import numpy as np
import pytest

import gradflow as gf
from gradflow import nn
from gradflow.autograd.function import Function
from gradflow.errors import BackendUnavailableError, ConfigError
from gradflow.testing import (
    GradcheckError,
    assert_close,
    check,
    compare_devices,
    compare_training,
    gradcheck,
    gradgradcheck,
    registry,
)
from gradflow.testing.devices import UnknownDeviceError
from gradflow.testing.registry import OpSpec, Sample

pytest_plugins = ["pytester"]

no_gpu = pytest.mark.skipif(gf.cuda.is_available(), reason="needs a machine without a GPU")


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
    report = check.run_check(["cpu", "strict", "strict:device1"])
    assert report.ok, report.table()
    table = report.table()
    assert "tanh" in table and "strict:device1" in table
    assert "model: cnn+batchnorm+dropout" in table or "model: mlp" in table


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


# -- `gradflow check`: unknown, unavailable, all, empty -----------------------------------------


def test_check_unknown_device_is_a_usage_error(small_registry, capsys):
    from gradflow.cli import main

    with pytest.raises(SystemExit) as info:
        main(["check", "--devices", "cpu,cdua"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown device 'cdua'" in err and "gradflow check --help" in err
    with pytest.raises(UnknownDeviceError):
        check.run_check(["cpu", "cdua"])


@no_gpu
def test_check_unavailable_device_fails_with_the_reason(small_registry, capsys):
    from gradflow.cli import main

    assert main(["check", "--devices", "cpu,cuda"]) == 1
    out = capsys.readouterr().out
    assert "cuda" in out and "FAIL: missing" in out and "CuPy" in out
    report = check.run_check(["cpu", "cuda"])
    assert not report.ok and "cuda" in report.missing


@no_gpu
def test_check_allow_missing_reports_the_device_as_missing_not_passed(small_registry, capsys):
    from gradflow.cli import main

    assert main(["check", "--devices", "cpu,cuda", "--allow-missing"]) == 0
    out = capsys.readouterr().out
    assert "missing (allowed)" in out and "1 device(s) missing" in out


@no_gpu
def test_check_require_gpu_fails_without_one_even_when_missing_devices_are_allowed(
        small_registry, capsys):
    from gradflow.cli import main

    assert main(["check", "--devices", "cpu", "--require-gpu", "--allow-missing"]) == 1
    out = capsys.readouterr().out
    assert "cuda" in out and "FAIL: missing" in out


@no_gpu
def test_check_that_checked_nothing_is_not_a_pass(small_registry, capsys):
    from gradflow.cli import main

    assert main(["check", "--devices", "cuda"]) == 1
    assert main(["check", "--devices", "cuda", "--allow-missing"]) == 1
    assert "nothing was checked" in capsys.readouterr().out
    assert not check.CheckReport().ok


def test_check_devices_all_means_every_available_device(small_registry, monkeypatch, capsys):
    from gradflow import backends
    from gradflow.cli import main

    monkeypatch.setattr(backends, "available_devices", lambda: {
        "cpu": "available", "strict:device1": "available", "cuda": "not available: no GPU"})
    assert main(["check", "--devices", "all", "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert {row["device"] for row in report["rows"]} == {"cpu", "strict:device1"}
    assert report["missing"] == {}


# -- the pytest plugin ------------------------------------------------------------------------

OWN_DEVICE_FIXTURE = """
import pytest

@pytest.fixture(params=["tpu0", "tpu1"])
def device(request):
    return request.param

def test_uses_its_own_device(device):
    assert device in ("tpu0", "tpu1")

@pytest.mark.parametrize("device", ["mine"])
def test_parametrizes_device_itself(device):
    assert device == "mine"
"""


def test_plugin_leaves_another_projects_device_fixture_alone(pytester):
    pytester.makepyfile(OWN_DEVICE_FIXTURE)
    for options in ([], ["--gradflow-devices=cpu,strict"], ["--gradflow-devices=all"]):
        result = pytester.runpytest(*options)
        result.assert_outcomes(passed=3)
        result.stdout.no_fnmatch_line("*duplicate*")


def test_plugin_fixtures_run_once_per_gradflow_device(pytester):
    pytester.makepyfile("""
        def test_one(gradflow_device, gradflow_xp):
            assert gradflow_device in ("cpu", "strict:device1")
    """)
    result = pytester.runpytest("-v",
                                "--gradflow-devices=cpu,strict:device1")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_one?cpu?*PASSED*", "*test_one?strict:device1?*PASSED*"])


def test_plugin_unknown_device_is_a_usage_error(pytester):
    pytester.makepyfile("def test_one(gradflow_device):\n    pass\n")
    result = pytester.runpytest("--gradflow-devices=cpu,cdua")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown device 'cdua'*"])


@no_gpu
def test_plugin_unavailable_device_skips_with_the_reason_or_fails_when_required(pytester):
    pytester.makepyfile("def test_one(gradflow_device):\n    pass\n")
    result = pytester.runpytest("-rs",
                                "--gradflow-devices=cpu,cuda")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*device cuda unavailable*"])
    result = pytester.runpytest("--gradflow-devices=cpu,cuda",
                                "--gradflow-require-gpu")
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_plugin_all_means_every_available_device(pytester):
    from gradflow.backends import available_devices

    pytester.makepyfile("def test_one(gradflow_device):\n    pass\n")
    result = pytester.runpytest("--gradflow-devices=all")
    usable = [d for d, status in available_devices().items() if status == "available"]
    result.assert_outcomes(passed=len(usable))


# -- compare_devices and compare_training -----------------------------------------------------


def test_compare_devices_reseeds_the_generator_for_each_device():
    gf.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.5), nn.Linear(8, 2))
    model.train()
    report = compare_devices(model, gf.randn(4, 6), devices=("cpu", "strict:device1"))
    report.raise_if_failed()
    assert report.rows and all(row.max_abs == 0.0 for row in report.rows)


@pytest.mark.parametrize("devices, error, phrase", [
    (("cpu", "cdua"), UnknownDeviceError, "unknown device 'cdua'"),
    (("cpu", "strict:device9"), UnknownDeviceError, "device9"),
], ids=["typo", "unknown-strict"])
def test_compare_unknown_device_raises(devices, error, phrase):
    with pytest.raises(error, match=phrase) as info:
        compare_devices(lambda x: x * 2.0, gf.randn(3), devices=devices)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    with pytest.raises(error, match=phrase):
        compare_training(lambda: nn.Linear(2, 2), [(np.ones((1, 2)), np.zeros(1, np.int64))],
                         nn.CrossEntropyLoss(), lambda p: gf.optim.SGD(p, lr=0.1),
                         devices=devices, steps=1)


@no_gpu
def test_compare_unavailable_device_raises_unless_allowed():
    with pytest.raises(BackendUnavailableError, match="cuda"):
        compare_devices(lambda x: x * 2.0, gf.randn(3), devices=("cpu", "cuda"))
    with pytest.raises(BackendUnavailableError, match="cuda"):
        compare_training(lambda: nn.Linear(2, 2), [(np.ones((1, 2)), np.zeros(1, np.int64))],
                         nn.CrossEntropyLoss(), lambda p: gf.optim.SGD(p, lr=0.1),
                         devices=("cpu", "cuda"), steps=1)
    report = compare_devices(lambda x: x * 2.0, gf.randn(3), devices=("cpu", "cuda"),
                             allow_missing=True)
    assert "cuda" in report.unavailable and "missing" in report.table()
    with pytest.raises(BackendUnavailableError, match="nothing would be compared"):
        compare_devices(lambda x: x * 2.0, gf.randn(3), devices=("cuda",), allow_missing=True)


# -- gradcheck -------------------------------------------------------------------------------


class NaNBackward(Function):
    def forward(self, x):
        return x * 2.0

    def backward(self, grad):
        return grad * float("nan")


def _x64(*shape):
    gf.manual_seed(1)
    return gf.randn(*shape, dtype=gf.float64, requires_grad=True)


def test_gradcheck_fails_on_a_nan_analytic_gradient():
    with pytest.raises(GradcheckError, match="nan"):
        gradcheck(lambda x: NaNBackward.apply(x), [_x64(3)])
    assert gradcheck(lambda x: NaNBackward.apply(x), [_x64(3)], raise_exception=False) is False


def test_gradcheck_fails_on_a_nan_numerical_gradient():
    x = gf.tensor([0.0, 1.0], dtype=gf.float64, requires_grad=True)  # sqrt'(0) = inf
    with np.errstate(all="ignore"), pytest.raises(GradcheckError, match="position 0"):
        gradcheck(lambda t: (t - 1e-7).sqrt(), [x])


def test_gradcheck_fails_when_the_function_returns_no_tensor():
    with pytest.raises(GradcheckError, match="not a floating-point tensor"):
        gradcheck(lambda x: None, [_x64(2)])
    with pytest.raises(GradcheckError, match="not a floating-point tensor"):
        gradcheck(lambda x: 3.0, [_x64(2)])
    with pytest.raises(GradcheckError, match="not a floating-point tensor"):
        gradgradcheck(lambda x: (x > 0), [_x64(2)])


def test_gradcheck_fails_when_no_input_requires_grad():
    x = gf.randn(3, dtype=gf.float64)
    with pytest.raises(GradcheckError, match="requires_grad=True"):
        gradcheck(lambda t: t * 2.0, [x])
    with pytest.raises(GradcheckError, match="nothing would be checked"):
        gradcheck(lambda t: t * 2.0, [gf.tensor([1, 2])])
    assert gradcheck(lambda t: t * 2.0, [x], raise_exception=False) is False


def test_gradcheck_warns_when_inputs_are_not_float64():
    x = gf.randn(3, requires_grad=True)
    with pytest.warns(UserWarning, match="float32, not float64"):
        gradcheck(lambda t: t * 2.0, [x], atol=1e-2, rtol=1e-2, eps=1e-3)


def test_gradcheck_skips_integer_inputs():
    import gradflow.nn.functional as F

    logits, labels = _x64(4, 3), gf.tensor([0, 2, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(lambda z, y: F.cross_entropy(z, y), [logits, labels])
        assert gradgradcheck(lambda z, y: F.cross_entropy(z, y), [logits, labels])
    assert labels.grad is None


# -- assert_close ----------------------------------------------------------------------------


def test_assert_close_checks_dtype_by_default():
    with pytest.raises(AssertionError, match="dtypes differ: actual float32, expected float64"):
        assert_close(gf.ones(2), gf.ones(2, dtype=gf.float64))
    with pytest.raises(AssertionError, match="dtypes differ"):
        assert_close(gf.ones(2), np.ones(2))
    with pytest.raises(AssertionError, match="dtypes differ"):
        assert_close(gf.tensor([1, 2]), gf.tensor([1.0, 2.0]))
    assert_close(gf.ones(2), np.ones(2), check_dtype=False)
    assert_close(gf.ones(2), [1.0, 1.0])  # Python data takes the tensor's dtype


def test_assert_close_checks_device_by_default():
    with pytest.raises(AssertionError, match="devices differ: actual cpu, expected strict"):
        assert_close(gf.ones(2), gf.ones(2, device="strict:device1"))
    assert_close(gf.ones(2), gf.ones(2, device="strict:device1"), check_device=False)


def test_assert_close_nan_equals_nan_only_with_equal_nan():
    nan = float("nan")
    with pytest.raises(AssertionError, match="1 of 2 elements are not close"):
        assert_close(gf.tensor([1.0, nan]), gf.tensor([1.0, nan]))
    assert_close(gf.tensor([1.0, nan]), gf.tensor([1.0, nan]), equal_nan=True)
    assert_close(gf.tensor([1.0, float("inf")]), gf.tensor([1.0, float("inf")]))
    with pytest.raises(AssertionError):
        assert_close(gf.tensor([float("inf")]), gf.tensor([-float("inf")]))
