"""Swapping traced values into variables while a pax Objax transform runs.

``pax.Jit``, ``pax.Grad``, ``pax.GradValues``, ``pax.Vectorize`` and ``pax.Parallel``
work like Objax: they run a JAX transform of a pure function that writes the traced
tensors into the variables of ``vc``, calls the user's function, reads the variables
back and restores their original values. This file holds that machinery and the
thread-local registry of what is being swapped (plain Python state, no JAX
internals), which the tracer-leak guard of the variables consults.

A *storage* is the object that really holds a value: a ``TrainVar``/``StateVar``, or
a view of a raw-array attribute of a pax module (see ``module_vars.py``). A
``TrainRef`` is not a storage: it reads and writes the storage it references.
"""

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import jax

from ..core.errors import ImmutableModuleError
from ..core.layout import CACHE_KEY, INTERNAL_KEYS
from ..core.mutation import opened, restore_state, snapshot_state
from ..core.node import is_node
from .views import is_view

MSG_TRACER_LEAK = (
    "Cannot write a traced value into {name}: the variable holds a concrete array "
    "and no pax transform is swapping it, so the tracer would leak out of the JAX "
    "transform (jax.jit, jax.grad, jax.vmap, ...) that produced it.\n"
    "Fix: pass the variable to the pax transform that runs this code, so that its "
    "new value comes back out, e.g.\n"
    "    pax.Jit(f, vc=model.vars() + other.vars())   # every variable f writes\n"
    "or, with plain JAX transforms, return the new value from the transformed "
    "function and assign it outside:\n"
    "    new_value = jax.jit(step)(var.value)\n"
    "    var.assign(new_value)"
)

MSG_OUTER_ONLY = (
    "Cannot write a traced value into {name} inside {inner}: the variable is swapped "
    "by an enclosing {outer} but not by {inner}, so the value computed inside {inner} "
    "would leak out of it.\n"
    "Fix: add the variable to the variables of {inner} as well, e.g. "
    "`pax.GradValues(f, model.vars())` rather than "
    "`pax.GradValues(f, model.vars().subset(is_a=pax.TrainVar))`."
)

MSG_ATTRIBUTE_LEAK = (
    "{transform} left a traced value in `{name}`, an attribute that is not among the "
    "variables it transforms, so the tracer would leak out of the transform. The "
    "module was restored to its state before the call.\n"
    "Fix: pass the variables of that module to {transform}, e.g. "
    "`{transform}(f, model.vars())` (its state variables come back out), or return "
    "the new value from the function instead of storing it."
)

MSG_NOT_IN_VC = (
    "\n\nThis happened inside {transform}: it only lets the modules that own variables "
    "of its `vc` change themselves. Pass that module's variables too, e.g. "
    "`{transform}(f, vc=model.vars())`, or update the module with `pax.pure`."
)


class _ImmutableInTransformError(ImmutableModuleError):
    """A module changed inside an Objax transform that does not own its variables."""


class Frame:
    """One active pax Objax transform: what it swaps and which modules it watches."""

    __slots__ = ("transform", "storage_ids", "covered", "owners")

    def __init__(self, transform: str, storages: Sequence[Any]):
        self.transform = transform
        self.storage_ids: set[int] = {id(s) for s in storages}
        # (id(owner), attribute, key path) of every swapped raw-array view
        self.covered: set[tuple[int, str, tuple[Any, ...]]] = {
            (id(s._owner), s._attr, s._path) for s in storages if is_view(s)
        }
        # id(module) -> (module, snapshot of its __dict__)
        self.owners: dict[int, tuple[Any, dict[str, Any]]] = {}


class _Registry(threading.local):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Frame] = []
        # id(storage) -> storage, for the variables replicated by VarCollection.replicate()
        self.replicated: dict[int, Any] = {}


REGISTRY = _Registry()


def has_tracer(value: Any) -> bool:
    """True if ``value`` is, or (for a pytree) contains, a JAX tracer."""
    if isinstance(value, jax.core.Tracer):
        return True
    if isinstance(value, jax.Array) or value is None:
        return False
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(value))


def check_write(name_of: Any, storage: Any, current: Any, new: Any) -> None:
    """Raise ``ValueError`` if writing ``new`` into ``storage`` would leak a tracer.

    ``name_of`` is a zero-argument callable giving the variable's description (only
    called to build the error message).
    """
    if not isinstance(new, jax.core.Tracer):
        return
    frames = REGISTRY.frames
    key = id(storage)
    if frames and key in frames[-1].storage_ids:
        return
    for frame in frames[:-1]:
        if key in frame.storage_ids:
            raise ValueError(
                MSG_OUTER_ONLY.format(
                    name=name_of(), inner=frames[-1].transform, outer=frame.transform
                )
            )
    if isinstance(current, jax.core.Tracer):
        return  # a variable created (or unflattened) inside the trace itself
    raise ValueError(MSG_TRACER_LEAK.format(name=name_of()))


