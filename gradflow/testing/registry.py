"""The op registry: every op's name, sample inputs and references, in one place.

Each registered op gets, automatically: a forward check against its NumPy
reference (and PyTorch's where installed), a float64 finite-difference
gradcheck, a second-derivative check where declared, and a cross-device
check. `tests/test_op_registry.py` generates those tests and a meta-test
fails if a public op is missing here. `gradflow check` runs the same specs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Sample:
    """One call: positional args (NumPy arrays become tensors, anything else is passed as is)."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    label: str = ""
    grad_args: tuple[int, ...] | None = None  # which args to differentiate (default: float arrays)


@dataclass
class OpSpec:
    """What the op checks (op_checks.py) need to check one op.

    Attributes:
        name: unique name, e.g. "add", "nn.conv2d".
        fn: the gradflow callable, taking tensors where samples hold arrays.
        samples: a function returning Samples (float64 NumPy arrays; op_checks casts them).
        reference: NumPy reference taking the same arguments as NumPy arrays.
        torch_reference: optional; called with `torch` as first argument, then torch tensors.
        differentiable: whether gradcheck applies.
        double_backward: whether the second derivative is checked too.
        output_index: for ops returning tuples, which element to check (None: the result).
        rtol/atol: float32 forward tolerances against the reference.
        cpu_reorders_sums: the CPU backend's fast kernel adds the same products in another
            order than the generic kernel, so array-api-strict (the generic kernels on
            NumPy) agrees with the CPU only up to rounding, not bit for bit.
    """

    name: str
    fn: Callable
    samples: Callable[[], list[Sample]]
    reference: Callable | None
    torch_reference: Callable | None = None
    differentiable: bool = True
    double_backward: bool = True
    rtol: float = 1e-5
    atol: float = 1e-6
    gradcheck_eps: float = 1e-6
    gradcheck_atol: float = 1e-5
    gradcheck_rtol: float = 1e-4
    nondeterministic: bool = False  # e.g. random ops: skip reference comparison
    cpu_reorders_sums: bool = False
    tags: tuple[str, ...] = ()


REGISTRY: dict[str, OpSpec] = {}
# public op name -> why it is not registered (non-differentiable helpers)
EXEMPT: dict[str, str] = {}


def register(spec: OpSpec) -> OpSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"op {spec.name!r} is registered twice")
    REGISTRY[spec.name] = spec
    return spec


def op(name: str, fn: Callable, samples: list[Sample] | Callable[[], list[Sample]],
       reference: Callable | None, **options: Any) -> OpSpec:
    """Register with samples given as a list (or a function returning one)."""
    make = samples if callable(samples) else (lambda s=samples: s)
    return register(OpSpec(name=name, fn=fn, samples=make, reference=reference, **options))


def exempt(name: str, reason: str) -> None:
    EXEMPT[name] = reason


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def load_all() -> dict[str, OpSpec]:
    """Import every spec module and return the registry."""
    from gradflow.testing import specs  # noqa: F401  (imports register the specs)

    return REGISTRY
