"""gf.viz.graph: the recorded graph as Graphviz DOT, to see the path gradients take.

Boxes are ops (their name, output shape and dtype), ellipses are leaves (parameters by
name, inputs by shape). Edges run forward, from an op's inputs to the op; those that
carry a gradient back (from tensors that require grad) are drawn bold and red, the
others grey and dashed. With show_values / show_grads each edge also shows the value
that flowed forward and the gradient of the output with respect to it.

Rendering to SVG or PNG needs the `graphviz` Python package (the `viz` extra) and the
`dot` program (Debian: apt-get install graphviz); without them `Graph.render` writes
the DOT text, which any Graphviz viewer opens.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from gradflow.errors import GraphError
from gradflow.tensor import Tensor

_GRAD_EDGE = 'color="#c0392b", fontcolor="#c0392b", penwidth=1.6'
_CONST_EDGE = 'color="#999999", fontcolor="#777777", style=dashed'


class Graph:
    """A recorded graph as DOT text; `render` writes SVG/PNG when Graphviz is present.

    Attributes:
        source: the DOT text.

    Example:
        >>> print(Graph("digraph { a -> b }"))
        digraph { a -> b }
    """

    def __init__(self, source: str):
        self.source = source

    def __str__(self) -> str:
        return self.source

    def render(self, path, format: str | None = None) -> Path:
        """Write the graph; returns the file actually written.

        Args:
            path: the target file; its suffix (.svg, .png, .dot) picks the format.
            format: overrides the suffix.

        Returns:
            `path` when rendered, or `path` with the suffix .dot when Graphviz (the Python
            package or the `dot` program) is missing and the DOT text was written instead.

        Example:
            >>> x = gf.tensor([1.0, 2.0], requires_grad=True)
            >>> written = graph((x * x).sum()).render("graph.dot")
            >>> written.read_text().startswith("digraph")
            True
        """
        path = Path(path)
        format = format or path.suffix.lstrip(".") or "svg"
        path.parent.mkdir(parents=True, exist_ok=True)
        if format != "dot" and can_render():
            import graphviz

            data = graphviz.Source(self.source).pipe(format=format)
            path.write_bytes(data)
            return path
        if format != "dot":
            _say_why_dot(format)
        dot_path = path.with_suffix(".dot")
        dot_path.write_text(self.source)
        return dot_path


def _say_why_dot(format: str) -> None:
    """Once: what is missing for SVG/PNG (the package, by its extra, or the program)."""
    from gradflow.extras import optional

    if optional("graphviz", f"graphs are written as DOT text, not {format}") is not None \
            and "dot" not in _said:
        _said.add("dot")
        print(f"gradflow: Graphviz's dot program is not installed, so graphs are written as "
              f"DOT text, not {format} (Debian: apt-get install graphviz)", file=sys.stderr)


_said: set[str] = set()


def can_render() -> bool:
    """True when SVG/PNG can be made: the graphviz package and the `dot` program are present.

    Example:
        >>> can_render() in (True, False)
        True
    """
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def graph(output: Tensor, params: dict | None = None, show_values: bool = False,
          show_grads: bool = False, max_elements: int = 4) -> Graph:
    """The graph recorded for `output` (call before backward, or keep it with retain_graph).

    Args:
        output: the tensor whose history to draw (usually the loss).
        params: name -> tensor, to label parameters (dict(model.named_parameters())).
        show_values: write on each edge the value that flowed forward.
        show_grads: write on each edge d(output)/d(that value) (output must be a scalar);
            computed here, leaving every `.grad` untouched.
        max_elements: values with more elements are shown by shape and norm.

    Returns:
        A Graph: `.source` is the DOT text, `.render("graph.svg")` writes a picture.

    Example:
        >>> w = gf.tensor([0.5, -1.0], requires_grad=True)
        >>> loss = (w * gf.tensor([2.0, 3.0])).sum()
        >>> dot = graph(loss, params={"w": w}, show_grads=True).source
        >>> "Mul" in dot and '"w' in dot and "grad [2, 3]" in dot
        True
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"gf.viz.graph: output must be a Tensor, got {type(output).__name__}")
    names = {id(t): name for name, t in (params or {}).items()}
    tensors, edges = _walk(output)
    grads = _gradients(output, tensors) if show_grads else {}
    number = {key: i for i, key in enumerate(tensors)}  # stable names: t0 is the output
    lines = ["digraph gradflow {", '  rankdir=LR; node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for key, tensor in tensors.items():
        lines.append(f"  t{number[key]} [{_node_label(tensor, names)}];")
    lines.append(f'  out [shape=plaintext, label="output"];\n  t0 -> out '
                 f'[{_GRAD_EDGE if output.requires_grad else _CONST_EDGE}'
                 f'{_edge_label(output, grads, show_values, max_elements)}];')
    for source, target in edges:
        tensor = tensors[source]
        style = _GRAD_EDGE if tensor.requires_grad else _CONST_EDGE
        label = _edge_label(tensor, grads, show_values, max_elements)
        lines.append(f"  t{number[source]} -> t{number[target]} [{style}{label}];")
    lines.append("}")
    return Graph("\n".join(lines))


def _walk(output: Tensor):
    """Every tensor reachable backwards from output (id -> tensor) and the edges between them.

    An edge (a, b) means tensor a was an input of the op that made tensor b.
    """
    tensors = {id(output): output}
    edges = []
    stack = [output]
    while stack:
        tensor = stack.pop()
        node = tensor.creator
        if node is None:
            continue
        if node.inputs is None:
            raise GraphError("gf.viz.graph: the graph was freed by backward(); draw it before "
                             "backward, or call backward(retain_graph=True)")
        for argument in node.inputs:
            if not isinstance(argument, Tensor):
                continue
            if id(argument) not in tensors:
                tensors[id(argument)] = argument
                stack.append(argument)
            edges.append((id(argument), id(tensor)))
    return tensors, edges


def _gradients(output: Tensor, tensors: dict) -> dict:
    from gradflow.autograd.grad import grad

    if output.numel() != 1:
        raise GraphError(f"gf.viz.graph: show_grads needs a scalar output, got shape "
                         f"{output.shape}; pass output.sum()")
    wanted = [t for t in tensors.values() if t.requires_grad]
    found = grad(output, wanted, retain_graph=True, allow_unused=True)
    return {id(t): g for t, g in zip(wanted, found) if g is not None}


def _node_label(tensor: Tensor, names: dict) -> str:
    shape = "×".join(str(s) for s in tensor.shape) or "scalar"
    kind = f"{shape} {tensor.dtype.name}"
    if tensor.creator is not None:
        return (f'shape=box, style="rounded,filled", fillcolor="#eaf2fb", '
                f'label="{tensor.creator.name}\\n{kind}"')
    if id(tensor) in names:
        label = f"{names[id(tensor)]}\\n{kind}"
        return f'shape=ellipse, style=filled, fillcolor="#fdebd0", label="{label}"'
    role = "leaf (requires grad)" if tensor.requires_grad else "input"
    return f'shape=ellipse, style=filled, fillcolor="#f2f3f4", label="{role}\\n{kind}"'


def _edge_label(tensor: Tensor, grads: dict, show_values: bool, max_elements: int) -> str:
    parts = []
    if show_values:
        parts.append("value " + _brief(tensor, max_elements))
    if id(tensor) in grads:
        parts.append("grad " + _brief(grads[id(tensor)], max_elements))
    return ', label="' + "\\n".join(parts) + '"' if parts else ""


def _brief(tensor: Tensor, max_elements: int) -> str:
    """A few numbers, or the norm of many: short enough for an edge label."""
    if tensor.numel() > max_elements:
        norm = float((tensor.detach().to(_float64_or_32(tensor)) ** 2).sum().item()) ** 0.5
        return f"‖·‖={norm:.4g}"
    values = tensor.detach().numpy().reshape(-1).tolist()
    text = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values)
    return text if tensor.ndim == 0 else f"[{text}]"


def _float64_or_32(tensor: Tensor):
    from gradflow import dtypes

    return dtypes.float64 if dtypes.float64 in tensor.backend.to_xp else dtypes.float32
