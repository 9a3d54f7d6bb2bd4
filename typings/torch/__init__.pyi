# PyTorch is only a reference in tests and benchmarks (never a dependency), and absent from
# the venv `make lint` type-checks in on a new machine: its names type as Any.
from typing import Any

def __getattr__(name: str) -> Any: ...
