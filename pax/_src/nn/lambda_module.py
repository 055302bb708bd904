"""Modules that wrap plain functions: ``Lambda`` and ``Identity``."""

from collections.abc import Callable
from typing import Any

import jax

from ..core.module import Module


def _function_name(func: Callable) -> str:
    inner = getattr(func, "fun", None) if isinstance(func, jax.custom_jvp) else None
    target = inner if inner is not None else func
    return getattr(target, "__name__", None) or repr(target)


class Lambda(Module):
    """A module that calls a function (which must not hold weights).

    >>> import jax, jax.numpy as jnp, pax
    >>> relu = pax.Lambda(jax.nn.relu)
    >>> print(relu.summary())
    x => relu(x)
    >>> relu(jnp.array(-1.0)).tolist()
    0.0
    """

    def __init__(self, func: Callable, name: str | None = None):
        super().__init__(name=name)
        if not callable(func):
            raise TypeError(f"Lambda expects a callable, got {func!r}.")
        self.func = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        if self.name is not None:
            return super().__repr__()
        return f"Lambda({_function_name(self.func)})"

    def summary(self, return_list: bool = False) -> str | list[str]:
        line = f"x => {self.name or _function_name(self.func)}(x)"
        return [line] if return_list else line


class Identity(Module):
    """Returns its input unchanged.

    >>> import pax
    >>> pax.Identity()(3)
    3
    """

    def __call__(self, x: Any) -> Any:
        return x
