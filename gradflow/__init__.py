"""gradflow: define-by-run autograd on the Python array API.

One code base trains on a CUDA GPU (CuPy) and on a laptop CPU (NumPy), and
ships the tools to prove the two agree.

Example:
    >>> import gradflow as gf
    >>> x = gf.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0, 6.0]
"""

import os as _os
import sys as _sys

if "numpy" not in _sys.modules and _sys.argv and (
    _sys.argv[0] == "-m" or _os.path.basename(_sys.argv[0]) == "gradflow"
):
    # NOTE: the `gradflow` command and `python -m gradflow`, before NumPy loads: idle
    # OpenBLAS workers sleep at once instead of spinning (gradflow/backends/threads.py).
    _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from gradflow.tensor import Tensor  # noqa: I001  (first: the other layers build on it)
from gradflow import autograd, cuda, ops
from gradflow.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from gradflow.autograd.anomaly import detect_anomaly
from gradflow.autograd.grad import grad
from gradflow.creation import (
    arange, as_tensor, empty, eye, from_dlpack, full, full_like, linspace, manual_seed, ones,
    ones_like, rand, randint, randn, randperm, tensor, zeros, zeros_like,
)
from gradflow.dtypes import (
    DType, bfloat16, float16, float32, float64, int8, int16, int32, int64, uint8,
)
from gradflow.dtypes import bool_ as bool  # noqa: A001 - PyTorch's name
from gradflow.info import info
from gradflow import viz  # noqa: E402,F401  (gf.viz.graph)
from gradflow.ops import *  # noqa: F401,F403  (gf.exp, gf.sum, gf.cat, ...: ops.__all__)
from gradflow.random import Generator, get_rng_state, set_rng_state
from gradflow.backends.threads import get_num_threads, set_num_threads

__version__ = "0.1.0"
from gradflow import (  # noqa: E402,F401  (gf.nn, gf.optim, gf.data, ...)
    amp,  # noqa: E402  (gf.amp.GradScaler)
    backends,
    data,
    distributed,
    dtypes,
    errors,
    io,
    linalg,
    nn,
    optim,
    random,
)
from gradflow.amp import autocast  # noqa: E402
from gradflow.checkpoint import load, save  # noqa: E402

# NOTE: the modules behind the names above are not part of the namespace (gf.creation,
# gf.checkpoint, ...); Python sets them as attributes when they are first imported.
del checkpoint, creation, tensor_methods  # noqa: F821

__all__ = [
    "DType", "Generator", "Tensor", "arange", "as_tensor", "autocast", "bfloat16", "bool",
    "detect_anomaly",
    "empty", "enable_grad", "eye", "float16", "float32", "float64", "from_dlpack", "full",
    "full_like", "get_num_threads", "get_rng_state", "grad", "info", "int16", "int32", "int64",
    "int8",
    "is_grad_enabled", "linspace", "load", "manual_seed", "no_grad", "ones", "ones_like", "rand",
    "randint", "randn", "randperm", "save", "set_grad_enabled", "set_num_threads",
    "set_rng_state", "tensor",
    "uint8", "zeros", "zeros_like",
    # subpackages
    "amp", "autograd", "backends", "cuda", "data", "distributed", "dtypes", "errors", "io",
    "linalg", "nn", "ops", "optim", "random", "viz",
    *ops.__all__,
]
