"""Per-op overhead: a 200-op elementwise chain on a 4-element tensor, forward and backward.

The chain is ``reference_torch``'s (``CHAIN_CYCLE``: ``x * 1.001``, ``+ 0.01``, ``tanh``,
``- 0.001``, ``sigmoid``, repeated), then ``.sum().backward()``. On 4 elements the arithmetic is
nothing; what is timed is the framework's work per op: dispatch, graph recording and the
backward pass. Contenders, interleaved in this process: gradflow and PyTorch (forward +
backward) and NumPy (forward only: the floor for anything built on NumPy). Reported per op.

Usage (from the repository root):
    python bench/overhead.py              # ~30 s
    python bench/overhead.py --quick
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
import reference_torch
import suite
from harness import Contender
from reference_torch import CHAIN_OPS, CHAIN_SIZE, CHAIN_START

TITLE = f"Per-op overhead: {CHAIN_OPS}-op chain on a {CHAIN_SIZE}-element float32 tensor"


def gradflow_chain_factory(
    n_ops: int = CHAIN_OPS, size: int = CHAIN_SIZE, device: str = "cpu"
) -> Callable[[], Any]:
    """gradflow's run of the chain, forward and backward (``reference_torch.chain_step``).

    Args:
        n_ops: chain length.
        size: elements in the tensor.
        device: gradflow device.

    Returns:
        ``step()``; it returns the chain's output (detached). The leaf's ``.grad`` is reset
        each step, so every step does the same work.

    Example:
        >>> step = gradflow_chain_factory(n_ops=10)
        >>> step().shape
        (4,)
    """
    import gradflow as gf

    leaf = gf.full((size,), CHAIN_START, dtype=gf.float32, device=device, requires_grad=True)
    return reference_torch.chain_step(leaf, n_ops)


def check_chain(n_ops: int = CHAIN_OPS) -> dict[str, float]:
    """gradflow's chain output must equal NumPy's (float32 rounding).

    Returns:
        ``{"max_abs_error": ...}``.

    Raises:
        AssertionError: the outputs differ.
    """
    expected = reference_torch.numpy_chain_factory(n_ops)()
    actual = gradflow_chain_factory(n_ops)().numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-5, err_msg="gradflow chain vs NumPy")
    return {"max_abs_error": float(np.abs(actual - expected).max())}


def contenders(n_ops: int = CHAIN_OPS) -> list[Contender]:
    return [
        Contender(suite.GRADFLOW, lambda: gradflow_chain_factory(n_ops), n_ops),
        Contender(suite.NUMPY, lambda: reference_torch.numpy_chain_factory(n_ops), n_ops),
        Contender(suite.TORCH, lambda: reference_torch.chain_factory(n_ops), n_ops),
    ]


def run(settings: suite.Settings) -> dict[str, dict[str, Any]]:
    """Check, then time the chain; save ``overhead.json``; return ``{"overhead": results}``."""
    settings.apply_threads()
    sanity = check_chain()
    results = settings.measure(contenders())
    results["sanity"] = sanity
    results["note"] = "numpy: forward only"
    suite.save_section("overhead", TITLE, results, settings)
    return {"overhead": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    suite.add_arguments(parser)
    run(suite.settings_from(parser.parse_args()))


if __name__ == "__main__":
    main()
