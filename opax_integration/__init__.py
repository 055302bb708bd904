"""Glue between the PyPI ``opax`` optimizer package (and optax) and pax.

- :class:`opax_integration.Optimizer`: an opax (or optax) optimizer for Objax-style
  stateful training: built from ``model.vars()``, it updates the model's variables in
  place and works inside ``pax.Jit``.
- :func:`opax_integration.from_optax`: any ``optax.GradientTransformation`` as an opax
  optimizer (an :class:`opax_integration.OptaxOptimizer` module), usable with
  ``pax.build_update_fn``, ``pax.purecall`` and :class:`opax_integration.Optimizer`.
  optax is an optional extra (``pip install pax3[optax]``); it is imported only when a
  bridge is made.
- ``opax_integration.jax_compat`` lets the unmodified opax 0.2.11 run on
  current JAX (pax's own patch, ``pax/_src/opax_compat.py``, installed by ``import pax``).

The names are loaded on first use, so ``import opax_integration`` stays light.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from .objax_optimizer import Optimizer as Optimizer
    from .optax_bridge import OptaxFactory as OptaxFactory
    from .optax_bridge import OptaxOptimizer as OptaxOptimizer
    from .optax_bridge import from_optax as from_optax

_EXPORTS = {
    "Optimizer": "objax_optimizer",
    "OptaxFactory": "optax_bridge",
    "OptaxOptimizer": "optax_bridge",
    "from_optax": "optax_bridge",
}

__all__ = ["OptaxFactory", "OptaxOptimizer", "Optimizer", "from_optax"]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'opax_integration' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(list(globals()) + list(_EXPORTS))
