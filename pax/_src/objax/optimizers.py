"""Objax's optimizers: ``SGD``, ``Momentum``, ``Adam`` and ``LARS`` (``pax.optimizer``).

Built like Objax's: ``opt = pax.optimizer.Adam(model.vars())`` keeps a ``TrainRef`` to
each ``TrainVar`` of the collection (``opt.train_vars``) and its own state in
``StateVar`` variables, so ``opt.vars()`` is what ``pax.Jit`` must carry besides the model's
variables. ``opt(lr, grads)`` takes the gradients in the order of
``pax.GradValues(f, model.vars())`` and updates the variables in place.

>>> import jax.numpy as jnp, pax
>>> model = pax.Linear(2, 1)
>>> opt = pax.optimizer.Adam(model.vars())
>>> gv = pax.GradValues(lambda x, y: jnp.mean((model(x) - y) ** 2), model.vars())
>>> @pax.Function.with_vars(model.vars() + opt.vars())
... def train_op(x, y, lr):
...     grads, (loss,) = gv(x, y)
...     opt(lr, grads)
...     return loss
>>> train_op = pax.Jit(train_op)
>>> losses = [float(train_op(jnp.ones((4, 2)), jnp.zeros((4, 1)), 0.01)) for _ in range(3)]
>>> losses[2] < losses[0], int(opt.step.value)
(True, 3)
"""

from collections.abc import Sequence
from typing import Any, cast

import jax
import jax.numpy as jnp

from ..core.module import Module
from .module_list import ModuleList
from .var_collection import VarCollection
from .variables import BaseVar, StateVar, TrainRef, TrainVar, reduce_first

MSG_BAD_VC = (
    "pax.optimizer.{opt} is built from the variables to train, a pax.VarCollection such "
    "as `model.vars()`; got {got}. Write `pax.optimizer.{opt}(model.vars())`."
)

MSG_NOT_A_LIST = (
    "pax.optimizer.{opt} is called as `opt(lr, grads)` with one gradient per trained "
    "variable (the list `pax.GradValues(f, model.vars())` returns); got grads of type "
    "{got}."
)

MSG_SWAPPED_ARGS = (
    "pax.optimizer.{opt} is called as `opt(lr, grads)`, learning rate first (Objax's "
    "order); it looks like it got `opt(grads, lr)`."
)

MSG_GRADS_LENGTH = (
    "pax.optimizer.{opt} trains {n_vars} variables but got {n_grads} gradients; nothing "
    "was changed. Pass the gradients of the VarCollection the optimizer was built from:\n"
    "    gv = pax.GradValues(loss, model.vars())\n"
    "    opt = pax.optimizer.{opt}(model.vars())\n"
    "    grads, values = gv(x, y)\n"
    "    opt(lr, grads)"
)

MSG_GRAD_SHAPE = (
    "pax.optimizer.{opt}: gradient {index} has the shape {got} but the variable it "
    "updates, `{name}`, has the shape {expected}; nothing was changed. Pass the "
    "gradients in the order of `pax.GradValues(f, vc)` for the `vc` the optimizer was "
    "built from."
)


def _assign(var: BaseVar, value: Any) -> None:
    """Write ``value`` into ``var`` in the variable's dtype (a float32 learning rate
    must not turn bfloat16 weights into float32)."""
    var.assign(jnp.asarray(value).astype(var.value.dtype))


def _zeros_like(var: BaseVar) -> StateVar:
    return StateVar(jnp.zeros_like(var.value))


