"""gf.grad: gradients of outputs with respect to chosen inputs, returned, not accumulated."""

from __future__ import annotations

from gradflow.autograd.engine import run_backward
from gradflow.errors import GraphError
from gradflow.tensor import Tensor, _seed_gradient


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """d(outputs)/d(inputs), leaving every `.grad` untouched.

    Args:
        outputs: a Tensor or a sequence of Tensors.
        inputs: the Tensors to differentiate with respect to.
        grad_outputs: one seed per output (None for a one-element output); their number
            must match the outputs'.
        retain_graph: keep the graph (defaults to create_graph).
        create_graph: record the gradients' own graph, for higher derivatives.
        allow_unused: return None for an input the outputs do not depend on, instead of raising.

    Returns:
        A tuple with one gradient per input.

    Example:
        >>> x = gf.tensor(3.0, requires_grad=True)
        >>> (dx,) = gf.grad(x ** 3, x, create_graph=True)   # 27
        >>> gf.grad(dx, x)[0].item()                        # 6x = 18
        18.0
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise GraphError(
            f"grad(): {len(outputs)} outputs but {len(grad_outputs)} grad_outputs; give one "
            "per output (None for a one-element output)")
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise GraphError("grad(): every input must be a tensor that requires grad")
    for t in outputs:
        if not t.requires_grad:
            raise GraphError("grad(): an output does not require grad; it does not depend on the "
                             "inputs through recorded ops")
    seeds = [_seed_gradient(o, g, "grad", create_graph) for o, g in zip(outputs, grad_outputs)]
    if retain_graph is None:
        retain_graph = create_graph
    results = run_backward(outputs, seeds, retain_graph, create_graph, capture=inputs)
    for t, g in zip(inputs, results):
        if g is None and not allow_unused:
            raise GraphError(
                f"grad(): an input of shape {t.shape} was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
    return tuple(results)
