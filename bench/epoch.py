"""One Fashion-MNIST training epoch per model: gradflow vs PyTorch (default layout) vs NumPy.

An epoch is a pass over the 60,000 training images in a freshly shuffled order, in batches of
128 (MLP) or 64 (CNN); the last, smaller batch is trained too. The time includes shuffling
and gathering each batch. Images are the standardised float32 arrays of
``gradflow.data.FashionMNIST``, shared by all contenders:

- gradflow: ``DataLoader(TensorDataset(images, labels), shuffle=True, seed=0)``, the models of
  ``steps.py``, ``gradflow.optim.SGD``;
- PyTorch: ``DataLoader`` over a ``TensorDataset`` with a ``BatchSampler(RandomSampler)``, so
  each batch is one gather (as gradflow's loader does), not 128 ``__getitem__`` calls;
- NumPy: ``rng.permutation`` and ``np.take`` into the reference model's input buffer.

Method: every contender first trains a few warm-up batches; then rounds interleave one epoch
per contender, rotating the order, and the median over rounds is reported (5 epochs for the
MLP, 3 for the CNN by default: a CNN round takes about a minute), with the spread and the
median of the per-round ratios. The models keep training from round to round.

Usage (from the repository root):
    python bench/epoch.py                         # both models, several minutes
    python bench/epoch.py --model mlp --limit 2048
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import reference_numpy
import reference_torch
import steps
import suite
from harness import Contender

BATCHES = {"mlp": 128, "cnn": 64}
WARMUP_BATCHES = 5
SEED = 0
TITLES = {
    "mlp": "Fashion-MNIST training epoch, MLP, batch 128",
    "cnn": "Fashion-MNIST training epoch, CNN, batch 64",
}


def load_data(limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The training images (N, 1, 28, 28) float32, standardised, and int64 labels.

    Args:
        limit: keep only the first this many images.

    Returns:
        ``(images, labels)``, C-contiguous NumPy arrays.
    """
    from gradflow.data.datasets import FashionMNIST

    images, labels = (tensor.numpy() for tensor in FashionMNIST(train=True).tensors)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return np.ascontiguousarray(images, np.float32), np.ascontiguousarray(labels, np.int64)


def _model_inputs(model: str, images: np.ndarray) -> np.ndarray:
    # The MLP takes flat rows; the CNN's (N, 1, 28, 28) is used as is.
    return images.reshape(len(images), -1) if model == "mlp" else images


def _train_from_loader(
    loader: Any, train_step: Callable[[Any, Any], Any], max_batches: int | None = None
) -> float:
    """One pass over ``loader`` (or its first ``max_batches``); returns the last loss."""
    loss = None
    for index, (inputs, targets) in enumerate(loader):
        if index == max_batches:
            break
        loss = train_step(inputs, targets)
    return float(loss.item())


def gradflow_epoch_factory(
    model: str, images: np.ndarray, labels: np.ndarray, batch: int
) -> Callable[[int | None], float]:
    """Build gradflow's model and loader; return ``train(max_batches=None) -> last loss``."""
    import gradflow as gf
    from gradflow.data import DataLoader, TensorDataset

    gf.manual_seed(SEED)
    network = steps.build_gradflow_model(model)
    train_step = steps.gradflow_trainer(network)
    dataset = TensorDataset(gf.as_tensor(_model_inputs(model, images)), gf.as_tensor(labels))
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, seed=SEED)

    return functools.partial(_train_from_loader, loader, train_step)


def torch_epoch_factory(
    model: str, images: np.ndarray, labels: np.ndarray, batch: int
) -> Callable[[int | None], float]:
    """Build PyTorch's model and loader; return ``train(max_batches=None) -> last loss``."""
    torch = reference_torch._torch()
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

    torch.manual_seed(SEED)
    network = reference_torch.build_mlp(steps.MLP_SIZES) if model == "mlp" else (
        reference_torch.build_cnn()
    )
    train_step = reference_torch.trainer(network)
    dataset = TensorDataset(
        torch.from_numpy(_model_inputs(model, images)), torch.from_numpy(labels)
    )
    sampler = BatchSampler(
        RandomSampler(dataset, generator=torch.Generator().manual_seed(SEED)), batch, False
    )
    # batch_size=None: each sampler item (a list of indices) is one dataset[indices] gather.
    loader = DataLoader(dataset, batch_size=None, sampler=sampler)

    return functools.partial(_train_from_loader, loader, train_step)


