"""Collectives on tensors of any device: all_reduce, broadcast, all_gather.

CPU tensors are reduced in their own memory by MPI; array-api-strict tensors, and CUDA
tensors without NCCL, are staged through a host copy; CUDA tensors go through NCCL on
device memory when the process group has it.
"""

from __future__ import annotations

import enum

import numpy as np

from gradflow.autograd.grad_mode import no_grad
from gradflow.distributed.process_group import _mpi, group
from gradflow.errors import DTypeError, ShapeError
from gradflow.tensor import Tensor


class ReduceOp(enum.Enum):
    """How all_reduce combines the ranks' values (AVG: the sum divided by the world size)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


class Work:
    """The handle of a collective started with async_op=True, as PyTorch's.

    `wait()` blocks until the collective is over and its result is in the tensor, then
    returns True; `is_completed()` says, without blocking, whether the transfer is over
    (call wait() before reading the tensor all the same: an AVG still divides in wait()).

    Example:
        >>> dist.init_process_group()
        >>> t = gf.ones(3)
        >>> work = dist.all_reduce(t, async_op=True)
        >>> out = model(x)                        # other work while the reduction runs
        >>> work.wait()                           # t holds the sum from here on
        True
        >>> work.is_completed(), t.tolist()       # [2.0, 2.0, 2.0] on 2 ranks
        (True, [1.0, 1.0, 1.0])
    """

    def __init__(self, wait, test):
        self._wait = wait
        self._test = test
        self._result = None
        self._done = False

    def is_completed(self) -> bool:
        """Whether the collective is over, without blocking."""
        return self._done or bool(self._test())

    def wait(self) -> bool:
        """Block until the collective is over (its result written); returns True."""
        self.result()
        return True

    def result(self):
        """Wait, then return the result as a backend array (for gradflow's own reducers)."""
        if not self._done:
            self._result = self._wait()
            self._done = True
        return self._result


def _mpi_op(op: ReduceOp):
    MPI = _mpi()
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MAX: MPI.MAX, ReduceOp.MIN: MPI.MIN}[op]


def _host_buffer(array, backend, writable_original: bool):
    """A C-contiguous NumPy array holding `array`'s values; (buffer, is it `array` itself)."""
    if writable_original and isinstance(array, np.ndarray) and array.flags.c_contiguous \
            and array.flags.writeable:
        return array, True
    return np.asarray(backend.to_host(array), order="C"), False  # NOTE: keeps 0-d shapes


def _cuda_index(backend):
    return backend.device.id if backend.name.startswith("cuda") else None


def reduce_array(array, backend, op: ReduceOp = ReduceOp.SUM, in_place: bool = True,
                 async_op: bool = True) -> Work:
    """Start an all-reduce of one backend array; `result()` returns the reduced array.

    With in_place, a CPU array (and a CUDA one under NCCL) is reduced in its own memory
    and returned; otherwise the result is a new array of the same backend. With async_op
    a host reduction runs on the process group's worker thread, else here and now.
    """
    g = group()
    if op is ReduceOp.AVG and not backend.xp.isdtype(array.dtype, "real floating"):
        raise DTypeError(f"all_reduce: ReduceOp.AVG needs a floating-point tensor, got "
                         f"{array.dtype}; use SUM and divide")
    index = _cuda_index(backend)
    nccl = g.nccl(index) if index is not None else None
    if nccl is not None:
        return nccl.all_reduce(array if in_place else array.copy(), op, g.size)
    host, same = _host_buffer(array, backend, in_place)
    if not same and host is array:  # NOTE: to_host may return the array itself
        host = host.copy()
    mpi_op = _mpi_op(op)

    def reduce(comm):
        comm.Allreduce(_mpi().IN_PLACE, host, op=mpi_op)

    if async_op:
        future = g.submit(reduce)
    else:
        reduce(g.comm)

    def finish():
        if async_op:
            future.result()
        if op is ReduceOp.AVG:
            np.divide(host, g.size, out=host)
        return host if same else backend.from_host(host)

    return Work(finish, future.done if async_op else lambda: True)


