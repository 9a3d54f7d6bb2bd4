"""SyncBatchNorm: batch statistics over the whole global batch, across all ranks."""

from __future__ import annotations

from gradflow.autograd.grad_mode import no_grad
from gradflow.distributed import collectives, process_group
from gradflow.distributed.functional import all_reduce_sum
from gradflow.nn.layers import BatchNorm1d, BatchNorm2d, _BatchNorm
from gradflow.nn.module import Module
from gradflow.ops.elementwise import sqrt


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation whose mean and variance are those of the batch of all ranks.

    In training under a process group of several ranks, the per-channel sums are
    all-reduced (and so are their gradients in backward), so N ranks with a batch of B
    each normalise exactly as one process with the batch of N*B; otherwise it is
    BatchNorm. Accepts (N, C, ...) inputs of any rank >= 2.

    Args: as BatchNorm1d.

    Example:
        >>> from gradflow import models
        >>> dist.init_process_group()
        >>> net = nn.SyncBatchNorm.convert_sync_batchnorm(models.cnn(image_size=8, batch_norm=True))
        >>> out = net(gf.randn(4, 1, 8, 8))   # normalised with the statistics of all ranks' batches
        >>> out.shape
        (4, 10)
    """

    ranks = (2, 3, 4, 5)
    layout = "(N, {C}, ...)"

    def forward(self, x):
        if not (self.training and process_group.is_initialized()
                and process_group.get_world_size() > 1) or x.ndim not in self.ranks \
                or x.shape[1] != self.num_features:
            return super().forward(x)  # NOTE: also raises the shape errors
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            with no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.item())
        dims = (0, *range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        count = collectives.all_reduce_object(x.numel() // x.shape[1])
        # NOTE: two passes (the mean, then the sum of squared deviations), as BatchNorm
        # computes them: E[x^2] - E[x]^2 would lose digits to cancellation.
        mean = all_reduce_sum(x.sum(dims)) / count
        centered = x - mean.reshape(shape)
        var = all_reduce_sum((centered * centered).sum(dims)) / count
        out = centered / sqrt(var.reshape(shape) + self.eps)
        if self.track_running_stats:
            with no_grad():
                unbiased = var.detach() * (count / max(count - 1, 1))
                self.running_mean.copy_(self.running_mean * (1.0 - factor) + mean.detach() * factor)
                self.running_var.copy_(self.running_var * (1.0 - factor) + unbiased * factor)
        if self.weight is not None:
            out = out * self.weight.reshape(shape)
        if self.bias is not None:
            out = out + self.bias.reshape(shape)
        return out

    @classmethod
    def convert_sync_batchnorm(cls, module: Module) -> Module:
        """Replace every BatchNorm1d/2d in `module` (or `module` itself) by a SyncBatchNorm
        holding the same parameters and buffers; returns the converted module.

        Example:
            >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
            >>> net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
            >>> type(net[1]).__name__
            'SyncBatchNorm'
        """
        if isinstance(module, (BatchNorm1d, BatchNorm2d)) and not isinstance(module, cls):
            converted = cls.__new__(cls)
            Module.__init__(converted)
            for key, value in vars(module).items():
                if key not in ("_parameters", "_buffers", "_modules", "_non_persistent"):
                    object.__setattr__(converted, key, value)
            converted._parameters.update(module._parameters)
            converted._buffers.update(module._buffers)
            converted._non_persistent.update(module._non_persistent)
            return converted
        for name, child in list(module._modules.items()):
            if child is not None:
                replaced = cls.convert_sync_batchnorm(child)
                if replaced is not child:
                    module._modules[name] = replaced
        return module
