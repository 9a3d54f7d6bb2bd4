"""gradflow.testing: check gradients and compare devices, for gradflow and for your own models.

- `assert_close(actual, expected)`: dtype-aware tolerances, the worst element reported.
- `gradcheck(fn, inputs)` / `gradgradcheck`: finite differences against backward().
- `compare_devices(fn, *inputs, devices=...)`: the same computation on several devices.
- `compare_training(...)`: identical training runs on several devices, step by step.
"""

from gradflow.testing.assertions import assert_close, to_numpy
from gradflow.testing.compare import (
    DeviceReport,
    TrainingReport,
    compare_devices,
    compare_training,
)
from gradflow.testing.gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["DeviceReport", "GradcheckError", "TrainingReport", "assert_close", "compare_devices",
           "compare_training", "gradcheck", "gradgradcheck", "to_numpy"]
