"""docs/design.md's layering: ops and the engine are written on the array API only."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gradflow"
ARRAY_API_ONLY = sorted([*(PACKAGE / "ops").glob("*.py"), *(PACKAGE / "autograd").glob("*.py"),
                         PACKAGE / "tensor.py"])


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", ARRAY_API_ONLY, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_numpy_or_cupy_import(path):
    assert not _imported_modules(path) & {"numpy", "cupy"}


def test_the_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import numpy as np\n    from cupy import ndarray\n")
    assert _imported_modules(bad) >= {"numpy", "cupy"}


def _gradflow_imports(path: Path) -> set[str]:
    """Every gradflow module imported by `path`, at module or function level."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("gradflow"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gradflow"):
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "autograd").glob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_autograd_does_not_import_ops(path):
    # the engine's one reduction (sum_to) lives in autograd/, so the engine needs no op
    assert not {name for name in _gradflow_imports(path) if name.startswith("gradflow.ops")}