def _write(tensor: Tensor, array) -> None:
    """Put `array` (same backend) into `tensor`, in place."""
    if array is tensor.data:
        tensor._version += 1
        return
    with no_grad():
        tensor.copy_(Tensor._wrap(array, tensor.backend))


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, async_op: bool = False):
    """Combine `tensor` over all ranks, in place: every rank ends with the same values.

    Args:
        tensor: the values of this rank (any device); overwritten with the result.
        op: ReduceOp.SUM (default), AVG, PRODUCT, MAX or MIN.
        async_op: return a Work handle at once instead of waiting.

    Returns:
        None, or a Work whose wait() finishes the reduction (and writes the tensor).

    Example:
        >>> dist.init_process_group()
        >>> t = gf.tensor([float(dist.get_rank() + 1)])
        >>> dist.all_reduce(t)            # 1 + 2 + ... + N
        >>> t.item()                      # 3.0 on both ranks of 2
        1.0
        >>> dist.all_reduce(t, op=dist.ReduceOp.AVG)
        >>> t.item()
        1.0
    """
    work = reduce_array(tensor.data, tensor.backend, op, async_op=async_op)

    def finish():
        result = work.result()
        _write(tensor, result)
        return result

    handle = Work(finish, work.is_completed)
    if async_op:
        return handle
    handle.wait()
    return None


def broadcast(tensor: Tensor, src: int = 0) -> None:
    """Overwrite `tensor` on every rank with rank `src`'s values (same shape and dtype).

    Example:
        >>> dist.init_process_group()
        >>> t = gf.tensor([1.0, 2.0]) * (dist.get_rank() + 1)   # different on every rank
        >>> dist.broadcast(t, src=0)
        >>> t.tolist()                                          # rank 0's values everywhere
        [1.0, 2.0]
    """
    g = group()
    index = _cuda_index(tensor.backend)
    nccl = g.nccl(index) if index is not None else None
    if nccl is not None:
        nccl.broadcast(tensor.data, src)
        tensor._version += 1
        return
    host, same = _host_buffer(tensor.data, tensor.backend, True)
    g.comm.Bcast(host, root=src)
    if g.rank != src:
        _write(tensor, host if same else tensor.backend.from_host(host))


def all_gather(tensor_list: list, tensor: Tensor) -> None:
    """Fill tensor_list[r] with rank r's `tensor` (every rank gives the same shape).

    Example:
        >>> dist.init_process_group()
        >>> parts = [gf.zeros(3) for _ in range(dist.get_world_size())]
        >>> dist.all_gather(parts, gf.ones(3) * dist.get_rank())
        >>> [p.tolist() for p in parts]   # [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]] on 2 ranks
        [[0.0, 0.0, 0.0]]
    """
    g = group()
    if len(tensor_list) != g.size:
        raise ShapeError(f"all_gather: tensor_list has {len(tensor_list)} tensors for a world "
                         f"of {g.size} ranks; pass one per rank")
    backend = tensor.backend
    index = _cuda_index(backend)
    nccl = g.nccl(index) if index is not None else None
    if nccl is not None:
        gathered = nccl.all_gather(tensor.data, g.size)
    else:
        host = np.asarray(backend.to_host(tensor.data), order="C")
        out = np.empty((g.size, *host.shape), dtype=host.dtype)
        g.comm.Allgather(host, out)
        gathered = backend.from_host(out)
    with no_grad():
        for rank, target in enumerate(tensor_list):
            target.copy_(Tensor._wrap(gathered[rank, ...], backend))


def all_reduce_object(value, op: ReduceOp = ReduceOp.SUM):
    """A small Python value (count, flag, float) combined over all ranks; returns the result.

    Example:
        >>> dist.init_process_group()
        >>> dist.all_reduce_object(len(x))           # samples seen by all ranks (32 on 2)
        16
        >>> dist.all_reduce_object(0.5, op=dist.ReduceOp.MAX)
        0.5
    """
    g = group()
    total = g.comm.allreduce(value, op=_mpi_op(op))
    return total / g.size if op is ReduceOp.AVG else total
