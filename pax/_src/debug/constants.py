"""``pax.debug.find_constants``: the arrays a function compiles into its program.

JAX turns every concrete array that a traced function reads from outside its
arguments (a model it closes over, a global table) into a constant of the
compiled program: it is not an input, so it is not trained, later changes to it
are not seen, and every compilation copies it. ``find_constants`` lists them;
``pax.build_update_fn`` and ``pax.Jit`` warn (once) when a traced step captures
more than :func:`get_constant_warning_bytes` of them.
"""

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from ..core.guards import holds_tracer
from .reach import Reached, reachable_arrays
from .warn import warn_at

#: The default threshold of :class:`CapturedConstantsWarning`: 1 MiB (``1 << 20``).
#:
#: >>> import pax
#: >>> pax.debug.DEFAULT_CONSTANT_WARNING_BYTES
#: 1048576
DEFAULT_CONSTANT_WARNING_BYTES = 1 << 20  # 1 MiB
_threshold: list[int | None] = [DEFAULT_CONSTANT_WARNING_BYTES]


class CapturedConstantsWarning(UserWarning):
    """A traced step compiles large arrays into its program as constants.

    ``pax.build_update_fn`` and ``pax.Jit`` warn with it when a step captures more than
    :func:`pax.debug.get_constant_warning_bytes`; silence it like any warning:

    >>> import warnings, pax
    >>> warnings.simplefilter("ignore", pax.debug.CapturedConstantsWarning)
    >>> issubclass(pax.debug.CapturedConstantsWarning, UserWarning)
    True
    >>> warnings.resetwarnings()
    """


def set_constant_warning_bytes(nbytes: int | None) -> int | None:
    """Set the size above which ``pax.build_update_fn`` and ``pax.Jit`` warn about
    captured constants (``None``: never); returns the previous setting.

    >>> import pax
    >>> previous = pax.debug.set_constant_warning_bytes(16 << 20)  # 16 MiB
    >>> pax.debug.get_constant_warning_bytes()
    16777216
    >>> _ = pax.debug.set_constant_warning_bytes(previous)
    """
    if nbytes is not None and (not isinstance(nbytes, int) or nbytes < 0):
        raise ValueError(
            f"set_constant_warning_bytes expects a number of bytes >= 0 or None (no "
            f"check), got {nbytes!r}."
        )
    previous = _threshold[0]
    _threshold[0] = nbytes
    return previous


def get_constant_warning_bytes() -> int | None:
    """The current threshold of the captured-constants warning (default 1 MiB).

    >>> import pax
    >>> pax.debug.get_constant_warning_bytes() == pax.debug.DEFAULT_CONSTANT_WARNING_BYTES
    True
    """
    return _threshold[0]


def format_bytes(nbytes: int) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{nbytes} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _aval_text(shape: tuple[int, ...], dtype: Any) -> str:
    return f"{np.dtype(dtype).name}[{','.join(str(d) for d in shape)}]"


@dataclasses.dataclass(frozen=True)
class Constant:
    """One array compiled into a program as a constant.

    ``origin`` (e.g. ``"closure 'model'"``), ``module_type`` (e.g. ``"Sequential"``)
    and ``path`` (e.g. ``".layers[0].weight"``) say where the function holds it; they
    are ``None``/``""`` when it was not found there (an array made while tracing).

    >>> import jax.numpy as jnp, pax
    >>> bias = jnp.ones(8)
    >>> constant = pax.debug.find_constants(lambda x: x + bias, jnp.zeros(8))[0]
    >>> constant.shape, constant.nbytes, constant.origin
    ((8,), 32, "global 'bias'")
    """

    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    origin: str | None = None
    module_type: str | None = None
    path: str = ""

    @property
    def where(self) -> str:
        """E.g. ``closure 'model': Sequential.layers[0].weight``."""
        if self.origin is None:
            return "(not held by the function: made while tracing, or hidden in an object)"
        return Reached(None, self.origin, self.module_type, self.path).where

    def __str__(self) -> str:
        size = format_bytes(self.nbytes)
        return f"{_aval_text(self.shape, self.dtype):<20} {size:>10}  {self.where}"