def numpy_epoch_factory(
    model: str, images: np.ndarray, labels: np.ndarray, batch: int
) -> Callable[[int | None], float]:
    """Build the hand-written NumPy model; return ``train(max_batches=None) -> last loss``.

    The reference models have fixed-size buffers; a second one, sharing the first one's
    parameters, trains the last, smaller batch.
    """
    if model == "mlp":
        make = functools.partial(reference_numpy.NumpyMLP, sizes=steps.MLP_SIZES, seed=SEED)
        inputs = images.reshape(len(images), -1)
    else:
        make = functools.partial(reference_numpy.NumpyCNN, seed=SEED)
        inputs = images.reshape(len(images), 28, 28, 1)  # one channel: NCHW == NHWC
    count = len(labels)
    by_size = {batch: make(batch=batch)}
    remainder = count % batch
    if remainder:
        by_size[remainder] = make(batch=remainder)
        by_size[remainder].params = by_size[batch].params
    rng = np.random.default_rng(SEED)

    def train(max_batches: int | None = None) -> float:
        order = rng.permutation(count)
        loss = float("nan")
        for index, start in enumerate(range(0, count, batch)):
            if index == max_batches:
                break
            chosen = order[start : start + batch]
            network = by_size[len(chosen)]
            np.take(inputs, chosen, axis=0, out=network.inputs)
            np.take(labels, chosen, out=network.labels)
            loss = network.forward_backward()
            network.sgd_update()
        return loss

    return train


_FACTORIES = {
    suite.GRADFLOW: gradflow_epoch_factory,
    suite.NUMPY: numpy_epoch_factory,
    suite.TORCH: torch_epoch_factory,
}


def contenders(model: str, images: np.ndarray, labels: np.ndarray) -> list[Contender]:
    """One epoch per step; setup builds everything and trains ``WARMUP_BATCHES`` batches."""

    def setup(factory: Callable[..., Callable[[int | None], float]]) -> Callable[[], float]:
        train = factory(model, images, labels, BATCHES[model])
        train(WARMUP_BATCHES)
        return train

    return [Contender(name, functools.partial(setup, factory))
            for name, factory in _FACTORIES.items()]


def run(
    settings: suite.Settings,
    models: tuple[str, ...] = steps.MODELS,
    data: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, dict[str, Any]]:
    """Time an epoch of each model; save ``epoch_<model>.json``; return the results.

    Args:
        settings: ``epoch_blocks`` epochs per contender, on ``epoch_limit`` images.
        models: which of ``"mlp"``, ``"cnn"``.
        data: ``(images, labels)`` instead of loading Fashion-MNIST.
    """
    settings.apply_threads()
    images, labels = data if data is not None else load_data(settings.epoch_limit)
    sections = {}
    for model in models:
        results = settings.measure(
            contenders(model, images, labels),
            blocks=settings.epoch_blocks[model],
            iters_per_block=1,
            warmup=0,
            # A CNN round takes about a minute: redo a disturbed one at most once.
            max_round_retries=min(1, settings.max_round_retries),
        )
        results.update(images=len(labels), batch=BATCHES[model], warmup_batches=WARMUP_BATCHES)
        title = TITLES[model]
        if len(labels) != 60_000:
            title += f" ({len(labels)} images)"
        suite.save_section(f"epoch_{model}", title, results, settings)
        sections[f"epoch_{model}"] = results
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=(*steps.MODELS, "both"), default="both")
    parser.add_argument("--limit", type=int, help="train on the first N images only (smoke test)")
    parser.add_argument("--epochs", type=int, help="epochs timed per contender")
    suite.add_arguments(parser)
    args = parser.parse_args()
    changes: dict[str, Any] = {}
    if args.limit is not None:
        changes["epoch_limit"] = args.limit
    if args.epochs is not None:
        changes["epoch_blocks"] = {"mlp": args.epochs, "cnn": args.epochs}
    models = steps.MODELS if args.model == "both" else (args.model,)
    run(suite.settings_from(args, **changes), models)


if __name__ == "__main__":
    main()
