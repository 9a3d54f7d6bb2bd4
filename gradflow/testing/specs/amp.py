"""Specs for the ops that mixed precision added (bmm)."""

from __future__ import annotations

import numpy as np

import gradflow as gf
from gradflow.testing.registry import Sample, op, rng

R = rng(18)

op("bmm", gf.bmm,
   [Sample((R.standard_normal((2, 3, 4)), R.standard_normal((2, 4, 5))), label="batched"),
    Sample((R.standard_normal((1, 1, 2)), R.standard_normal((1, 2, 1))), label="tiny")],
   np.matmul, torch_reference=lambda torch, a, b: torch.bmm(a, b), rtol=1e-5, atol=1e-5)
