"""Run a registered op's checks: forward vs reference, gradcheck, gradgradcheck, cross-device."""

from __future__ import annotations

import functools
import operator

import numpy as np

import gradflow as gf
from gradflow.testing.assertions import assert_close, to_numpy
from gradflow.testing.gradcheck import gradcheck, gradgradcheck
from gradflow.testing.registry import OpSpec, Sample


def grad_positions(sample: Sample) -> tuple[int, ...]:
    if sample.grad_args is not None:
        return sample.grad_args
    return tuple(i for i, a in enumerate(sample.args)
                 if isinstance(a, np.ndarray) and a.dtype.kind == "f")


def make_inputs(sample: Sample, device: str, dtype, requires_grad: bool) -> list:
    """Sample args as tensors on `device`: float arrays cast to `dtype`, others kept."""
    positions = grad_positions(sample) if requires_grad else ()
    args = []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray):
            cast = dtype if a.dtype.kind == "f" else None
            args.append(gf.tensor(a, dtype=cast, device=device, requires_grad=i in positions))
        else:
            args.append(a)
    return args


def outputs_of(result) -> list:
    items = result if isinstance(result, (tuple, list)) else (result,)
    return [t for t in items if isinstance(t, gf.Tensor)]


def rounded_args(sample: Sample, dtype) -> list:
    """The reference's inputs: the same values the device sees, in float64."""
    np_dtype = np.float32 if dtype is gf.float32 else np.float64
    return [a.astype(np_dtype).astype(np.float64)
            if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in sample.args]


def check_forward(spec: OpSpec, sample: Sample, device: str, dtype=gf.float32) -> None:
    """The op's output on `device` equals the NumPy reference."""
    assert spec.reference is not None, f"{spec.name} has no NumPy reference"
    result = spec.fn(*make_inputs(sample, device, dtype, False), **sample.kwargs)
    expected = spec.reference(*rounded_args(sample, dtype), **sample.kwargs)
    expected = expected if isinstance(expected, (tuple, list)) else [expected]
    for out, ref in zip(outputs_of(result), expected):
        ref = np.asarray(ref)
        assert out.shape == ref.shape, f"{spec.name}: shape {out.shape}, reference {ref.shape}"
        assert_close(out, ref.astype(to_numpy(out).dtype) if ref.dtype.kind != "f" else ref,
                     rtol=spec.rtol, atol=spec.atol, msg=f"{spec.name}[{sample.label}] on {device}",
                     check_dtype=False)  # the reference computes in float64


def check_torch(spec: OpSpec, sample: Sample, dtype=gf.float32) -> None:
    """The op's output and input gradients equal PyTorch's (float32 tolerance)."""
    import torch

    torch_dtype = torch.float32 if dtype is gf.float32 else torch.float64
    positions = grad_positions(sample)
    torch_args = []
    for i, a in enumerate(rounded_args(sample, dtype)):
        if isinstance(a, np.ndarray):
            t = torch.tensor(a, dtype=torch_dtype if a.dtype.kind == "f" else None)
            torch_args.append(t.requires_grad_(i in positions and spec.differentiable))
        else:
            torch_args.append(a)
    assert spec.torch_reference is not None, f"{spec.name} has no torch reference"
    expected = spec.torch_reference(torch, *torch_args, **sample.kwargs)
    inputs = make_inputs(sample, "cpu", dtype, spec.differentiable)
    result = spec.fn(*inputs, **sample.kwargs)
    outs = outputs_of(result)
    refs = expected if isinstance(expected, (tuple, list)) else [expected]
    rtol, atol = max(spec.rtol, 1e-5), max(spec.atol, 1e-5)
    for out, ref in zip(outs, refs):
        assert_close(out, ref.detach().numpy(), rtol=rtol, atol=atol,
                     msg=f"{spec.name} vs torch")
    if not spec.differentiable:
        return
    cotangents = [np.random.default_rng(1).standard_normal(o.shape) for o in outs]
    loss = functools.reduce(operator.add, [(o * gf.tensor(c, dtype=o.dtype)).sum()
                                           for o, c in zip(outs, cotangents)])
    torch_loss = functools.reduce(operator.add, [(r * torch.tensor(c, dtype=r.dtype)).sum()
                                                 for r, c in zip(refs, cotangents)])
    loss.backward()
    torch_loss.backward()
    for i in positions:
        if torch_args[i].grad is None:
            continue
        assert_close(inputs[i].grad, torch_args[i].grad.numpy(), rtol=rtol, atol=atol,
                     msg=f"{spec.name}: gradient of input {i} vs torch")


def check_gradcheck(spec: OpSpec, sample: Sample, device: str, second_order: bool = False) -> None:
    """Float64 finite differences agree with backward (and its own backward)."""
    inputs = make_inputs(sample, device, gf.float64, True)
    positions = grad_positions(sample)

    def call(*diff):
        args = list(inputs)
        for i, t in zip(positions, diff):
            args[i] = t
        return spec.fn(*args, **sample.kwargs)

    check = gradgradcheck if second_order else gradcheck
    check(call, [inputs[i] for i in positions], eps=spec.gradcheck_eps,
          atol=spec.gradcheck_atol, rtol=spec.gradcheck_rtol)


def forward_and_grads(spec: OpSpec, sample: Sample, device: str, dtype) -> list[np.ndarray]:
    """Outputs and, for differentiable ops, input gradients, as host arrays."""
    inputs = make_inputs(sample, device, dtype, spec.differentiable)
    outs = outputs_of(spec.fn(*inputs, **sample.kwargs))
    results = [o.numpy() for o in outs]
    if spec.differentiable:
        rng = np.random.default_rng(2)
        loss = None
        for o in outs:
            if o.requires_grad:
                term = (o * gf.tensor(rng.standard_normal(o.shape), dtype=o.dtype,
                                      device=device)).sum()
                loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
            results += [inputs[i].grad.numpy() for i in grad_positions(sample)
                        if inputs[i].grad is not None]
    return results


def check_cross_device(spec: OpSpec, sample: Sample, device: str, dtype=gf.float32,
                       reference_device: str = "cpu", exact: bool = False,
                       rtol: float | None = None, atol: float | None = None) -> float:
    """Outputs and gradients on `device` equal those on `reference_device` (bit for bit if
    `exact`, else to rtol and atol: by default 1e-6 and 1e-7, or the spec's forward
    tolerances for an op whose CPU kernel sums in another order).

    Returns:
        The largest absolute difference seen.
    """
    if rtol is None or atol is None:
        rtol, atol = (spec.rtol, spec.atol) if spec.cpu_reorders_sums else (1e-6, 1e-7)
    here = forward_and_grads(spec, sample, device, dtype)
    there = forward_and_grads(spec, sample, reference_device, dtype)
    assert len(here) == len(there)
    worst = 0.0
    for a, b in zip(here, there):
        if exact:
            np.testing.assert_array_equal(a, b, err_msg=f"{spec.name} on {device}")
        else:
            assert_close(a, b, rtol=rtol, atol=atol, msg=f"{spec.name} on {device}")
        if a.size and a.dtype.kind == "f":
            worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b))))
    return worst
