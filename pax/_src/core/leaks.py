"""The guard against tracers leaked out of a JAX transform's closure in ``pax.pure``.

Inside a pure function, a module may be mutated by code that a JAX transform traces,
for example a ``jax.jit``-decorated inner function that calls ``self.counter(x)``
(PAX's notebook ``jax_transformations.ipynb``). The new attribute value is then a
tracer of that inner transform, which has finished by the time the pure function
returns; the module would hold a dead tracer and fail much later with JAX's
``UnexpectedTracerError``.

How it is detected, with public JAX API and pax's own state only:

1. While a ``pax.pure`` call runs, every ``jax.core.Tracer`` assigned to a module
   attribute is remembered (weakly, by identity) for that call.
2. When the call returns, the remembered tracers that the returned modules still hold
   are checked: a tracer whose transform has finished can no longer be used.
   ``jax.vmap``, ``jax.grad``/``jax.jvp`` and friends invalidate their tracers when
   they finish, so any use raises ``jax.errors.UnexpectedTracerError``: we use them in
   ``jax.eval_shape``, which adds nothing to an enclosing trace. Staging transforms
   (``jax.jit``, ``jax.lax.scan``/``cond``/``while_loop``) do not invalidate; their
   tracers fail only when used outside every trace. So when the pure call itself runs
   outside any staging trace (then ``jnp.zeros(())`` is a concrete array), the
   remembered tracers are used directly (an ``optimization_barrier``, computed eagerly,
   nothing staged), which raises for every finished transform.

What remains undetected: a ``jax.jit``/``scan``/``cond`` closure leak inside a pure
call that itself runs under an enclosing ``jax.jit`` (or scan). JAX then reports the
leaked tracer itself when the enclosing function is lowered.

The cost is at trace time only: under ``jax.jit`` a pure call runs once, when the
function is traced; a compiled step runs none of this. In eager code it costs an
``isinstance`` per attribute assignment and nothing else unless tracers are assigned.
"""

import weakref
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .context import STATE
from .errors import LeakedTracerError

Records = dict[int, "weakref.ref[Any]"]

MSG_LEAKED_TRACER = (
    "The pure call of `{func}` returned a module holding, at `{path}`, a tracer of a JAX "
    "transform (jax.jit, jax.vmap, jax.grad, jax.lax.scan, jax.lax.cond, ...) that has "
    "already finished: the module was mutated by code traced by that transform, which "
    "captured the module from outside, so the new value leaked out of the transform "
    "(it would fail later with an UnexpectedTracerError).\n"
    "Pass the module into the transformed function and return it:\n"
    "    @jax.jit\n"
    "    def fn(counter, x):\n"
    "        counter, y = pax.purecall(counter, x)\n"
    "        return counter, y\n"
    "    self.counter, y = fn(self.counter, x)\n"
    "instead of mutating a module captured from outside:\n"
    "    @jax.jit\n"
    "    def fn(x):\n"
    "        return self.counter(x)  # wrong: sets self.counter.count to a tracer of fn"
)

_PLAIN = (jax.Array, np.ndarray, np.generic, int, float, complex, bool, str, type(None))


def tracer_leaves(value: Any) -> list[jax.core.Tracer]:
    """The ``jax.core.Tracer`` leaves of ``value`` (fast for a single array)."""
    if isinstance(value, jax.core.Tracer):
        return [value]
    if isinstance(value, _PLAIN):
        return []
    return [x for x in jax.tree_util.tree_leaves(value) if isinstance(x, jax.core.Tracer)]


def start_recording() -> Records:
    """Open the record of the tracers assigned during a new ``pax.pure`` call."""
    records: Records = {}
    STATE.traced_writes.append(records)
    return records


def stop_recording(records: Records, keep: bool) -> None:
    """Close ``records``; with ``keep``, the enclosing pure call (if any) takes them
    over (a tracer live now may belong to a transform that finishes inside it)."""
    stack = STATE.traced_writes
    stack.pop()
    if keep and stack:
        stack[-1].update((k, r) for k, r in records.items() if r() is not None)


def record_traced_value(value: Any) -> None:
    """Remember the tracers of ``value``, assigned to a module attribute inside the
    current ``pax.pure`` call."""
    stack = STATE.traced_writes
    if stack:
        for t in tracer_leaves(value):
            stack[-1][id(t)] = weakref.ref(t)


def check_no_leaked_tracers(out: Any, records: Records, func: Callable) -> None:
    """Raise ``ValueError`` if ``out`` holds a recorded tracer whose transform has
    finished (see the module docstring)."""
    if not records:
        return
    held = []
    for leaf in jax.tree_util.tree_leaves(out):
        if isinstance(leaf, jax.core.Tracer):
            ref = records.get(id(leaf))
            if ref is not None and ref() is leaf:
                held.append(leaf)
    if not held:
        return
    dead = _finished(held)
    if dead is None:
        return
    # the error path only: where the module holds it
    path = next(p for p, leaf in jax.tree_util.tree_flatten_with_path(out)[0] if leaf is dead)
    raise LeakedTracerError(
        MSG_LEAKED_TRACER.format(
            func=getattr(func, "__qualname__", repr(func)),
            path=jax.tree_util.keystr(tuple(path)) or "<root>",
        )
    )


def _use(tracers: list[Any]) -> None:
    jax.lax.optimization_barrier(tracers)


def _finished(tracers: list[Any]) -> Any:
    """A tracer whose transform has finished, or ``None``."""
    staged = isinstance(jnp.zeros(()), jax.core.Tracer)
    try:
        if staged:
            jax.eval_shape(lambda: _use(tracers))
        else:
            _use(tracers)
        return None
    except jax.errors.UnexpectedTracerError:
        pass
    for t in tracers:  # which one (the error path only)
        try:
            if staged:
                jax.eval_shape(lambda t=t: _use([t]))
            else:
                _use([t])
        except jax.errors.UnexpectedTracerError:
            return t
    return tracers[0]
