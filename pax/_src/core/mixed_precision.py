"""Mixed precision with jmp: ``pax.apply_mp_policy`` and ``pax.unwrap_mp_policy``.

A module with a policy keeps its weights in ``param_dtype``; each call casts the
weights and inputs to ``compute_dtype`` and the output to ``output_dtype``. The
policy is static data, so it is part of the treedef.

A call is ``__call__`` and any method declared :func:`mixed_precision_method`
(the decoding protocol's ``update_site``); every other method (``init_cache``,
``initial_state``, ``replace``, ...) runs as it would without the policy, on the
weights in ``param_dtype``.

Complex arrays are never cast to a real dtype (that would drop their imaginary
parts): where the policy says a real dtype, a complex array takes the complex
dtype of that precision, see :func:`complex_counterpart`.
"""

import functools
import inspect
import weakref
from collections.abc import Callable
from types import FunctionType
from typing import Any, Literal, TypeVar

import jax
import jax.numpy as jnp
import jmp
import numpy as np

from .layout import LAYOUT_KEY
from .module import Module, with_statics

T = TypeVar("T", bound=Module)

POLICY_KEY = "_pax_mp_policy"
_MP_CLASSES: dict[type, type] = {}
# the functions declared @mixed_precision_method (a method overriding one by name in a
# subclass is a call too, see `_call_names`)
_MP_METHODS: "weakref.WeakSet[Callable]" = weakref.WeakSet()

Precision = Literal["half", "full"]
# layer class -> the precision `default_mp_policy` gives it (and its subclasses)
_DEFAULT_PRECISIONS: "weakref.WeakKeyDictionary[type, Precision]" = weakref.WeakKeyDictionary()


def default_precision(precision: Precision) -> Callable[[type[T]], type[T]]:
    """A class decorator: :func:`default_mp_policy` computes this layer class (and its
    subclasses) in half precision (``"half"``: linear, conv, embed, attention) or in
    float32 (``"full"``: normalization layers).

    >>> import pax
    >>> @default_precision("full")
    ... class Scale(pax.ParameterModule):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.s = jnp.ones(())
    >>> precision_of(Scale), precision_of(pax.Linear), precision_of(pax.Sequential)
    ('full', 'half', None)
    """
    if precision not in ("half", "full"):
        raise ValueError(f'default_precision takes "half" or "full", got {precision!r}.')

    def register(cls: type[T]) -> type[T]:
        _DEFAULT_PRECISIONS[cls] = precision
        return cls

    return register


def precision_of(cls: type) -> Precision | None:
    """The precision :func:`default_precision` declared for ``cls`` or the nearest of
    its bases; ``None`` when none did (containers, user modules)."""
    for klass in cls.__mro__:
        if klass in _DEFAULT_PRECISIONS:
            return _DEFAULT_PRECISIONS[klass]
    return None


F = TypeVar("F", bound=Callable[..., Any])


def mixed_precision_method(method: F) -> F:
    """Declare ``method`` a call, like ``__call__``: under :func:`apply_mp_policy` it
    computes with weights and inputs in the policy's ``compute_dtype`` and returns
    ``output_dtype``. Methods not declared so run as they would without the policy.
    A subclass's method of the same name is a call too.

    >>> import jax.numpy as jnp, jmp, pax
    >>> class Scale(pax.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.s = jnp.ones(())
    ...     def __call__(self, x):
    ...         return x * self.s
    ...     @pax.mixed_precision_method
    ...     def twice(self, x):
    ...         return 2 * x * self.s
    ...     def plain(self, x):
    ...         return x * self.s
    >>> half = pax.apply_mp_policy(Scale(), jmp.get_policy("p=f32,c=f16,o=f16"))
    >>> x = jnp.ones(2)
    >>> half(x).dtype.name, half.twice(x).dtype.name, half.plain(x).dtype.name
    ('float16', 'float16', 'float32')
    """
    if not isinstance(method, FunctionType):
        raise TypeError(
            "mixed_precision_method decorates a plain method (def name(self, ...)), "
            f"got {method!r}."
        )
    _MP_METHODS.add(method)
    return method


