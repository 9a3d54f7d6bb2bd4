"""Optional libraries: imported when present; when absent, said once, naming the extra.

`optional` is for nice-to-haves (a progress bar, a plot): the caller carries on without.
`require` is for what the user asked for by name (a TensorBoard logger): it raises.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from gradflow.errors import MissingExtraError

# module -> the pyproject extra that installs it
EXTRA_OF = {"tqdm": "examples", "matplotlib": "examples", "tensorboardX": "tensorboard",
            "graphviz": "viz", "rich": "tables"}
_said: set[str] = set()


def install_hint(module: str) -> str:
    """Which extra brings `module`, and how to install it from a checkout.

    Example:
        >>> install_hint("tensorboardX")
        "the 'tensorboard' extra (pip install -e '.[tensorboard]' in a gradflow checkout)"
    """
    extra = EXTRA_OF[module]
    return f"the '{extra}' extra (pip install -e '.[{extra}]' in a gradflow checkout)"


def optional(module: str, purpose: str) -> ModuleType | None:
    """The module, or None after saying once on stderr what is missing and which extra has it.

    Example:
        >>> optional("json", "no JSON").dumps([1])
        '[1]'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        if module not in _said:
            _said.add(module)
            print(f"gradflow: {module} is not installed, so {purpose}; it comes with "
                  f"{install_hint(module)}", file=sys.stderr)
        return None


def require(module: str, purpose: str) -> ModuleType:
    """The module, or MissingExtraError naming the extra that installs it.

    Example:
        >>> require("json", "reading JSON").__name__
        'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"{purpose} needs {module}, which is not installed; it comes "
                                f"with {install_hint(module)}") from None
