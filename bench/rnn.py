"""LSTM and GRU against PyTorch CPU: one forward and backward of the same layer with the same
weights and input (seq 35, batch 32, input 64, hidden 128), gradflow and PyTorch interleaved
in this process (harness.measure); each layer is checked against PyTorch before timing.
A third contender runs gradflow with each step's gate math composed of primitives (chunk,
sigmoid, tanh, products), as before the fused step ops of gradflow/ops/recurrent.py: the
fusion's gain, measured in the same process.

Usage (from the repository root):
    python bench/rnn.py            # about a minute
    python bench/rnn.py --quick    # checks that everything runs
"""

from __future__ import annotations

import argparse
from typing import Any

import nn_layers
import suite
from harness import Contender

COMPOSED = "gradflow composed gates"

TITLE = "recurrent layers: forward + backward vs PyTorch CPU (seq 35, batch 32, 64 -> 128)"
CASES = {
    "lstm": (lambda m: m.LSTM(64, 128), ((35, 32, 64),), {}),
    "gru": (lambda m: m.GRU(64, 128), ((35, 32, 64),), {}),
}


def composed_step(mode, x_gates, h, c, weight_hh, bias_hh):
    """gradflow.nn.rnn._step with the gate math written with primitives (LSTM and GRU)."""
    import gradflow as gf
    from gradflow.nn import functional as F

    if mode == "GRU":
        xr, xz, xn = x_gates.chunk(3, -1)
        hr, hz, hn = F.linear(h, weight_hh, bias_hh).chunk(3, -1)
        reset, update = gf.sigmoid(xr + hr), gf.sigmoid(xz + hz)
        candidate = gf.tanh(xn + reset * hn)
        return candidate + update * (h - candidate), None
    if weight_hh is not None:  # else x_gates holds both projections
        x_gates = x_gates + F.linear(h, weight_hh, bias_hh)
    i, f, g, o = x_gates.chunk(4, -1)
    cell = gf.sigmoid(f) * c + gf.sigmoid(i) * gf.tanh(g)
    return gf.sigmoid(o) * gf.tanh(cell), cell


def _composed(step):
    """`step` run with the composed gate math."""
    from gradflow.nn import rnn

    def run_composed():
        fused, rnn._step = rnn._step, composed_step
        try:
            step()
        finally:
            rnn._step = fused

    return run_composed


def run(settings: suite.Settings) -> dict[str, dict[str, Any]]:
    return nn_layers.run_cases(settings, CASES, "rnn", TITLE, more=lambda step: [
        Contender(COMPOSED, lambda: _composed(step))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    suite.add_arguments(parser)
    run(suite.settings_from(parser.parse_args()))


if __name__ == "__main__":
    main()
