"""Reference image classifiers: the MLP and CNN used by the CLI, the examples and the benchmarks."""

from __future__ import annotations

from gradflow import nn


def mlp(in_features: int = 784, hidden=(512, 256), classes: int = 10) -> nn.Module:
    """Flatten, then Linear+ReLU layers, then a Linear classifier.

    Example:
        >>> mlp(64, (32,), 10)(gf.randn(5, 1, 8, 8)).shape
        (5, 10)
    """
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


def cnn(in_channels: int = 1, image_size: int = 28, classes: int = 10, batch_norm: bool = False,
        dropout: float = 0.0, widths=(32, 64), hidden: int = 128) -> nn.Module:
    """Two conv(3x3, pad 1)+ReLU+maxpool(2) blocks, then Linear+ReLU and a Linear classifier.

    With the defaults this is the benchmark CNN (28x28 input: 3136 features before the
    classifier). `batch_norm` adds BatchNorm2d after each conv, `dropout` a Dropout
    before the last layer.

    Example:
        >>> cnn(image_size=8)(gf.randn(2, 1, 8, 8)).shape
        (2, 10)
    """
    layers = []
    channels = in_channels
    size = image_size
    for width in widths:
        layers.append(nn.Conv2d(channels, width, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        channels, size = width, size // 2
    layers += [nn.Flatten(), nn.Linear(channels * size * size, hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, classes))
    return nn.Sequential(*layers)
