"""gradflow.distributed: process groups and collectives on MPI (mpi4py) and NCCL (CuPy).

Start N copies of a script with `gradflow run -n N script.py` (or mpiexec, or
`srun --mpi=pmix`); in the script, `init_process_group()` makes each copy one rank.

Example:
    >>> import gradflow as gf
    >>> import gradflow.distributed as dist
    >>> dist.init_process_group()
    >>> t = gf.ones(3) * (dist.get_rank() + 1)
    >>> dist.all_reduce(t, op=dist.ReduceOp.SUM)
    >>> t.tolist()                   # 1 + 2 + ... + N on every rank: [3.0, 3.0, 3.0] for N = 2
    [1.0, 1.0, 1.0]
    >>> dist.destroy_process_group()
"""

from gradflow.distributed.collectives import (
    ReduceOp,
    Work,
    all_gather,
    all_reduce,
    all_reduce_object,
    broadcast,
)
from gradflow.distributed.process_group import (
    barrier,
    destroy_process_group,
    get_local_rank,
    get_rank,
    get_world_size,
    init_process_group,
    is_initialized,
    is_main_process,
)

__all__ = ["ReduceOp", "Work", "all_gather", "all_reduce", "all_reduce_object", "barrier",
           "broadcast", "destroy_process_group", "get_local_rank", "get_rank",
           "get_world_size", "init_process_group", "is_initialized", "is_main_process"]