class ObjaxOptimizer(Module):
    """The base of Objax's optimizers: the ``TrainRef`` instances to the variables it trains
    (``train_vars``, each variable once, in ``vc``'s order) and the checks of a call."""

    train_vars: ModuleList

    def __init__(self, vc: VarCollection):
        super().__init__()
        if not isinstance(vc, VarCollection):
            raise TypeError(MSG_BAD_VC.format(opt=type(self).__name__, got=type(vc).__name__))
        trained = vc.subset(is_a=TrainVar)
        first_names: dict[int, str] = {}
        for name, v in trained.items():
            first_names.setdefault(id(v), name)
        variables = cast(list[TrainVar], list(trained))  # each variable once
        self.train_vars = ModuleList(TrainRef(v) for v in variables)
        # the names in `vc`, for error messages
        self._var_names = tuple(first_names[id(v)] for v in variables)

    def _checked(self, lr: Any, grads: Any) -> list[Any]:
        """``grads`` as a list, after checking its length and the shapes (before any
        variable is written, so that an error leaves everything unchanged)."""
        name = type(self).__name__
        if isinstance(lr, (list, tuple)) and not isinstance(grads, (list, tuple)):
            raise TypeError(MSG_SWAPPED_ARGS.format(opt=name))
        if not isinstance(grads, (list, tuple)):
            raise TypeError(MSG_NOT_A_LIST.format(opt=name, got=type(grads).__name__))
        if len(grads) != len(self.train_vars):
            raise ValueError(
                MSG_GRADS_LENGTH.format(opt=name, n_vars=len(self.train_vars), n_grads=len(grads))
            )
        for index, (ref, grad) in enumerate(zip(self.train_vars, grads)):
            if tuple(jnp.shape(grad)) != ref.shape:
                raise ValueError(
                    MSG_GRAD_SHAPE.format(
                        opt=name,
                        index=index,
                        got=tuple(jnp.shape(grad)),
                        name=self._var_names[index],
                        expected=ref.shape,
                    )
                )
        return list(grads)


class SGD(ObjaxOptimizer):
    """Stochastic gradient descent: ``p <- p - lr * g``.

    >>> import jax.numpy as jnp, pax
    >>> w = pax.TrainVar(jnp.ones(2))
    >>> opt = pax.optimizer.SGD(pax.VarCollection({"w": w}))
    >>> opt(0.5, [jnp.array([1.0, -2.0])])
    >>> w.value.tolist()
    [0.5, 2.0]

    Args:
      vc: the variables; its ``TrainVar`` variables are trained.
    """

    def __call__(self, lr: Any, grads: Sequence[jax.Array]) -> None:
        """Update the variables.

        Args:
          lr: the learning rate (a float, or a scalar array traced under ``pax.Jit``).
          grads: one gradient per trained variable, in the order of ``train_vars``.
        """
        grads = self._checked(lr, grads)
        for g, p in zip(grads, self.train_vars):
            _assign(p, p.value - lr * g)

    def __repr__(self) -> str:
        return "SGD()"


class Momentum(ObjaxOptimizer):
    """SGD with momentum (heavy ball, or Nesterov's):

    ``m <- g + momentum * m``, then ``p <- p - lr * m``, or with ``nesterov=True``
    ``p <- p - lr * (g + momentum * m)``.

    >>> import jax.numpy as jnp, pax
    >>> w = pax.TrainVar(jnp.zeros(1))
    >>> opt = pax.optimizer.Momentum(pax.VarCollection({"w": w}), momentum=0.5)
    >>> for _ in range(2):
    ...     opt(1.0, [jnp.ones(1)])
    >>> w.value.tolist(), opt.m[0].value.tolist()
    ([-2.5], [1.5])

    Args:
      vc: the variables; its ``TrainVar`` variables are trained.
      momentum: the decay of the moving sum of gradients.
      nesterov: use Nesterov's momentum.
    """

    m: ModuleList

    def __init__(self, vc: VarCollection, momentum: float = 0.9, nesterov: bool = False):
        super().__init__(vc)
        self.momentum = momentum
        self.nesterov = nesterov
        self.m = ModuleList(_zeros_like(p) for p in self.train_vars)

    def __call__(self, lr: Any, grads: Sequence[jax.Array], momentum: float | None = None) -> None:
        """Update the variables and the momentum.

        Args:
          lr: the learning rate.
          grads: one gradient per trained variable, in the order of ``train_vars``.
          momentum: overrides the constructor's ``momentum`` for this step.
        """
        grads = self._checked(lr, grads)
        if momentum is None:
            momentum = self.momentum
        for g, p, m in zip(grads, self.train_vars, self.m):
            _assign(m, g + momentum * m.value)
            step = g + momentum * m.value if self.nesterov else m.value
            _assign(p, p.value - lr * step)

    def __repr__(self) -> str:
        return f"Momentum(momentum={self.momentum}, nesterov={self.nesterov})"


