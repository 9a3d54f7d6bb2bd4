# See ../__init__.pyi: CuPy's names type as Any.
from typing import Any

def __getattr__(name: str) -> Any: ...
