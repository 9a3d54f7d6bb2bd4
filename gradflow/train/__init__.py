"""gradflow.train: the mini-batch training loop (fit / evaluate), its history and plots.

`from gradflow.train import fit, evaluate` is the public entry point: fit in loop.py,
evaluate in evaluation.py, what fit does on several ranks in ranks.py, the plots in
plots.py; callbacks live in gradflow.train.callbacks.
"""

from gradflow.train.evaluation import evaluate
from gradflow.train.loop import History, fit
from gradflow.train.plots import plot_grad_norms, plot_history

__all__ = ["History", "evaluate", "fit", "plot_grad_norms", "plot_history"]
