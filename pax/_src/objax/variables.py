"""Objax's variables: ``TrainVar``, ``StateVar``, ``TrainRef``, ``RandomState``.

A variable is a small mutable object with a ``.value`` (Objax style: assigning a
variable never needs ``pax.pure``). It is also a pytree node whose only child is the
array, with its class and ``reduce`` function as static data, so a module holding
variables flattens to plain arrays and works with ``jax.jit``, ``jax.grad``,
``jax.vmap``, ``jax.pmap`` and ``pax.pure`` (unflattening builds new variables).
``TrainVar`` leaves are trainable for ``Module.parameters()`` and ``pax.grad``; the
other kinds never are.

>>> import jax, jax.numpy as jnp, pax
>>> v = pax.TrainVar(jnp.arange(3.0))
>>> v.assign(v.value + 1)
>>> v.value.tolist()
[1.0, 2.0, 3.0]
>>> jax.tree_util.tree_leaves([v, pax.StateVar(jnp.zeros(()))])
[Array([1., 2., 3.], dtype=float32), Array(0., dtype=float32)]
"""

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import jax
import jax.numpy as jnp

from ..core.variable import Variable
from .array_ops import ArrayOperators
from .swapping import check_write

Reducer = Callable[[jax.Array], jax.Array]

MSG_TRAINVAR_READ_ONLY = (
    "TrainVar.value is read-only (so that a trainable variable is not accidentally "
    "made non-differentiable); {name} was not changed.\n"
    "Assign explicitly when you mean it:\n"
    "    v.assign(v.value + 1)   # right\n"
    "    v.value += 1            # wrong"
)

MSG_BAD_ASSIGN = (
    "Cannot assign to {name}: expected shape {shape} and dtype {dtype}, received "
    "shape {new_shape} and dtype {new_dtype}. Convert the value (e.g. "
    "`x.astype(v.value.dtype)`), or pass `check=False` to change the shape or dtype "
    "on purpose."
)


def reduce_mean(tensors: jax.Array) -> jax.Array:
    """The mean over the leading axis, in the dtype of ``tensors`` (so an integer
    counter stays an integer). The default ``reduce`` of ``TrainVar``/``StateVar``."""
    return jnp.mean(tensors, axis=0).astype(tensors.dtype)


def reduce_first(tensors: jax.Array) -> jax.Array:
    """The first entry along the leading axis (the ``reduce`` of ``RandomState``)."""
    return tensors[0]


def as_value(tensor: Any) -> Any:
    """``tensor`` as a JAX array (arrays and tracers are kept as they are; a
    variable gives its value)."""
    if isinstance(tensor, jax.Array):
        return tensor
    if isinstance(tensor, ArrayOperators):
        return tensor._get()
    return jnp.asarray(tensor)


def _shape_dtype(x: Any) -> tuple[tuple[int, ...], Any]:
    return tuple(getattr(x, "shape", ())), getattr(x, "dtype", None)


class BaseVar(Variable, ArrayOperators):
    """The base class of Objax-style variables.

    A variable can be used as its value in expressions (``x @ v``, ``v + 1``, ``-v``,
    ``v[0]``, ``v.shape``, ``numpy.asarray(v)``; see ``ArrayOperators``), but
    ``==``, ``!=`` and ``hash`` are by identity.

    >>> import jax.numpy as jnp, pax
    >>> v = pax.TrainVar(jnp.arange(3.0))
    >>> isinstance(v, pax.BaseVar), (v + 1).tolist(), v.shape
    (True, [1.0, 2.0, 3.0], (3,))

    Args:
      reduce: a function taking an array of shape ``(n, *dims)`` and returning one of
        shape ``dims``; ``pax.Vectorize`` and ``pax.Parallel`` use it to combine the
        ``n`` values a variable takes in parallel calls (``None``: the first one).
    """

    __slots__ = ("_value", "_reduce", "_vc_name", "__weakref__")

    def __init__(self, reduce: Reducer | None):
        self._value: Any = None
        self._reduce = reduce
        self._vc_name: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _register(cls)

    # -- storage protocol (overridden by references and views) ---------------
    def _get(self) -> Any:
        return self._value

    def _set(self, value: Any) -> None:
        self._value = value

    def _storage(self) -> "BaseVar":
        return self

    def _default_name(self) -> str | None:
        return None

    # -- public API -----------------------------------------------------------
    @property
    def value(self) -> jax.Array:
        """The value of the variable."""
        return self._get()

    @value.setter
    def value(self, tensor: jax.Array) -> None:
        self.assign(tensor)

    def assign(self, tensor: jax.Array, check: bool = True) -> None:
        """Set the value of the variable.

        Args:
          tensor: the new value.
          check: raise ``ValueError`` if its shape or dtype differs from the current
            value's.

        A traced value (inside ``jax.jit`` and friends) may only be written into a
        variable that a pax transform is swapping (its ``vc``) or that was itself
        created inside the trace; otherwise ``ValueError`` says how to fix it.
        """
        storage = self._storage()
        tensor = as_value(tensor)
        current = storage._get()
        if check and current is not None:
            shape, dtype = _shape_dtype(current)
            new_shape, new_dtype = _shape_dtype(tensor)
            if shape != new_shape or dtype != new_dtype:
                raise ValueError(
                    MSG_BAD_ASSIGN.format(
                        name=self._describe(),
                        shape=shape,
                        dtype=dtype,
                        new_shape=new_shape,
                        new_dtype=new_dtype,
                    )
                )
        check_write(self._describe, storage, current, tensor)
        storage._set(tensor)

    def reduce(self, tensors: jax.Array) -> jax.Array:
        """Combine the values of parallel calls (leading axis) into one."""
        if self._reduce is None:
            return reduce_first(tensors)
        return self._reduce(tensors)

    # -- printing ----------------------------------------------------------------
    def _describe(self) -> str:
        name = self._vc_name or self._default_name()
        return f"{type(self).__name__} `{name}`" if name else repr(self)

    def __repr__(self) -> str:
        value = self._get()
        name = self._vc_name or self._default_name()
        name_part = f"{name!r}, " if name else ""
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            return (
                f"{type(self).__name__}({name_part}shape={tuple(value.shape)}, dtype={value.dtype})"
            )
        return f"{type(self).__name__}({name_part}value={value!r})"

    # -- pytree protocol ------------------------------------------------------------
    def _tree_flatten(self) -> tuple[tuple[Any, ...], Any]:
        return (self._get(),), self._reduce

    @classmethod
    def _tree_unflatten(cls, aux: Any, children: Any) -> "BaseVar":
        return blank_variable(cls, children[0], aux)


