"""The examples in docs/ run as tests, so the documentation cannot drift from the code."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_testing_doc_example_is_short():
    (block,) = _python_blocks(DOC)
    assert len([line for line in block.splitlines() if line.strip()]) <= 15


def test_testing_doc_example_runs(device):
    (block,) = _python_blocks(DOC)
    namespace: dict = {}
    exec(compile(block, str(DOC), "exec"), namespace)
    tests = [fn for name, fn in namespace.items() if name.startswith("test_")]
    assert tests
    for test in tests:
        test(device)


def test_testing_doc_example_fails_when_devices_disagree(monkeypatch):
    (block,) = _python_blocks(DOC)
    namespace: dict = {}
    exec(compile(block, str(DOC), "exec"), namespace)
    import gradflow as gf

    real_tanh = gf.Tensor.tanh

    def skewed_tanh(self):  # a backend bug: strict:device1 computes tanh slightly wrong
        out = real_tanh(self)
        return out * 1.001 if self.device == "strict:device1" else out

    monkeypatch.setattr(gf.Tensor, "tanh", skewed_tanh)
    with pytest.raises(AssertionError, match="devices disagree"):
        namespace["test_tinynet_agrees_on_every_device"]("strict:device1")


README = DOC.parent.parent / "README.md"


def test_readme_example_trains_digits(capsys):
    """The README's twenty-line example runs as written and learns the digits."""
    (block,) = _python_blocks(README)
    assert len(block.splitlines()) <= 22
    exec(compile(block, str(README), "exec"), {})
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", capsys.readouterr().out).group(1))
    assert accuracy > 0.95


DESIGN = DOC.parent / "design.md"


def test_design_doc_writing_an_op_example_runs():
    """docs/design.md's worked example (a new op on the Function protocol) runs as written."""
    (block,) = [b for b in _python_blocks(DESIGN) if "class Softplus" in b]
    namespace: dict = {}
    exec(compile(block, str(DESIGN), "exec"), namespace)
    from gradflow.testing import gradcheck

    x = namespace["gf"].tensor([-1.5, 0.2, 3.0], dtype=namespace["gf"].float64,
                                requires_grad=True)
    assert gradcheck(lambda t: namespace["softplus"](t, beta=0.5), (x,))


def test_design_doc_kernel_example_is_the_real_code():
    """docs/design.md's backend-kernel example quotes the kernels as they are."""
    import inspect

    from gradflow.backends.generic import Backend
    from gradflow.backends.numpy import NumpyBackend

    (block,) = [b for b in _python_blocks(DESIGN) if "def relu_backward" in b]
    quoted = {line.strip() for line in block.splitlines()}
    for kernel in (Backend.relu_backward, NumpyBackend.relu_backward):
        code = [line.strip() for line in inspect.getsource(kernel).splitlines()
                if line.strip() and not line.strip().startswith("#")]
        missing = [line for line in code if line not in quoted]
        assert not missing, f"docs/design.md no longer quotes {kernel.__qualname__}: {missing}"
