"""Hand-written NumPy training steps: the speed a NumPy-backed framework should aim at.

float32 throughout. Every buffer is allocated once, in ``__init__``; a step writes into them
with ``out=`` and in-place ufuncs, so a warmed-up step allocates (almost) nothing and takes no
page faults (see docs/benchmarking.md on why that matters on these machines).

The CNN works in NHWC (layers in ``numpy_conv``): the im2col matrix of a 3x3 convolution
has rows (n, h, w) and columns (kh, kw, c), one matmul gives the NHWC output directly, and
the flattening before the first linear layer is free. The first convolution orders its output
rows by pooling corner instead, so its 2x2 max-pool runs on contiguous blocks.

Each model exposes ``forward_backward()`` (returns the loss, leaves gradients in ``grads``)
and ``sgd_update()``; ``step()`` does both. The ``*_step_factory`` functions return ``step``.
"""

from __future__ import annotations

import itertools
import math
import types
from collections.abc import Callable

import numpy as np
from numpy_conv import Conv3x3, CornerMajorConv3x3, MaxPool2x2

LEARNING_RATE = 0.01
DTYPE = np.float32


def _uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-bound, bound, size=shape).astype(DTYPE)


def _he_normal(rng: np.random.Generator, fan_in: int, shape: tuple[int, ...]) -> np.ndarray:
    # NOTE: a Python float scale keeps the product float32 (a NumPy float64 scalar would not).
    return rng.standard_normal(shape, dtype=DTYPE) * math.sqrt(2.0 / fan_in)


class _SoftmaxCrossEntropy:
    """Mean softmax cross-entropy over a batch, with preallocated scratch."""

    def __init__(self, batch: int, labels: np.ndarray) -> None:
        self.labels = labels
        self.rows = np.arange(batch)
        self.row_buffer = np.empty((batch, 1), DTYPE)
        self.inverse_batch = 1.0 / batch

    def __call__(self, logits: np.ndarray, grad: np.ndarray) -> float:
        """Return the loss; write d loss / d logits into ``grad``. Overwrites ``logits``."""
        # NOTE: subtracting the row max keeps exp() from overflowing; the loss is unchanged.
        np.max(logits, axis=1, keepdims=True, out=self.row_buffer)
        np.subtract(logits, self.row_buffer, out=logits)
        np.exp(logits, out=grad)
        np.sum(grad, axis=1, keepdims=True, out=self.row_buffer)
        picked = logits[self.rows, self.labels]
        loss = (np.log(self.row_buffer).sum() - picked.sum()) * self.inverse_batch
        np.divide(grad, self.row_buffer, out=grad)
        grad[self.rows, self.labels] -= 1.0
        grad *= self.inverse_batch
        return float(loss)


class _Model:
    """Parameters and gradients as parallel dicts, plus plain SGD."""

    params: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    learning_rate: float

    def _init_sgd(self) -> None:
        self.grads = {name: np.zeros_like(param) for name, param in self.params.items()}
        largest = max(param.size for param in self.params.values())
        self._update_scratch = np.empty(largest, DTYPE)

    def sgd_update(self) -> None:
        for name, param in self.params.items():
            grad = self.grads[name]
            scaled = self._update_scratch[: grad.size].reshape(grad.shape)
            np.multiply(grad, self.learning_rate, out=scaled)
            np.subtract(param, scaled, out=param)

    def forward_backward(self) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.forward_backward()
        self.sgd_update()

    def arrays(self) -> dict[str, np.ndarray]:
        """Every ndarray the model and its layers hold, by attribute path (for dtype checks)."""
        return _find_arrays(self, "")


def _find_arrays(holder: object, prefix: str) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for attribute, value in vars(holder).items():
        path = f"{prefix}{attribute}"
        items: list[tuple[str, object]] = []
        if isinstance(value, dict):
            items = [(f"{path}.{key}", item) for key, item in value.items()]
        elif isinstance(value, list):
            items = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
        else:
            items = [(path, value)]
        for name, item in items:
            if isinstance(item, np.ndarray):
                found[name] = item
            elif hasattr(item, "__dict__") and not isinstance(item, types.MethodType):
                found.update(_find_arrays(item, f"{name}."))
    return found


