"""The examples in docs/ run as tests, so the documentation cannot drift from the code."""

import doctest
import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gradflow

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


# -- every docstring example runs (doctest), every page's Python runs, the site builds ------------

ROOT = DOC.parent.parent

MODULES = sorted(m.name for m in pkgutil.walk_packages(gradflow.__path__, "gradflow.")
                 if not m.name.endswith("__main__"))


def _doctest_globals() -> dict:
    """What the examples may take as given (docs/api/gradflow.md says so): gf, nn, F, optim,
    np, dist (gradflow.distributed), DataLoader, TensorDataset, and a small classifier
    `model` on inputs `x` (16, 4) with labels `y` in {0, 1}, its `loss`, an SGD
    `opt`/`optimizer`, a `scheduler`, the `dataset` of (x, y) and its `loader`; fresh for
    every docstring. An example that needs a process group calls
    `dist.init_process_group()` itself (one rank: mpi4py's singleton init, no mpiexec);
    `_doctest_teardown` leaves it after the docstring."""
    import numpy as np

    import gradflow as gf
    import gradflow.distributed as dist
    from gradflow import nn, optim
    from gradflow.data import DataLoader, TensorDataset

    gf.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = gf.randn(16, 4), gf.randint(0, 2, (16,))
    opt = optim.SGD(model.parameters(), lr=0.1)
    dataset = TensorDataset(x, y)
    loader = DataLoader(dataset, batch_size=4)
    return {"gf": gf, "nn": nn, "F": nn.functional, "optim": optim, "np": np, "dist": dist,
            "DataLoader": DataLoader, "TensorDataset": TensorDataset, "model": model, "x": x,
            "y": y, "loss": nn.functional.cross_entropy(model(x), y), "opt": opt,
            "optimizer": opt, "scheduler": optim.lr_scheduler.StepLR(opt, 1),
            "dataset": dataset, "loader": loader,
            "train_loader": loader, "test_loader": loader}


def _doctest_teardown() -> None:
    """Undo what an example may leave behind for the next one: the default process group."""
    import gradflow.distributed as dist

    dist.destroy_process_group()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write files (graph.dot, runs/...)
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for test in finder.find(module, name):
        test.globs.update(_doctest_globals())
        try:
            result = runner.run(test, out=failures.append)
        finally:
            _doctest_teardown()
        assert result.failed == 0, "".join(failures)


PAGES = ["quickstart.md", "devices.md", "custom-op.md", "training.md", "errors.md", "api/nn.md"]


@pytest.mark.parametrize("page", PAGES)
def test_doc_page_python_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = DOC.parent / page
    namespace: dict = {}
    for block in _python_blocks(path):
        exec(compile(block, str(path), "exec"), namespace)
    for name, function in list(namespace.items()):
        if name.startswith("test_"):
            function("cpu")


def test_custom_op_page_example_is_the_protocol_and_checks_on_devices(float64_device):
    namespace: dict = {}
    for block in _python_blocks(DOC.parent / "custom-op.md"):
        exec(compile(block, "custom-op.md", "exec"), namespace)
    from gradflow.autograd import Function

    assert issubclass(namespace["Hypot"], Function)
    namespace["test_hypot"](float64_device)


def test_readme_screenshots_exist_and_are_png():
    readme = README.read_text()
    images = re.findall(r"!\[[^\]]*\]\((docs/images/[^)]+\.png)\)", readme)
    assert len(images) >= 3
    for image in images:
        assert (ROOT / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", image


def test_docs_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    mkdocs = shutil.which("mkdocs", path=os.path.dirname(sys.executable)) or shutil.which("mkdocs")
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([mkdocs, "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "api" / "train" / "index.html").exists()


OWN_MODULES = ["gradflow.train.loop", "gradflow.train.evaluation", "gradflow.train.plots",
               "gradflow.train.ranks", "gradflow.train.callbacks", "gradflow.train.interrupt",
               "gradflow.train.state", "gradflow.viz", "gradflow.nn.summary", "gradflow.extras",
               "gradflow.tables"]


@pytest.mark.parametrize("name", OWN_MODULES)
def test_every_public_function_and_class_has_an_example(name):
    import inspect

    module = importlib.import_module(name)
    missing = [key for key, value in vars(module).items()
               if not key.startswith("_") and getattr(value, "__module__", None) == name
               and (inspect.isfunction(value) or inspect.isclass(value))
               and ">>>" not in (inspect.getdoc(value) or "")]
    assert not missing, f"{name}: no example in {missing}"


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
