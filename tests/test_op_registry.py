"""Every registered op: forward vs reference, float64 gradcheck, double backward, cross-device."""

import pytest

import gradflow as gf
from gradflow import ops
from gradflow.testing import op_checks
from gradflow.testing.registry import EXEMPT, load_all

REGISTRY = load_all()
CASES = [(spec, sample) for spec in REGISTRY.values() for sample in spec.samples()]
IDS = [f"{spec.name}-{sample.label or i}" for i, (spec, sample) in enumerate(CASES)]
DIFFERENTIABLE = [(c, i) for c, i in zip(CASES, IDS) if c[0].differentiable]
SECOND_ORDER = [(c, i) for c, i in DIFFERENTIABLE if c[0].double_backward]
DETERMINISTIC = [(c, i) for c, i in zip(CASES, IDS) if not c[0].nondeterministic]


def _skip_missing_dtype(spec, device):
    if "float64" in spec.tags and device.endswith("no_float64"):
        pytest.skip(f"{spec.name} uses float64, which {device} lacks")


def _params(pairs):
    return [pytest.param(*case, id=case_id) for case, case_id in pairs]


@pytest.mark.parametrize("spec, sample", _params(DETERMINISTIC))
def test_forward_matches_reference(spec, sample, device):
    _skip_missing_dtype(spec, device)
    op_checks.check_forward(spec, sample, device)


@pytest.mark.parametrize("spec, sample", _params(DIFFERENTIABLE))
def test_gradcheck_float64(spec, sample, device):
    if device.endswith("no_float64"):
        pytest.skip("no float64 on this device")
    op_checks.check_gradcheck(spec, sample, device)


@pytest.mark.parametrize("spec, sample", _params(SECOND_ORDER))
def test_double_backward(spec, sample, device):
    if device.endswith("no_float64"):
        pytest.skip("no float64 on this device")
    op_checks.check_gradcheck(spec, sample, device, second_order=True)


@pytest.mark.parametrize("spec, sample", _params(DETERMINISTIC))
def test_same_result_on_every_device(spec, sample, device):
    if device == "cpu":
        pytest.skip("cpu is the reference device")
    _skip_missing_dtype(spec, device)
    # array-api-strict wraps NumPy, so its devices must agree bit for bit with cpu, unless
    # the CPU's fast kernel sums in another order
    exact = device.startswith("strict") and not spec.cpu_reorders_sums
    op_checks.check_cross_device(spec, sample, device, exact=exact)


WITH_TORCH = [(c, i) for c, i in DETERMINISTIC if c[0].torch_reference is not None]


@pytest.mark.parametrize("spec, sample", _params(WITH_TORCH))
def test_matches_pytorch(spec, sample):
    pytest.importorskip("torch")
    op_checks.check_torch(spec, sample)


def public_callables() -> list[str]:
    """Every op a user can call, under the name its spec must have: gradflow.ops' functions,
    nn.functional's as "nn.<name>", gradflow.linalg's as "linalg.<name>"."""
    from gradflow import linalg
    from gradflow.nn import functional

    names = [n for n in ops.__all__ if callable(getattr(ops, n))]
    names += [f"nn.{n}" for n in functional.__all__ if callable(getattr(functional, n))]
    names += [f"linalg.{n}" for n in linalg.__all__]
    return names


def uncovered(names, registered, exempt) -> list[str]:
    """The names with neither a spec of exactly that name nor an exemption."""
    return [n for n in names if n not in registered and n not in exempt]


def test_every_public_op_is_registered_or_exempt():
    missing = uncovered(public_callables(), set(REGISTRY), EXEMPT)
    assert not missing, f"public ops without a registry spec or an exemption: {missing}"


def test_the_coverage_check_needs_the_exact_name():
    # a spec named sum_to does not count for sum; nn.functional and linalg names are checked
    assert uncovered(["sum", "sum_to"], {"sum_to"}, {}) == ["sum"]
    names = public_callables()
    assert "nn.conv2d" in names and "nn.cross_entropy" in names and "nn.linear" in names
    assert "linalg.vector_norm" in names


def test_every_spec_is_complete():
    problems = []
    for spec in REGISTRY.values():
        samples = spec.samples()
        if not samples:
            problems.append(f"{spec.name}: no samples")
        if spec.reference is None and not spec.nondeterministic:
            problems.append(f"{spec.name}: no reference")
        if spec.differentiable and not any(op_checks.grad_positions(s) for s in samples):
            problems.append(f"{spec.name}: differentiable but no float input to check")
    assert not problems, problems


def test_the_op_checks_catch_a_wrong_backward_rule():
    from gradflow.autograd.function import Function
    from gradflow.testing.gradcheck import GradcheckError
    from gradflow.testing.registry import OpSpec, Sample

    class BadSquare(Function):
        def forward(self, x):
            return x * x

        def backward(self, grad):
            return grad * self.inputs[0] * 3.0  # should be 2

    import numpy as np

    spec = OpSpec("bad_square", lambda x: BadSquare.apply(x),
                  lambda: [Sample((np.linspace(0.5, 1.5, 4),))], np.square)
    op_checks.check_forward(spec, spec.samples()[0], "cpu")
    with pytest.raises(GradcheckError, match="input 0"):
        op_checks.check_gradcheck(spec, spec.samples()[0], "cpu")
    assert gf.tensor(1.0).item() == 1.0
