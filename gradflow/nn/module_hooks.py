"""Module backward hooks: `register_full_backward_hook` and `register_full_backward_pre_hook`.

A call with backward hooks routes the module's tensor inputs and outputs through one
fresh graph node each (the tensors flattened and joined), and puts tensor hooks on
those nodes: the output node's hook sees grad_output, the input node's hook sees
grad_input (the gradient with respect to the inputs from this call alone, as in
PyTorch), and either may replace what flows on. Unlike PyTorch, an output that gets no
gradient shows zeros in grad_output rather than None.
"""

from __future__ import annotations

from gradflow.autograd.grad_mode import state as _grad_state
from gradflow.creation import zeros_like
from gradflow.ops.cast import cast, clone
from gradflow.ops.shape import cat
from gradflow.tensor import Tensor


def _needs_grad(value) -> bool:
    return isinstance(value, Tensor) and value.requires_grad


class _Joined:
    """Tensors that need a gradient, joined into one flat tensor on a fresh node."""

    def __init__(self, tensors: list[Tensor]):
        self.shapes = [t.shape for t in tensors]
        self.dtypes = [t.dtype for t in tensors]
        pieces = [cast(t, self.dtypes[0]).reshape(-1) for t in tensors]
        self.flat = cat(pieces) if len(pieces) > 1 else clone(pieces[0])

    def split(self, flat: Tensor) -> list[Tensor]:
        """The flat tensor (or its gradient) cut back into the original tensors."""
        parts, start = [], 0
        for shape, dtype in zip(self.shapes, self.dtypes):
            size = 1
            for n in shape:
                size *= n
            parts.append(cast(flat[start:start + size].reshape(shape), dtype))
            start += size
        return parts

    def join(self, tensors) -> Tensor:
        pieces = [cast(t, self.dtypes[0]).reshape(-1) for t in tensors]
        return cat(pieces) if len(pieces) > 1 else pieces[0]


def _replace(values, replacements) -> list:
    """replacements (None keeps the value) for the non-None entries of values."""
    return [old if new is None else new for old, new in zip(values, replacements)]


def call_with_backward_hooks(module, args: tuple, kwargs: dict):
    """module.forward(*args, **kwargs) with its backward hooks wired into the graph."""
    if not _grad_state.enabled:
        return module.forward(*args, **kwargs)
    positions = [i for i, a in enumerate(args) if _needs_grad(a)]
    record: dict = {}
    if positions:
        inputs = _Joined([args[i] for i in positions])
        unpacked = inputs.split(inputs.flat)
        args = list(args)
        for i, t in zip(positions, unpacked):
            args[i] = t
        args = tuple(args)

        def on_grad_input(grad: Tensor):
            # NOTE: as PyTorch: zeros for a tensor input that needs no gradient, None for
            # anything else that is not a tensor
            grads = [zeros_like(a) if isinstance(a, Tensor) else None for a in args]
            for i, g in zip(positions, inputs.split(grad)):
                grads[i] = g
            grads = _run_hooks(module, tuple(grads), record.get("grad_output", ()))
            return inputs.join([grads[i] for i in positions])

        inputs.flat.register_hook(on_grad_input)
    output = module.forward(*args, **kwargs)
    single = not isinstance(output, tuple)
    items = [output] if single else list(output)
    out_positions = [i for i, o in enumerate(items) if _needs_grad(o)]
    if not out_positions:
        return output
    outputs = _Joined([items[i] for i in out_positions])
    for i, t in zip(out_positions, outputs.split(outputs.flat)):
        items[i] = t

    def on_grad_output(grad: Tensor):
        grads = [None] * len(items)
        for i, g in zip(out_positions, outputs.split(grad)):
            grads[i] = g
        for hook in tuple(module._backward_pre_hooks.values()):
            result = hook(module, tuple(grads))
            if result is not None:
                grads = _replace(grads, result)
        record["grad_output"] = tuple(grads)
        if not positions:  # no input needs a gradient: the hooks run now, as in PyTorch
            _run_hooks(module, (None,) * len(args), record["grad_output"])
        return outputs.join([grads[i] for i in out_positions])

    outputs.flat.register_hook(on_grad_output)
    if single:
        return items[0]
    return type(output)(*items) if hasattr(output, "_fields") else tuple(items)


def _run_hooks(module, grad_input: tuple, grad_output: tuple) -> list:
    grads = list(grad_input)
    for hook in tuple(module._backward_hooks.values()):
        result = hook(module, tuple(grads), grad_output)
        if result is not None:
            if len(result) != len(grads):
                raise ValueError(f"backward hook of {type(module).__name__} returned "
                                 f"{len(result)} gradients for {len(grads)} inputs")
            grads = _replace(grads, result)
    return grads
