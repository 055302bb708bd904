"""Objax variables used as arrays: Python's operators and the array properties.

Objax let a variable stand for its value in arithmetic (``x @ self.w + self.b``),
comparisons, indexing and ``numpy.asarray(var)``. :class:`ArrayOperators` gives pax's
variables the same by forwarding to ``self.value``; the result is a plain array.

Equality is the exception: ``v == w`` and ``v != w`` compare the *variables* by
identity, and variables hash by identity. ``VarCollection`` deduplicates shared
variables and detects name conflicts with ``in`` and ``==``, and Objax's own
``VarCollection`` relied on the same; an elementwise ``==`` would break both (and an
array's truth value is ambiguous). Compare the values for elementwise equality:
``v.value == w.value``.

JAX 0.10 no longer converts objects through ``__jax_array__``, so ``jnp.dot(x, v)``
and other ``jax.numpy`` functions need ``v.value``; operators (``x @ v``) work.

>>> import jax.numpy as jnp, numpy as np, pax
>>> w = pax.TrainVar(jnp.arange(6.0).reshape(2, 3))
>>> (jnp.ones(2) @ w).tolist(), (w + 1)[0].tolist(), w.shape, w.T.shape
([3.0, 5.0, 7.0], [1.0, 2.0, 3.0], (2, 3), (3, 2))
>>> np.asarray(w).dtype, w == w, (w > 2).sum().item()
(dtype('float32'), True, 3)
"""

import operator
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np


def _binary(op: Callable[[Any, Any], Any], name: str) -> Callable[[Any, Any], Any]:
    def method(self: "ArrayOperators", other: Any) -> Any:
        return op(self._get(), _unwrap(other))

    method.__name__ = name
    method.__doc__ = f"``{op.__name__}(self.value, other)``."
    return method


def _reflected(op: Callable[[Any, Any], Any], name: str) -> Callable[[Any, Any], Any]:
    def method(self: "ArrayOperators", other: Any) -> Any:
        return op(_unwrap(other), self._get())

    method.__name__ = name
    method.__doc__ = f"``{op.__name__}(other, self.value)``."
    return method


def _unary(op: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    def method(self: "ArrayOperators") -> Any:
        return op(self._get())

    method.__name__ = name
    method.__doc__ = f"``{op.__name__}(self.value)``."
    return method


def _unwrap(x: Any) -> Any:
    return x._get() if isinstance(x, ArrayOperators) else x


# name -> operator, for the operators with a reflected form (``__radd__``...)
_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "matmul": operator.matmul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "divmod": divmod,
    "pow": operator.pow,
    "lshift": operator.lshift,
    "rshift": operator.rshift,
    "and": operator.and_,
    "or": operator.or_,
    "xor": operator.xor,
}
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
_UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": operator.neg,
    "pos": operator.pos,
    "abs": abs,
    "invert": operator.invert,
}
_CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "bool": bool,
    "int": int,
    "float": float,
    "complex": complex,
    "index": operator.index,
}


class ArrayOperators:
    """Operators, properties and ``__array__`` that act on ``self._get()`` (the value).

    Subclasses provide ``_get()``. ``==``/``!=``/``hash`` stay identity-based (see the
    module docstring).
    """

    __slots__ = ()
    # NumPy defers its binary operators to ours (``np_array + v`` gives a JAX array, as
    # with a ``jax.Array``), while NumPy functions (``np.sum(v)``) use ``__array__``.
    __array_priority__ = 100

    def _get(self) -> Any:
        raise NotImplementedError

    # identity semantics, written out so that no subclass makes them elementwise
    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)

    # -- the array's properties ------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the value."""
        return tuple(self._get().shape)

    @property
    def dtype(self) -> Any:
        """The dtype of the value."""
        return self._get().dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions of the value."""
        return self._get().ndim

    @property
    def size(self) -> int:
        """The number of elements of the value."""
        return self._get().size

    @property
    def T(self) -> jax.Array:  # noqa: N802 - the array's name
        """The transposed value."""
        return self._get().T

    def __len__(self) -> int:
        return len(self._get())

    def __getitem__(self, index: Any) -> Any:
        return self._get()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._get())

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``numpy.asarray(v)``: the value as a NumPy array (NumPy 2 protocol)."""
        value = self._get()
        if copy is False:
            raise ValueError(
                "numpy.asarray(variable, copy=False) cannot avoid a copy: the value is a "
                "JAX array. Use copy=None (the default) or copy=True."
            )
        if copy:
            return np.array(value, dtype=dtype, copy=True)
        return np.asarray(value, dtype=dtype)


for _name, _op in _ARITHMETIC.items():
    setattr(ArrayOperators, f"__{_name}__", _binary(_op, f"__{_name}__"))
    setattr(ArrayOperators, f"__r{_name}__", _reflected(_op, f"__r{_name}__"))
for _name, _op in _COMPARISONS.items():
    setattr(ArrayOperators, f"__{_name}__", _binary(_op, f"__{_name}__"))
for _name, _fn in {**_UNARY, **_CONVERSIONS}.items():
    setattr(ArrayOperators, f"__{_name}__", _unary(_fn, f"__{_name}__"))
