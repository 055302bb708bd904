"""Objax's exponential moving average of variables (``pax.optimizer``).

``ExponentialMovingAverage(vc)`` keeps an average ``m`` of each variable of ``vc``
(``m <- m + (1 - momentum) (value - m)`` at each call) and ``replace_vars(f)`` runs
``f`` with the averages in place of the values. ``ExponentialMovingAverageModule``
wraps a module: calling it calls the module with the averaged weights, and
``update_ema()`` updates the averages.

>>> import jax.numpy as jnp, pax
>>> w = pax.TrainVar(jnp.ones(2))
>>> ema = pax.optimizer.ExponentialMovingAverage(pax.VarCollection({"w": w}), momentum=0.5)
>>> ema()
>>> w.assign(jnp.full(2, 3.0))
>>> ema()
>>> ema.replace_vars(lambda: w.value.tolist())(), w.value.tolist()
([1.75, 1.75], [3.0, 3.0])
"""

from collections.abc import Callable
from typing import Any, TypeVar, cast

import jax
import jax.numpy as jnp

from ..core.module import Module
from .module_list import ModuleList
from .var_collection import VarCollection
from .variables import (
    BaseRef,
    BaseVar,
    RandomState,
    StateVar,
    TrainRef,
    TrainVar,
    reduce_first,
)

O = TypeVar("O")


class StateRef(BaseRef):
    """A reference to a non-trainable variable held by another module (the moving
    average reads and, in ``replace_vars``, writes it). Like ``TrainRef`` it is a
    pytree node whose child is the referenced value; unflattening makes a new
    ``StateVar``."""

    __slots__ = ()
    referenced = StateVar


def _averaged(vc: VarCollection) -> list[BaseVar]:
    """References to the variables of ``vc`` to average: each variable once, the
    non-trainable ones first (as Objax), leaving out random states and variables whose
    values are not floating point (counters: their average has no meaning)."""
    trainable: dict[int, TrainVar] = {}
    others: dict[int, BaseVar] = {}
    for v in vc:
        if isinstance(v, TrainRef):
            v = v.ref
        if isinstance(v, RandomState) or not jnp.issubdtype(v.dtype, jnp.inexact):
            continue
        if isinstance(v, TrainVar):
            trainable[id(v)] = v
        else:
            others[id(v)] = v
    refs: list[BaseVar] = [StateRef(v) for v in others.values()]
    return refs + [TrainRef(v) for v in trainable.values()]


class ExponentialMovingAverage(Module):
    """Exponential moving averages of the variables of a ``VarCollection``.

    Each call (``ema()``) updates ``m <- m + (1 - momentum) (value - m)`` for every
    floating-point variable of ``vc`` (``RandomState`` variables and integer variables are left
    out); the averages start at zero. With ``debias=True`` the averages that
    ``refs_and_values`` and ``replace_vars`` use are divided by
    ``1 - (1 - eps) momentum^t`` after ``t`` updates. Its state (``step``, ``m``) is in
    ``ema.vars()``, for ``pax.Jit``.

    Args:
      vc: the variables to average.
      momentum: the decay of the average.
      debias: correct the bias towards the zero start.
      eps: keeps the debiasing factor finite before the first update.

    >>> import jax.numpy as jnp, pax
    >>> model = pax.Linear(2, 1)
    >>> ema = pax.optimizer.ExponentialMovingAverage(model.vars(), momentum=0.5)
    >>> ema()  # m <- m + 0.5 (w - m), from m = 0
    >>> bool(jnp.allclose(ema.m[0].value, 0.5 * model.weight))
    True
    """

    refs: ModuleList
    m: ModuleList
    step: StateVar

    def __init__(
        self, vc: VarCollection, momentum: float = 0.999, debias: bool = False, eps: float = 1e-6
    ):
        super().__init__()
        if not isinstance(vc, VarCollection):
            raise TypeError(
                "pax.optimizer.ExponentialMovingAverage averages the variables of a "
                f"pax.VarCollection such as `model.vars()`; got {type(vc).__name__}."
            )
        self.momentum = momentum
        self.debias = debias
        self.eps = eps
        self.step = StateVar(jnp.array(0, jnp.uint32), reduce=reduce_first)
        self.refs = ModuleList(_averaged(vc))
        self.m = ModuleList(StateVar(jnp.zeros_like(r.value)) for r in self.refs)

    def __call__(self) -> None:
        """Update the moving averages with the current values."""
        self.step.value = self.step.value + 1
        for ref, m in zip(self.refs, self.m):
            m.value = (m.value + (1 - self.momentum) * (ref.value - m.value)).astype(m.dtype)

    def refs_and_values(self) -> tuple[VarCollection, list[jax.Array]]:
        """The averaged variables (as references) and their averages (debiased if
        ``debias``)."""
        tensors = [m.value for m in self.m]
        if self.debias:
            factor = 1 / (1 - (1 - self.eps) * self.momentum**self.step.value)
            tensors = [(t * factor).astype(t.dtype) for t in tensors]
        return self.refs.vars(), tensors

    def replace_vars(self, f: Callable[..., O]) -> Callable[..., O]:
        """``f`` run with the averages in place of the variables' values (which are
        restored afterwards, also when ``f`` raises)."""

        def with_averages(*args: Any, **kwargs: Any) -> O:
            refs, averages = self.refs_and_values()
            originals = refs.tensors()
            refs.assign(averages)
            try:
                return f(*args, **kwargs)
            finally:
                refs.assign(originals)

        return with_averages

    def __repr__(self) -> str:
        return (
            f"ExponentialMovingAverage(momentum={self.momentum}, debias={self.debias}, "
            f"eps={self.eps})"
        )


class ExponentialMovingAverageModule(Module):
    """A module called with the moving averages of another module's variables.

    >>> import jax.numpy as jnp, pax
    >>> net = pax.Linear(2, 1)
    >>> ema_net = pax.optimizer.ExponentialMovingAverageModule(net, momentum=0.9)
    >>> ema_net.update_ema()
    >>> # one update from zero: the averages are 0.1 * the weights
    >>> bool(jnp.allclose(ema_net(jnp.ones((1, 2))), 0.1 * net(jnp.ones((1, 2)))))
    True

    Args:
      module: the module whose variables are averaged (``module.vars()``).
      momentum, debias, eps: as in :class:`ExponentialMovingAverage`.
    """

    ema: ExponentialMovingAverage

    def __init__(
        self, module: Module, momentum: float = 0.999, debias: bool = False, eps: float = 1e-6
    ):
        super().__init__()
        self.__wrapped__ = module
        self.ema = ExponentialMovingAverage(
            module.vars(), momentum=momentum, debias=debias, eps=eps
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped module with the averaged variables."""
        wrapped = cast(Callable[..., Any], self.__wrapped__)
        return self.ema.replace_vars(wrapped)(*args, **kwargs)

    def update_ema(self) -> None:
        """Update the moving averages."""
        self.ema()

    def __repr__(self) -> str:
        return (
            f"ExponentialMovingAverageModule(momentum={self.ema.momentum}, "
            f"debias={self.ema.debias}, eps={self.ema.eps})"
        )
