"""PyTorch CPU reference steps, and the 200-op chain that measures per-op overhead.

The models match ``reference_numpy``: MLP 784-512-256-10 (batch 128) and the two-conv CNN
(batch 64), softmax cross-entropy, plain SGD with lr 0.01, float32, two threads.

torch is imported only when a factory is called, so ``CHAIN_CYCLE`` and
``numpy_chain_factory`` can be used without paying for ``import torch`` (~220 MiB and its own
thread pools) in the measuring process.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

LEARNING_RATE = 0.01
TORCH_THREADS = 2

# The per-op overhead chain: these five ops, in this order, repeated until n_ops ops, then
# `.sum().backward()`. Any contender timed on the chain must run exactly this sequence:
#   x = x * 1.001; x = x + 0.01; x = x.tanh(); x = x - 0.001; x = x.sigmoid()
CHAIN_CYCLE = ("mul_scalar", "add_scalar", "tanh", "sub_scalar", "sigmoid")
CHAIN_SCALARS = {"mul_scalar": 1.001, "add_scalar": 0.01, "sub_scalar": 0.001}
CHAIN_OPS = 200
CHAIN_SIZE = 4
CHAIN_START = 0.5  # every element of the chain's input


def chain_op_names(n_ops: int = CHAIN_OPS) -> tuple[str, ...]:
    """The chain's op sequence: ``CHAIN_CYCLE`` repeated and cut to ``n_ops`` ops.

    Args:
        n_ops: chain length.

    Returns:
        Op names, in order.

    Example:
        >>> chain_op_names(7)
        ('mul_scalar', 'add_scalar', 'tanh', 'sub_scalar', 'sigmoid', 'mul_scalar', 'add_scalar')
    """
    return tuple(CHAIN_CYCLE[index % len(CHAIN_CYCLE)] for index in range(n_ops))


def _torch() -> Any:
    import torch

    torch.set_num_threads(TORCH_THREADS)
    return torch


def build_mlp(sizes: tuple[int, ...] = (784, 512, 256, 10)) -> torch.nn.Module:
    """``Linear``/``ReLU`` stack with the given widths (no ReLU after the last layer).

    Args:
        sizes: layer widths, input first.

    Returns:
        An ``nn.Sequential`` in float32.

    Example:
        >>> model = build_mlp((8, 4, 2))
        >>> len(model)
        3
    """
    nn = _torch().nn
    layers: list[Any] = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def build_cnn() -> torch.nn.Module:
    """conv(1->32) ReLU pool, conv(32->64) ReLU pool, linear(3136->128) ReLU, linear(128->10).

    Returns:
        An ``nn.Sequential`` in float32 taking (N, 1, 28, 28) images.

    Example:
        >>> model = build_cnn()
        >>> model[0].weight.shape
        torch.Size([32, 1, 3, 3])
    """
    nn = _torch().nn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def trainer(model: Any) -> Callable[[Any, Any], Any]:
    """SGD (lr 0.01) on ``model``'s parameters; return ``train_step(inputs, labels)``.

    Args:
        model: a ``torch.nn.Module``, already on its device.

    Returns:
        ``train_step(inputs, labels)``: zero_grad(set_to_none), forward, cross-entropy,
        backward, SGD update; returns the loss tensor.

    Example:
        >>> train_step = trainer(build_mlp((8, 4, 2)))
        >>> loss = train_step(_torch().randn(3, 8), _torch().tensor([0, 1, 1]))
    """
    torch = _torch()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    cross_entropy = torch.nn.functional.cross_entropy

    def train_step(inputs: Any, labels: Any) -> Any:
        optimizer.zero_grad(set_to_none=True)
        loss = cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        return loss

    return train_step


def _training_step(model: Any, inputs: Any, labels: Any, device: str) -> Callable[[], None]:
    model, inputs, labels = model.to(device), inputs.to(device), labels.to(device)
    train_step = trainer(model)

    def step() -> None:
        train_step(inputs, labels)

    return step


def mlp_step_factory(
    batch: int = 128,
    sizes: tuple[int, ...] = (784, 512, 256, 10),
    seed: int = 0,
    device: str = "cpu",
) -> Callable[[], None]:
    """PyTorch MLP on fixed random data; return its training step.

    Args:
        batch: batch size.
        sizes: layer widths, input first.
        seed: seed for weights and data.
        device: ``"cpu"`` or ``"cuda"``; weights and data are drawn on the CPU, then moved.

    Returns:
        ``step()``: zero_grad(set_to_none), forward, cross-entropy, backward, SGD (lr 0.01).

    Example:
        >>> step = mlp_step_factory(batch=8)
        >>> step()
    """
    torch = _torch()
    torch.manual_seed(seed)
    model = build_mlp(sizes)
    inputs = torch.randn(batch, sizes[0])
    labels = torch.randint(0, sizes[-1], (batch,))
    return _training_step(model, inputs, labels, device)


def cnn_step_factory(
    batch: int = 64, seed: int = 0, channels_last: bool = False, device: str = "cpu"
) -> Callable[[], None]:
    """PyTorch CNN on fixed random (N, 1, 28, 28) data; return its training step.

    Args:
        batch: batch size.
        seed: seed for weights and data.
        channels_last: convert model and input to ``torch.channels_last`` (NHWC in memory).
        device: ``"cpu"`` or ``"cuda"``; weights and data are drawn on the CPU, then moved.

    Returns:
        ``step()``: zero_grad(set_to_none), forward, cross-entropy, backward, SGD (lr 0.01).

    Example:
        >>> step = cnn_step_factory(batch=4, channels_last=True)
        >>> step()
    """
    torch = _torch()
    torch.manual_seed(seed)
    model = build_cnn()
    inputs = torch.randn(batch, 1, 28, 28)
    labels = torch.randint(0, 10, (batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        inputs = inputs.to(memory_format=torch.channels_last)
    return _training_step(model, inputs, labels, device)


def chain_step(leaf: Any, n_ops: int = CHAIN_OPS) -> Callable[[], Any]:
    """The chain's step on ``leaf``, for any framework with PyTorch's tensor names.

    ``leaf`` needs ``* + -`` with Python floats, ``tanh()``, ``sigmoid()``, ``sum()``,
    ``backward()``, ``detach()`` and an assignable ``grad`` (PyTorch and gradflow have them).

    Args:
        leaf: a float32 tensor that requires grad.
        n_ops: chain length.

    Returns:
        ``step()`` running the chain forward and backward; it returns the chain's output
        (detached). The leaf's ``.grad`` is reset each step, so every step does the same work.

    Example:
        >>> step = chain_step(_torch().full((4,), 0.5, requires_grad=True), n_ops=10)
        >>> output = step()
    """
    cycles, remainder = divmod(n_ops, len(CHAIN_CYCLE))
    tail = chain_op_names(len(CHAIN_CYCLE))[:remainder]
    mul, add, sub = (CHAIN_SCALARS[name] for name in ("mul_scalar", "add_scalar", "sub_scalar"))
    tail_ops = {
        "mul_scalar": lambda x: x * mul,
        "add_scalar": lambda x: x + add,
        "tanh": lambda x: x.tanh(),
        "sub_scalar": lambda x: x - sub,
    }

    def step() -> Any:
        leaf.grad = None
        x = leaf
        for _ in range(cycles):
            x = x * mul
            x = x + add
            x = x.tanh()
            x = x - sub
            x = x.sigmoid()
        for name in tail:
            x = tail_ops[name](x)
        x.sum().backward()
        return x.detach()

    return step


def chain_factory(
    n_ops: int = CHAIN_OPS, size: int = CHAIN_SIZE, device: str = "cpu"
) -> Callable[[], Any]:
    """PyTorch chain of ``n_ops`` elementwise ops (``CHAIN_CYCLE``) plus ``.sum().backward()``.

    Per-op time = step time / n_ops. The input is a float32 leaf of ``size`` elements that
    requires grad (see ``chain_step``).

    Args:
        n_ops: chain length.
        size: elements in the tensor.
        device: ``"cpu"`` or ``"cuda"``.

    Returns:
        ``step()`` running the chain forward and backward; it returns the chain's output
        (detached).

    Example:
        >>> step = chain_factory(n_ops=10)
        >>> output = step()
    """
    torch = _torch()
    leaf = torch.full(
        (size,), CHAIN_START, dtype=torch.float32, device=device, requires_grad=True
    )
    return chain_step(leaf, n_ops)


def numpy_chain_factory(
    n_ops: int = CHAIN_OPS, size: int = CHAIN_SIZE
) -> Callable[[], np.ndarray]:
    """The same chain, forward only, in NumPy float32: the floor for a NumPy-backed forward.

    Sigmoid is written ``1 / (1 + exp(-x))`` (four ufunc calls); the rest are one call each.

    Args:
        n_ops: chain length.
        size: elements in the array.

    Returns:
        ``step()`` running the chain forward; it returns the chain's output.

    Example:
        >>> step = numpy_chain_factory(n_ops=10)
        >>> step().dtype
        dtype('float32')
    """
    start = np.full(size, CHAIN_START, dtype=np.float32)
    cycles, remainder = divmod(n_ops, len(CHAIN_CYCLE))
    tail = chain_op_names(len(CHAIN_CYCLE))[:remainder]
    mul, add, sub = (CHAIN_SCALARS[name] for name in ("mul_scalar", "add_scalar", "sub_scalar"))
    tail_ops = {
        "mul_scalar": lambda x: x * mul,
        "add_scalar": lambda x: x + add,
        "tanh": np.tanh,
        "sub_scalar": lambda x: x - sub,
    }

    def step() -> np.ndarray:
        x = start
        for _ in range(cycles):
            x = x * mul
            x = x + add
            x = np.tanh(x)
            x = x - sub
            x = 1.0 / (1.0 + np.exp(-x))
        for name in tail:
            x = tail_ops[name](x)
        return x

    return step
