"""``pax.Jit``: compile a function or module that reads and updates variables."""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from ..debug.constants import jit_constants_check
from .function import VarsWrapper, check_callable, resolve_vc
from .swapping import changes_of, swapped, unique_storages, write_back
from .var_collection import VarCollection

_TRACEABLE = (jax.Array, np.ndarray, np.generic, int, float, complex)


def _is_static(value: Any) -> bool:
    """Keyword arguments that are not numbers or arrays (``training=True``, names,
    functions) are compiled in as constants instead of being traced."""
    if isinstance(value, (bool, str, type(None))):
        return True
    leaves = jax.tree_util.tree_leaves(value)
    return not all(isinstance(x, _TRACEABLE) and not isinstance(x, bool) for x in leaves)


def split_kwargs(kwargs: dict[str, Any]) -> tuple[tuple[tuple[str, Any], ...], dict[str, Any]]:
    static = tuple(sorted((k, v) for k, v in kwargs.items() if _is_static(v)))
    dynamic = {k: v for k, v in kwargs.items() if not _is_static(v)}
    return static, dynamic


class Jit(VarsWrapper):
    """Compile ``f`` with ``jax.jit``; the variables of ``vc`` are inputs and outputs
    of the compiled function.

    The variables of ``vc`` are read on every call and the values ``f`` leaves in them
    are stored back after it (e.g. batch-norm statistics, ``RandomState`` variables, an
    optimizer's updates). Variables ``f`` reads that are not in ``vc`` are compiled in
    as constants (Objax's constant optimization): later changes to them are not seen
    until a new compilation. Writing a traced value into a variable outside ``vc``
    raises ``ValueError`` naming it.

    >>> import jax, jax.numpy as jnp, pax
    >>> m = pax.Sequential(pax.Linear(2, 3), jax.nn.relu)
    >>> jit_m = pax.Jit(m)   # a module: vc = m.vars()
    >>> @pax.Function.with_vars(m.vars())
    ... def f(x):
    ...     return m(x) + 1
    >>> jit_f = pax.Jit(f)
    >>> bool((jit_f(jnp.ones((1, 2))) == m(jnp.ones((1, 2))) + 1).all())
    True
    >>> bn = pax.BatchNorm1D(2)
    >>> jit_bn = pax.Jit(bn)                # updates bn's moving averages in place
    >>> _ = jit_bn(jnp.arange(8.0).reshape(4, 2))
    >>> round(float(bn.ema_mean.debias), 2)   # 1 - 0.9**1 after one update
    0.1

    Positional arguments are traced unless listed in ``static_argnums``; keyword
    arguments are traced when they are numbers or arrays and compiled in otherwise
    (``training=True`` works as a keyword).

    Args:
      f: the function or module to compile.
      vc: the variables ``f`` uses (default ``f.vars()``; required for a plain
        function).
      static_argnums: indices of positional arguments that are compiled in as
        constants (a new compilation for each new value).
    """

    def __init__(
        self,
        f: Callable[..., Any],
        vc: VarCollection | None = None,
        static_argnums: Sequence[int] | None = None,
    ):
        check_callable("pax.Jit", f)
        self.__wrapped__ = f
        self.vc = resolve_vc("pax.Jit", f, vc)
        self.static_argnums = tuple(sorted(static_argnums or ()))
        self._check_constants = jit_constants_check(f)
        self._jitted = jax.jit(
            self._run, static_argnums=(0,) + tuple(i + 3 for i in self.static_argnums)
        )

    def _run(self, static_kwargs, tensors, dynamic_kwargs, *args):
        storages = unique_storages(list(self.vc))
        kwargs = {**dict(static_kwargs), **dynamic_kwargs}
        with swapped("pax.Jit", storages, tensors):
            self._check_constants()  # runs while jax.jit traces: arrays not in vc (warns once)
            output = self.__wrapped__(*args, **kwargs)
            changes = changes_of(storages, tensors)
        return output, changes

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the compiled function; the variables of ``vc`` are updated."""
        storages = unique_storages(list(self.vc))
        static_kwargs, dynamic_kwargs = split_kwargs(kwargs)
        output, changes = self._jitted(
            static_kwargs, [s._get() for s in storages], dynamic_kwargs, *args
        )
        write_back(storages, changes)
        return output

    def __repr__(self) -> str:
        return f"Jit({self.__wrapped__!r}, {len(self.vc)} variables)"
