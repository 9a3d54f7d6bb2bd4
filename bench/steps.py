"""Training-step benchmark: one SGD step of the MLP and the CNN, gradflow vs PyTorch vs NumPy.

A step is ``optimizer.zero_grad()``, forward, ``cross_entropy``, backward and ``optimizer.step()``
(SGD, lr 0.01) on a fixed random float32 batch:

- MLP 784-512-256-10 with ReLU, batch 128;
- CNN conv(1->32, 3x3, pad 1) ReLU maxpool(2), conv(32->64) ReLU maxpool(2),
  linear(3136->128) ReLU, linear(128->10), batch 64 (``gradflow.models.cnn()``).

Contenders, interleaved in this process (``harness.measure``): gradflow (``gradflow.nn``
layers, ``F.cross_entropy``, ``gradflow.optim.SGD``), PyTorch CPU (the CNN also in
channels_last) and the hand-written NumPy steps of ``reference_numpy``. Before timing, gradflow
and PyTorch are given the same weights and inputs and must agree on the loss and gradients.

Usage (from the repository root):
    python bench/steps.py                 # both models, ~1 minute
    python bench/steps.py --model mlp --quick
"""

from __future__ import annotations

import argparse
import functools
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import reference_numpy
import reference_torch
import suite
from harness import Contender

MLP_SIZES = (784, 512, 256, 10)
MLP_BATCH = 128
CNN_BATCH = 64
LEARNING_RATE = reference_numpy.LEARNING_RATE
MODELS = ("mlp", "cnn")
DEFAULT_BATCHES = {"mlp": MLP_BATCH, "cnn": CNN_BATCH}
TITLES = {
    "mlp": f"MLP {'-'.join(map(str, MLP_SIZES))} step, batch {MLP_BATCH}, float32",
    "cnn": f"CNN (2 conv + 2 linear) step, batch {CNN_BATCH}, float32",
}
# gradflow vs PyTorch with the same weights and inputs, float32.
LOSS_RTOL = 1e-5
GRAD_RTOL = 1e-4  # relative to each gradient's largest entry


class SanityError(AssertionError):
    """gradflow's model does not compute what PyTorch's does for the same weights."""


def build_gradflow_model(model: str) -> Any:
    """gradflow's MLP (``Linear``/``ReLU`` stack, like ``reference_torch.build_mlp``) or CNN.

    Layer indices match ``reference_torch``'s models, so their state dicts have the same keys.

    Args:
        model: ``"mlp"`` or ``"cnn"``.

    Returns:
        An ``nn.Sequential`` in float32 on the CPU.

    Example:
        >>> build_gradflow_model("mlp")[0].weight.shape
        (512, 784)
    """
    from gradflow import models, nn

    if model == "cnn":
        return models.cnn()
    layers: list[Any] = []
    for fan_in, fan_out in itertools.pairwise(MLP_SIZES):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def input_shape(model: str, batch: int) -> tuple[int, ...]:
    return (batch, MLP_SIZES[0]) if model == "mlp" else (batch, 1, 28, 28)


def gradflow_trainer(model: Any, gf: Any = None) -> Callable[[Any, Any], Any]:
    """SGD (lr 0.01) on ``model``'s parameters; return ``train_step(inputs, labels)``.

    Args:
        model: a gradflow ``nn.Module``, already on its device.
        gf: the gradflow package to take SGD and cross-entropy from (default ``gradflow``).

    Returns:
        ``train_step(inputs, labels)``: zero_grad, forward, cross-entropy, backward, SGD
        update; returns the loss tensor.

    Example:
        >>> train_step = gradflow_trainer(build_gradflow_model("mlp"))
        >>> loss = train_step(gf.randn(2, 784), gf.tensor([3, 1]))
    """
    if gf is None:  # another version of gradflow may be given (bench/protocol_ab.py)
        import gradflow as gf

    optimizer = gf.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    cross_entropy = gf.nn.functional.cross_entropy

    def train_step(inputs: Any, labels: Any) -> Any:
        optimizer.zero_grad()
        loss = cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        return loss

    return train_step


def gradflow_step_factory(
    model: str, batch: int | None = None, seed: int = 0, device: str = "cpu"
) -> Callable[[], Any]:
    """gradflow's training step on a fixed random batch.

    Args:
        model: ``"mlp"`` or ``"cnn"``.
        batch: batch size (default 128 for the MLP, 64 for the CNN).
        seed: ``gradflow.manual_seed`` for weights and data.
        device: gradflow device (``"cpu"``, ``"cuda"``).

    Returns:
        ``step()``; it returns the loss tensor.

    Example:
        >>> step = gradflow_step_factory("mlp", batch=8)
        >>> step().shape
        ()
    """
    import gradflow as gf

    batch = batch or (MLP_BATCH if model == "mlp" else CNN_BATCH)
    gf.manual_seed(seed)
    network = build_gradflow_model(model).to(device)
    inputs = gf.randn(*input_shape(model, batch), device=device)
    labels = gf.randint(0, 10, (batch,), device=device)
    train_step = gradflow_trainer(network)

    def step() -> Any:
        return train_step(inputs, labels)

    return step


