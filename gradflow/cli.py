"""The `gradflow` command: train | check | bench | info."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10")
DEFAULT_EPOCHS = {"digits": 30, "fashion-mnist": 15, "mnist": 10, "cifar10": 20}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}") \
            from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _device_list(text: str) -> list[str]:
    from gradflow.testing.devices import UnknownDeviceError, parse_device_list

    try:
        return parse_device_list(text)
    except UnknownDeviceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train an image classifier")
    train.add_argument("--dataset", choices=DATASETS, default="digits")
    train.add_argument("--model", choices=("mlp", "cnn"), default="cnn")
    train.add_argument("--epochs", type=_positive_int, default=None,
                       help="passes over the data (default: 30 digits, 15 fashion-mnist)")
    train.add_argument("--batch-size", type=_positive_int, default=64)
    train.add_argument("--lr", type=_positive_float, default=None,
                       help="learning rate (default: 1e-3 for adam/adamw, 0.05 for sgd)")
    train.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default="adam")
    train.add_argument("--clip-grad-norm", type=_positive_float, default=None)
    train.add_argument("--device", default="auto")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="runs/latest")
    train.add_argument("--data-dir", default=None)
    train.add_argument("--download", action="store_true", help="fetch the dataset if missing")
    train.add_argument("--detect-anomaly", action="store_true",
                       help="raise at the first NaN/Inf, naming the op")
    train.add_argument("--no-progress", action="store_true")
    train.add_argument("--amp", action="store_true",
                       help="mixed precision (autocast; a GradScaler for float16); on the CPU "
                            "usually slower than float32")
    train.add_argument("--amp-dtype", choices=("float16", "bfloat16"), default=None,
                       help="default: float16 on CUDA, bfloat16 on the CPU")

    check = commands.add_parser("check", help="compare every op and reference model across devices")
    check.add_argument("--devices", default="cpu,strict,strict:device1", type=_device_list,
                       help="comma-separated devices, or 'all' for every available one")
    check.add_argument("--allow-missing", action="store_true",
                       help="report unavailable devices as missing instead of failing")
    check.add_argument("--require-gpu", action="store_true",
                       help="fail unless a CUDA device was checked (even with --allow-missing)")
    check.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    check.add_argument("--json", action="store_true")

    bench = commands.add_parser("bench", help="run the benchmarks (bench/run.py)")
    bench.add_argument("--device", default="cpu")

    commands.add_parser("info", help="list backends and devices")
    return parser


def _datasets(args):
    """(train set, test set, image size, channels) for --dataset."""
    from gradflow.data import CIFAR10, MNIST, Digits, FashionMNIST

    if args.dataset == "digits":
        return (Digits(train=True, device=args.device), Digits(train=False, device=args.device),
                8, 1)
    cls = {"fashion-mnist": FashionMNIST, "mnist": MNIST, "cifar10": CIFAR10}[args.dataset]
    train = cls(root=args.data_dir, train=True, download=args.download, device=args.device)
    test = cls(root=args.data_dir, train=False, download=args.download, device=args.device)
    return (train, test, 32, 3) if args.dataset == "cifar10" else (train, test, 28, 1)


def _output_dir_problem(out: Path) -> str | None:
    """Why `out` cannot hold the run's files (checked before any training), or None."""
    if out.exists() and not out.is_dir():
        return "exists and is not a directory; give a directory (it is created if missing)"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the directory: {exc.strerror or exc}"
    return None


def cmd_train(args) -> int:
    import gradflow as gf
    from gradflow import models, nn, optim
    from gradflow.backends import get_backend
    from gradflow.data import DataLoader
    from gradflow.train import fit

    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        print(f"gradflow train: --data-dir {args.data_dir} is not a directory", file=sys.stderr)
        return 2
    problem = _output_dir_problem(Path(args.out))
    if problem is not None:
        print(f"gradflow train: --out {args.out}: {problem}", file=sys.stderr)
        return 2
    args.device = get_backend(args.device).name
    print(f"gradflow: training on device {args.device}")
    gf.manual_seed(args.seed)
    train_set, test_set, size, channels = _datasets(args)
    model = (models.cnn(in_channels=channels, image_size=size) if args.model == "cnn"
             else models.mlp(channels * size * size, (128,) if size == 8 else (512, 256)))
    model.to(args.device)
    lr = args.lr or (0.05 if args.optimizer == "sgd" else 1e-3)
    if args.optimizer == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    else:
        optimizer = getattr(optim, {"adam": "Adam", "adamw": "AdamW"}[args.optimizer])(
            model.parameters(), lr=lr)
    epochs = args.epochs or DEFAULT_EPOCHS[args.dataset]
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(test_set, batch_size=1000)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    out = Path(args.out)
    anomaly = gf.detect_anomaly() if args.detect_anomaly else _null()
    with anomaly:
        history = fit(model, train_loader, optimizer, nn.CrossEntropyLoss(), epochs,
                      val_loader=test_loader, scheduler=scheduler,
                      clip_grad_norm=args.clip_grad_norm, out_dir=out,
                      progress=not args.no_progress, amp=args.amp, amp_dtype=args.amp_dtype)
    from gradflow.checkpoint import save_checkpoint

    save_checkpoint(out / "model.safetensors", model, generator=False,
                    extra={"dataset": args.dataset, "model": args.model, "epochs": epochs})
    total = sum(history["seconds"])
    print(f"{args.dataset} {args.model}: test accuracy {history['val_accuracy'][-1]:.4f} after "
          f"{epochs} epochs, {total:.1f}s training on {args.device}")
    print(f"wrote {out / 'history.json'}, {out / 'model.safetensors'}, plots in {out}/*.png")
    return 0


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def cmd_check(args) -> int:
    from gradflow.testing.check import run_check

    report = run_check(args.devices, args.dtype, allow_missing=args.allow_missing,
                       require_gpu=args.require_gpu)
    if args.json:
        print(json.dumps(report.as_dict(), indent=1))
    else:
        print(report.table())
    return 0 if report.ok else 1


def cmd_bench(args) -> int:
    import runpy

    script = Path(__file__).resolve().parent.parent / "bench" / "run.py"
    if not script.exists():
        print("gradflow bench: bench/run.py is part of the source checkout", file=sys.stderr)
        return 2
    sys.argv = [str(script), "--device", args.device]
    runpy.run_path(str(script), run_name="__main__")
    return 0


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    if args.command == "info":
        import gradflow as gf

        gf.info()
        return 0
    handler = {"train": cmd_train, "check": cmd_check, "bench": cmd_bench}[args.command]
    from gradflow.errors import GradflowError

    try:
        return handler(args)
    except GradflowError as exc:
        print(f"gradflow {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
