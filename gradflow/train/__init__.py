"""gradflow.train: the mini-batch training loop (fit / evaluate), its history and plots.

`from gradflow.train import fit, evaluate` is the public entry point; callbacks live in
gradflow.train.callbacks.
"""

from gradflow.train.loop import History, evaluate, fit, plot_grad_norms, plot_history

__all__ = ["History", "evaluate", "fit", "plot_grad_norms", "plot_history"]
