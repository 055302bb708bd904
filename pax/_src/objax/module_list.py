"""``pax.ModuleList``: a Python list that is a pax module."""

from collections.abc import Iterable, Iterator
from typing import Any, SupportsIndex

from ..core.layout import plain_dict
from ..core.module import Module, module_from_dict
from ..core.mutation import opened
from ..core.vars_hooks import name_inline


# Module's __hash__ (by structure) replaces list's __hash__ = None on purpose
class ModuleList(Module, list):  # type: ignore[misc]
    """A list that is a pax module: its items (modules, variables, arrays, other
    values) are the module's content, and ``vars()`` names them by index.

    Like a Python list held by a module, it can be changed in place at any time
    (``append``, ``pop``, ``ml[i] = ...``), outside ``pax.pure`` too; as a pytree its
    children are the items (``ml.items``).

    >>> import jax.numpy as jnp, pax
    >>> ml = pax.ModuleList(["hello", pax.TrainVar(jnp.zeros((10, 2)))])
    >>> print(ml.vars())
    (ModuleList)[1]            20 (10, 2)
    +Total(1)                  20
    >>> _ = ml.pop()
    >>> ml.append(pax.Linear(2, 3))
    >>> print(ml.vars())
    (ModuleList)[1](Linear).weight        6 (2, 3)
    (ModuleList)[1](Linear).bias          3 (3,)
    +Total(2)                             9

    The items live in the attribute ``items`` (a plain list); the builtin list
    storage of the object itself stays empty, so pass ``list(ml)`` to C functions
    that read list internals directly (none of the Python-level list API does).
    """

    items: list[Any]

    def __init__(self, iterable: Iterable[Any] = (), /):
        super().__init__()
        self.items = list(iterable)

    # -- in-place updates: each one stores a new list (copies of this module made by
    # `eval()`, `parameters()`... never see later changes) -------------------------
    def _store(self, items: list[Any]) -> None:
        with opened(self, refresh=False, rollback=True):
            Module.__setattr__(self, "items", items)

    def _updated(self, op: Any, *args: Any) -> Any:
        items = list(self.items)
        out = op(items, *args)
        self._store(items)
        return out

    def append(self, item: Any) -> None:
        self._updated(list.append, item)

    def extend(self, items: Iterable[Any]) -> None:
        self._updated(list.extend, list(items))

    def insert(self, index: SupportsIndex, item: Any) -> None:
        self._updated(list.insert, index, item)

    def pop(self, index: SupportsIndex = -1) -> Any:
        return self._updated(list.pop, index)

    def remove(self, item: Any) -> None:
        self._updated(list.remove, item)

    def clear(self) -> None:
        self._store([])

    def reverse(self) -> None:
        self._updated(list.reverse)

    def sort(self, *, key: Any = None, reverse: bool = False) -> None:
        items = sorted(self.items, key=key, reverse=reverse)
        self._store(items)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._updated(list.__setitem__, index, value)

    def __delitem__(self, index: Any) -> None:
        self._updated(list.__delitem__, index)

    def __iadd__(self, other: Iterable[Any]) -> "ModuleList":
        self.extend(other)
        return self

    def __imul__(self, n: SupportsIndex) -> "ModuleList":
        self._store(list(self.items) * n)
        return self

    # -- reading ---------------------------------------------------------------
    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return ModuleList(self.items[index])
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self.items)

    def __contains__(self, item: Any) -> bool:
        return item in self.items

    def index(self, item: Any, *args: Any) -> int:
        return self.items.index(item, *args)

    def count(self, item: Any) -> int:
        return self.items.count(item)

    def __add__(self, other: Iterable[Any]) -> "ModuleList":
        return ModuleList(list(self.items) + list(other))

    def __radd__(self, other: Iterable[Any]) -> "ModuleList":
        return ModuleList(list(other) + list(self.items))

    def __mul__(self, n: SupportsIndex) -> "ModuleList":
        return ModuleList(list(self.items) * n)

    __rmul__ = __mul__

    # `==` and `hash` are Module's; the list's other comparisons use the items
    def __ne__(self, other: object) -> bool:
        return not self == other

    def __lt__(self, other: Any) -> bool:
        return self.items < list(other)

    def __le__(self, other: Any) -> bool:
        return self.items <= list(other)

    def __gt__(self, other: Any) -> bool:
        return self.items > list(other)

    def __ge__(self, other: Any) -> bool:
        return self.items >= list(other)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (module_from_dict, (type(self), plain_dict(self)))

    def __repr__(self) -> str:
        return self._repr({"len": len(self.items)})


# `vars()` names the items `(ModuleList)[0](Linear).weight`, as Objax does.
name_inline(ModuleList, "items")
