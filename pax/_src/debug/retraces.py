"""``pax.debug.explain_retraces``: say why ``jax.jit`` traces a step again.

``jax.jit`` traces a function again (and compiles it again) when the shapes,
dtypes or weak types of its array arguments, the structure of its pytree
arguments (a pax module's type, attributes and static fields, the length of a
list) or its static arguments differ from every earlier call. The wrapper keeps
a description of the arguments of the last trace and, at each new trace, tells
what differs: through ``warnings.warn`` (a :class:`RetraceWarning`) and the
``"pax.debug"`` logger. A call served from jit's cache runs no Python code, so
the wrapper costs nothing once compiled.
"""

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from .signature import Signature, describe, diff
from .warn import warn_at

F = TypeVar("F", bound=Callable[..., Any])

logger = logging.getLogger("pax.debug")
logger.addHandler(logging.NullHandler())  # a library logs; the application configures

MSG_UNKNOWN = (
    "but its arguments have the same shapes, dtypes, structure and static values as "
    "at the previous trace, so the cause is outside them: e.g. a cleared cache "
    "(jax.clear_caches()), a changed JAX setting (e.g. jax_enable_x64), or the function "
    "traced elsewhere too (under another jax.jit, or called inside another traced function)."
)
MSG_FAILED = "the previous trace raised an exception, so jax.jit cached nothing and traces again."


class RetraceWarning(UserWarning):
    """``pax.debug.explain_retraces``: a jitted function is traced again.

    Filter it like any warning, e.g.
    ``warnings.simplefilter("ignore", pax.debug.RetraceWarning)``.

    >>> import warnings, jax, jax.numpy as jnp, pax
    >>> step = jax.jit(pax.debug.explain_retraces(lambda x: x * 2))
    >>> _ = step(jnp.ones(2))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = step(jnp.ones(3))  # a new shape: traced again
    >>> [w.category.__name__ for w in caught]
    ['RetraceWarning']
    """


def _argument_names(fn: Callable[..., Any]):
    """``name(i)`` for positional argument ``i``: the parameter names of ``fn``."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin or a callable without a signature
        parameters = []
    positional = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    star = next((p.name for p in parameters if p.kind == inspect.Parameter.VAR_POSITIONAL), None)

    def name(i: int) -> str:
        if i < len(positional):
            return positional[i]
        return f"{star or 'args'}[{i - len(positional) if star else i}]"

    return name


def _is_tracing(signature: Signature) -> bool:
    """A call with a traced argument, or without any array argument (all static:
    under jax.jit such a body runs only when it is traced). A call with concrete
    arrays (outside any transform) is not a trace."""
    arrays = [entry for entry in signature.values() if entry.kind == "array"]
    return not arrays or any(entry.tracer for entry in arrays)


def explain_retraces(fn: F) -> F:
    """Wrap ``fn`` so that, under ``jax.jit``, every new trace says why it happened.

    Use it as ``jax.jit(pax.debug.explain_retraces(step))`` (``static_argnums`` and
    ``static_argnames`` work as usual). The first trace reports nothing; each later
    one warns (:class:`RetraceWarning`, also logged on the ``"pax.debug"`` logger)
    with one line per argument path that differs from the previous trace: a shape
    or dtype (``x: float32[8,3] -> float32[16,3]``), a weak type, a static field
    (``model.layers[3].rate: 0.1 -> 0.2``, ``model.training: True -> False``), a
    list that grew, an attribute added or removed, a module of another type, a new
    value of a static argument. Calls served from the compilation cache run no
    Python, so they report nothing and cost nothing extra. ``wrapper.trace_count``
    counts the traces.

    >>> import warnings
    >>> import jax, jax.numpy as jnp, pax
    >>> def step(model, x):
    ...     return model(x)
    >>> jitted = jax.jit(pax.debug.explain_retraces(step))
    >>> model = pax.Linear(3, 2)
    >>> _ = jitted(model, jnp.ones((8, 3)))   # first trace: nothing to say
    >>> _ = jitted(model, jnp.ones((8, 3)))   # compiled: no trace
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = jitted(model, jnp.ones((16, 3)))
    >>> print(caught[0].message)
    `step` is traced again (trace 2); changed since the previous trace:
      x: float32[8,3] -> float32[16,3]
    """
    if not callable(fn):
        raise TypeError(
            f"explain_retraces wraps a function, got {fn!r} ({type(fn).__name__}); use "
            f"it as jax.jit(pax.debug.explain_retraces(step))."
        )
    name_of = _argument_names(fn)
    label = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    state: dict[str, Any] = {"previous": None, "failed": False, "count": 0}

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        signature: Signature = {}
        for i, arg in enumerate(args):
            describe(arg, name_of(i), signature)
        for key, arg in kwargs.items():
            describe(arg, key, signature)
        if not _is_tracing(signature):
            return fn(*args, **kwargs)
        state["count"] += 1
        wrapper.trace_count = state["count"]  # type: ignore[attr-defined]
        previous: Signature | None = state["previous"]
        if previous is not None:
            _report(fn, label, state["count"], previous, signature, state["failed"])
        state["previous"] = signature
        state["failed"] = True  # until fn returns
        out = fn(*args, **kwargs)
        state["failed"] = False
        return out

    wrapper.trace_count = 0  # type: ignore[attr-defined]
    return cast(F, wrapper)


def _report(fn: Any, label: str, count: int, old: Signature, new: Signature, failed: bool) -> None:
    lines: list[str] = diff(old, new)
    head = f"`{label}` is traced again (trace {count})"
    if lines:
        message = (
            head
            + "; changed since the previous trace:\n"
            + "\n".join(f"  {line}" for line in lines)
        )
    elif failed:
        message = f"{head}: {MSG_FAILED}"
    else:
        message = f"{head}, {MSG_UNKNOWN}"
    logger.warning(message)
    warn_at(fn, message, RetraceWarning)
