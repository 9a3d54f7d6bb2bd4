"""plot_history and plot_grad_norms: a training history's curves as PNG files (matplotlib,
the `plots` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gradflow.extras import optional

if TYPE_CHECKING:
    from gradflow.train.loop import History


def plot_history(history: History, out_dir) -> list[Path]:
    """Loss/accuracy curves and per-parameter gradient norms as PNGs (needs matplotlib).

    Returns:
        The files written: none when matplotlib is missing (said once on stderr).

    Example:
        >>> from gradflow.train import History
        >>> history = History()
        >>> history["epoch"] += [1, 2]
        >>> history["train_loss"] += [0.9, 0.4]
        >>> history["train_accuracy"] += [0.6, 0.8]
        >>> [path.name for path in plot_history(history, ".")]
        ['curves.png']
    """
    if optional("matplotlib", "no plots are written") is None:
        return []
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    written = []
    # NOTE: a bare Figure, not pyplot: no GUI backend is chosen or switched in the
    # user's process (a notebook keeps its own).
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    left.plot(history["epoch"], history["train_loss"], label="train")
    if history["val_loss"]:
        left.plot(history["epoch"], history["val_loss"], label="test")
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    left.legend()
    right.plot(history["epoch"], history["train_accuracy"], label="train")
    if history["val_accuracy"]:
        right.plot(history["epoch"], history["val_accuracy"], label="test")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    right.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "curves.png", dpi=100)
    written.append(out_dir / "curves.png")
    if history["grad_norms"]:
        written.append(plot_grad_norms(history, out_dir / "grad_norms.png"))
    return written


def plot_grad_norms(history: History, path, title: str = "gradient norm per parameter") -> Path:
    """One line per parameter: its gradient norm over training steps (log scale).

    Example:
        >>> from gradflow.train import History
        >>> history = History()
        >>> history["grad_norm_steps"] += [0, 10]
        >>> history["grad_norms"]["weight"] = [1.0, 0.1]
        >>> plot_grad_norms(history, "norms.png").name
        'norms.png'
    """
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5))
    axis = fig.subplots()
    norms = history["grad_norms"]
    # NOTE: the default cycle has 10 colours; deeper models get 20 (tab20), then a ramp.
    palette = matplotlib.colormaps["tab10" if len(norms) <= 10 else "tab20"
                                  if len(norms) <= 20 else "viridis"]
    for i, (name, values) in enumerate(norms.items()):
        color = palette(i) if len(norms) <= 20 else palette(i / max(len(norms) - 1, 1))
        axis.plot(history["grad_norm_steps"][:len(values)], values, label=name, color=color)
    axis.set(xlabel="step", ylabel="gradient norm", yscale="log", title=title)
    axis.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
