"""Batch transforms that run on the batch's device, drawing randomness from gradflow's generator."""

from __future__ import annotations

import gradflow as gf


class Compose:
    def __init__(self, *transforms):
        self.transforms = transforms

    def __call__(self, batch):
        for transform in self.transforms:
            batch = transform(batch)
        return batch


class Normalize:
    """(x - mean) / std on the images of an (images, labels) batch."""

    def __init__(self, mean: float, std: float):
        self.mean, self.std = float(mean), float(std)

    def __call__(self, batch):
        images, *rest = batch
        return ((images - self.mean) / self.std, *rest)


class RandomHorizontalFlip:
    """Flip each image left-right with probability p."""

    def __init__(self, p: float = 0.5, generator: gf.Generator | None = None):
        self.p = p
        self.generator = generator or gf.random.default_generator

    def __call__(self, batch):
        images, *rest = batch
        backend = images.backend
        n, width = images.shape[0], images.shape[-1]
        flip = self.generator.bernoulli(self.p, (n, 1, 1, 1), backend.xp, backend.device)
        reversed_index = gf.arange(width - 1, -1, -1, device=images.device)
        flipped = _flip_last(images, reversed_index)
        return (gf.where(gf.Tensor._wrap(flip, backend), flipped, images), *rest)


def _flip_last(images, reversed_index):
    moved = images.permute(3, 0, 1, 2)
    return moved[reversed_index].permute(1, 2, 3, 0)


class RandomCrop:
    """Pad by `padding` zeros, then take a random `size` x `size` crop per batch (one offset)."""

    def __init__(self, size: int, padding: int = 0, generator: gf.Generator | None = None):
        self.size, self.padding = size, padding
        self.generator = generator or gf.random.default_generator

    def __call__(self, batch):
        images, *rest = batch
        p = self.padding
        padded = gf.pad(images, (p, p, p, p)) if p else images
        height, width = padded.shape[-2:]
        backend = images.backend
        offsets = self.generator.integers(0, max(height - self.size, 0) + 1, (2,), backend.xp,
                                          backend.device)
        top, left = (int(v) for v in gf.Tensor._wrap(offsets, backend).tolist())
        return (padded[:, :, top:top + self.size, left:left + self.size], *rest)
