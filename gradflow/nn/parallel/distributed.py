"""DistributedDataParallel: one replica per rank, gradients averaged in buckets during backward."""

from __future__ import annotations

import contextlib
import time
import weakref
from typing import Any

from gradflow.autograd.grad_mode import is_grad_enabled, no_grad
from gradflow.distributed import collectives
from gradflow.distributed.process_group import group
from gradflow.errors import DistributedError
from gradflow.nn.module import Module
from gradflow.tensor import Tensor


class _Bucket:
    """Parameters whose gradients travel together in one flat all-reduce."""

    def __init__(self, params):
        self.params = params
        self.backend = params[0].backend
        self.waiting = len(params)
        self.nbytes = sum(p.numel() * p.dtype.itemsize for p in params)
        self.work: Any = None  # the pending all-reduce while the bucket is in flight
        self.flat: Any = None


class DistributedDataParallel(Module):
    """Train `module` on every rank with the gradients averaged over ranks after backward.

    At construction, rank 0's parameters and buffers are broadcast so that every replica
    starts equal. During backward each parameter, once its gradient is accumulated, marks
    its bucket; a bucket whose gradients are all there is all-reduced at once (non-blocking,
    buckets always launched in the same order on every rank) while backward goes on with
    the layers before it. The last gradient waits for the reductions and writes the
    averages back, so after `loss.backward()` every rank holds the same `.grad`.

    As in PyTorch: the wrapped model is `ddp.module`; `ddp.state_dict()` has keys prefixed
    with "module." (save `ddp.module.state_dict()` for a checkpoint that loads into a plain
    model; `consume_prefix_in_state_dict_if_present` strips the prefix); move the model to
    its device before wrapping it; `no_sync()` accumulates gradients locally.

    Args:
        module: the model (already on its device).
        bucket_cap_mb: largest bucket, in MiB (smaller: earlier overlap, more messages).
        broadcast_buffers: copy rank 0's buffers (BatchNorm running statistics) to every rank
            at each forward in training.
        find_unused_parameters: after each forward, walk the graph and count parameters that
            take no part as ready (their gradient is reduced as zeros).

    Attributes:
        comm_wait_seconds: time spent in backward waiting for reductions (cumulative).
        bytes_per_step: bytes of gradient all-reduced by the last synchronised backward.

    Example:
        >>> dist.init_process_group()
        >>> ddp = DistributedDataParallel(model)       # rank 0's weights broadcast to all
        >>> opt.zero_grad()
        >>> F.cross_entropy(ddp(x), y).backward()      # .grad averaged over ranks
        >>> opt.step()
        >>> ddp.bytes_per_step                         # the float32 gradients of 67 numbers
        268
    """

    def __init__(self, module: Module, bucket_cap_mb: float = 25.0, broadcast_buffers: bool = True,
                 find_unused_parameters: bool = False):
        super().__init__()
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self.world_size = group().size
        with no_grad():
            for tensor in (*module.parameters(), *module.buffers()):
                collectives.broadcast(tensor, src=0)
        self._names = {id(p): n for n, p in module.named_parameters() if p.requires_grad}
        params = [p for p in module.parameters() if p.requires_grad]
        self._buckets = _make_buckets(params[::-1], int(bucket_cap_mb * 2**20))
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}
        ref = weakref.ref(self)
        self._hook_handles = [p.register_post_accumulate_grad_hook(
            lambda p, ref=ref: (ddp := ref()) is not None and ddp._grad_ready(p)) for p in params]
        self._state = "idle"  # "armed" by a synchronised forward, "reduced" after its backward
        self._ready = set()
        self._next = 0
        self.comm_wait_seconds = 0.0
        self.bytes_per_step = 0

    def forward(self, *args, **kwargs):
        self.check_gradients_reduced()
        if self.broadcast_buffers and self.training and self.world_size > 1:
            with no_grad():
                for buffer in self.module.buffers():
                    collectives.broadcast(buffer, src=0)
        sync = self.require_backward_grad_sync and is_grad_enabled()
        self._state = "armed" if sync else "idle"
        output = self.module(*args, **kwargs)
        if sync and self.find_unused_parameters:
            for param in _unused_parameters(output, self._bucket_of):
                self._grad_ready(param)
        return output

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, forward passes prepare no reduction: gradients accumulate on each rank, and
        the first backward after the block averages the accumulated sum.

        Example:
            >>> dist.init_process_group()
            >>> ddp = DistributedDataParallel(model)
            >>> with ddp.no_sync():
            ...     F.cross_entropy(ddp(x[:8]), y[:8]).backward()  # kept on this rank
            >>> F.cross_entropy(ddp(x[8:]), y[8:]).backward()      # averages the sum of both
        """
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # -- the reducer ------------------------------------------------------------

    def _grad_ready(self, param) -> None:
        if self._state == "idle":
            return
        if self._state == "reduced" or id(param) in self._ready:
            raise DistributedError(
                f"DistributedDataParallel: parameter {self._names[id(param)]!r} got a second "
                "gradient after one synchronised forward (backward twice, or a parameter "
                "shared by two wrappers), which would leave the ranks apart; run forward "
                "again before each backward, or accumulate inside no_sync()")
        self._ready.add(id(param))
        bucket = self._bucket_of[id(param)]
        bucket.waiting -= 1
        while self._next < len(self._buckets) and self._buckets[self._next].waiting == 0:
            self._launch(self._buckets[self._next])
            self._next += 1
        if self._next == len(self._buckets):
            self._finish()

    def _launch(self, bucket: _Bucket) -> None:
        xp = bucket.backend.xp
        pieces = [xp.reshape(p.grad.data if p.grad is not None else xp.zeros_like(p.data),
                             (-1,)) for p in bucket.params]
        bucket.flat = xp.concat(pieces) if len(pieces) > 1 else xp.asarray(pieces[0], copy=True)
        bucket.work = collectives.reduce_array(bucket.flat, bucket.backend,
                                               collectives.ReduceOp.AVG)

    def _finish(self) -> None:
        started = time.perf_counter()
        total = 0
        for bucket in self._buckets:
            flat = bucket.work.result()
            total += bucket.nbytes
            offset = 0
            for p in bucket.params:
                size = p.numel()
                chunk = bucket.backend.xp.reshape(flat[offset:offset + size], p.data.shape)
                offset += size
                if p.grad is not None and bucket.backend.inplace:
                    p.grad.data[...] = chunk
                else:
                    p.grad = Tensor._wrap(bucket.backend.xp.asarray(chunk, copy=True),
                                          bucket.backend)
            bucket.work = bucket.flat = None
            bucket.waiting = len(bucket.params)
        self.comm_wait_seconds += time.perf_counter() - started
        self.bytes_per_step = total
        self._ready.clear()
        self._next = 0
        self._state = "reduced"

    def check_gradients_reduced(self) -> None:
        """Raise DistributedError, naming them, if parameters got no gradient in the last
        synchronised backward (their bucket was never reduced).

        The next forward checks this; call it right after backward when other collectives
        follow before the next forward (fit does): a rank that skipped a parameter would
        otherwise wait in that collective while the other ranks wait for its bucket. The
        error ends the job on every rank (the process group's exception hook).

        Example:
            >>> dist.init_process_group()
            >>> ddp = DistributedDataParallel(model)
            >>> F.cross_entropy(ddp(x), y).backward()
            >>> ddp.check_gradients_reduced()          # silent: every gradient was averaged
        """
        if not self._ready:
            return
        missing = [name for key, name in self._names.items() if key not in self._ready]
        raise DistributedError(
            f"DistributedDataParallel: the last backward on rank {group().rank} left "
            f"{len(missing)} parameter(s) without a gradient "
            f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}), so their "
            "bucket was never reduced; make every parameter take part in the loss on every "
            "rank, freeze it (requires_grad=False) or pass find_unused_parameters=True")


def _make_buckets(params, cap_bytes: int) -> list[_Bucket]:
    """Consecutive parameters of one device and dtype, up to cap_bytes each."""
    buckets, current, size = [], [], 0
    for p in params:
        nbytes = p.numel() * p.dtype.itemsize
        if current and (size + nbytes > cap_bytes or p.backend is not current[0].backend
                        or p.dtype is not current[0].dtype):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


def _unused_parameters(output, watched: dict) -> list:
    """The watched parameters that no recorded path leads to from the output tensors."""
    stack, seen_nodes, used = [], set(), set()

    def collect(value):
        if isinstance(value, Tensor):
            if value.creator is not None:
                stack.append(value.creator)
            else:
                used.add(id(value))
        elif isinstance(value, (tuple, list)):
            for item in value:
                collect(item)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)

    collect(output)
    while stack:
        node = stack.pop()
        if node in seen_nodes or node.inputs is None:
            continue
        seen_nodes.add(node)
        for arg, creator in zip(node.inputs, node.input_creators):
            if creator is not None:
                stack.append(creator)
            elif isinstance(arg, Tensor):
                used.add(id(arg))
    return [p for b in dict.fromkeys(watched.values()) for p in b.params if id(p) not in used]


def consume_prefix_in_state_dict_if_present(state_dict: dict, prefix: str = "module.") -> None:
    """Strip `prefix` from every key that has it, in place (a DDP state_dict -> a plain one).

    Example:
        >>> dist.init_process_group()
        >>> ddp = DistributedDataParallel(model)
        >>> state = ddp.state_dict()
        >>> next(iter(state))
        'module.0.weight'
        >>> consume_prefix_in_state_dict_if_present(state)
        >>> next(iter(state))
        '0.weight'
        >>> plain = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> plain.load_state_dict(state)
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    """
    for key in [k for k in state_dict if k.startswith(prefix)]:
        state_dict[key[len(prefix):]] = state_dict.pop(key)