V = TypeVar("V", bound=BaseVar)


def blank_variable(cls: type[V], value: Any, reduce: Reducer | None, **fields: Any) -> V:
    """A new ``cls`` variable holding ``value``, made without ``__init__`` (no checks):
    how unflattening, references and views make their variables. ``fields`` fill the
    slots that ``cls`` adds to ``BaseVar``'s."""
    var = object.__new__(cls)
    var._value = value
    var._reduce = reduce
    var._vc_name = None
    for name, field in fields.items():
        object.__setattr__(var, name, field)
    return var


_VALUE_KEY = (jax.tree_util.GetAttrKey("value"),)


def _register(cls: type["BaseVar"]) -> None:
    def flatten_with_keys(var: BaseVar):
        children, aux = var._tree_flatten()
        return list(zip(_VALUE_KEY, children)), aux

    def flatten(var: BaseVar):
        return var._tree_flatten()

    def unflatten(aux: Any, children: Any) -> BaseVar:
        return cls._tree_unflatten(aux, children)

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)


_register(BaseVar)


class TrainVar(BaseVar):
    """A trainable variable; ``Module.parameters()`` keeps it, ``pax.Grad`` differentiates it.

    >>> import jax.numpy as jnp, pax
    >>> v = pax.TrainVar(jnp.arange(6, dtype=jnp.float32))
    >>> v.value += 1  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: TrainVar.value is read-only ...
    >>> v.assign(v.value + 1)
    >>> v.value.tolist()
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]

    Args:
      tensor: the initial value.
      reduce: see :class:`pax.BaseVar` (default ``reduce_mean``).
    """

    __slots__ = ()
    trainable = True

    def __init__(self, tensor: jax.Array, reduce: Reducer | None = reduce_mean):
        super().__init__(reduce)
        self._value = as_value(tensor)

    @property
    def value(self) -> jax.Array:
        """The value (read-only; use :meth:`pax.BaseVar.assign` to change it)."""
        return self._get()

    @value.setter
    def value(self, tensor: jax.Array) -> None:
        raise ValueError(MSG_TRAINVAR_READ_ONLY.format(name=self._describe()))


class BaseState(BaseVar):
    """The base class of state (non-trainable) variables.

    >>> import jax.numpy as jnp, pax
    >>> isinstance(pax.StateVar(jnp.zeros(2)), pax.BaseState)
    True
    >>> isinstance(pax.TrainVar(jnp.zeros(2)), pax.BaseState)
    False
    """

    __slots__ = ()


class StateVar(BaseState):
    """A state variable: not trainable, its ``value`` is writable (e.g. the moving
    averages of a batch normalization).

    >>> import jax.numpy as jnp, pax
    >>> v = pax.StateVar(jnp.arange(3.0))
    >>> v.value += 1
    >>> v.value.tolist()
    [1.0, 2.0, 3.0]

    Args:
      tensor: the initial value.
      reduce: see :class:`pax.BaseVar` (default ``reduce_mean``).
    """

    __slots__ = ()

    def __init__(self, tensor: jax.Array, reduce: Reducer | None = reduce_mean):
        super().__init__(reduce)
        self._value = as_value(tensor)


