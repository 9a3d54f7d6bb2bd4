"""Make the pictures in docs/images: the house-price and CNN graphs, and training curves
read back from TensorBoard event files (needs graphviz's `dot`, tensorboardX, matplotlib).

Run:
    python tools/docs_screenshots.py [--epochs 8] [--out docs/images]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import gradflow as gf
from gradflow import models, nn, optim
from gradflow.data import DataLoader, Digits
from gradflow.train import fit
from gradflow.train.callbacks import CSVLogger, TensorBoardLogger

ROOT = Path(__file__).resolve().parent.parent


def house_price_graph(out: Path) -> Path:
    """The walkthrough's step: the example's own network, house and graph writer."""
    spec = importlib.util.spec_from_file_location("house_price",
                                                  ROOT / "examples" / "house_price.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    x, y = example.table("cpu")
    model = example.build_model("cpu")
    loss = nn.MSELoss()(model(x[4:5]), y[4:5])
    return example.write_graph(loss, model, out / "house_price_graph.png")


def cnn_graph(out: Path) -> Path:
    gf.manual_seed(0)
    model = models.cnn(image_size=8)
    images, labels = next(iter(DataLoader(Digits(train=True), batch_size=16)))
    loss = nn.CrossEntropyLoss()(model(images), labels)
    return gf.viz.graph(loss, params=dict(model.named_parameters())).render(
        out / "cnn_graph.png")


def tensorboard_curves(out: Path, epochs: int) -> Path:
    from matplotlib.figure import Figure

    gf.manual_seed(0)
    model = models.cnn(image_size=8)
    train = DataLoader(Digits(train=True), batch_size=64, shuffle=True, seed=0)
    test = DataLoader(Digits(train=False), batch_size=500)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    with tempfile.TemporaryDirectory() as scratch:
        logdir = Path(scratch)
        fit(model, train, optimizer, nn.CrossEntropyLoss(), epochs, val_loader=test,
            callbacks=[TensorBoardLogger(logdir / "tb"), CSVLogger(logdir / "log.csv")],
            progress=False)
        scalars = TensorBoardLogger.read_scalars(logdir / "tb")
    fig = Figure(figsize=(10, 3.6))
    steps, loss, accuracy = fig.subplots(1, 3)
    steps.plot(*zip(*scalars["step/loss"]), linewidth=0.8)
    steps.set(xlabel="step", ylabel="loss", title="step/loss")
    for key in ("train_loss", "val_loss"):
        loss.plot(*zip(*scalars[f"epoch/{key}"]), marker="o", label=key)
    loss.set(xlabel="epoch", title="epoch losses")
    loss.legend()
    for key in ("train_accuracy", "val_accuracy"):
        accuracy.plot(*zip(*scalars[f"epoch/{key}"]), marker="o", label=key)
    accuracy.set(xlabel="epoch", title="epoch accuracies")
    accuracy.legend()
    fig.suptitle("digits CNN: scalars read back from the TensorBoard event file")
    fig.tight_layout()
    path = out / "tensorboard_curves.png"
    fig.savefig(path, dpi=100)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not gf.viz.can_render():
        print("docs_screenshots: install the graphviz package and the dot program",
              file=sys.stderr)
        return 1
    for path in (house_price_graph(out), cnn_graph(out), tensorboard_curves(out, args.epochs)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