class Constants(list[Constant]):
    """The list ``find_constants`` returns (largest first); ``str()`` is a report.

    >>> import jax.numpy as jnp, pax
    >>> small, large = jnp.ones(4), jnp.ones(64)
    >>> found = pax.debug.find_constants(lambda x: x[:4] + small + large[:4], jnp.zeros(4))
    >>> [c.shape for c in found], found.total_bytes
    ([(64,), (4,)], 272)
    """

    @property
    def total_bytes(self) -> int:
        """The bytes of all the constants."""
        return sum(c.nbytes for c in self)

    def __str__(self) -> str:
        if not self:
            return "no constants"
        lines = [str(c) for c in self]
        lines.append(f"{len(self)} constant(s), {format_bytes(self.total_bytes)} in all")
        return "\n".join(lines)


def _sub_jaxprs(value: Any) -> Iterator[Any]:
    if hasattr(value, "eqns") or (hasattr(value, "jaxpr") and hasattr(value, "consts")):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _sub_jaxprs(item)


def _jaxpr_constants(closed: Any, out: dict) -> None:
    """Fill ``out`` (id -> array) with the array constants of a ClosedJaxpr/Jaxpr and
    of the jaxprs nested in its equations (jit, scan, cond, ...), and the array
    literals that JAX inlined into equations."""
    for const in getattr(closed, "consts", ()):
        if isinstance(const, (np.ndarray, jax.Array)):
            out.setdefault(id(const), const)
    jaxpr = closed.jaxpr if hasattr(closed, "consts") else closed
    for eqn in jaxpr.eqns:
        for var in eqn.invars:
            value = getattr(var, "val", None)  # a Literal
            if isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) > 0:
                out.setdefault(id(value), value)
        for param in eqn.params.values():
            for sub in _sub_jaxprs(param):
                _jaxpr_constants(sub, out)


def _ids(array: Any) -> Iterator[int]:
    """The id of the array, and of the arrays it views (JAX may wrap a NumPy constant)."""
    seen = 0
    while array is not None and seen < 8:
        yield id(array)
        array = getattr(array, "base", None) if isinstance(array, np.ndarray) else None
        seen += 1


