"""tools/op_coverage.py: the table lists every registered op, and no name issue 13 asks for
is missing from the registry."""

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "op_coverage.py"


def _tool():
    spec = importlib.util.spec_from_file_location("op_coverage", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_table_covers_every_issue_name(capsys):
    tool = _tool()
    assert tool.main(["--declared-only"]) == 0
    out = capsys.readouterr().out
    assert "issue-13 names missing: none" in out
    assert "einsum" in out and "scatter_reduce" in out and "linalg.vector_norm" in out


def test_a_missing_name_is_reported():
    tool = _tool()
    assert tool.missing_issue_names({"einsum": None}) != []
    assert "einsum" not in tool.missing_issue_names({"einsum": None})
