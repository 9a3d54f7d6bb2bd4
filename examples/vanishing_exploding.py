"""Vanishing and exploding gradients in a deep MLP, and the fix for each.

What this teaches: backpropagation multiplies one factor per layer, so the gradient
that reaches the first layer of a deep network is a product of ten or more terms.

* Vanishing. With sigmoid activations and the default init, each layer scales the
  backward signal by about sigmoid'(z) * |W| < 0.25: after ten layers the first
  layer's weights get a gradient ~1e-8 times the last layer's, and they never learn
  (the loss stays at log(10) = 2.30, chance level).
  Fix: ReLU (derivative 1 where active) with He init, std = sqrt(2 / fan_in), which
  keeps the signal's size from layer to layer: every layer's gradient is then about
  the same and the loss falls at once.
* Exploding. With weights too large, N(0, (2 / sqrt(fan_in))^2), each ReLU layer
  multiplies the signal by about 1.4: the gradients start at ~50, two SGD steps later
  they are ~1e6, then inf, and the weights are ruined. gradflow.train.fit stops such a
  run with NonFiniteError (its default, nonfinite="raise"); with nonfinite="skip" it
  skips the non-finite steps and counts them, which cannot save a run that a finite but
  huge step has already wrecked.
  Fix: clip the global gradient norm (clip_grad_norm=1.0), which bounds every step: the
  same network then trains.

The data are the embedded 8x8 digits (64 inputs, 10 classes); every network has 10
hidden layers of width 32 and is trained with plain SGD (lr 0.1, batches of 64).
Per-layer gradient-norm plots and summary.json go to --out.

Run:
    python examples/vanishing_exploding.py [--epochs 15] [--device auto] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path
from typing import NamedTuple

import gradflow as gf
from gradflow import nn, optim
from gradflow.backends import get_backend
from gradflow.data import DataLoader, Digits
from gradflow.errors import NonFiniteError
from gradflow.train import fit, plot_grad_norms


class Run(NamedTuple):
    key: str
    title: str
    activation: str      # "sigmoid" or "relu"
    init: str            # "default" (PyTorch's Linear init), "he", or "large"
    clip: float | None   # fit's clip_grad_norm
    nonfinite: str       # fit's nonfinite


RUNS = [
    Run("sigmoid", "sigmoid, default init", "sigmoid", "default", None, "raise"),
    Run("relu_he", "ReLU, He init", "relu", "he", None, "raise"),
    # An infinite max_norm never clips; it only lets "skip" see each step's norm.
    Run("relu_large", "ReLU, large init, no clipping", "relu", "large", math.inf, "skip"),
    Run("relu_large_clip", "ReLU, large init, clip 1.0", "relu", "large", 1.0, "raise"),
]


def deep_mlp(run: Run, depth: int, width: int, device: str) -> nn.Sequential:
    """Flatten, `depth` x (Linear + activation), then a Linear classifier, initialised per run."""
    activation = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}[run.activation]
    layers: list[nn.Module] = [nn.Flatten()]
    features = 64
    for _ in range(depth):
        layers += [nn.Linear(features, width), activation()]
        features = width
    layers.append(nn.Linear(features, 10))
    model = nn.Sequential(*layers)
    for layer in model:
        if isinstance(layer, nn.Linear) and run.init != "default":
            if run.init == "he":
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            else:
                nn.init.normal_(layer.weight, 0.0, 2.0 / math.sqrt(layer.in_features))
            nn.init.zeros_(layer.bias)
    return model.to(device)


def layer_names(model: nn.Sequential) -> dict[str, str]:
    """Parameter name of each Linear weight -> "layer k" (1 = next to the input)."""
    names = [name for name, _ in model.named_parameters() if name.endswith("weight")]
    return {name: f"layer {k}" for k, name in enumerate(names, start=1)}


def initial_grad_norms(model: nn.Sequential, batch) -> list[float]:
    """Each layer's weight-gradient norm after one forward/backward on `batch`, at init."""
    images, labels = batch
    model.zero_grad()
    nn.CrossEntropyLoss()(model(images), labels).backward()
    params = dict(model.named_parameters())
    with gf.no_grad():
        norms = [gf.norm(params[name].grad).item() for name in layer_names(model)]
    model.zero_grad()
    return norms


def weight_history(history, names: dict[str, str]) -> dict:
    """The history's gradient norms for the weights only, keyed "layer k"."""
    return {"grad_norm_steps": history["grad_norm_steps"],
            "grad_norms": {label: history["grad_norms"][name]
                           for name, label in names.items() if name in history["grad_norms"]}}


def first_nonfinite_step(weights: dict) -> int | None:
    for index, step in enumerate(weights["grad_norm_steps"]):
        if not all(math.isfinite(values[index]) for values in weights["grad_norms"].values()):
            return step
    return None