def find_constants(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Constants:
    """The arrays ``jax.jit(fn)(*args, **kwargs)`` would compile in as constants.

    ``fn`` is traced with ``jax.make_jaxpr`` (nothing is compiled or run). Each
    constant is listed once, largest first, with its shape, dtype and size and,
    when ``fn`` holds it (a closure, a global its code names, ``functools.partial``
    arguments, a bound method's module, recursively into the functions it calls),
    where: e.g. ``closure 'model': Sequential.layers[0].weight``. Arguments that
    must stay Python values (``training=True``) go in with ``functools.partial``.

    >>> import jax.numpy as jnp, pax
    >>> model = pax.Linear(256, 256)
    >>> def loss_closed_over(x):  # reads the global `model`: its weights are constants
    ...     return jnp.mean(model(x) ** 2)
    >>> print(pax.debug.find_constants(loss_closed_over, jnp.ones((4, 256))))
    float32[256,256]      256.0 KiB  global 'model': Linear.weight
    float32[256]            1.0 KiB  global 'model': Linear.bias
    2 constant(s), 257.0 KiB in all
    >>> def loss(model, x):  # the model is an argument: nothing is compiled in
    ...     return jnp.mean(model(x) ** 2)
    >>> pax.debug.find_constants(loss, model, jnp.ones((4, 256)))
    []
    """
    closed = jax.make_jaxpr(fn)(*args, **kwargs)
    arrays: dict = {}
    _jaxpr_constants(closed, arrays)
    known = {id(r.array): r for r in reachable_arrays(fn)}
    out = Constants()
    for array in arrays.values():
        reached = next((known[i] for i in _ids(array) if i in known), None)
        out.append(
            Constant(
                shape=tuple(array.shape),
                dtype=np.dtype(array.dtype).name,
                nbytes=int(array.nbytes),
                origin=reached.origin if reached else None,
                module_type=reached.module_type if reached else None,
                path=reached.path if reached else "",
            )
        )
    out.sort(key=lambda c: -c.nbytes)
    return out


# -- the trace-time check of pax.build_update_fn and pax.Jit --------------------------------

MSG_CAPTURED = (
    "{transform}: {subject} reads {total} of arrays that are not {inputs}, so the "
    "traced step compiles them into the program as constants: they are not trained, "
    "later changes to them are not seen, and every compilation copies them.\n"
    "{listing}\n"
    "Fix: {fix}\n"
    "(pax.debug.find_constants(fn, *args) lists a function's constants; "
    "pax.debug.set_constant_warning_bytes(None) turns this check off.)"
)

FIX_UPDATE_FN = (
    "pass the model as an argument and use that argument in the loss:\n"
    "    def loss_fn(model, x, y):          # use `model`, not a global or closed-over one\n"
    "        ...\n"
    "    update_fn(model, optimizer, x, y)\n"
    "and pass any other module or array as an extra input: "
    "`update_fn(model, optimizer, x, y, teacher)` with `loss_fn(model, x, y, teacher)`."
)

FIX_JIT = (
    "add their variables to `vc`, so that they are inputs of the compiled function:\n"
    "    pax.Jit(f, vc=model.vars() + other.vars())\n"
    "or declare them with `@pax.Function.with_vars(model.vars() + other.vars())`."
)

_LISTED = 5  # the largest arrays shown in the message


class ConstantsCheck:
    """Warns once (``CapturedConstantsWarning``) when ``fn`` holds more than the
    threshold of concrete arrays while it is being traced.

    Call it where the caller's code runs only while JAX traces (the body of a
    jitted function), or give ``traced_args``: then it checks only when they hold a
    tracer. It adds nothing to the calls of an already compiled function.
    """

    __slots__ = ("fn", "transform", "subject", "inputs", "fix", "warned")

    def __init__(self, fn: Any, transform: str, subject: str, inputs: str, fix: str):
        self.fn = fn
        self.transform = transform
        self.subject = subject
        self.inputs = inputs
        self.fix = fix
        self.warned = False

    def __call__(self, traced_args: Any = None) -> None:
        limit = _threshold[0]
        if self.warned or limit is None:
            return
        if traced_args is not None and not holds_tracer(traced_args):
            return  # a call outside any JAX transform: nothing is compiled
        try:
            found = reachable_arrays(self.fn)
            total = sum(int(r.array.nbytes) for r in found)
        except Exception:  # noqa: BLE001 - a debugging aid never breaks the user's step
            return
        if total <= limit:
            return
        self.warned = True
        found.sort(key=lambda r: -int(r.array.nbytes))
        lines = [
            f"    {_aval_text(r.array.shape, r.array.dtype):<20} "
            f"{format_bytes(int(r.array.nbytes)):>10}  {r.where}"
            for r in found[:_LISTED]
        ]
        if len(found) > _LISTED:
            lines.append(f"    ... and {len(found) - _LISTED} more")
        message = MSG_CAPTURED.format(
            transform=self.transform,
            subject=self.subject,
            total=format_bytes(total),
            inputs=self.inputs,
            listing="\n".join(lines),
            fix=self.fix,
        )
        warn_at(self.fn, message, CapturedConstantsWarning)


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__qualname__


def update_fn_constants_check(loss_fn: Any) -> ConstantsCheck:
    """The check of ``pax.build_update_fn(loss_fn)``: arrays the loss does not get
    as arguments."""
    subject = f"the loss function `{_name(loss_fn)}`"
    return ConstantsCheck(loss_fn, "pax.build_update_fn", subject, "its arguments", FIX_UPDATE_FN)


def jit_constants_check(f: Any) -> ConstantsCheck:
    """The check of ``pax.Jit(f, vc)``, run while it traces: arrays outside ``vc``
    (those of ``vc`` hold tracers then)."""
    subject = f"the compiled function `{_name(f)}`"
    return ConstantsCheck(f, "pax.Jit", subject, "in its `vc`", FIX_JIT)
