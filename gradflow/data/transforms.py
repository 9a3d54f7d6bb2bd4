"""Image transforms under torchvision's names, run batch-wise on the batch's device.

Each takes an image batch (N, C, H, W), a single image (C, H, W), or a batch tuple
(images, labels, ...) whose first element it transforms. Random transforms draw one set of
parameters per image (a flip, a crop window, a brightness factor each) in one vectorized
call, from their own `generator` if given, else from `gradflow.data.current_generator()`:
inside a DataLoader that is a generator derived for the batch, so augmentation is the same
with any number of workers; outside, gradflow's default generator.

Crops and resizes are matrix products with per-image selection or interpolation matrices,
so they stay on the device and batch-wise (and are differentiable).

Example:
    >>> augment = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(),
    ...                    Normalize((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))])
    >>> train_set = TensorDataset(gf.rand(8, 3, 32, 32), gf.randint(0, 10, (8,)))
    >>> loader = DataLoader(train_set, batch_size=4, shuffle=True, transform=augment)
    >>> next(iter(loader))[0].shape
    (4, 3, 32, 32)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

import gradflow as gf
from gradflow.data.seeding import current_generator
from gradflow.errors import ConfigError, ShapeError


def _unpack(batch):
    """(images as N, C, H, W; a function putting transformed images back in their place)."""
    if isinstance(batch, (tuple, list)):
        images, rest = batch[0], tuple(batch[1:])
        inner, rebuild = _unpack(images)
        return inner, lambda out: type(batch)((rebuild(out), *rest)) if isinstance(
            batch, list) else (rebuild(out), *rest)
    if not isinstance(batch, gf.Tensor):
        raise ConfigError(f"transforms take image tensors (N, C, H, W) or (C, H, W), or a batch "
                          f"tuple starting with one, got {type(batch).__name__}; convert "
                          "images with ToTensor() first")
    if batch.ndim == 3:
        return batch.unsqueeze(0), lambda out: out[0]
    if batch.ndim != 4:
        raise ShapeError(f"transforms take images of shape (N, C, H, W) or (C, H, W), got "
                         f"shape {batch.shape}")
    return batch, lambda out: out


class _Transform:
    """Applies `images(x, generator)` to the image part of whatever it is given."""

    generator = None

    def __call__(self, batch):
        images, rebuild = _unpack(batch)
        return rebuild(self.images(images, self.generator or current_generator()))

    def images(self, x: gf.Tensor, generator) -> gf.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "generator")
        return f"{type(self).__name__}({options})"


class Compose:
    """Apply transforms in order: Compose([t1, t2]) or Compose(t1, t2)."""

    def __init__(self, *transforms):
        if len(transforms) == 1 and isinstance(transforms[0], (list, tuple)):
            transforms = tuple(transforms[0])
        for number, transform in enumerate(transforms):
            if not callable(transform):
                raise ConfigError(f"Compose: transforms[{number}] is a "
                                  f"{type(transform).__name__}, not callable")
        self.transforms = transforms

    def __call__(self, batch):
        for transform in self.transforms:
            batch = transform(batch)
        return batch

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(map(repr, self.transforms)) + ")"


class ToTensor:
    """An image (PIL image, or an (H, W) / (H, W, C) array) as a float32 (C, H, W) tensor in
    [0, 1] (uint8 divided by 255); a uint8 tensor becomes float32 / 255; float tensors pass."""

    def __call__(self, image):
        if isinstance(image, gf.Tensor):
            return image.to(gf.float32) / 255.0 if image.dtype is gf.uint8 else image
        array = np.asarray(image)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ShapeError(f"ToTensor: expected an (H, W) or (H, W, C) image, got shape "
                             f"{array.shape}")
        scale = 255.0 if array.dtype == np.uint8 else 1.0
        return gf.tensor(np.ascontiguousarray(array.transpose(2, 0, 1)).astype(np.float32)
                         / np.float32(scale))


class Normalize(_Transform):
    """(x - mean) / std per channel (one value for all channels, or one per channel)."""

    def __init__(self, mean, std):
        self.mean, self.std = _per_channel("Normalize", "mean", mean), \
            _per_channel("Normalize", "std", std)
        if any(s == 0 for s in self.std):
            raise ConfigError(f"Normalize: std has a zero: {self.std}")

    def images(self, x, generator):
        channels = x.shape[1]
        mean, std = (_channel_tensor(v, channels, x) for v in (self.mean, self.std))
        return (x - mean) / std


class RandomHorizontalFlip(_Transform):
    """Flip each image left-right with probability p."""

    def __init__(self, p: float = 0.5, generator: gf.Generator | None = None):
        self.p, self.generator = _probability("RandomHorizontalFlip", p), generator

    def images(self, x, generator):
        backend = x.backend
        flip = gf.Tensor._wrap(generator.bernoulli(self.p, (x.shape[0], 1, 1, 1), backend.xp,
                                                   backend.device), backend)
        reversed_index = gf.arange(x.shape[-1] - 1, -1, -1, device=x.device)
        flipped = x.permute(3, 0, 1, 2)[reversed_index].permute(1, 2, 3, 0)
        return gf.where(flip, flipped, x)


class RandomCrop(_Transform):
    """Pad by `padding` zeros on every side, then take a random size x size window per image.

    Args:
        size: the crop's (height, width), or one int for a square.
        padding: zeros added on each side first.
        generator: a gf.Generator (default: the current data generator).
    """

    def __init__(self, size, padding: int = 0, generator: gf.Generator | None = None):
        self.size = _pair("RandomCrop", "size", size)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ConfigError(f"RandomCrop: padding must be an int >= 0, got {padding!r}")
        self.padding, self.generator = padding, generator

    def images(self, x, generator):
        p = self.padding
        padded = gf.pad(x, (p, p, p, p)) if p else x
        (height, width), (h, w) = padded.shape[-2:], self.size
        if h > height or w > width:
            raise ShapeError(f"RandomCrop: a {h}x{w} crop does not fit images of "
                             f"{height}x{width} (after padding {p})")
        n = x.shape[0]
        tops = generator.integers(0, height - h + 1, (n,), np)
        lefts = generator.integers(0, width - w + 1, (n,), np)
        rows = _selection(tops[:, None] + np.arange(h), height)
        cols = _selection(lefts[:, None] + np.arange(w), width)
        return _resample(padded, rows, cols)


class RandomResizedCrop(_Transform):
    """A random window of random area and aspect ratio per image, resized to size (bilinear).

    As torchvision: up to 10 tries for a window of scale (of the area) and ratio (w / h,
    drawn log-uniformly) that fits, else the central crop of the nearest allowed ratio.

    Args:
        size: output (height, width), or one int for a square.
        scale: range of the window's share of the image area.
        ratio: range of the window's aspect ratio.
        generator: a gf.Generator (default: the current data generator).
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 generator: gf.Generator | None = None):
        self.size = _pair("RandomResizedCrop", "size", size)
        self.scale = _range("RandomResizedCrop", "scale", scale)
        self.ratio = _range("RandomResizedCrop", "ratio", ratio, positive=True)
        self.generator = generator

    def _windows(self, n: int, height: int, width: int, generator) -> np.ndarray:
        """(n, 4) int boxes (top, left, h, w)."""
        tries = 10
        area = height * width * _host_uniform(generator, (n, tries), *self.scale)
        aspect = np.exp(_host_uniform(generator, (n, tries), math.log(self.ratio[0]),
                                      math.log(self.ratio[1])))
        w = np.round(np.sqrt(area * aspect)).astype(np.int64)
        h = np.round(np.sqrt(area / aspect)).astype(np.int64)
        fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        offsets = _host_uniform(generator, (n, 2), 0.0, 1.0)
        boxes = np.empty((n, 4), np.int64)
        for i in range(n):
            good = np.flatnonzero(fits[i])
            if good.size:
                hh, ww = h[i, good[0]], w[i, good[0]]
                top = int(offsets[i, 0] * (height - hh + 1))
                left = int(offsets[i, 1] * (width - ww + 1))
            else:  # the central crop, its ratio clamped to the allowed range
                image_ratio = width / height
                if image_ratio < self.ratio[0]:
                    ww, hh = width, int(round(width / self.ratio[0]))
                elif image_ratio > self.ratio[1]:
                    hh, ww = height, int(round(height * self.ratio[1]))
                else:
                    ww, hh = width, height
                top, left = (height - hh) // 2, (width - ww) // 2
            boxes[i] = (top, left, hh, ww)
        return boxes

    def images(self, x, generator):
        n, (height, width) = x.shape[0], x.shape[-2:]
        boxes = self._windows(n, height, width, generator)
        out_h, out_w = self.size
        rows = _bilinear(boxes[:, 0], boxes[:, 2], out_h, height)
        cols = _bilinear(boxes[:, 1], boxes[:, 3], out_w, width)
        return _resample(x, rows, cols)