def torch_step_factory(
    model: str, batch: int | None = None, channels_last: bool = False, device: str = "cpu"
) -> Callable[[], None]:
    """PyTorch's step from ``reference_torch`` (``channels_last`` only for the CNN)."""
    if model == "mlp":
        return reference_torch.mlp_step_factory(batch=batch or MLP_BATCH, device=device)
    return reference_torch.cnn_step_factory(
        batch=batch or CNN_BATCH, channels_last=channels_last, device=device
    )


def numpy_step_factory(model: str, batch: int | None = None) -> Callable[[], None]:
    """The hand-written NumPy step from ``reference_numpy``."""
    if model == "mlp":
        return reference_numpy.mlp_step_factory(batch=batch or MLP_BATCH)
    return reference_numpy.cnn_step_factory(batch=batch or CNN_BATCH)


def check_against_torch(model: str, batch: int = 8, seed: int = 0) -> dict[str, float]:
    """Load PyTorch's initial weights into gradflow's model; compare loss and gradients.

    Args:
        model: ``"mlp"`` or ``"cnn"``.
        batch: batch size of the check.
        seed: seed for torch's weights and the shared batch.

    Returns:
        ``{"torch_loss", "gradflow_loss", "max_grad_error"}``; the gradient error is the
        largest ``|gradflow - torch| / max|torch|`` over the parameters.

    Raises:
        SanityError: the losses or gradients differ by more than float32 rounding.

    Example:
        >>> check_against_torch("mlp")["max_grad_error"] < 1e-4
        True
    """
    import gradflow as gf
    from gradflow.nn import functional

    torch = reference_torch._torch()
    torch.manual_seed(seed)
    torch_model = reference_torch.build_mlp(MLP_SIZES) if model == "mlp" else (
        reference_torch.build_cnn()
    )
    inputs = torch.randn(*input_shape(model, batch))
    labels = torch.randint(0, 10, (batch,))
    torch_loss = torch.nn.functional.cross_entropy(torch_model(inputs), labels)
    torch_loss.backward()

    network = build_gradflow_model(model)
    network.load_state_dict({name: value.numpy()
                             for name, value in torch_model.state_dict().items()})
    loss = functional.cross_entropy(network(gf.tensor(inputs.numpy())), gf.tensor(labels.numpy()))
    loss.backward()

    torch_grads = {name: param.grad.numpy() for name, param in torch_model.named_parameters()}
    errors = {}
    for name, param in network.named_parameters():
        expected = torch_grads[name]
        actual = param.grad.numpy()
        errors[name] = float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-30))
    report = {
        "torch_loss": float(torch_loss.item()),
        "gradflow_loss": float(loss.item()),
        "max_grad_error": max(errors.values()),
        "batch": batch,
    }
    loss_error = abs(report["gradflow_loss"] - report["torch_loss"]) / abs(report["torch_loss"])
    if loss_error > LOSS_RTOL or report["max_grad_error"] > GRAD_RTOL:
        raise SanityError(
            f"{model}: gradflow and PyTorch disagree for the same weights: loss "
            f"{report['gradflow_loss']!r} vs {report['torch_loss']!r}, gradient errors {errors}"
        )
    return report


def contenders(model: str, batch: int | None = None) -> list[Contender]:
    """gradflow first (the ratio baseline), then NumPy and PyTorch (both layouts for the CNN)."""
    group = [
        Contender(suite.GRADFLOW, functools.partial(gradflow_step_factory, model, batch)),
        Contender(suite.NUMPY, functools.partial(numpy_step_factory, model, batch)),
        Contender(suite.TORCH, functools.partial(torch_step_factory, model, batch)),
    ]
    if model == "cnn":
        group.append(
            Contender(
                suite.TORCH_CHANNELS_LAST,
                functools.partial(torch_step_factory, model, batch, channels_last=True),
            )
        )
    return group


def run(settings: suite.Settings, models: tuple[str, ...] = MODELS) -> dict[str, dict[str, Any]]:
    """Check, then time each model's step; save ``steps_<model>.json``; return the results."""
    settings.apply_threads()
    sections = {}
    for model in models:
        sanity = check_against_torch(model)
        print(
            f"# {model}: gradflow and PyTorch agree for the same weights: loss "
            f"{sanity['gradflow_loss']:.6f} vs {sanity['torch_loss']:.6f}, "
            f"max gradient error {sanity['max_grad_error']:.1e}"
        )
        batch = settings.batches[model]
        results = settings.measure(contenders(model, batch))
        results["sanity"] = sanity
        results["batch"] = batch
        title = (TITLES[model] if batch == DEFAULT_BATCHES[model]
                 else f"{TITLES[model]} (batch {batch})")
        suite.save_section(f"steps_{model}", title, results, settings)
        sections[f"steps_{model}"] = results
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=(*MODELS, "both"), default="both")
    suite.add_arguments(parser)
    args = parser.parse_args()
    models = MODELS if args.model == "both" else (args.model,)
    run(suite.settings_from(args), models)


if __name__ == "__main__":
    main()
