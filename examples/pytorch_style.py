"""A PyTorch training script, written as PyTorch's documentation writes it, run on gradflow.

`import gradflow as torch` and gradflow's data loading: random_split, a DataLoader with
background workers and per-sample augmentation, NAdam with a warm-up SequentialLR,
torch.save / torch.load of state dicts and of a whole training state, LBFGS with a closure
for a final fine-tuning, and DLPack to hand the weights to NumPy without a copy.

Run:
    python examples/pytorch_style.py --epochs 2 --out runs/pytorch_style
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import gradflow as torch
from gradflow import nn, optim
from gradflow.data import DataLoader, Digits, random_split
from gradflow.data import transforms as T
from gradflow.optim import lr_scheduler


def build_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def evaluate(model, loader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += int((model(images).argmax(dim=1) == labels).sum().item())
            total += labels.shape[0]
    model.train()
    return correct / total


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="runs/pytorch_style")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    # data: a validation split, per-sample augmentation built in background threads
    full = Digits(train=True)
    train_set, val_set = random_split(full, [0.9, 0.1], generator=torch.Generator(42))
    augment = T.Compose([T.RandomCrop(8, padding=1), T.ColorJitter(brightness=0.2)])
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True, seed=0,
                              num_workers=args.workers, transform=augment)
    val_loader = DataLoader(val_set, batch_size=256)

    # model, optimizer, a warm-up then cosine schedule
    model = build_model()
    optimizer = optim.NAdam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    warmup = lr_scheduler.LinearLR(optimizer, start_factor=0.2, total_iters=2)
    cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(args.epochs - 2, 1))
    scheduler = lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[2])
    loss_fn = nn.CrossEntropyLoss()

    history = []
    for epoch in range(args.epochs):
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
        scheduler.step()
        history.append({"epoch": epoch, "loss": loss.item(), "val": evaluate(model, val_loader),
                        "lr": scheduler.get_last_lr()[0]})
        print(f"epoch {epoch}: loss {loss.item():.4f}, val accuracy {history[-1]['val']:.3f}")

    # persistence, in PyTorch's argument order
    torch.save(model.state_dict(), out / "model.safetensors")
    torch.save({"epoch": args.epochs, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state()}, out / "checkpoint.safetensors")
    restored = build_model()
    restored.load_state_dict(torch.load(out / "model.safetensors"))
    checkpoint = torch.load(out / "checkpoint.safetensors")
    resumed = optim.NAdam(restored.parameters(), lr=3e-3)
    resumed.load_state_dict(checkpoint["optimizer"])
    same = evaluate(restored, val_loader) == evaluate(model, val_loader)

    # a few full-batch LBFGS steps on the restored model (closure, strong Wolfe)
    images, labels = full.tensors
    lbfgs = optim.LBFGS(restored.parameters(), max_iter=5, line_search_fn="strong_wolfe")

    def closure():
        lbfgs.zero_grad()
        loss = loss_fn(restored(images), labels)
        loss.backward()
        return loss

    before = closure().item()
    for _ in range(3):
        lbfgs.step(closure)
    after = closure().item()

    # DLPack: the first layer's weights, seen by NumPy without a copy
    weight = restored[1].weight
    view = np.from_dlpack(weight.detach())
    result = {"history": history, "restored_matches": same, "lbfgs_loss_before": before,
              "lbfgs_loss_after": after, "epoch_saved": checkpoint["epoch"],
              "dlpack_shape": list(view.shape)}
    (out / "pytorch_style.json").write_text(json.dumps(result, indent=2))
    print(f"LBFGS: loss {before:.4f} -> {after:.4f}; wrote {out}")
    return result


if __name__ == "__main__":
    main()
