"""``pax.experimental.LazyModule``: submodules created on first use."""

from collections.abc import Callable
from typing import TypeVar

from .module import Module

T = TypeVar("T")


class LazyModule(Module):
    """A module that creates its submodules the first time it is called (PAX 0.5).

    Call it through ``pax.pure`` (``pax.purecall``, ``module % x``) the first time,
    so that the new attributes can be set; later calls find them.

    >>> import jax, jax.numpy as jnp, pax
    >>> class MLP(pax.experimental.LazyModule):
    ...     def __call__(self, x):
    ...         fc = self.get_or_create("fc", lambda: pax.Linear(x.shape[-1], 2))
    ...         return jax.nn.relu(fc(x))
    >>> mlp, y = pax.purecall(MLP(), jnp.ones((1, 3)))
    >>> print(mlp.summary())
    MLP
    └── Linear(in_dim=3, out_dim=2, with_bias=True)
    """

    def get_or_create(self, name: str, create_fn: Callable[[], T]) -> T:
        """The attribute ``name``; made by ``create_fn()`` and set if it is missing."""
        if name in self.__dict__:
            return self.__dict__[name]
        if not callable(create_fn):
            raise TypeError(f"get_or_create expects a function for `{name}`, got {create_fn!r}.")
        value = create_fn()
        setattr(self, name, value)  # outside pax.pure this raises the usual error
        return value
