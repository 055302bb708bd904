"""``pax.Function``, and the base class of the Objax-style transforms.

``pax.Function``, ``pax.Grad``, ``pax.GradValues``, ``pax.Jit``, ``pax.Vectorize`` and
``pax.Parallel`` are callable modules with a ``vars()`` method, as in Objax, so a
module may store them (Objax code often keeps ``self.train_op = pax.Jit(...)``), but
as pytrees they are opaque static data without children: flattening a module never
reaches into the function or the variables they hold, and ``vars()`` of the module
names their variables under the attribute, like Objax.
"""

from collections.abc import Callable
from typing import Any, cast

from ..core.module import OpaqueModule
from ..core.node import PaxNode
from .var_collection import VarCollection

MSG_NEED_VC = (
    "{transform} got a plain function and no `vc`: it cannot know which variables "
    "the function uses. Pass them:\n"
    "    {transform}(f, vc=model.vars())\n"
    "or declare them once with the decorator:\n"
    "    @pax.Function.with_vars(model.vars())\n"
    "    def f(x): ..."
)


class VarsWrapper(OpaqueModule):
    """A callable module holding a ``VarCollection`` (``self.vc``); an opaque pytree
    node (see ``OpaqueModule``)."""

    vc: VarCollection

    def vars(self, scope: str = "") -> VarCollection:
        """The variables used, with ``scope`` prefixed to their names."""
        return VarCollection((scope + name, v) for name, v in self.vc.items())


def resolve_vc(transform: str, f: Any, vc: Any | None) -> VarCollection:
    """``vc`` as a VarCollection, or ``f.vars()`` for a module or pax Function."""
    if vc is not None:
        return vc if isinstance(vc, VarCollection) else VarCollection(vc)
    if isinstance(f, PaxNode) and callable(getattr(f, "vars", None)):
        return cast(Any, f).vars()
    raise ValueError(MSG_NEED_VC.format(transform=transform))


def check_callable(transform: str, f: Any) -> None:
    if not callable(f):
        raise TypeError(f"{transform} expects a function or a module, got {type(f).__name__}.")


class Function(VarsWrapper):
    """A function together with the variables it uses, so that ``pax.Jit``,
    ``pax.Grad``, ... know them (``vars()``). Calling it calls the function.

    >>> import jax.numpy as jnp, pax
    >>> m = pax.Linear(2, 3)
    >>> @pax.Function.with_vars(m.vars())
    ... def f(x, y):
    ...     return ((m(x) - y) ** 2).mean()
    >>> type(f).__name__, len(f.vars())
    ('Function', 2)

    Args:
      f: the function (or module) to represent.
      vc: the ``VarCollection`` of the variables it uses.
    """

    def __init__(self, f: Callable[..., Any], vc: VarCollection):
        check_callable("pax.Function", f)
        self.__wrapped__ = f
        self.vc = VarCollection(vc)
        for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
            value = getattr(f, attr, None)
            if isinstance(value, str):
                setattr(self, attr, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__wrapped__(*args, **kwargs)

    @staticmethod
    def with_vars(vc: VarCollection) -> Callable[[Callable[..., Any]], "Function"]:
        """A decorator: ``@pax.Function.with_vars(vc)`` makes ``Function(f, vc)``."""

        def decorator(f: Callable[..., Any]) -> Function:
            return Function(f, vc)

        return decorator

    def __repr__(self) -> str:
        name = getattr(self.__wrapped__, "__name__", None) or repr(self.__wrapped__)
        return f"Function({name}, {len(self.vc)} variables)"
