# CuPy is optional (the cuda12/cuda13 extras) and absent from the CPU venv that `make lint`
# type-checks in: its names type as Any, so gradflow's CUDA backend is still checked.
from typing import Any

def __getattr__(name: str) -> Any: ...
