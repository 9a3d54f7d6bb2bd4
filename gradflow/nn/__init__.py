"""gradflow.nn: Module, Parameter, layers, losses, init and the functional forms.

Example:
    >>> import gradflow as gf
    >>> from gradflow import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> loss = nn.CrossEntropyLoss()(model(gf.randn(5, 4)), gf.tensor([0, 2, 1, 1, 0]))
    >>> loss.backward()
"""

from gradflow.nn.module import Module, Parameter, RemovableHandle  # noqa: I001  (first)
from gradflow.nn import functional, init, utils
from gradflow.nn.containers import ModuleDict, ModuleList, Sequential
from gradflow.nn.conv import AdaptiveAvgPool2d, AvgPool2d, Conv2d, MaxPool2d
from gradflow.nn.layers import (
    GELU, BatchNorm1d, BatchNorm2d, Dropout, Embedding, Flatten, Identity, LayerNorm, LeakyReLU,
    Linear, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh,
)
from gradflow.nn.losses import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss,
)
from gradflow.nn import parallel
from gradflow.nn.parallel import SyncBatchNorm

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d",
    "BatchNorm2d", "Conv2d", "CrossEntropyLoss", "Dropout", "Embedding", "Flatten", "GELU",
    "Identity", "L1Loss", "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss",
    "MaxPool2d", "Module", "ModuleDict", "ModuleList", "NLLLoss", "Parameter", "ReLU",
    "RemovableHandle", "Sequential", "Sigmoid", "SmoothL1Loss", "Softmax", "SyncBatchNorm",
    "Tanh", "functional", "init", "parallel", "utils",
]
