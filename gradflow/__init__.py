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
from gradflow.ops import *  # noqa: F401,F403  (gf.exp, gf.sum, gf.cat, ...)
from gradflow.random import Generator, get_rng_state, set_rng_state

__version__ = "0.1.0"
from gradflow.checkpoint import load, save  # noqa: E402
from gradflow import data, nn, optim  # noqa: E402,F401  (gf.nn, gf.optim, gf.data)
from gradflow import amp  # noqa: E402,F401  (gf.amp.GradScaler)
from gradflow.amp import autocast  # noqa: E402
