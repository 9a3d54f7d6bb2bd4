"""Data-parallel training of a Fashion-MNIST classifier on N processes (or one).

What this shows: the few lines that turn a training script into a data-parallel one.
Every rank builds the same model (DistributedDataParallel broadcasts rank 0's weights
anyway), reads its own share of every epoch through a DistributedSampler, and averages
the gradients during backward; `fit` prints one progress bar and writes history and
plots on rank 0 only. The global batch (--batch-size) is split between the ranks, so
the run computes the same updates as one process with that batch and reaches the same
accuracy.

Run:
    gradflow run -n 2 examples/distributed_fashion_mnist.py --epochs 2
    python examples/distributed_fashion_mnist.py --epochs 2      # one process, to compare
    srun --mpi=pmix -n 8 python examples/distributed_fashion_mnist.py --device cuda
"""

from __future__ import annotations

import argparse
import os

import gradflow as gf
import gradflow.distributed as dist
from gradflow import models, nn, optim
from gradflow.data import DataLoader, DistributedSampler, FashionMNIST, TensorDataset
from gradflow.distributed.process_group import launched_world_size
from gradflow.errors import DatasetNotFoundError
from gradflow.nn.parallel import DistributedDataParallel
from gradflow.train import fit


def main(argv=None) -> float | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128, help="the global batch")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=None, help="use the first N images")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="runs/distributed")
    args = parser.parse_args(argv)

    world, rank = 1, 0
    if launched_world_size() > 1:
        dist.init_process_group()
        world, rank = dist.get_world_size(), dist.get_rank()
        if args.device.startswith("cuda"):
            args.device = f"cuda:{dist.get_local_rank()}"  # one GPU per rank
    try:
        splits = [FashionMNIST(root=args.data_dir, train=train, device=args.device)
                  for train in (True, False)]
    except DatasetNotFoundError as exc:
        if rank == 0:
            print(f"no Fashion-MNIST: {exc}")
        return None
    if args.limit:
        splits = [TensorDataset(*(t[:args.limit] for t in split.tensors)) for split in splits]
    train_set, test_set = splits

    gf.manual_seed(0)
    model = (models.cnn() if args.model == "cnn" else models.mlp(784, (512, 256))).to(args.device)
    if world > 1:
        model = DistributedDataParallel(model)
        loader = DataLoader(train_set, batch_size=args.batch_size // world,
                            sampler=DistributedSampler(train_set, seed=0))
    else:
        loader = DataLoader(train_set, batch_size=args.batch_size,
                            sampler=DistributedSampler(train_set, num_replicas=1, rank=0, seed=0))
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    # NOTE: the rate decays to 0, so the last epochs settle instead of wandering: float32
    # sums in another order (one batch of 128, or two of 64 averaged) then end at the
    # same accuracy, not at two points of a noisy trajectory.
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    history = fit(model, loader, optimizer, nn.CrossEntropyLoss(), args.epochs,
                  val_loader=DataLoader(test_set, batch_size=1000), scheduler=scheduler,
                  out_dir=args.out,
                  progress=os.environ.get("GRADFLOW_NO_PROGRESS") is None)
    accuracy = history["val_accuracy"][-1]
    if rank == 0:
        print(f"{world} process(es): test accuracy {accuracy:.4f} after {args.epochs} epochs, "
              f"{sum(history['seconds']):.1f}s")
    return accuracy


if __name__ == "__main__":
    main()
