"""Learning-rate schedulers, each giving the same lr sequence as its PyTorch namesake.

Call `scheduler.step()` once per epoch (OneCycleLR: once per batch) after
`optimizer.step()`. Schedulers other than OneCycleLR and ReduceLROnPlateau
update each group's current lr multiplicatively, so two of them can be chained
on one optimizer.

One module per kind: base (LRScheduler), closed_form, cyclic, composite.
"""

from __future__ import annotations

from gradflow.optim.lr_scheduler.base import LRScheduler
from gradflow.optim.lr_scheduler.closed_form import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiplicativeLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
)
from gradflow.optim.lr_scheduler.composite import ChainedScheduler, ReduceLROnPlateau, SequentialLR
from gradflow.optim.lr_scheduler.cyclic import CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR

__all__ = ["ChainedScheduler", "ConstantLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
           "CyclicLR", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR",
           "MultiplicativeLR", "OneCycleLR", "PolynomialLR", "ReduceLROnPlateau",
           "SequentialLR", "StepLR"]
