"""Objax-style variables of a :class:`pax.nn.Stack`, one per block.

A Stack keeps each leaf of its blocks in one array with the blocks on the leading
axis. ``stack.vars()`` names the variables per block, as the equivalent
``pax.Sequential`` does (``(Stack)[3](Linear).weight``), and each of them is a
*block view*: reading it gives block ``i``'s slice of the stacked array, assigning it
writes that slice (``array.at[i].set(value)``) straight into the module that holds
the array, like the variable views of ``pax/_src/objax/module_vars.py``.

The views keep, per stacked array, the slices they handed out, so that reading a view
twice gives the same object and that writing back the very slices read earlier gives
back the very array they came from. Objax's transforms (``pax.Jit``, ``pax.Grad``...)
rely on both: they swap traced values into every variable, compare what they read back
by identity, and restore the original values when they finish, which must leave the
original (concrete) array in the module, not a traced expression rebuilt from it.
"""

from typing import Any, cast

import jax
import jax.numpy as jnp

from ..core.vars_hooks import register_vars_provider
from ..nn.stack import Stack
from .module_vars import add_named, module_cache
from .var_collection import VarCollection
from .variables import BaseVar, StateVar, TrainVar, as_value, blank_variable, reduce_mean
from .views import AttributeView, Path, is_view, read_attribute, write_attribute

_SLICES_KEY = "stack_slices"
_VIEWS_KEY = "stack_views"

MSG_BLOCK_SHAPE = (
    "Cannot give {name} a value of shape {shape} and dtype {dtype}: the {n} blocks of a "
    "pax.Stack share one array of shape {stacked_shape} and dtype {stacked_dtype}, so "
    "block {index} keeps shape {block_shape} and that dtype. (Objax transforms that "
    "change a variable's shape, such as `VarCollection.replicate()` for pax.Parallel, "
    "do not apply to a Stack's per-block variables; train "
    "`pax.Stack.to_sequential()` that way, or use `jax.pmap` on the Stack itself.)"
)


class _Slices:
    """The per-block slices handed out for one stacked array.

    ``slots[i]`` is block ``i``'s slice of ``array`` (``None``: not read yet). The
    ``anchor`` is the last concrete array seen, with its slices: writing exactly those
    slices back restores the anchor itself.
    """

    __slots__ = ("array", "slots", "anchor", "anchor_slots")

    def __init__(self) -> None:
        self.array: Any = None
        self.slots: list[Any] = []
        self.anchor: Any = None
        self.anchor_slots: list[Any] = []

    def track(self, array: Any) -> None:
        """Follow ``array``, the value now in the module."""
        if array is self.array:
            return
        self.array = array
        if array is self.anchor:
            self.slots = self.anchor_slots
            return
        self.slots = [None] * int(jnp.shape(array)[0])
        if not isinstance(array, jax.core.Tracer):
            self.anchor, self.anchor_slots = array, self.slots

    def get(self, index: int) -> Any:
        value = self.slots[index]
        if value is None:
            # eagerly when the array is concrete, even inside a trace: the slice is
            # cached, and a cached tracer would outlive its trace
            with jax.ensure_compile_time_eval():
                if isinstance(self.array, jax.core.Tracer):
                    value = self.array[index]
                else:
                    for i, part in enumerate(self.array):
                        if self.slots[i] is None:
                            self.slots[i] = part
                    value = self.slots[index]
            self.slots[index] = value
        return value

    def set(self, index: int, value: Any) -> Any:
        """Block ``index`` becomes ``value``; returns the new stacked array."""
        slots = list(self.slots)
        slots[index] = value
        anchor_slots = self.anchor_slots
        if self.anchor is not None and all(
            s is not None and s is a for s, a in zip(slots, anchor_slots)
        ):
            new, slots = self.anchor, anchor_slots
        else:
            new = self.array.at[index].set(value)
        self.array, self.slots = new, slots
        if new is not self.anchor and not isinstance(new, jax.core.Tracer):
            self.anchor, self.anchor_slots = new, slots
        return new


def _slices_of(owner: Any, attr: str, path: Path) -> _Slices:
    stores: dict[tuple[str, Path], _Slices] = module_cache(owner, _SLICES_KEY)
    store = stores.get((attr, path))
    if store is None:
        store = stores[(attr, path)] = _Slices()
    store.track(read_attribute(owner, attr, path))
    return store