def _call_names(cls: type) -> list[str]:
    """``__call__`` (where ``cls`` has one) and the names some class in ``cls``'s MRO
    declared :func:`mixed_precision_method`."""
    names = set()
    for klass in cls.__mro__:
        for name, attr in vars(klass).items():
            if name == "__call__" or (isinstance(attr, FunctionType) and attr in _MP_METHODS):
                names.add(name)
    return sorted(names)


def complex_counterpart(dtype: Any) -> np.dtype:
    """The dtype a complex array takes where a policy says the real ``dtype``:
    ``complex128`` for ``float64`` and ``complex64`` otherwise (JAX has no
    half-precision complex type, so a half-precision policy keeps complex arrays in
    ``complex64``).

    >>> import jax.numpy as jnp
    >>> [complex_counterpart(t).name for t in (jnp.float64, jnp.float32, jnp.bfloat16)]
    ['complex128', 'complex64', 'complex64']
    """
    dtype = jnp.dtype(dtype)
    return jnp.dtype(jnp.complex128 if dtype.itemsize >= 8 else jnp.complex64)


def cast_floating(tree: Any, dtype: Any) -> Any:
    """``tree`` with its floating arrays cast to ``dtype`` and its complex arrays to
    ``complex_counterpart(dtype)``; other leaves (integers, Python scalars) unchanged.
    This is jmp's cast, which leaves complex arrays alone, made consistent for them."""
    real = jnp.dtype(dtype)
    complex_ = complex_counterpart(real)

    def cast(x: Any) -> Any:
        if isinstance(x, (np.ndarray, jax.Array)):
            if jnp.issubdtype(x.dtype, jnp.floating):
                return x.astype(real)
            if jnp.issubdtype(x.dtype, jnp.complexfloating):
                return x.astype(complex_)
        return x

    return jax.tree_util.tree_map(cast, tree)


def _is_module(x: Any) -> bool:
    return isinstance(x, Module)


def _holds_module(value: Any) -> bool:
    return any(_is_module(x) for x in jax.tree_util.tree_leaves(value, is_leaf=_is_module))


def _cast_output(policy: jmp.Policy, output: Any) -> Any:
    """Arrays in a call's output go to ``output_dtype``; a module in it (a call that
    returns a module) holds weights, which stay in ``param_dtype``."""
    return jax.tree_util.tree_map(
        lambda x: cast_floating(x, policy.param_dtype if _is_module(x) else policy.output_dtype),
        output,
        is_leaf=_is_module,
    )


def _wrap_method(func: Callable) -> Callable:
    """``func`` (a call) run under the module's policy: weights and inputs cast to the
    compute dtype, weights put back (updated state cast to the param dtype) after."""

    @functools.wraps(func)
    def call_under_policy(self: Module, *args: Any, **kwargs: Any) -> Any:
        d = self.__dict__
        policy: jmp.Policy = d[POLICY_KEY]
        originals: dict[str, Any] = {}
        casted: dict[str, Any] = {}
        for name in d[LAYOUT_KEY].children:
            value = d[name]
            if _holds_module(value):
                continue
            originals[name] = value
            casted[name] = d[name] = cast_floating(value, policy.compute_dtype)
        args, kwargs = cast_floating((args, kwargs), policy.compute_dtype)
        try:
            output = func(self, *args, **kwargs)
        finally:
            for name, original in originals.items():
                current = d[name]
                if current is casted[name]:
                    d[name] = original
                else:
                    d[name] = cast_floating(current, policy.param_dtype)
        return _cast_output(policy, output)

    return call_under_policy


_DTYPE_LETTER = {
    jnp.dtype(jnp.bfloat16): "H",
    jnp.dtype(jnp.float16): "H",
    jnp.dtype(jnp.float32): "F",
    jnp.dtype(jnp.float64): "F",
}


def _policy_letters(policy: jmp.Policy) -> str:
    dtypes = (policy.param_dtype, policy.compute_dtype, policy.output_dtype)
    return "".join(_DTYPE_LETTER.get(jnp.dtype(t), "?") for t in dtypes)


def _mp_class(base: type) -> type:
    cls = _MP_CLASSES.get(base)
    if cls is not None:
        return cls
    methods: dict[str, Any] = {}
    for name in _call_names(base):
        methods[name] = _wrap_method(inspect.getattr_static(base, name))

    def _repr(self, info=None):
        info = dict(info or {})
        info["mp_policy"] = _policy_letters(self.__dict__[POLICY_KEY])
        return base._repr(self, info)

    methods["_repr"] = _repr
    methods["_pax_mp_base"] = base
    cls = type(base.__name__, (base,), methods)
    cls.__qualname__ = base.__qualname__
    cls.__module__ = base.__module__
    _MP_CLASSES[base] = cls
    return cls


