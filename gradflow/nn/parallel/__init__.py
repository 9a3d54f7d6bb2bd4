"""gradflow.nn.parallel: DistributedDataParallel and SyncBatchNorm (see gradflow.distributed).

Example:
    >>> import gradflow.distributed as dist
    >>> from gradflow.nn.parallel import DistributedDataParallel
    >>> dist.init_process_group()
    >>> model = DistributedDataParallel(nn.SyncBatchNorm.convert_sync_batchnorm(model))
"""

from gradflow.nn.parallel.distributed import (
    DistributedDataParallel,
    consume_prefix_in_state_dict_if_present,
)
from gradflow.nn.parallel.sync_batchnorm import SyncBatchNorm

__all__ = ["DistributedDataParallel", "SyncBatchNorm", "consume_prefix_in_state_dict_if_present"]
