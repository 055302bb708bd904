"""``pax.scan``: ``jax.lax.scan`` with a batch-major mode."""

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp

from ..core.context import STATE, mutable_module_ids

C = TypeVar("C")


def _swap_batch_time(tree: Any, what: str) -> Any:
    def swap(x):
        if jnp.ndim(x) < 2:
            raise ValueError(
                f"pax.scan(time_major=False) needs every {what} leaf to have a batch "
                f"and a time axis (N, T, ...); got a leaf of shape {jnp.shape(x)}."
            )
        return jnp.swapaxes(x, 0, 1)

    return jax.tree_util.tree_map(swap, tree)


def _guard_captured_modules(func: Callable) -> Callable:
    """While ``func`` is traced as the scan body, the modules that were already
    mutable (captured from an enclosing ``pax.pure``) must not receive traced values:
    ``Module.__setattr__`` raises a clear error instead of leaking a tracer."""

    @functools.wraps(func)
    def body(carry, x):
        STATE.scan_bodies.append(mutable_module_ids())
        try:
            return func(carry, x)
        finally:
            STATE.scan_bodies.pop()

    return body


def scan(
    func: Callable[[C, Any], tuple[C, Any]],
    init: C,
    xs: Any,
    length: int | None = None,
    unroll: int = 1,
    time_major: bool = True,
) -> tuple[C, Any]:
    """``jax.lax.scan`` with an additional ``time_major=False`` mode, in which
    every leaf of ``xs`` and of the outputs is batch-major ``(N, T, ...)``.

    The semantics are roughly:

    >>> def scan(f, init, xs, length=None):
    ...     if xs is None:
    ...         xs = [None] * length
    ...     carry = init
    ...     ys = []
    ...     for x in xs:
    ...         carry, y = f(carry, x)
    ...         ys.append(y)
    ...     return carry, np.stack(ys)

    >>> import jax.numpy as jnp, pax
    >>> carry, ys = pax.scan(lambda c, x: (c + x, c), jnp.zeros(2), jnp.ones((2, 5)),
    ...                      time_major=False)
    >>> ys.shape, carry.tolist()
    ((2, 5), [5.0, 5.0])
    """
    body = _guard_captured_modules(func)
    if time_major:
        return jax.lax.scan(body, init, xs, length=length, unroll=unroll)
    if xs is not None:
        xs = _swap_batch_time(xs, "input")
    carry, ys = jax.lax.scan(body, init, xs, length=length, unroll=unroll)
    return carry, _swap_batch_time(ys, "output")