class _BlockView(AttributeView):
    """Storage protocol of block ``_index``'s slice of ``owner.<attr>`` (at ``path``
    inside it). ``_owner``/``_attr``/``_path`` are those of the variable view of the
    whole array, which the Objax transforms use to watch the owning module."""

    __slots__ = ()
    _index: int

    def _get(self) -> Any:
        return _slices_of(self._owner, self._attr, self._path).get(self._index)

    def _set(self, value: Any) -> None:
        store = _slices_of(self._owner, self._attr, self._path)
        stacked = store.array
        value = as_value(value)  # the very object given: the transforms compare by identity
        if value.shape != stacked.shape[1:] or value.dtype != stacked.dtype:
            raise ValueError(
                MSG_BLOCK_SHAPE.format(
                    name=cast(BaseVar, self)._describe(),
                    shape=value.shape,
                    dtype=value.dtype,
                    n=stacked.shape[0],
                    stacked_shape=tuple(stacked.shape),
                    stacked_dtype=stacked.dtype,
                    index=self._index,
                    block_shape=tuple(stacked.shape[1:]),
                )
            )
        write_attribute(self._owner, self._attr, self._path, store.set(self._index, value))

    def _default_name(self) -> str | None:
        where = f"{self._attr}{jax.tree_util.keystr(self._path)}"
        return f"({type(self._owner).__name__}).{where} of block {self._index}"


class BlockTrainVar(_BlockView, TrainVar):
    """A trainable leaf of one block of a ``pax.nn.Stack``, seen as a ``TrainVar``."""

    __slots__ = ("_owner", "_attr", "_path", "_index")

    @classmethod
    def _tree_unflatten(cls, aux: Any, children: Any) -> TrainVar:
        return cast(TrainVar, TrainVar._tree_unflatten(aux, children))


class BlockStateVar(_BlockView, StateVar):
    """A non-trainable leaf of one block of a ``pax.nn.Stack``, seen as a ``StateVar``."""

    __slots__ = ("_owner", "_attr", "_path", "_index")

    @classmethod
    def _tree_unflatten(cls, aux: Any, children: Any) -> StateVar:
        return cast(StateVar, StateVar._tree_unflatten(aux, children))


def _block_view(whole: Any, index: int) -> BaseVar:
    """The cached view of block ``index`` of the array behind the variable view ``whole``."""
    owner, attr, path = whole._owner, whole._attr, whole._path
    cls = BlockTrainVar if isinstance(whole, TrainVar) else BlockStateVar
    views: dict[tuple[str, Path, int], BaseVar] = module_cache(owner, _VIEWS_KEY)
    view = views.get((attr, path, index))
    if type(view) is not cls:
        view = views[(attr, path, index)] = blank_variable(
            cls, None, reduce_mean, _owner=owner, _attr=attr, _path=path, _index=index
        )
    return view


def per_block_vars(blocks: Any, n: int, prefix: str) -> VarCollection:
    """The variables of the stacked ``blocks``, named ``{prefix}[i]...`` for block ``i``."""
    whole = blocks.vars()
    vc = VarCollection()
    for index in range(n):
        for name, var in whole.items():
            if not is_view(var):
                raise TypeError(
                    f"pax.Stack: `{name}` is an Objax variable ({type(var).__name__}) inside "
                    f"a block; a Stack holds PAX-style blocks (arrays as attributes)."
                )
            add_named(vc, f"{prefix}[{index}]{name}", _block_view(var, index))
    return vc


def stack_vars(stack: Stack, scope: str = "") -> VarCollection:
    """``Stack.vars()``: the variables of every block, named as in the equivalent
    Sequential: ``(Stack)[i](Linear).weight`` reads and writes block ``i``'s slice.

    >>> import pax
    >>> print(pax.Stack(lambda k: pax.Linear(2, 2, rng_key=k), 2).vars())
    (Stack)[0](Linear).weight        4 (2, 2)
    (Stack)[0](Linear).bias          2 (2,)
    (Stack)[1](Linear).weight        4 (2, 2)
    (Stack)[1](Linear).bias          2 (2,)
    +Total(4)                       12
    """
    return per_block_vars(stack.blocks, stack.n, f"{scope}({type(stack).__name__})")


register_vars_provider(Stack, stack_vars)