class ColorJitter(_Transform):
    """Random brightness and contrast per image (factors drawn from [max(0, 1 - v), 1 + v]).

    Brightness scales the image; contrast blends it with its mean grey level
    (0.299 R + 0.587 G + 0.114 B); the result is clamped to [0, 1]. Brightness is
    applied first. Images are floats in [0, 1].
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0,
                 generator: gf.Generator | None = None):
        self.brightness = _strength("ColorJitter", "brightness", brightness)
        self.contrast = _strength("ColorJitter", "contrast", contrast)
        self.generator = generator

    def _factors(self, strength: float, x, generator):
        backend = x.backend
        low, high = max(0.0, 1.0 - strength), 1.0 + strength
        draw = generator.uniform((x.shape[0], 1, 1, 1), backend.xp, backend.device,
                                 backend.xp_dtype(x.dtype), low, high)
        return gf.Tensor._wrap(draw, backend)

    def images(self, x, generator):
        if self.brightness:
            x = (x * self._factors(self.brightness, x, generator)).clamp(0.0, 1.0)
        if self.contrast:
            factor = self._factors(self.contrast, x, generator)
            grey = x
            if x.shape[1] == 3:
                grey = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
            mean = grey.mean(dim=(1, 2, 3), keepdim=True)
            x = (factor * x + (1.0 - factor) * mean).clamp(0.0, 1.0)
        return x


# -- helpers -----------------------------------------------------------------------------------

def _host_uniform(generator, shape, low: float, high: float) -> np.ndarray:
    """float64 draws in [low, high) on the host (a degenerate range gives low, drawing
    nothing)."""
    if low == high:
        return np.full(shape, low)
    return generator.uniform(shape, np, None, np.float64, low, high)


def _selection(positions: np.ndarray, size: int) -> np.ndarray:
    """(n, k, size) one-hot rows: row j of image i picks positions[i, j]."""
    return (positions[:, :, None] == np.arange(size)).astype(np.float64)


def _bilinear(starts: np.ndarray, lengths: np.ndarray, out: int, size: int) -> np.ndarray:
    """(n, out, size) weights resizing each window [start, start + length) to `out` samples
    (half-pixel centres, as interpolate(mode="bilinear", align_corners=False))."""
    n = len(starts)
    position = (np.arange(out) + 0.5)[None, :] * (lengths[:, None] / out) - 0.5
    position = np.clip(position, 0.0, None)
    low = np.floor(position).astype(np.int64)
    low = np.minimum(low, lengths[:, None] - 1)
    high = np.minimum(low + 1, lengths[:, None] - 1)
    frac = position - low
    weights = np.zeros((n, out, size))
    rows = np.arange(n)[:, None]
    np.add.at(weights, (rows, np.arange(out)[None, :], starts[:, None] + low), 1.0 - frac)
    np.add.at(weights, (rows, np.arange(out)[None, :], starts[:, None] + high), frac)
    return weights


def _resample(x: gf.Tensor, rows: np.ndarray, cols: np.ndarray) -> gf.Tensor:
    """rows[i] @ x[i] @ cols[i]^T for every image and channel, on x's device and dtype."""
    r = gf.tensor(rows[:, None], dtype=x.dtype, device=x.device)
    c = gf.tensor(np.ascontiguousarray(np.swapaxes(cols, 1, 2))[:, None], dtype=x.dtype,
                  device=x.device)
    return r @ x @ c


