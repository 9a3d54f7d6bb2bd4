"""Optimizers, learning-rate schedulers and (in gradflow.nn.utils) gradient clipping.

Example:
    >>> opt = gf.optim.AdamW(model.parameters(), lr=1e-3)
    >>> sched = gf.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    >>> loss.backward(); opt.step(); opt.zero_grad(); sched.step()
"""

from gradflow.optim import lr_scheduler
from gradflow.optim.adadelta import Adadelta
from gradflow.optim.adagrad import Adagrad
from gradflow.optim.adam import Adam, AdamW
from gradflow.optim.adamax import Adamax
from gradflow.optim.asgd import ASGD
from gradflow.optim.lbfgs import LBFGS
from gradflow.optim.nadam import NAdam, RAdam
from gradflow.optim.optimizer import Optimizer
from gradflow.optim.rmsprop import RMSprop
from gradflow.optim.sgd import SGD

__all__ = ["ASGD", "LBFGS", "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "NAdam",
           "Optimizer", "RAdam", "RMSprop", "lr_scheduler"]
