"""The `gradflow` command: train | check | bench | info."""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
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


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (what was wrong, and where help is), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _epochs_help() -> str:
    defaults = ", ".join(f"{n} for {name}" for name, n in DEFAULT_EPOCHS.items())
    return f"passes over the data (default: {defaults})"


def add_train_parser(commands) -> None:
    train = commands.add_parser(
        "train", help="train an image classifier", formatter_class=_Defaults,
        description="Train a classifier on a built-in dataset; Ctrl-C saves the run and "
                    "prints the command that resumes it.")
    train.add_argument("--dataset", choices=DATASETS, default="digits", help="the data set")
    train.add_argument("--model", choices=("mlp", "cnn"), default="cnn", help="the network")
    train.add_argument("--epochs", type=_positive_int, default=None, help=_epochs_help())
    train.add_argument("--batch-size", type=_positive_int, default=64, help="samples per step")
    train.add_argument("--lr", type=_positive_float, default=None,
                       help="learning rate (default: 1e-3 for adam/adamw, 0.05 for sgd)")
    train.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default="adam",
                       help="the update rule")
    train.add_argument("--clip-grad-norm", type=_positive_float, default=None,
                       help="clip the global gradient norm to this value (default: no clipping)")
    train.add_argument("--device", default="auto",
                       help="cpu, cuda, cuda:N, strict, ...; auto picks a GPU when present")
    train.add_argument("--seed", type=int, default=0, help="seeds the weights and the shuffle")
    train.add_argument("--out", default="runs/latest",
                       help="folder for history.json, plots, model.safetensors")
    train.add_argument("--data-dir", default=None,
                       help="where the dataset files are (default: $GRADFLOW_DATA, "
                            "then ~/.cache/gradflow/NAME)")
    train.add_argument("--download", action="store_true",
                       help="fetch the dataset if missing (default: off)")
    train.add_argument("--detect-anomaly", action="store_true",
                       help="raise at the first NaN/Inf, naming the op (default: off)")
    train.add_argument("--no-progress", action="store_true",
                       help="no progress bar even on a terminal (default: a bar on a terminal, "
                            "one line per epoch otherwise)")
    train.add_argument("--amp", action="store_true",
                       help="mixed precision (autocast; a GradScaler for float16); on the CPU "
                            "usually slower than float32 (default: off)")
    train.add_argument("--amp-dtype", choices=("float16", "bfloat16"), default=None,
                       help="default: float16 on CUDA, bfloat16 on the CPU")
    train.add_argument("--graph", action="store_true",
                       help="write graph.svg (the recorded graph of one batch) into --out "
                            "(default: off)")
    train.add_argument("--resume", metavar="DIR", default=None,
                       help="continue the run interrupted in DIR, with its options, exactly "
                            "where it stopped (default: start afresh)")
    train.add_argument("--nproc", type=_positive_int, default=1,
                       help="train on this many processes (data parallel, through mpiexec); "
                            "--batch-size stays the global batch")


def add_run_parser(commands) -> None:
    run = commands.add_parser("run", formatter_class=_Defaults,
                              help="run a script on N processes (mpiexec -n N under mpi4py)")
    run.add_argument("-n", "--nproc", type=_positive_int, required=True,
                     help="number of processes (ranks)")
    run.add_argument("program", nargs=argparse.REMAINDER,
                     help="script.py [args...] (or -m module [args...])")


def add_check_parser(commands) -> None:
    check = commands.add_parser("check", formatter_class=_Defaults,
                                help="compare every op and reference model across devices")
    check.add_argument("--devices", default="cpu,strict,strict:device1", type=_device_list,
                       help="comma-separated devices, or 'all' for every available one")
    check.add_argument("--allow-missing", action="store_true",
                       help="report unavailable devices as missing instead of failing "
                            "(default: a missing device fails)")
    check.add_argument("--require-gpu", action="store_true",
                       help="fail unless a CUDA device was checked (even with --allow-missing)")
    check.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                       help="the dtype of the comparison")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_bench_parser(commands) -> None:
    bench = commands.add_parser("bench", formatter_class=_Defaults,
                                help="run the benchmarks (bench/run.py)")
    bench.add_argument("--device", default="cpu", help="where to run them")