def apply_mp_policy(module: T, mp_policy: jmp.Policy) -> T:
    """A copy of ``module`` that follows the jmp ``mp_policy`` (its submodules keep theirs).

    Floating arrays (weights, inputs, outputs) are cast as jmp casts them. Complex
    arrays are never cast to a real dtype: they keep a complex dtype of the
    precision the policy asks for, ``complex128`` where it says ``float64`` and
    ``complex64`` where it says ``float32``, ``float16`` or ``bfloat16`` (JAX has
    no half-precision complex type). So a complex128 layer under a
    ``params=float32`` policy holds complex64 weights, and under a half-precision
    compute dtype it computes in complex64.

    >>> import jmp, pax
    >>> policy = jmp.get_policy("params=float32,compute=float16,output=float32")
    >>> net = pax.apply_mp_policy(pax.Linear(3, 3), policy)
    >>> print(net.summary())
    Linear(in_dim=3, out_dim=3, with_bias=True, mp_policy=FHF)
    >>> import jax.numpy as jnp
    >>> complex_net = pax.apply_mp_policy(pax.Linear(3, 3, param_dtype=jnp.complex64), policy)
    >>> complex_net.weight.dtype.name, complex_net(jnp.ones((1, 3))).dtype.name
    ('complex64', 'complex64')
    """
    if not isinstance(module, Module):
        raise TypeError(f"apply_mp_policy expects a pax module, got {type(module)}.")
    if not isinstance(mp_policy, jmp.Policy):
        raise TypeError(f"apply_mp_policy expects a jmp.Policy, got {mp_policy!r}.")
    if POLICY_KEY in module.__dict__:
        raise ValueError(
            "The module already has a mixed-precision policy. Call "
            "`pax.unwrap_mp_policy(module)` first to remove it."
        )
    new = with_statics(module, {POLICY_KEY: mp_policy}, cls=_mp_class(type(module)))
    d = new.__dict__
    for name in d[LAYOUT_KEY].children:
        if not _holds_module(d[name]):
            d[name] = cast_floating(d[name], mp_policy.param_dtype)
    return new


def unwrap_mp_policy(module: T) -> T:
    """Remove the policy added by :func:`apply_mp_policy` (the weights keep their dtype).

    >>> import jmp, pax
    >>> policy = jmp.get_policy("params=float32,compute=float16,output=float32")
    >>> net = pax.unwrap_mp_policy(pax.apply_mp_policy(pax.Linear(3, 3), policy))
    >>> print(net.summary())
    Linear(in_dim=3, out_dim=3, with_bias=True)
    """
    if POLICY_KEY not in module.__dict__:
        raise ValueError(
            f"{module._short_repr()} has no mixed-precision policy to unwrap; "
            "`unwrap_mp_policy` undoes `apply_mp_policy`."
        )
    base = type(module).__dict__.get("_pax_mp_base", type(module).__mro__[1])
    return with_statics(module, {}, cls=base, drop=(POLICY_KEY,))


def default_mp_policy(module: T) -> T:
    """The usual mixed-precision recipe, for ``net.apply(pax.default_mp_policy)``:
    layers declared ``@default_precision("half")`` (linear, conv, embed, attention)
    compute in half precision with float32 weights; those declared ``"full"``
    (normalization) stay in float32.

    >>> import pax
    >>> net = pax.Sequential(pax.Linear(3, 3), pax.BatchNorm1D(3))
    >>> print(net.apply(pax.default_mp_policy).summary())  # doctest: +ELLIPSIS
    Sequential
    ├── Linear(in_dim=3, out_dim=3, with_bias=True, mp_policy=FHF)
    └── BatchNorm1D(num_channels=3, ..., mp_policy=FFF)
    """
    precision = precision_of(type(module))
    if precision is None or POLICY_KEY in module.__dict__:
        return module
    half, full = jmp.half_dtype(), jnp.float32
    compute = half if precision == "half" else full
    policy = jmp.Policy(param_dtype=full, compute_dtype=compute, output_dtype=full)
    return apply_mp_policy(module, policy)