def train(run: Run, args, data, out: Path) -> dict:
    """Train one network with fit(); return its numbers and write its gradient-norm plot."""
    train_set, test_set, probe = data
    gf.manual_seed(args.seed)
    model = deep_mlp(run, args.depth, args.width, args.device)
    names = layer_names(model)
    init_norms = initial_grad_norms(model, probe)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(test_set, batch_size=512)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow notes, when it explodes
        history = fit(model, loader, optim.SGD(model.parameters(), lr=args.lr),
                      nn.CrossEntropyLoss(), args.epochs, val_loader=test_loader,
                      clip_grad_norm=run.clip, nonfinite=run.nonfinite,
                      grad_norm_every=args.grad_norm_every, progress=False, log=None)
    weights = weight_history(history, names)
    nonfinite_step = first_nonfinite_step(weights)
    title = f"weight-gradient norm per layer: {run.title}"
    if nonfinite_step is not None:
        title += f"\n(non-finite from step {nonfinite_step} on)"
    plot = plot_grad_norms(weights, out / f"{run.key}_grad_norms.png", title=title)
    losses = history["train_loss"]
    every = max(1, len(losses) // 6)
    shown = ", ".join(f"{loss:.3g}" for loss in losses[::every])
    skipped = sum(history["skipped_steps"])
    print(f"  {run.title:<30} train loss, every {every} epoch(s): {shown}; test accuracy "
          f"{history['val_accuracy'][-1]:.3f}" + (f"; {skipped} steps skipped" if skipped else ""))
    return {"title": run.title, "init_norms": init_norms, "train_loss": losses,
            "test_accuracy": history["val_accuracy"],
            "skipped_steps": skipped, "steps": len(loader) * args.epochs,
            "nonfinite_step": nonfinite_step, "plot": str(plot),
            "first_layer_norms": weights["grad_norms"]["layer 1"],
            "grad_norm_steps": weights["grad_norm_steps"]}


def stops_with_error(args, data) -> str | None:
    """The too-large init under fit's default nonfinite="raise": a NonFiniteError."""
    train_set, _, _ = data
    gf.manual_seed(args.seed)
    model = deep_mlp(RUNS[2], args.depth, args.width, args.device)
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fit(model, loader, optim.SGD(model.parameters(), lr=args.lr), nn.CrossEntropyLoss(),
                1, grad_norm_every=0, progress=False, log=None)
    except NonFiniteError as error:
        print(f"  {'ReLU, large init, fit defaults':<30} NonFiniteError: {error}")
        return str(error)
    print("  fit(...) finished without a non-finite loss")
    return None


def show_initial_norms(results: dict) -> None:
    columns = {"sigmoid": "sigmoid", "relu_he": "ReLU, He", "relu_large": "ReLU, large"}
    print("\nWeight-gradient norm per layer after ONE backward (256 images, at init):")
    print(f"  {'layer':<9}" + "".join(f"{title:>13}" for title in columns.values()))
    norms = [results[key]["init_norms"] for key in columns]
    for i in range(len(norms[0])):
        label = f"{i + 1}" + (" (out)" if i == len(norms[0]) - 1 else "")
        print(f"  {label:<9}" + "".join(f"{values[i]:>13.2e}" for values in norms))
    print(f"  {'1st/last':<9}" + "".join(f"{values[0] / values[-1]:>13.2e}" for values in norms))


def plot_summary(results: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for result in results.values():
        norms = result["init_norms"]
        left.plot(range(1, len(norms) + 1), norms, marker="o", label=result["title"])
        losses = result["train_loss"]
        right.plot(range(1, len(losses) + 1), losses, marker=".", label=result["title"])
    left.set(xlabel="layer (1 = input side)", ylabel="weight-gradient norm at init",
             yscale="log", title="gradient norm per layer, one backward")
    left.legend(fontsize="small")
    right.set(xlabel="epoch", ylabel="train loss", yscale="log", title="training loss")
    right.legend(fontsize="small")
    fig.tight_layout()
    path = out / "summary.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--depth", type=int, default=10, help="hidden layers")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--grad-norm-every", type=int, default=1,
                        help="record per-layer gradient norms every this many steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/vanishing_exploding")
    args = parser.parse_args(argv)

    args.device = get_backend(args.device).name
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_set = Digits(train=True, device=args.device)
    test_set = Digits(train=False, device=args.device)
    data = (train_set, test_set, train_set[0:256])
    print(f"device {args.device}; digits: {len(train_set)} train / {len(test_set)} test images; "
          f"{args.depth} hidden layers of width {args.width}; SGD lr {args.lr}, "
          f"{args.epochs} epochs")

    results = {}
    print("\nPart 1, vanishing gradients, and the fix:")
    for run in RUNS[:2]:
        results[run.key] = train(run, args, data, out)
    print("\nPart 2, exploding gradients, and the fix:")
    error = stops_with_error(args, data)
    for run in RUNS[2:]:
        results[run.key] = train(run, args, data, out)

    show_initial_norms(results)
    for key in ("relu_large", "relu_large_clip"):
        steps = results[key]["grad_norm_steps"][:5]
        values = results[key]["first_layer_norms"][:5]
        print(f"\n{results[key]['title']}: first-layer gradient norm at steps {steps}: "
              + ", ".join(f"{v:.2g}" for v in values))
    summary = {"runs": results, "nonfinite_error": error}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    plots = [Path(r["plot"]) for r in results.values()] + [plot_summary(results, out)]
    print(f"\nwrote summary.json and {len(plots)} plots to {out}/")
    return {**summary, "plots": plots}


if __name__ == "__main__":
    main()
