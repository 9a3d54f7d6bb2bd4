"""gf.viz.graph: the recorded graph as DOT, values and gradients on its edges, rendered or not."""

import re
import sys

import pytest

import gradflow as gf
from gradflow import nn, viz
from gradflow.errors import GraphError


def _net(device):
    gf.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 1)).to(device)
    x = gf.tensor([[1.0, 2.0]], device=device)
    return model, ((model(x) - 1.0) ** 2).sum()


def test_graph_names_ops_parameters_and_inputs(device):
    model, loss = _net(device)
    dot = viz.graph(loss, params=dict(model.named_parameters())).source
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for label in ("Linear\\n1×2 float32", "Sigmoid\\n1×2 float32", "0.weight\\n2×2 float32",
                  "2.bias\\n1 float32", "input\\n1×2 float32"):
        assert label in dot, label
    assert dot.count("style=dashed") == 1  # only the input carries no gradient
    assert "label=\"value" not in dot and "grad [" not in dot


def test_edges_carry_the_values_and_the_gradients_backward_computes(device):
    model, loss = _net(device)
    dot = viz.graph(loss, params=dict(model.named_parameters()), show_values=True,
                    show_grads=True).source
    assert all(p.grad is None for p in model.parameters())  # .grad left alone
    loss.backward()
    bias_edge = next(line for line in dot.splitlines() if "t" in line and "->" in line
                     and "value [" + f"{model[2].bias.item():.4g}]" in line)
    assert f"grad [{model[2].bias.grad.item():.4g}]" in bias_edge
    assert re.search(r"t0 -> out .*value [0-9.]+\\ngrad 1\"", dot)


def test_a_freed_graph_is_refused_with_the_fix():
    _, loss = _net("cpu")
    loss.backward()
    with pytest.raises(GraphError, match="retain_graph=True"):
        viz.graph(loss)


def test_render_writes_dot_text_without_graphviz(tmp_path, monkeypatch, capsys):
    from gradflow import extras

    monkeypatch.setitem(sys.modules, "graphviz", None)
    monkeypatch.setattr(extras, "_said", set())
    _, loss = _net("cpu")
    written = viz.graph(loss).render(tmp_path / "graph.svg")
    assert written == tmp_path / "graph.dot" and written.read_text().startswith("digraph")
    assert not (tmp_path / "graph.svg").exists()
    viz.graph(loss).render(tmp_path / "again.png")
    err = capsys.readouterr().err
    assert err.count("graphviz is not installed") == 1 and "'viz' extra" in err


def test_without_the_dot_program_it_says_so_once(tmp_path, monkeypatch, capsys):
    pytest.importorskip("graphviz")
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    monkeypatch.setattr(viz, "_said", set())
    _, loss = _net("cpu")
    assert viz.graph(loss).render(tmp_path / "g.svg").suffix == ".dot"
    viz.graph(loss).render(tmp_path / "h.svg")
    assert capsys.readouterr().err.count("dot program is not installed") == 1


def test_render_svg_and_png_with_graphviz(tmp_path):
    if not viz.can_render():
        pytest.skip("the graphviz package or the dot program is missing")
    _, loss = _net("cpu")
    graph = viz.graph(loss, show_values=True)
    assert graph.render(tmp_path / "g.svg").read_text().lstrip().startswith("<?xml")
    assert graph.render(tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
