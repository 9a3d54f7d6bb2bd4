"""Issue 14's layers against PyTorch: one forward and backward of the same layer with the same
weights and input, gradflow and PyTorch CPU interleaved in this process (harness.measure).

Layers: LSTM (2 layers, bidirectional), GRU, ConvTranspose2d (stride 2), Conv1d, unfold
(im2col), MultiheadAttention, GroupNorm. Each is checked against PyTorch before timing.

Usage (from the repository root):
    python bench/nn_layers.py            # a few minutes
    python bench/nn_layers.py --quick    # checks that everything runs
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
import suite
from harness import Contender, markdown_table

TITLE = "issue 14 layers: forward + backward vs PyTorch CPU"


def _cases(torch) -> dict[str, tuple[Callable, tuple, dict]]:
    """name -> (build(nn module namespace), input shapes, call kwargs)."""
    return {
        "lstm": (lambda m: m.LSTM(32, 64, num_layers=2, bidirectional=True), ((20, 16, 32),), {}),
        "gru": (lambda m: m.GRU(32, 64), ((20, 16, 32),), {}),
        "conv_transpose2d": (lambda m: m.ConvTranspose2d(16, 8, 3, stride=2, padding=1,
                                                         output_padding=1),
                             ((8, 16, 16, 16),), {}),
        "conv1d": (lambda m: m.Conv1d(16, 32, 5, padding=2), ((16, 16, 128),), {}),
        "unfold": (lambda m: m.Unfold(3, padding=1), ((8, 16, 32, 32),), {}),
        "multihead_attention": (lambda m: m.MultiheadAttention(64, 4, batch_first=True),
                                ((8, 32, 64),) * 3, {"need_weights": False}),
        "group_norm": (lambda m: m.GroupNorm(4, 32), ((16, 32, 16, 16),), {}),
    }


def _first(output):
    while isinstance(output, tuple):
        output = output[0]
    return output


def _factories(name: str, build, shapes, kwargs):
    import torch

    import gradflow as gf
    from gradflow import nn

    theirs = build(torch.nn)
    ours = build(nn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]

    def gradflow_step():
        inputs = [gf.tensor(a, requires_grad=True) for a in arrays]
        _first(ours(*inputs, **kwargs)).sum().backward()

    def torch_step():
        inputs = [torch.tensor(a, requires_grad=True) for a in arrays]
        _first(theirs(*inputs, **kwargs)).sum().backward()

    out = _first(ours(*[gf.tensor(a) for a in arrays], **kwargs)).numpy()
    ref = _first(theirs(*[torch.tensor(a) for a in arrays], **kwargs)).detach().numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4, err_msg=name)
    return gradflow_step, torch_step


def run(settings: suite.Settings) -> dict[str, dict[str, Any]]:
    import torch

    return run_cases(settings, _cases(torch), "nn_layers", TITLE)


def run_cases(settings: suite.Settings, cases: dict[str, tuple[Callable, tuple, dict]],
              prefix: str, title: str, more: Callable | None = None) -> dict[str, dict[str, Any]]:
    """Time each case, gradflow against PyTorch, and save `<prefix>_<name>.json`; `more`
    (gradflow's step -> Contenders) adds contenders."""
    settings.apply_threads()
    sections = {}
    for name, (build, shapes, kwargs) in cases.items():
        gradflow_step, torch_step = _factories(name, build, shapes, kwargs)
        contenders = [Contender(suite.GRADFLOW, lambda s=gradflow_step: s),
                      *(more(gradflow_step) if more else ()),
                      Contender(suite.TORCH, lambda s=torch_step: s)]
        results = settings.measure(contenders, baseline=suite.TORCH)
        suite.save_section(f"{prefix}_{name}", f"{title}: {name}", results, settings,
                           table=markdown_table(results, baseline=suite.TORCH))
        sections[f"{prefix}_{name}"] = results
    return sections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    suite.add_arguments(parser)
    run(suite.settings_from(parser.parse_args()))


if __name__ == "__main__":
    main()