def _per_channel(owner: str, name: str, value) -> tuple[float, ...]:
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not values or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                             and math.isfinite(v) for v in values):
        raise ConfigError(f"{owner}: {name} must be a finite number or one per channel, got "
                          f"{value!r}")
    return tuple(float(v) for v in values)


def _channel_tensor(values: tuple, channels: int, x: gf.Tensor) -> gf.Tensor | float:
    if len(values) == 1:
        return values[0]
    if len(values) != channels:
        raise ShapeError(f"Normalize: {len(values)} values for images of {channels} channels")
    return gf.tensor(np.array(values).reshape(1, channels, 1, 1), dtype=x.dtype,
                     device=x.device)


def _pair(owner: str, name: str, value) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                 for v in pair):
        raise ConfigError(f"{owner}: {name} must be a positive int or (height, width), got "
                          f"{value!r}")
    return pair


def _probability(owner: str, p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ConfigError(f"{owner}: p must be a probability in [0, 1], got {p!r}")
    return float(p)


def _strength(owner: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and value >= 0):
        raise ConfigError(f"{owner}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _range(owner: str, name: str, value, positive: bool = False) -> tuple[float, float]:
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
        for v in value)
    if ok:
        ok = value[0] <= value[1] and (value[0] > 0 if positive else value[0] >= 0)
    if not ok:
        raise ConfigError(f"{owner}: {name} must be a (low, high) pair with "
                          f"{'0 <' if positive else '0 <='} low <= high, got {value!r}")
    return float(value[0]), float(value[1])


__all__ = ["ColorJitter", "Compose", "Normalize", "RandomCrop", "RandomHorizontalFlip",
           "RandomResizedCrop", "ToTensor"]
