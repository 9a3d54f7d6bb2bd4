"""An MLP that reads handwritten digits: the embedded 8x8 images, trained with gradflow.train.fit.

What this shows: the whole training loop in a few lines. fit() runs the four steps of
backpropagation on every mini-batch (forward pass, error, backward pass, weight
update), shows a progress bar, evaluates on the test split after each epoch and
writes history.json, curves.png (loss and accuracy) and grad_norms.png (each
parameter's gradient norm over training). Afterwards evaluate() gives the confusion
matrix, and the digits the network still gets wrong are drawn to mistakes.png.

The data are the 1,797 digits gradflow embeds (scikit-learn's copy of the UCI set),
split 80/20 with seed 0; no download is needed. A 64-128-10 MLP reaches about 98%
test accuracy in 20 epochs, in a few seconds on a laptop CPU.

Run:
    python examples/digits_mlp.py [--epochs 20] [--device auto] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gradflow as gf
from gradflow import models, nn, optim
from gradflow.backends import get_backend
from gradflow.data import DataLoader, Digits
from gradflow.train import evaluate, fit


def print_confusion(confusion: list[list[int]]) -> None:
    """Rows: the true digit; columns: the network's answer; off the diagonal: mistakes."""
    print("\nconfusion matrix (row: true digit, column: predicted)")
    print("      " + "".join(f"{digit:>4}" for digit in range(len(confusion))))
    for digit, row in enumerate(confusion):
        print(f"  {digit:>2}  " + "".join(f"{count:>4}" if count else "   ." for count in row))


def plot_mistakes(model: nn.Module, test_set, path: Path, most: int = 16) -> tuple[Path, int]:
    """The first `most` misread test digits, each titled "true -> predicted"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images, labels = test_set.tensors
    model.eval()
    with gf.no_grad():
        predicted = model(images).argmax(dim=1)
    wrong = (predicted != labels).numpy().nonzero()[0].tolist()
    pixels, truths, answers = images.numpy(), labels.tolist(), predicted.tolist()
    columns = 8
    rows = max(1, -(-min(len(wrong), most) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.2, rows * 1.4), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, wrong[:most]):
        axis.imshow(pixels[index, 0], cmap="gray_r")
        axis.set_title(f"{truths[index]} -> {answers[index]}", fontsize="small", color="crimson")
    fig.suptitle(f"{len(wrong)} of {len(truths)} test digits misread (true -> predicted)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path, len(wrong)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=128, help="width of the hidden layer")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/digits_mlp")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    device = get_backend(args.device).name
    out = Path(args.out)
    gf.manual_seed(args.seed)
    train_set, test_set = Digits(train=True, device=device), Digits(train=False, device=device)
    model = models.mlp(64, (args.hidden,), 10).to(device)
    print(f"device {device}; {len(train_set)} training and {len(test_set)} test digits; "
          f"model:\n{model}")

    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(test_set, batch_size=512)
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.CrossEntropyLoss()
    history = fit(model, train_loader, optimizer, loss_fn, args.epochs, val_loader=test_loader,
                  scheduler=scheduler, out_dir=out,
                  progress=False if args.no_progress else None)

    result = evaluate(model, test_loader, loss_fn, num_classes=10)
    print_confusion(result["confusion"])
    mistakes, wrong = plot_mistakes(model, test_set, out / "mistakes.png")
    print(f"\ntest accuracy {result['accuracy']:.4f} ({wrong} of {len(test_set)} misread) after "
          f"{args.epochs} epochs, {sum(history['seconds']):.1f}s of training on {device}")
    written = [out / "history.json", *history.plots, mistakes]
    print("wrote " + ", ".join(str(path) for path in written))
    return {"history": history, "accuracy": result["accuracy"], "confusion": result["confusion"],
            "out": out}


if __name__ == "__main__":
    main()