class Adam(ObjaxOptimizer):
    """Adam (Kingma & Ba), in Objax's form: with ``t`` the step count,

    ``m <- m + (1 - beta1) (g - m)``, ``v <- v + (1 - beta2) (g² - v)`` and
    ``p <- p - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / sqrt(v + eps)``.

    >>> import jax.numpy as jnp, pax
    >>> w = pax.TrainVar(jnp.zeros(2))
    >>> opt = pax.optimizer.Adam(pax.VarCollection({"w": w}))
    >>> opt(0.1, [jnp.array([1.0, -1.0])])
    >>> [round(x, 4) for x in w.value.tolist()], int(opt.step.value)
    ([-0.1, 0.1], 1)

    Args:
      vc: the variables; its ``TrainVar`` variables are trained.
      beta1: the decay of the first moment.
      beta2: the decay of the second moment.
      eps: added to the second moment under the square root.
    """

    step: StateVar
    m: ModuleList
    v: ModuleList

    def __init__(
        self, vc: VarCollection, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ):
        super().__init__(vc)
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.step = StateVar(jnp.array(0, jnp.uint32), reduce=reduce_first)
        self.m = ModuleList(_zeros_like(p) for p in self.train_vars)
        self.v = ModuleList(_zeros_like(p) for p in self.train_vars)

    def __call__(
        self,
        lr: Any,
        grads: Sequence[jax.Array],
        beta1: float | None = None,
        beta2: float | None = None,
    ) -> None:
        """Update the variables and the moments.

        Args:
          lr: the learning rate.
          grads: one gradient per trained variable, in the order of ``train_vars``.
          beta1: overrides the constructor's ``beta1`` for this step.
          beta2: overrides the constructor's ``beta2`` for this step.
        """
        grads = self._checked(lr, grads)
        beta1 = self.beta1 if beta1 is None else beta1
        beta2 = self.beta2 if beta2 is None else beta2
        self.step.value = self.step.value + 1
        t = self.step.value
        lr = lr * jnp.sqrt(1 - beta2**t) / (1 - beta1**t)
        for g, p, m, v in zip(grads, self.train_vars, self.m, self.v):
            _assign(m, m.value + (1 - beta1) * (g - m.value))
            _assign(v, v.value + (1 - beta2) * (g**2 - v.value))
            _assign(p, p.value - lr * m.value * jax.lax.rsqrt(v.value + self.eps))

    def __repr__(self) -> str:
        return f"Adam(beta1={self.beta1}, beta2={self.beta2}, eps={self.eps})"


class LARS(ObjaxOptimizer):
    """Layer-wise adaptive rate scaling (You et al., https://arxiv.org/abs/1708.03888).

    For each variable, with ``trust = tc |p| / (|g| + weight_decay |p| + eps)`` (at
    least ``1`` where ``|p|`` or ``|g|`` is zero): ``m <- momentum * m + lr * trust * (g +
    weight_decay * p)`` and ``p <- p - m``.

    >>> import jax.numpy as jnp, pax
    >>> w = pax.TrainVar(jnp.array([3.0, 4.0]))
    >>> opt = pax.optimizer.LARS(pax.VarCollection({"w": w}), weight_decay=0.0, tc=0.1)
    >>> opt(1.0, [jnp.array([0.0, 5.0])])
    >>> [round(x, 4) for x in w.value.tolist()]
    [3.0, 3.5]

    Args:
      vc: the variables; its ``TrainVar`` variables are trained.
      momentum: the decay of the moving sum of updates.
      weight_decay: the weight decay coefficient.
      tc: the trust coefficient (eta).
      eps: added to the denominator of the trust ratio.
    """

    m: ModuleList

    def __init__(
        self,
        vc: VarCollection,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        tc: float = 1e-3,
        eps: float = 1e-5,
    ):
        super().__init__(vc)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.tc = tc
        self.eps = eps
        self.m = ModuleList(_zeros_like(p) for p in self.train_vars)

    def __call__(self, lr: Any, grads: Sequence[jax.Array]) -> None:
        """Update the variables and the momentum.

        Args:
          lr: the learning rate.
          grads: one gradient per trained variable, in the order of ``train_vars``.
        """
        grads = self._checked(lr, grads)
        for g, p, m in zip(grads, self.train_vars, self.m):
            p_norm = jnp.linalg.norm(p.value)
            g_norm = jnp.linalg.norm(g)
            trust = self.tc * p_norm / (g_norm + self.weight_decay * p_norm + self.eps)
            # as Objax: at least 1 where a norm is zero
            trust = jnp.maximum(((p_norm == 0) | (g_norm == 0)).astype(trust.dtype), trust)
            _assign(m, self.momentum * m.value + lr * trust * (g + self.weight_decay * p.value))
            _assign(p, p.value - m.value)

    def __repr__(self) -> str:
        return (
            f"LARS(momentum={self.momentum}, weight_decay={self.weight_decay}, "
            f"tc={self.tc}, eps={self.eps})"
        )
