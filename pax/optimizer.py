"""Objax's optimizers and moving averages, for Objax-style (stateful) training.

``opt = pax.optimizer.Adam(model.vars())`` then ``opt(lr, grads)`` with the gradients
of ``pax.GradValues(loss, model.vars())``; give ``model.vars() + opt.vars()`` to
``pax.Jit``. For PAX-style (functional) training use opax (``opax.adam``).
"""

from pax._src.objax.moving_average import ExponentialMovingAverage as ExponentialMovingAverage
from pax._src.objax.moving_average import (
    ExponentialMovingAverageModule as ExponentialMovingAverageModule,
)
from pax._src.objax.optimizers import LARS as LARS
from pax._src.objax.optimizers import SGD as SGD
from pax._src.objax.optimizers import Adam as Adam
from pax._src.objax.optimizers import Momentum as Momentum

__all__ = [
    "LARS",
    "SGD",
    "Adam",
    "ExponentialMovingAverage",
    "ExponentialMovingAverageModule",
    "Momentum",
]
