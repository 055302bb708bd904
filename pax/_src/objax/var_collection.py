"""``pax.VarCollection``: a dict ``name -> variable`` with Objax's helpers."""

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import (
    Any,
    cast,
)

import jax
import jax.numpy as jnp
import numpy as np

from .swapping import REGISTRY, unique_storages
from .variables import BaseVar, RandomState

VarTypes = type[BaseVar] | tuple[type[BaseVar], ...]

MSG_NAME_CONFLICT = (
    "Name conflict when combining VarCollections: `{name}` names two different "
    "variables. Give the collections distinct scopes, e.g. "
    "`m1.vars('m1') + m2.vars('m2')`."
)


class VarCollection(dict[str, BaseVar]):
    """A dict ``{name: variable}``, as returned by ``Module.vars()``.

    It is ordered by insertion. Iterating over it yields each *variable* once (not
    the names), even when a variable has several names, so that shared weights are
    updated once; ``tensors()`` and ``assign()`` follow the same order.

    >>> import jax, jax.numpy as jnp, pax
    >>> m = pax.Sequential(pax.Linear(2, 3), jax.nn.relu)
    >>> vc = m.vars()
    >>> list(vc.keys())
    ['(Sequential)[0](Linear).weight', '(Sequential)[0](Linear).bias']
    >>> print(vc)
    (Sequential)[0](Linear).weight        6 (2, 3)
    (Sequential)[0](Linear).bias          3 (3,)
    +Total(2)                             9
    >>> vc.assign([x + 1 for x in vc.tensors()])
    >>> m[0].bias.tolist()
    [1.0, 1.0, 1.0]
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        if len(args) > 1:
            raise TypeError(
                f"VarCollection expected at most 1 positional argument, got {len(args)}."
            )
        if args:
            self.update(args[0])
        if kwargs:
            self.update(kwargs)

    def __setitem__(self, name: str, var: BaseVar) -> None:
        if not isinstance(var, BaseVar):
            raise TypeError(
                f"A VarCollection maps names to variables (pax.TrainVar, pax.StateVar, "
                f"...); `{name}` would map to {type(var).__name__}."
            )
        super().__setitem__(name, var)

    def __add__(self, other: "VarCollection | dict[str, BaseVar]") -> "VarCollection":
        """A new collection with the entries of both; ``ValueError`` on a name conflict."""
        out = VarCollection(self)
        out.update(other)
        return out

    # iterates over the variables, not the names: deliberately unlike dict
    def __iter__(self) -> Iterator[BaseVar]:  # type: ignore[override]
        """Each variable once, in insertion order (not the names: use ``keys()``)."""
        seen = set()
        for v in self.values():
            if id(v) not in seen:
                seen.add(id(v))
                yield v

    def update(self, other: Any = (), **kwargs: Any) -> None:  # type: ignore[override]
        """``dict.update`` that raises ``ValueError`` when a name would be rebound to a
        different variable."""
        items: Iterable[tuple[str, BaseVar]]
        if isinstance(other, dict):
            items = list(other.items())
        else:
            items = list(other)
        items = list(items) + list(kwargs.items())
        for name, var in items:
            current = self.get(name)
            if current is not None and current is not var:
                raise ValueError(MSG_NAME_CONFLICT.format(name=name))
            self[name] = var

    def tensors(self, is_a: VarTypes | None = None) -> list[jax.Array]:
        """The values of the variables (each variable once, in iteration order).

        Args:
          is_a: keep only variables of this type (or tuple of types).
        """
        return [v.value for v in self if is_a is None or isinstance(v, is_a)]

    def assign(self, tensors: list[jax.Array]) -> None:
        """Assign ``tensors`` to the variables, in iteration order (each variable once).

        Shapes and dtypes must match the current values (``ValueError`` otherwise).
        """
        variables = cast(list[BaseVar], list(self))  # our __iter__, not dict's
        tensors = list(tensors)
        if len(variables) != len(tensors):
            raise ValueError(
                f"VarCollection.assign got {len(tensors)} tensors for {len(variables)} "
                f"variables; pass one tensor per variable, in the order of `vc.tensors()`."
            )
        for var, tensor in zip(variables, tensors):
            var.assign(tensor)

    def subset(
        self, is_a: VarTypes | None = None, is_not: VarTypes | None = None
    ) -> "VarCollection":
        """The entries whose variable is an ``is_a`` and not an ``is_not``.

        >>> import pax
        >>> vc = pax.BatchNorm1D(3).vars()
        >>> list(vc.subset(is_a=pax.TrainVar).keys())
        ['(BatchNorm1D).scale', '(BatchNorm1D).offset']
        """
        return VarCollection(
            (name, v)
            for name, v in self.items()
            if (is_a is None or isinstance(v, is_a))
            and (is_not is None or not isinstance(v, is_not))
        )

    def rename(self, renamer: Callable[[str], str]) -> "VarCollection":
        """A new collection whose names went through ``renamer`` (a
        :class:`pax.util.Renamer` or any ``str -> str`` function)."""
        return VarCollection((renamer(name), v) for name, v in self.items())

    @contextlib.contextmanager
    def replicate(self) -> Iterator["VarCollection"]:
        """Within this block the variables hold one copy per local device (a leading
        device axis), as ``pax.Parallel`` needs; each ``RandomState`` gets a
        different key per device. On exit every variable is reduced back to one value
        with its ``reduce`` (``RandomState`` variables get the state they had after the split).

        >>> import jax, jax.numpy as jnp, pax
        >>> fc = pax.Linear(2, 2)
        >>> with fc.vars().replicate():
        ...     fc.weight.shape[0] == jax.local_device_count()
        True
        >>> fc.weight.shape
        (2, 2)
        """
        devices = jax.local_devices()
        n = len(devices)
        storages = unique_storages(list(self))
        replicated = REGISTRY.replicated
        for s in storages:
            if id(s) in replicated:
                raise ValueError(
                    f"{s._describe()} is already replicated: `VarCollection.replicate()` "
                    f"blocks cannot be nested over the same variables."
                )
        saved_random: dict[int, Any] = {}
        done: list[Any] = []
        try:
            for s in storages:
                if isinstance(s, RandomState):
                    keys = s.split(n)
                    saved_random[id(s)] = s._get()
                    s._set(_put_on_devices(keys, devices))
                else:
                    s._set(_replicate(s._get(), devices))
                replicated[id(s)] = s
                done.append(s)
            yield self
        finally:
            for s in done:
                replicated.pop(id(s), None)
                if id(s) in saved_random:
                    s._set(saved_random[id(s)])
                else:
                    s._set(s.reduce(s._get()))

    def __str__(self) -> str:
        """One line per entry with its size and shape, then the total."""
        width = max([20] + [len(name) for name in self.keys()])
        lines = []
        total = 0
        for name, v in self.items():
            shape = tuple(getattr(v.value, "shape", ()))
            size = int(np.prod(shape, dtype=np.int64))
            total += size
            lines.append(f"{name:{width}} {size:8d} {shape}")
        lines.append(f"{f'+Total({len(self)})':{width}} {total:8d}")
        return "\n".join(lines)


def _mesh_sharding(devices: list[Any]) -> jax.sharding.NamedSharding:
    mesh = jax.sharding.Mesh(np.array(devices), ("devices",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("devices"))


def _put_on_devices(stacked: Any, devices: list[Any]) -> jax.Array:
    return jax.device_put(stacked, _mesh_sharding(devices))


def _replicate(x: Any, devices: list[Any]) -> jax.Array:
    x = jnp.asarray(x)
    return _put_on_devices(jnp.broadcast_to(x[None], (len(devices), *x.shape)), devices)
