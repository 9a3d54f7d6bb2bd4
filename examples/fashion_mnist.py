"""An image classifier for Fashion-MNIST (clothes, 28x28 grey): an MLP or a CNN, trained with fit().

What this shows: the product's main job, end to end. The data come from the first
standard place that holds them (Debian's dataset-fashion-mnist package installs them
in /usr/share/datasets/fashion-mnist, or pass --data-dir, or --download); the model
is gradflow.models.mlp (784-512-256-10) or gradflow.models.cnn (two conv+pool blocks,
then 128 hidden units); Adam with a cosine learning-rate schedule trains it on the
60,000 training images, and the 10,000 test images are scored after every epoch.
The run writes history.json, curves.png and grad_norms.png to --out, then prints the
test accuracy and each class's accuracy.

When the files are nowhere to be found the script says where it looked and how to get
them, and exits without training (status 0).

Run:
    python examples/fashion_mnist.py --model cnn --epochs 15 --device auto
    python examples/fashion_mnist.py --model mlp --epochs 1 --limit 2000   # a quick look
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gradflow as gf
from gradflow import models, nn, optim
from gradflow.backends import get_backend
from gradflow.data import DataLoader, FashionMNIST, TensorDataset
from gradflow.data.datasets import FASHION_MNIST_CLASSES
from gradflow.errors import DatasetNotFoundError
from gradflow.train import evaluate, fit


def load(args, device: str) -> tuple[TensorDataset, TensorDataset]:
    """The training and test splits, cut to their first --limit images when it is given."""
    splits = [FashionMNIST(root=args.data_dir, train=train, download=args.download, device=device)
              for train in (True, False)]
    if args.limit:
        splits = [TensorDataset(*(t[:args.limit] for t in split.tensors)) for split in splits]
    return splits[0], splits[1]


def build_model(name: str) -> nn.Module:
    if name == "cnn":
        return models.cnn(in_channels=1, image_size=28, classes=10)
    return models.mlp(28 * 28, (512, 256), 10)


def print_class_accuracy(confusion: list[list[int]]) -> dict[str, float]:
    """Each class's accuracy (its diagonal count over its row), and what it is mistaken for."""
    print("\naccuracy per class (and the class it is most often mistaken for)")
    accuracy = {}
    for index, (name, row) in enumerate(zip(FASHION_MNIST_CLASSES, confusion)):
        total = sum(row)
        accuracy[name] = row[index] / total if total else 0.0
        mistakes = [(count, other) for other, count in enumerate(row) if other != index]
        count, other = max(mistakes)
        confused = f"{FASHION_MNIST_CLASSES[other]} ({count})" if count else "-"
        print(f"  {name:<12} {accuracy[name]:6.1%}   {confused}")
    return accuracy


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=("mlp", "cnn"), default="cnn")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N training and N test images (a quick run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", default=None, help="folder holding the four IDX files")
    parser.add_argument("--download", action="store_true", help="fetch the files if missing")
    parser.add_argument("--out", default=None, help="default: runs/fashion_mnist_<model>")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    device = get_backend(args.device).name
    out = Path(args.out or f"runs/fashion_mnist_{args.model}")
    try:
        train_set, test_set = load(args, device)
    except DatasetNotFoundError as error:
        print(f"fashion_mnist: skipped, the data set is not here.\n{error}")
        return {"skipped": str(error)}
    gf.manual_seed(args.seed)
    model = build_model(args.model).to(device)
    print(f"device {device}; Fashion-MNIST: {len(train_set)} training and {len(test_set)} test "
          f"images; model:\n{model}")

    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(test_set, batch_size=1000)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    history = fit(model, train_loader, optimizer, loss_fn, args.epochs, val_loader=test_loader,
                  scheduler=scheduler, out_dir=out,
                  progress=False if args.no_progress else None)

    result = evaluate(model, test_loader, loss_fn, num_classes=10)
    per_class = print_class_accuracy(result["confusion"])
    print(f"\nFashion-MNIST {args.model}: test accuracy {result['accuracy']:.4f} on "
          f"{len(test_set)} images after {args.epochs} epochs, "
          f"{sum(history['seconds']):.1f}s of training on {device}")
    print("wrote " + ", ".join(str(path) for path in [out / "history.json", *history.plots]))
    return {"history": history, "accuracy": result["accuracy"], "per_class": per_class,
            "out": out}


if __name__ == "__main__":
    main()
