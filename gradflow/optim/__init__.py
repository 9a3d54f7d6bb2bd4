"""Optimizers, learning-rate schedulers and (in gradflow.nn.utils) gradient clipping.

Example:
    >>> opt = gf.optim.AdamW(model.parameters(), lr=1e-3)
    >>> sched = gf.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    >>> loss.backward(); opt.step(); opt.zero_grad(); sched.step()
"""

from gradflow.optim import lr_scheduler
from gradflow.optim.adagrad import Adagrad
from gradflow.optim.adam import Adam, AdamW
from gradflow.optim.optimizer import Optimizer
from gradflow.optim.rmsprop import RMSprop
from gradflow.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
