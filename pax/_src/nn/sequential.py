"""``Sequential``: a chain of layers."""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..core.module import Module
from ..core.vars_hooks import name_inline
from .lambda_module import Lambda

S = TypeVar("S", bound="Sequential")


def _as_module(layer: Any) -> Module:
    if isinstance(layer, Module):
        return layer
    if callable(layer):
        return Lambda(layer)
    raise TypeError(f"Sequential takes modules or functions, got {type(layer).__name__}.")


class Sequential(Module):
    """Call layers one after the other; plain functions become ``pax.Lambda``.

    >>> import jax, jax.numpy as jnp, pax
    >>> net = pax.Sequential(pax.Linear(2, 3), jax.nn.relu, pax.Linear(3, 1))
    >>> net(jnp.ones((4, 2))).shape
    (4, 1)
    >>> len(net), type(net[1]).__name__
    (3, 'Lambda')
    """

    modules: tuple

    def __init__(self, *layers: Module | Callable | Sequence, name: str | None = None):
        super().__init__(name=name)
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        self.modules = tuple(_as_module(layer) for layer in layers)

    def __call__(self, x: Any) -> Any:
        for layer in self.modules:
            x = layer(x)
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):
            # the same layer objects (modules are immutable), so that
            # `net[:1].vars()` are variables of `net` itself, as in Objax
            return Sequential(*self.modules[index])
        return self.modules[index]

    def set(self: S, index: int, layer: Module | Callable) -> S:
        """A copy with layer ``index`` replaced by ``layer`` (a function becomes a ``Lambda``).

        >>> import jax, pax
        >>> net = pax.Sequential(pax.Linear(2, 3), jax.nn.relu).set(1, jax.nn.tanh)
        >>> print(net.summary())
        Sequential
        ├── Linear(in_dim=2, out_dim=3, with_bias=True)
        └── x => tanh(x)
        """
        modules = list(self.modules)
        modules[index] = _as_module(layer)  # IndexError for a bad index, as a list
        return self.replace(modules=tuple(modules))

    def __rshift__(self, other: Module | Callable) -> "Sequential":
        """``net >> layer``: a new Sequential with ``layer`` appended (PAX 0.5)."""
        return Sequential(*self.modules, other)

    def __len__(self) -> int:
        return len(self.modules)

    def __iter__(self):
        return iter(self.modules)

    def __repr__(self) -> str:
        return self._repr()


# `vars()` names the layers `(Sequential)[0](Linear).weight`, as Objax does.
name_inline(Sequential, "modules")
