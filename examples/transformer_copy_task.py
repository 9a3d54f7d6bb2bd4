"""A small nn.Transformer learns to sort (or copy) short sequences of digits.

What this shows: an encoder-decoder transformer written as in PyTorch. The encoder reads
the digits; the decoder writes the answer one digit at a time, seeing only what it has
written so far (a causal tgt_mask from Transformer.generate_square_subsequent_mask, and
teacher forcing in training: its input is the answer shifted right behind a start token).
The loss printed every few steps goes down; at the end the model answers fresh sequences
by greedy decoding, and the script prints a few with the share it gets exactly right.

Sorting 6 digits with a one-layer encoder and decoder (d_model 32, 4 heads, 22k
parameters) goes from a loss of 2.5 to under 0.01 in 500 steps of Adam and then sorts
fresh sequences without a mistake, in about 8 s on one CPU core; --task copy learns
faster.

Run:
    python examples/transformer_copy_task.py [--task sort|copy] [--steps 500] [--device auto]
"""

from __future__ import annotations

import argparse
import time

import gradflow as gf
from gradflow import nn, optim
from gradflow.backends import get_backend

DIGITS = 10
START = DIGITS  # the decoder's first input token; the vocabulary is the digits and START


class Seq2Seq(nn.Module):
    """Token and position embeddings, nn.Transformer, and a linear read-out to the digits."""

    def __init__(self, length: int, d_model: int, nhead: int, layers: int, feedforward: int):
        super().__init__()
        self.tokens = nn.Embedding(DIGITS + 1, d_model)
        self.positions = nn.Embedding(length, d_model)
        self.transformer = nn.Transformer(d_model, nhead, num_encoder_layers=layers,
                                          num_decoder_layers=layers, dim_feedforward=feedforward,
                                          dropout=0.0, batch_first=True)
        self.readout = nn.Linear(d_model, DIGITS)

    def embed(self, sequence: gf.Tensor) -> gf.Tensor:
        where = gf.arange(sequence.shape[1], device=sequence.device)
        return self.tokens(sequence) + self.positions(where)

    def forward(self, source: gf.Tensor, target_in: gf.Tensor) -> gf.Tensor:
        causal = nn.Transformer.generate_square_subsequent_mask(target_in.shape[1],
                                                                device=source.device)
        hidden = self.transformer(self.embed(source), self.embed(target_in), tgt_mask=causal)
        return self.readout(hidden)  # (N, T, DIGITS): logits of each answer digit

    def answer(self, source: gf.Tensor) -> gf.Tensor:
        """Greedy decoding: one digit per step, each step reading the digits written so far."""
        written = gf.full((source.shape[0], 1), START, dtype=gf.int64, device=source.device)
        with gf.no_grad():
            for _ in range(source.shape[1]):
                best = self(source, written)[:, -1].argmax(dim=-1)
                written = gf.cat([written, best.reshape(-1, 1)], dim=1)
        return written[:, 1:]


def make_batch(size: int, length: int, task: str, device: str):
    """(source, decoder input, answer): random digits, START then the answer but its last
    digit, and the answer (the digits sorted, or the same digits for `copy`)."""
    source = gf.randint(0, DIGITS, (size, length), device=device)
    answer = source.sort(dim=1)[0] if task == "sort" else source
    start = gf.full((size, 1), START, dtype=answer.dtype, device=device)
    return source, gf.cat([start, answer[:, :-1]], dim=1), answer


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("sort", "copy"), default="sort")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--length", type=int, default=6, help="digits per sequence")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--print-every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    device = get_backend(args.device).name
    gf.manual_seed(args.seed)
    model = Seq2Seq(args.length, args.d_model, nhead=4, layers=1,
                    feedforward=2 * args.d_model).to(device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)
    loss_fn = nn.CrossEntropyLoss()
    parameters = sum(p.numel() for p in model.parameters())
    print(f"task {args.task}: {args.length} digits; device {device}; {parameters} parameters")

    losses, began = [], time.perf_counter()
    for step in range(1, args.steps + 1):
        source, target_in, answer = make_batch(args.batch_size, args.length, args.task, device)
        logits = model(source, target_in)
        loss = loss_fn(logits.reshape(-1, DIGITS), answer.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if step % args.print_every == 0 or step in (1, args.steps):
            print(f"step {step:>4}  loss {losses[-1]:.4f}  ({time.perf_counter() - began:.1f} s)")

    model.eval()
    source, _, answer = make_batch(256, args.length, args.task, device)
    written = model.answer(source)
    exact = float((written == answer).all(dim=1).float().mean().item())
    digits = float((written == answer).float().mean().item())
    for row in range(3):
        print(f"  {source[row].tolist()} -> {written[row].tolist()}"
              f"  (expected {answer[row].tolist()})")
    print(f"greedy answers on 256 new sequences: {exact:.1%} exactly right, {digits:.1%} of "
          "the digits")
    return {"losses": losses, "exact": exact, "digit_accuracy": digits,
            "seconds": time.perf_counter() - began}


if __name__ == "__main__":
    main()
