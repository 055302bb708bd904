"""``Sequential``: a chain of layers."""

from typing import Any, Callable, Optional, Sequence, Union

from ..core.module import Module
from .lambda_module import Lambda


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
    # `vars()` names the layers `(Sequential)[0](Linear).weight`, as Objax does.
    _pax_vars_inline = ("modules",)

    def __init__(self, *layers: Union[Module, Callable, Sequence], name: Optional[str] = None):
        super().__init__(name=name)
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        converted = []
        for layer in layers:
            if isinstance(layer, Module):
                converted.append(layer)
            elif callable(layer):
                converted.append(Lambda(layer))
            else:
                raise TypeError(
                    f"Sequential takes modules or functions, got {type(layer).__name__}."
                )
        self.modules = tuple(converted)

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

    def __len__(self) -> int:
        return len(self.modules)

    def __iter__(self):
        return iter(self.modules)

    def __repr__(self) -> str:
        return self._repr()
