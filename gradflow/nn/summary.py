"""gf.nn.summary: layers, output shapes, parameter counts and memory, as torchinfo prints them."""

from __future__ import annotations

from dataclasses import dataclass, field

import gradflow as gf
from gradflow.errors import ConfigError


@dataclass
class LayerRow:
    """One module call: its path, depth, class, output shapes and own parameters.

    Example:
        >>> row = summary(gf.nn.Linear(3, 2), (4, 3)).rows[0]
        >>> row.kind, row.output_shapes, row.params
        ('Linear', [(4, 2)], 8)
    """

    name: str
    depth: int
    kind: str
    output_shapes: list = field(default_factory=list)
    params: int = 0
    trainable: int = 0
    output_bytes: int = 0


@dataclass
class ModelSummary:
    """What `summary` measured; `str()` (or the REPL) shows it as a table.

    Attributes:
        rows: one LayerRow per module call, in call order.
        total_params, trainable_params, non_trainable_params: parameter counts.
        input_bytes, forward_backward_bytes, params_bytes: memory estimates in bytes
            (activations counted twice: the forward values and their gradients).

    Example:
        >>> info = summary(gf.nn.Linear(3, 2), (4, 3))
        >>> info.trainable_params, info.params_bytes
        (8, 32)
    """

    rows: list
    total_params: int
    trainable_params: int
    input_bytes: int
    forward_backward_bytes: int
    params_bytes: int

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_bytes(self) -> int:
        return self.input_bytes + self.forward_backward_bytes + self.params_bytes

    def __str__(self) -> str:
        from gradflow.tables import render

        table = render(["Layer (type)", "Output shape", "Param #", "Trainable"],
                       [["  " * row.depth + f"{row.name} ({row.kind})" if row.name else row.kind,
                         ", ".join(str(list(s)) for s in row.output_shapes),
                         f"{row.params:,}" if row.params else "--",
                         f"{row.trainable:,}" if row.params else "--"] for row in self.rows],
                       right=(2, 3))
        megabytes = 1024 ** 2
        totals = [f"Total params: {self.total_params:,}",
                  f"Trainable params: {self.trainable_params:,}",
                  f"Non-trainable params: {self.non_trainable_params:,}",
                  f"Input size (MB): {self.input_bytes / megabytes:.2f}",
                  f"Forward/backward pass size (MB): {self.forward_backward_bytes / megabytes:.2f}",
                  f"Params size (MB): {self.params_bytes / megabytes:.2f}",
                  f"Estimated total size (MB): {self.total_bytes / megabytes:.2f}"]
        return table + "\n" + "\n".join(totals)

    __repr__ = __str__


def summary(model, input_size, device: str | None = None, dtype=None) -> ModelSummary:
    """Run one batch of zeros through `model` and tabulate every layer it calls.

    Args:
        model: a Module.
        input_size: the input's shape with the batch dimension, e.g. (1, 1, 28, 28), or a
            list of shapes for a model with several inputs.
        device: where to build the input (default: the device of the model's parameters).
        dtype: the input's dtype (default: that of the first floating parameter, or float32).

    Returns:
        A ModelSummary: print it for the table; its counts are attributes.

    Example:
        >>> model = gf.nn.Sequential(gf.nn.Linear(4, 8), gf.nn.ReLU(), gf.nn.Linear(8, 2))
        >>> info = summary(model, (16, 4))
        >>> info.total_params, info.rows[-1].output_shapes
        (58, [(16, 2)])
    """
    sizes = [tuple(input_size)] if input_size and isinstance(input_size[0], int) else [
        tuple(size) for size in input_size]
    if not sizes or not all(all(isinstance(d, int) and d > 0 for d in s) for s in sizes):
        raise ConfigError(f"summary: input_size must be a shape of positive ints (batch "
                          f"first) or a list of them, got {input_size!r}")
    parameters = list(model.parameters())
    device = device or (parameters[0].device if parameters else "cpu")
    if dtype is None:
        floating = [p.dtype for p in parameters if p.dtype.is_floating_point]
        dtype = floating[0] if floating else gf.float32
    inputs = [gf.zeros(size, dtype=dtype, device=device) for size in sizes]

    rows: list[LayerRow] = []
    open_rows: dict[int, list[LayerRow]] = {}  # per module, the calls not yet returned
    handles = []
    for name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        depth = name.count(".") + 1 if name else 0

        def before(module, args, name=name, depth=depth, own=own):
            rows.append(LayerRow(name, depth, type(module).__name__,
                                 params=sum(p.numel() for p in own),
                                 trainable=sum(p.numel() for p in own if p.requires_grad)))
            open_rows.setdefault(id(module), []).append(rows[-1])

        def after(module, args, output):
            row = open_rows[id(module)].pop()
            outputs = output if isinstance(output, (tuple, list)) else [output]
            tensors = [t for t in outputs if isinstance(t, gf.Tensor)]
            row.output_shapes = [tuple(t.shape) for t in tensors]
            row.output_bytes = sum(t.numel() * t.dtype.itemsize for t in tensors)

        handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    was_training = model.training
    model.eval()  # NOTE: no BatchNorm statistics change, no dropout draws
    try:
        with gf.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    leaves = [row for row in rows if not any(r.name.startswith(row.name + ".") or
                                             (not row.name and r.name) for r in rows)]
    seen, total, trainable, params_bytes = set(), 0, 0, 0
    for parameter in parameters:
        if id(parameter) not in seen:
            seen.add(id(parameter))
            total += parameter.numel()
            trainable += parameter.numel() if parameter.requires_grad else 0
            params_bytes += parameter.numel() * parameter.dtype.itemsize
    return ModelSummary(rows, total, trainable,
                        sum(t.numel() * t.dtype.itemsize for t in inputs),
                        2 * sum(row.output_bytes for row in leaves), params_bytes)