def add_info_parser(commands) -> None:
    commands.add_parser("info", help="list versions, backends and devices")


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to help texts that do not state their default themselves."""

    def _get_help_string(self, action):
        if "default" in (action.help or "") or action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand (one add_*_parser function each).

    Example:
        >>> build_parser().parse_args(["train", "--epochs", "2"]).epochs
        2
    """
    from gradflow import __version__

    parser = _Parser(prog="gradflow", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gradflow {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in (add_train_parser, add_run_parser, add_check_parser, add_bench_parser,
                add_info_parser):
        add(commands)
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


RUN_OPTIONS = "config.json"  # the options of a run, in its --out folder, for --resume


def _resume_options(args) -> None:
    """With --resume DIR: the run's own options from DIR/config.json (others are refused)."""
    from gradflow.errors import ConfigError
    from gradflow.train.loop import INTERRUPTED

    run = Path(args.resume)
    defaults = vars(build_parser().parse_args(["train"]))
    given = sorted(f"--{k.replace('_', '-')}" for k, v in vars(args).items()
                   if k not in ("resume", "no_progress", "argv", "nproc") and v != defaults[k])
    if given:
        raise ConfigError(f"--resume takes the run's options from {run / RUN_OPTIONS}; "
                          f"drop {', '.join(given)}")
    if not (run / INTERRUPTED).exists():
        raise ConfigError(f"--resume {run}: no {INTERRUPTED} there (it is written when a "
                          f"run is interrupted with Ctrl-C)")
    if not (run / RUN_OPTIONS).exists():
        raise ConfigError(f"--resume {run}: no {RUN_OPTIONS} there (gradflow train writes it "
                          f"when a run starts); was the run started by gradflow train?")
    saved = json.loads((run / RUN_OPTIONS).read_text())
    ranks = saved.get("nproc", 1)
    if args.nproc not in (defaults["nproc"], ranks):
        raise ConfigError(f"--resume {run}: the run trained on {ranks} rank(s), its "
                          f"checkpoint resumes on as many; give --nproc {ranks} or drop it")
    for key, value in saved.items():
        setattr(args, key, value)
    args.out = str(run)


def _optimizer(args, model):
    from gradflow import optim

    lr = args.lr or (0.05 if args.optimizer == "sgd" else 1e-3)
    if args.optimizer == "sgd":
        return optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return getattr(optim, {"adam": "Adam", "adamw": "AdamW"}[args.optimizer])(
        model.parameters(), lr=lr)


def _write_graph(model, dataset, batch_size: int, out: Path) -> Path:
    """The recorded graph of one (unshuffled) batch; the generator is left as it was."""
    import gradflow as gf
    from gradflow import nn
    from gradflow.data import DataLoader

    state = gf.get_rng_state()
    images, labels = next(iter(DataLoader(dataset, batch_size=batch_size)))
    loss = nn.CrossEntropyLoss()(model(images), labels)
    written = gf.viz.graph(loss, params=dict(model.named_parameters())).render(
        out / "graph.svg")
    gf.set_rng_state(state)
    return written


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
    from gradflow.data import DataLoader, DistributedSampler
    from gradflow.distributed import is_main_process
    from gradflow.nn.parallel import DistributedDataParallel
    from gradflow.train import fit
    from gradflow.train.interrupt import TrainingInterrupted
    from gradflow.train.loop import INTERRUPTED

    resume = None
    if args.resume is not None:
        _resume_options(args)
        resume = Path(args.out) / INTERRUPTED
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        print(f"gradflow train: --data-dir {args.data_dir} is not a directory", file=sys.stderr)
        return 2
    problem = _output_dir_problem(Path(args.out))
    if problem is not None:
        print(f"gradflow train: --out {args.out}: {problem}", file=sys.stderr)
        return 2
    out = Path(args.out)
    options = {k: v for k, v in vars(args).items()
               if k not in ("command", "resume", "argv", "exit_status")}
    world = _start_ranks(args)
    if world == 0:  # NOTE: this process launched the ranks and they are done
        return args.exit_status
    main_rank = is_main_process()
    say = print if main_rank else _quiet
    args.device = get_backend(args.device).name
    say(f"gradflow: training on device {args.device}" + (f", {world} ranks" if world > 1 else ""))
    gf.manual_seed(args.seed)
    train_set, test_set, size, channels = _datasets(args)
    model = (models.cnn(in_channels=channels, image_size=size) if args.model == "cnn"
             else models.mlp(channels * size * size, (128,) if size == 8 else (512, 256)))
    model.to(args.device)
    plain_model = model
    if world > 1:
        model = DistributedDataParallel(model)
    optimizer = _optimizer(args, model)
    epochs = args.epochs or DEFAULT_EPOCHS[args.dataset]
    if world > 1:  # NOTE: --batch-size is the global batch, shared by the ranks
        train_loader = DataLoader(train_set, batch_size=max(1, args.batch_size // world),
                                  sampler=DistributedSampler(train_set, seed=args.seed))
    else:
        train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                  seed=args.seed)
    test_loader = DataLoader(test_set, batch_size=1000, sampler=DistributedSampler(
        test_set, shuffle=False) if world > 1 else None)  # NOTE: each rank tests a share
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if resume is None and main_rank:
        (out / RUN_OPTIONS).write_text(json.dumps(options, indent=1))
    if args.graph and resume is None and main_rank:
        print(f"wrote {_write_graph(plain_model, train_set, args.batch_size, out)}")
    anomaly = gf.detect_anomaly() if args.detect_anomaly else _null()
    try:
        with anomaly:
            history = fit(model, train_loader, optimizer, nn.CrossEntropyLoss(), epochs,
                          val_loader=test_loader, scheduler=scheduler,
                          clip_grad_norm=args.clip_grad_norm, out_dir=out,
                          progress=False if args.no_progress else None, resume=resume,
                          amp=args.amp, amp_dtype=args.amp_dtype)
    except TrainingInterrupted as stop:
        if stop.checkpoint is not None and main_rank:
            print(f"resume with: gradflow train --resume {shlex.quote(str(out))}",
                  file=sys.stderr)
        # NOTE: ranks stop together with 0 (any other status makes mpi4py abort the job);
        # the launcher that forwarded the Ctrl-C answers 130
        return 130 if world == 1 else 0
    if not main_rank:
        return 0
    if resume is not None:
        resume.unlink()  # the run is complete: nothing is left to resume
    from gradflow.checkpoint import save_checkpoint

    save_checkpoint(out / "model.safetensors", plain_model, generator=False,
                    extra={"dataset": args.dataset, "model": args.model, "epochs": epochs})
    total = sum(history["seconds"])
    print(f"{args.dataset} {args.model}: test accuracy {history['val_accuracy'][-1]:.4f} after "
          f"{epochs} epochs, {total:.1f}s training on {args.device}")
    written = [out / "history.json", out / "model.safetensors", *history.plots]
    print("wrote " + ", ".join(str(path) for path in written))
    return 0


def _quiet(*_args, **_kwargs) -> None:
    pass


def _start_ranks(args) -> int:
    """--nproc N: relaunch this command on N ranks (0: done here), or, inside such a rank,
    join the process group (the world size); 1 when training in one process."""
    from gradflow.distributed import launch, process_group

    if args.nproc > 1 and process_group.launched_world_size() == 1:
        args.exit_status = launch.run(args.nproc, ["-m", "gradflow", *args.argv])
        return 0
    if process_group.launched_world_size() > 1:
        process_group.init_process_group()
        if not process_group.is_main_process():
            logging.getLogger().setLevel(logging.WARNING)
        from gradflow.backends import get_backend

        args.device = get_backend(args.device).name  # NOTE: "auto" resolved (and said) once
        if args.device.startswith("cuda"):
            args.device = f"cuda:{process_group.get_local_rank()}"
        return process_group.get_world_size()
    return 1


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def cmd_run(args) -> int:
    from gradflow.distributed.launch import run

    if not args.program:
        print("gradflow run: name the script to run, e.g. gradflow run -n 2 train.py",
              file=sys.stderr)
        return 2
    return run(args.nproc, args.program)


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


def cmd_info(args) -> int:
    import gradflow as gf

    gf.info()
    return 0


COMMANDS = {"train": cmd_train, "run": cmd_run, "check": cmd_check, "bench": cmd_bench,
            "info": cmd_info}


def main(argv=None) -> int:
    """Run the `gradflow` command; returns its exit status (2: usage, 130: Ctrl-C).

    Example:
        >>> main(["info"])  # doctest: +ELLIPSIS
        ┏━━━...
        0
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for --nproc's relaunch
    if args.command is None:
        parser.print_help()
        return 0
    from gradflow.errors import GradflowError

    try:
        return COMMANDS[args.command](args)
    except GradflowError as exc:
        print(f"gradflow {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gradflow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