class BaseRef(BaseState):
    """A state variable that references another variable (``ref``): reading and writing
    it reads and writes that variable. As a pytree node it has the referenced value as
    its child; unflattening makes a new variable of class ``referenced`` to reference."""

    __slots__ = ("ref",)
    is_reference = True
    referenced: ClassVar[type[BaseVar]] = BaseVar

    def __init__(self, ref: BaseVar):
        super().__init__(None)
        self.ref = ref

    def _get(self) -> Any:
        return self.ref._get()

    def _set(self, value: Any) -> None:
        self.ref._set(value)

    def _storage(self) -> BaseVar:
        return self.ref._storage()

    def assign(self, tensor: jax.Array, check: bool = True) -> None:
        """Assign the referenced variable (see :meth:`BaseVar.assign`)."""
        self.ref.assign(tensor, check)

    def reduce(self, tensors: jax.Array) -> jax.Array:
        return self.ref.reduce(tensors)

    def _default_name(self) -> str | None:
        name = self.ref._vc_name or self.ref._default_name()
        return f"ref to {name}" if name else None

    def _tree_flatten(self) -> tuple[tuple[Any, ...], Any]:
        return (self.ref._get(),), self.ref._reduce

    @classmethod
    def _tree_unflatten(cls, aux: Any, children: Any) -> "BaseRef":
        return blank_variable(cls, None, None, ref=cls.referenced._tree_unflatten(aux, children))


class TrainRef(BaseRef):
    """A state variable that references a ``TrainVar``: reading and writing it reads
    and writes the ``TrainVar``. Optimizers keep ``TrainRef`` instances to the variables they
    update, so that they are not mistaken for the optimizer's own trainable variables.

    >>> import jax.numpy as jnp, pax
    >>> t = pax.TrainVar(jnp.arange(3.0))
    >>> r = pax.TrainRef(t)
    >>> r.value += 1
    >>> t.value.tolist()
    [1.0, 2.0, 3.0]

    As a pytree node it has the referenced value as its child; unflattening makes a
    new ``TrainVar`` for the new ``TrainRef`` to reference.
    """

    __slots__ = ()
    referenced = TrainVar

    def __init__(self, ref: TrainVar):
        if not isinstance(ref, TrainVar):
            raise TypeError(
                f"TrainRef references a TrainVar, got {type(ref).__name__}. For a "
                f"module's variables use `pax.TrainRef(v) for v in "
                f"module.vars().subset(is_a=pax.TrainVar)`."
            )
        super().__init__(ref)

    @property
    def value(self) -> jax.Array:
        """The value of the referenced ``TrainVar``; it can be read or written."""
        return self.ref._get()

    @value.setter
    def value(self, tensor: jax.Array) -> None:
        self.ref.assign(tensor)


class RandomState(StateVar):
    """The state of a random number generator (a raw ``jax.random.PRNGKey``).

    ``split(n)`` advances the state and returns ``n`` new keys;
    ``pax.Vectorize`` and ``pax.Parallel`` give each parallel call its own state.

    Keys are split in JAX's original (non-partitionable) threefry mode, whatever the
    global ``jax_threefry_partitionable`` setting, so the numbers are those of Objax
    and its guide.

    >>> import pax
    >>> v = pax.RandomState(1)
    >>> v.value.tolist()
    [0, 1]
    >>> print(v.split(1), v.value)
    [[3819641963 2025898573]] [2441914641 1384938218]

    Args:
      seed: the initial seed.
    """

    __slots__ = ()

    def __init__(self, seed: int):
        super().__init__(_seed_key(seed), reduce=reduce_first)

    def seed(self, seed: int) -> None:
        """Restart from the state of ``seed``."""
        self.assign(_seed_key(seed))

    def split(self, n: int) -> jax.Array:
        """Advance the state and return ``n`` new keys (shape ``(n, *key_shape)``).

        The new state is ``jax.random.split(state, n + 1)[0]``, the keys the rest.
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"RandomState.split(n) needs a positive int, got {n!r}.")
        with objax_prng_mode():
            values = jax.random.split(self.value, n + 1)
        self.assign(values[0])
        return values[1:]


def objax_prng_mode():
    """The PRNG mode of Objax's days (JAX's default before 0.5): non-partitionable
    threefry. Used for every Objax-style key split and draw, so seeds reproduce the
    numbers documented by Objax."""
    return jax.threefry_partitionable(False)


def _seed_key(seed: int) -> jax.Array:
    # A concrete key even when created inside a trace (a generator made lazily inside
    # `jax.jit` must not hold a tracer afterwards).
    if isinstance(seed, int):
        with jax.ensure_compile_time_eval():
            return jax.random.PRNGKey(seed)
    return jax.random.PRNGKey(seed)
