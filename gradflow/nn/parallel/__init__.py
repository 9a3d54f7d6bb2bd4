"""gradflow.nn.parallel: DistributedDataParallel and SyncBatchNorm (see gradflow.distributed).

Example:
    >>> import gradflow.distributed as dist
    >>> from gradflow import models
    >>> from gradflow.nn.parallel import DistributedDataParallel
    >>> dist.init_process_group()
    >>> net = nn.SyncBatchNorm.convert_sync_batchnorm(models.cnn(image_size=8, batch_norm=True))
    >>> ddp = DistributedDataParallel(net)               # rank 0's weights on every rank
    >>> images, labels = gf.randn(4, 1, 8, 8), gf.tensor([0, 1, 2, 3])
    >>> F.cross_entropy(ddp(images), labels).backward()  # batch statistics, .grad: all ranks'
"""

from gradflow.nn.parallel.distributed import (
    DistributedDataParallel,
    consume_prefix_in_state_dict_if_present,
)
from gradflow.nn.parallel.sync_batchnorm import SyncBatchNorm

__all__ = ["DistributedDataParallel", "SyncBatchNorm", "consume_prefix_in_state_dict_if_present"]
