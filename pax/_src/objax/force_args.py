"""``pax.ForceArgs``: call a module with some keyword arguments forced."""

from typing import Any

from ..core.module import Module
from ..core.mutation import opened
from .var_collection import VarCollection


class ForceArgs(Module):
    """Wrap a module so that some keyword arguments always take the given values,
    e.g. ``training=False`` for one block of a model whose layers take ``training``.

    >>> import jax.numpy as jnp, pax
    >>> class Scale(pax.Module):
    ...     def __call__(self, x, training=True):
    ...         return x * 2 if training else x
    >>> net = pax.Sequential(Scale(), pax.ForceArgs(Scale(), training=False))
    >>> net[0](jnp.ones(()), training=True), net[1](jnp.ones(()), training=True)
    (Array(2., dtype=float32), Array(1., dtype=float32))

    The wrapper is transparent for ``vars()``: the variables keep the names they
    have in the wrapped module. The wrapped module is the pytree child ``__wrapped__``.

    Args:
      module: the module whose arguments are overridden.
      **kwargs: the forced keyword arguments.
    """

    class ANY:
        """Token for ``ForceArgs.undo``: undo every value of an argument."""

    def __init__(self, module: Any, **kwargs: Any):
        super().__init__()
        if not callable(module):
            raise TypeError(f"ForceArgs wraps a module, got {type(module).__name__}.")
        self.__wrapped__ = module
        self.forced_kwargs: dict[str, Any] = dict(kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **{**kwargs, **self.forced_kwargs})

    def vars(self, scope: str = "") -> VarCollection:
        """The variables of the wrapped module (named as in the wrapped module)."""
        wrapped_vars = getattr(self.__wrapped__, "vars", None)
        return wrapped_vars(scope=scope) if callable(wrapped_vars) else VarCollection()

    @staticmethod
    def undo(module: Any, **kwargs: Any) -> None:
        """Undo ``ForceArgs`` overrides in ``module`` and all its submodules, in place.

        ``name=value`` removes the override of ``name`` if it forces ``value``;
        ``name=ForceArgs.ANY`` removes every override of ``name``; no argument
        removes every override. Undone wrappers stay in place and call the wrapped
        module unchanged.

        Like the variable views of ``vars()``, this changes module objects in place
        (Objax semantics), outside ``pax.pure``.
        """
        for m in _all_modules(module):
            if not isinstance(m, ForceArgs):
                continue
            kept = {
                k: v
                for k, v in m.forced_kwargs.items()
                if kwargs
                and not (k in kwargs and (kwargs[k] is ForceArgs.ANY or _same(kwargs[k], v)))
            }
            if kept != m.forced_kwargs:
                _set_in_place(m, "forced_kwargs", kept)

    def __repr__(self) -> str:
        forced = ", ".join(f"{k}={v!r}" for k, v in self.forced_kwargs.items())
        return f"ForceArgs({self.__wrapped__!r}{', ' + forced if forced else ''})"


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - e.g. arrays: compare by identity
        return a is b


def _all_modules(module: Any) -> list[Module]:
    out: list[Module] = []
    stack = [module]
    while stack:
        m = stack.pop()
        if isinstance(m, Module):
            out.append(m)
            stack.extend(reversed(m.submodules()))
    return out


def _set_in_place(module: Module, name: str, value: Any) -> None:
    with opened(module, refresh=False, check_sharing=False):
        setattr(module, name, value)
