"""The generic backend: every kernel written once with standard array-API calls.

The core (arrays, dtypes, devices, transfers, the workspace) is core.ArrayBackend; the
kernels come by concern from backends/kernels/. Subclasses (numpy.py, cupy.py) override
only the kernels they make faster and are tested against these versions; they never change
results beyond rounding.
"""

from __future__ import annotations

from gradflow.backends.core import ArrayBackend
from gradflow.backends.kernels.conv import ConvKernels
from gradflow.backends.kernels.elementwise import ElementwiseKernels
from gradflow.backends.kernels.optim import OptimizerKernels
from gradflow.backends.kernels.pool import PoolKernels


class Backend(ArrayBackend, ElementwiseKernels, ConvKernels, PoolKernels, OptimizerKernels):
    """An array namespace on one device, plus every kernel in its generic form."""