class NumpyMLP(_Model):
    """Fully connected ReLU network trained with softmax cross-entropy and SGD.

    Weights are stored (fan_in, fan_out): ``y = x @ W + b``. Parameter names: ``w0, b0, w1,
    b1, ...``.

    Args:
        batch: rows of the fixed random input batch.
        sizes: layer widths, input first, classes last.
        seed: seed for weights and data.
        learning_rate: SGD step size.

    Example:
        >>> model = NumpyMLP(batch=4, sizes=(8, 6, 3))
        >>> loss = model.forward_backward()
        >>> model.grads["w0"].shape
        (8, 6)
    """

    def __init__(
        self,
        batch: int = 128,
        sizes: tuple[int, ...] = (784, 512, 256, 10),
        seed: int = 0,
        learning_rate: float = LEARNING_RATE,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.learning_rate = learning_rate
        self.layer_count = len(sizes) - 1
        self.params = {}
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            self.params[f"w{layer}"] = _he_normal(rng, fan_in, (fan_in, fan_out))
            self.params[f"b{layer}"] = _uniform(rng, 1.0 / math.sqrt(fan_in), (fan_out,))
        self._init_sgd()

        self.inputs = rng.standard_normal((batch, sizes[0]), dtype=DTYPE)
        self.labels = rng.integers(0, sizes[-1], size=batch)
        # activations[0] is the input; activations[k] the (post-ReLU) output of layer k - 1.
        self.activations = [self.inputs] + [np.empty((batch, width), DTYPE) for width in sizes[1:]]
        # output_grads[k]: d loss / d (output of layer k), pre-activation.
        self.output_grads = [np.empty((batch, width), DTYPE) for width in sizes[1:]]
        self.relu_masks = [np.empty((batch, width), np.bool_) for width in sizes[1:-1]]
        self.loss_function = _SoftmaxCrossEntropy(batch, self.labels)

    def forward_backward(self) -> float:
        activations = self.activations
        last = self.layer_count - 1
        for layer in range(self.layer_count):
            out = activations[layer + 1]
            np.matmul(activations[layer], self.params[f"w{layer}"], out=out)
            out += self.params[f"b{layer}"]
            if layer < last:
                np.maximum(out, 0.0, out=out)

        loss = self.loss_function(activations[-1], self.output_grads[-1])

        for layer in range(last, -1, -1):
            grad_out = self.output_grads[layer]
            np.matmul(activations[layer].T, grad_out, out=self.grads[f"w{layer}"])
            np.sum(grad_out, axis=0, out=self.grads[f"b{layer}"])
            if layer == 0:
                break
            grad_in = self.output_grads[layer - 1]
            np.matmul(grad_out, self.params[f"w{layer}"].T, out=grad_in)
            # NOTE: ReLU's gradient is taken as 0 at 0 (output > 0), as in PyTorch.
            mask = self.relu_masks[layer - 1]
            np.greater(activations[layer], 0.0, out=mask)
            np.multiply(grad_in, mask, out=grad_in)
        return loss


class NumpyCNN(_Model):
    """conv(1->32) ReLU pool, conv(32->64) ReLU pool, linear(3136->128) ReLU, linear(128->10).

    NHWC layout; 28x28 single-channel input. Parameters: ``conv1_w`` (3, 3, 1, 32) and
    ``conv2_w`` (3, 3, 32, 64) as (kh, kw, in, out); ``fc1_w`` (3136, 128) with rows in
    (h, w, c) order; ``fc2_w`` (128, 10); biases ``conv1_b``, ``conv2_b``, ``fc1_b``,
    ``fc2_b``. To load PyTorch weights: conv ``w.permute(2, 3, 1, 0)``, fc1
    ``w.reshape(128, 64, 7, 7).permute(2, 3, 1, 0).reshape(3136, 128)``, fc2 ``w.T``.

    Args:
        batch: images in the fixed random batch.
        seed: seed for weights and data.
        learning_rate: SGD step size.

    Example:
        >>> model = NumpyCNN(batch=2)
        >>> loss = model.forward_backward()
        >>> model.grads["conv2_w"].shape
        (3, 3, 32, 64)
    """

    def __init__(self, batch: int = 64, seed: int = 0, learning_rate: float = LEARNING_RATE):
        rng = np.random.default_rng(seed)
        self.learning_rate = learning_rate
        self.params = {
            "conv1_w": _he_normal(rng, 9, (3, 3, 1, 32)),
            "conv1_b": _uniform(rng, 1 / 3, (32,)),
            "conv2_w": _he_normal(rng, 9 * 32, (3, 3, 32, 64)),
            "conv2_b": _uniform(rng, 1 / math.sqrt(9 * 32), (64,)),
            "fc1_w": _he_normal(rng, 3136, (3136, 128)),
            "fc1_b": _uniform(rng, 1 / math.sqrt(3136), (128,)),
            "fc2_w": _he_normal(rng, 128, (128, 10)),
            "fc2_b": _uniform(rng, 1 / math.sqrt(128), (10,)),
        }
        self._init_sgd()

        self.inputs = rng.standard_normal((batch, 28, 28, 1), dtype=DTYPE)
        self.labels = rng.integers(0, 10, size=batch)

        self.conv1 = CornerMajorConv3x3(batch, 28, 28, 1, 32)
        self.pool1 = MaxPool2x2((batch, 14, 14, 32))
        self.conv2 = Conv3x3(batch, 14, 14, 32, 64)
        self.pool2 = MaxPool2x2((batch, 7, 7, 64))
        # Block 1's activation lives inside conv2's padded input; block 2's is fc1's input.
        self.block1 = self.conv2.interior
        self.block2 = np.empty((batch, 7, 7, 64), DTYPE)
        self.flat = self.block2.reshape(batch, 3136)
        self.hidden = np.empty((batch, 128), DTYPE)
        self.logits = np.empty((batch, 10), DTYPE)

        self.logits_grad = np.empty_like(self.logits)
        self.hidden_grad = np.empty_like(self.hidden)
        self.block2_grad = np.empty_like(self.block2)
        self.flat_grad = self.block2_grad.reshape(batch, 3136)
        self.block1_grad = np.empty((batch, 14, 14, 32), DTYPE)
        self.mask2 = np.empty(self.block2.shape, np.bool_)
        self.mask1 = np.empty(self.block1_grad.shape, np.bool_)
        self.hidden_mask = np.empty(self.hidden.shape, np.bool_)
        self.loss_function = _SoftmaxCrossEntropy(batch, self.labels)

    def forward_backward(self) -> float:
        params, grads = self.params, self.grads
        # NOTE: each block runs conv -> max-pool -> +bias -> ReLU. That equals the usual
        # conv -> +bias -> ReLU -> max-pool exactly (a per-channel bias and a monotonic ReLU
        # commute with max), gradients included, and does the elementwise work at 1/4 size.
        np.copyto(self.conv1.interior, self.inputs)
        conv1_out = self.conv1.forward(params["conv1_w"])
        self.pool1.forward(self.conv1.corners(conv1_out), self.block1)
        self.block1 += params["conv1_b"]
        np.maximum(self.block1, 0.0, out=self.block1)

        conv2_out = self.conv2.forward(params["conv2_w"])
        self.pool2.forward(self.conv2.corners(conv2_out), self.block2)
        self.block2 += params["conv2_b"]
        np.maximum(self.block2, 0.0, out=self.block2)

        np.matmul(self.flat, params["fc1_w"], out=self.hidden)
        self.hidden += params["fc1_b"]
        np.maximum(self.hidden, 0.0, out=self.hidden)
        np.matmul(self.hidden, params["fc2_w"], out=self.logits)
        self.logits += params["fc2_b"]

        loss = self.loss_function(self.logits, self.logits_grad)

        np.matmul(self.hidden.T, self.logits_grad, out=grads["fc2_w"])
        np.sum(self.logits_grad, axis=0, out=grads["fc2_b"])
        np.matmul(self.logits_grad, params["fc2_w"].T, out=self.hidden_grad)
        np.greater(self.hidden, 0.0, out=self.hidden_mask)
        np.multiply(self.hidden_grad, self.hidden_mask, out=self.hidden_grad)

        np.matmul(self.flat.T, self.hidden_grad, out=grads["fc1_w"])
        np.sum(self.hidden_grad, axis=0, out=grads["fc1_b"])
        np.matmul(self.hidden_grad, params["fc1_w"].T, out=self.flat_grad)
        np.greater(self.block2, 0.0, out=self.mask2)
        np.multiply(self.block2_grad, self.mask2, out=self.block2_grad)
        np.sum(self.block2_grad, axis=(0, 1, 2), out=grads["conv2_b"])

        self.pool2.backward(self.block2_grad, self.conv2.corners(self.conv2.output_grad))
        self.conv2.backward(params["conv2_w"], grads["conv2_w"], self.block1_grad)
        np.greater(self.block1, 0.0, out=self.mask1)
        np.multiply(self.block1_grad, self.mask1, out=self.block1_grad)
        np.sum(self.block1_grad, axis=(0, 1, 2), out=grads["conv1_b"])

        self.pool1.backward(self.block1_grad, self.conv1.corners(self.conv1.output_grad))
        self.conv1.backward(grads["conv1_w"])
        return loss


def mlp_step_factory(
    batch: int = 128, sizes: tuple[int, ...] = (784, 512, 256, 10), seed: int = 0
) -> Callable[[], None]:
    """Build a NumPy MLP on fixed random data; return its training step.

    Args:
        batch: batch size.
        sizes: layer widths, input first.
        seed: seed for weights and data.

    Returns:
        ``step()``: forward (ReLU), softmax cross-entropy, backward, SGD (lr 0.01).

    Example:
        >>> step = mlp_step_factory(batch=8)
        >>> step()
        >>> step()
    """
    return NumpyMLP(batch=batch, sizes=sizes, seed=seed).step


def cnn_step_factory(batch: int = 64, seed: int = 0) -> Callable[[], None]:
    """Build the NumPy CNN (NHWC, im2col) on fixed random data; return its training step.

    Args:
        batch: batch size.
        seed: seed for weights and data.

    Returns:
        ``step()``: forward, softmax cross-entropy, backward, SGD (lr 0.01).

    Example:
        >>> step = cnn_step_factory(batch=4)
        >>> step()
        >>> step()
    """
    return NumpyCNN(batch=batch, seed=seed).step