def unique_storages(variables: Sequence[Any]) -> list[Any]:
    """The distinct storages behind ``variables`` (a ``TrainRef`` and the ``TrainVar``
    it references share one), in order of first appearance."""
    seen: set[int] = set()
    out: list[Any] = []
    for v in variables:
        s = v._storage()
        if id(s) not in seen:
            seen.add(id(s))
            out.append(s)
    return out


@contextlib.contextmanager
def swapped(transform: str, storages: Sequence[Any], tensors: Sequence[Any]) -> Iterator[Frame]:
    """Hold ``tensors`` in ``storages`` for the duration of the block.

    The modules owning swapped raw-array views (and those watched by enclosing
    transforms) are mutable meanwhile, so layers that update themselves in
    ``__call__`` (``BatchNorm1D``) work. On exit every storage gets its original value
    back; a traced value left in a module attribute outside the swapped views raises
    ``ValueError``, and an error inside the block restores the watched modules.
    """
    frame = Frame(transform, storages)
    originals = [s._get() for s in storages]
    _watch_owners(frame, storages)
    owners = [module for module, _ in frame.owners.values()]
    REGISTRY.frames.append(frame)
    try:
        with opened(*owners, refresh=False, check_sharing=False):
            for s, t in zip(storages, tensors):
                s._set(t)
            try:
                yield frame
            except ImmutableModuleError as err:
                _restore_owners(frame)
                if isinstance(err, _ImmutableInTransformError):
                    raise  # an inner transform already said which one
                raise _ImmutableInTransformError(
                    f"{err}{MSG_NOT_IN_VC.format(transform=transform)}"
                ) from err
            except BaseException:
                _restore_owners(frame)
                raise
            leak = _find_attribute_leak(frame)
            if leak is not None:
                _restore_owners(frame)
                raise ValueError(MSG_ATTRIBUTE_LEAK.format(transform=transform, name=leak))
    finally:
        REGISTRY.frames.pop()
        for s, v in zip(storages, originals):
            s._set(v)


def _watch_owners(frame: Frame, storages: Sequence[Any]) -> None:
    modules: dict[int, Any] = {}
    for s in storages:
        if is_view(s):
            modules.setdefault(id(s._owner), s._owner)
    for outer in REGISTRY.frames:
        for key, (module, _) in outer.owners.items():
            modules.setdefault(key, module)
    for key, module in modules.items():
        frame.owners[key] = (module, snapshot_state(module))


def _restore_owners(frame: Frame) -> None:
    for module, snapshot in frame.owners.values():
        restore_state(module, snapshot)


def _changed_leaves(old: Any, new: Any) -> list[tuple[tuple[Any, ...], Any]]:
    """(key path, leaf) of the leaves of ``new`` that are not the same object in ``old``."""
    if new is old:
        return []
    new_leaves = jax.tree_util.tree_flatten_with_path(new, is_leaf=is_node)[0]
    try:
        old_leaves = dict(
            (tuple(p), x) for p, x in jax.tree_util.tree_flatten_with_path(old, is_leaf=is_node)[0]
        )
    except Exception:  # noqa: BLE001 - an odd old value: treat every leaf as changed
        old_leaves = {}
    missing = object()
    return [(tuple(p), x) for p, x in new_leaves if old_leaves.get(tuple(p), missing) is not x]


def _find_attribute_leak(frame: Frame):
    """The name of an attribute of a watched module that now holds an uncovered tracer."""
    missing = object()
    for key, (module, snapshot) in frame.owners.items():
        d = module.__dict__
        for attr, value in d.items():
            if attr in INTERNAL_KEYS:
                continue
            old = snapshot.get(attr, missing)
            if value is old:
                continue
            for path, leaf in _changed_leaves(None if old is missing else old, value):
                if (key, attr, path) in frame.covered:
                    continue
                if has_tracer(leaf):
                    return _attribute_name(module, attr, path)
    return None


def _attribute_name(module: Any, attr: str, path: tuple[Any, ...]) -> str:
    views = module.__dict__.get(CACHE_KEY, {}).get("objax_views", {})
    view = views.get((attr, path))
    if view is not None and view._vc_name:
        return view._vc_name
    return f"({type(module).__name__}).{attr}{jax.tree_util.keystr(path)}"


def changes_of(storages: Sequence[Any], tensors: Sequence[Any]) -> list[Any]:
    """The current value of each storage, or ``None`` where it still holds the tensor
    swapped in (unchanged values do not need to leave the transform)."""
    out = []
    for s, t in zip(storages, tensors):
        value = s._get()
        out.append(None if value is t else value)
    return out


def write_back(storages: Sequence[Any], values: Sequence[Any]) -> None:
    """Store the new values that came out of a transform (``None``: unchanged)."""
    for s, value in zip(storages, values):
        if value is not None:
            check_write(s._describe, s, s._get(), value)
            s._set(value)
