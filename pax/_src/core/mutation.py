"""Opening modules for mutation: the one place that decides which modules may change.

A module is a value: outside :func:`pax.pure` (and its own ``__init__``) its
attributes cannot be rebound. Whatever legitimately changes a module — ``__init__``,
``pax.pure``, ``Module.replace``, unpickling, the Objax-style transforms and
containers — opens it here, with a context manager:

* :func:`opened` opens modules for the duration of a ``with`` block; on a normal exit
  it refreshes their layouts (lists and dicts filled after assignment) and checks that
  they are still trees (no shared nodes);
* :func:`initialising` opens a module while its ``__init__`` runs (inside ``pax.pure``
  the module stays open until that call returns);
* :func:`pure_frame` opens copies for one ``pax.pure`` call (or
  ``pax.experimental.mutable`` block), together with every module created meanwhile.

:func:`is_open` tells whether a module may be mutated now; :func:`write_in_place`
is the one deliberate escape hatch (an Objax variable view storing a new array into
its module, see ``pax/_src/objax/module_vars.py``).

The set of open modules is private to this file.

>>> import pax
>>> from pax._src.core.mutation import is_open, opened
>>> net = pax.Linear(1, 1)
>>> with opened(net):
...     is_open(net)
True
>>> is_open(net)
False
"""

import contextlib
import copy
from collections.abc import Iterable, Iterator
from typing import Any

from .context import STATE
from .guards import assert_no_sharing
from .layout import CACHE_KEY, LAYOUT_KEY, holds_mutable_container, refresh_layout
from .leaks import start_recording, stop_recording

# id(module) -> module, for every module that may be mutated right now. The module is
# held (strongly) while it is open, so its id cannot be reused meanwhile.
_OPEN: dict[int, Any] = {}


def is_open(module: Any) -> bool:
    """``True`` while ``module`` may be mutated (inside ``pax.pure``, its ``__init__``...)."""
    return id(module) in _OPEN


def _open_new(modules: Iterable[Any]) -> list[Any]:
    """Open the modules that are not open yet; return them (each once)."""
    newly: list[Any] = []
    for m in modules:
        key = id(m)
        if key not in _OPEN:
            _OPEN[key] = m
            newly.append(m)
    return newly


def _close(modules: Iterable[Any]) -> None:
    for m in modules:
        _OPEN.pop(id(m), None)


@contextlib.contextmanager
def opened(
    *modules: Any, refresh: bool = True, check_sharing: bool = True, rollback: bool = False
) -> Iterator[None]:
    """Open ``modules`` for mutation for the duration of the block.

    The modules that were closed are closed again when the block ends (those
    already open stay open). On a normal exit the layouts of the modules this call
    opened are refreshed (``refresh``) and every module is checked for shared nodes
    (``check_sharing``). An error (inside the block or from the check) propagates;
    with ``rollback`` the modules first get back the state they had on entry.
    """
    saved = [snapshot_state(m) for m in modules] if rollback else []
    newly = _open_new(modules)
    try:
        try:
            yield
            if refresh:
                for m in newly:
                    refresh_layout(m)
        finally:
            _close(newly)
        if check_sharing:
            for m in modules:
                assert_no_sharing(m)
    except BaseException:
        for m, state in zip(modules, saved):
            restore_state(m, state)
        raise


def snapshot_state(module: Any) -> dict[str, Any]:
    """What :func:`restore_state` puts back: the module's attributes and layout."""
    return dict(module.__dict__)


def restore_state(module: Any, state: dict[str, Any]) -> None:
    """Put ``module`` back in the ``state`` taken by :func:`snapshot_state` (its
    per-instance caches, such as its Objax variable views, are kept): how a failed
    update rolls back."""
    d = module.__dict__
    cache = d.get(CACHE_KEY)
    d.clear()
    d.update(state)
    if cache is not None:
        d[CACHE_KEY] = cache


@contextlib.contextmanager
def initialising(module: Any) -> Iterator[None]:
    """Open a module being constructed while its ``__init__`` runs.

    Inside ``pax.pure`` the new module stays open until that call returns (it joins
    the call's frame); elsewhere it is closed, then checked for shared nodes.
    """
    newly = _open_new((module,))
    try:
        yield
        refresh_layout(module)
    finally:
        frames = STATE.pure_frames
        if frames:
            frames[-1].extend(newly)
        else:
            _close(newly)
    assert_no_sharing(module)


def detach_static_containers(module: Any) -> None:
    """Give a copy its own static lists and dicts: they are shared by reference
    with the caller's module (through the treedef), so ``m.sizes.append(4)`` inside
    ``pure`` would otherwise change the caller's module too."""
    d = module.__dict__
    for name, value in d[LAYOUT_KEY].statics:
        if isinstance(value, set) or holds_mutable_container(value):
            d[name] = copy.deepcopy(value)


class PureFrame:
    """What one ``pax.pure`` call opened (``modules``: its copies, then the modules
    created while it ran) and the traced values assigned meanwhile (``records``)."""

    __slots__ = ("modules", "records")

    def __init__(self, modules: list[Any], records: Any):
        self.modules = modules
        self.records = records


@contextlib.contextmanager
def pure_frame(modules: list[Any]) -> Iterator[PureFrame]:
    """Open fresh copies ``modules`` for one pure call.

    Modules created inside the block join the frame and stay open until it ends.
    On exit (normal or not) every module of the frame has its layout refreshed and is
    closed; the caller then checks what the call returns (sharing, leaked tracers).
    """
    for m in modules:
        detach_static_containers(m)
    frame = list(modules)
    _open_new(frame)
    STATE.pure_frames.append(frame)
    records = start_recording()
    returned = False
    try:
        yield PureFrame(frame, records)
        returned = True
    finally:
        stop_recording(records, keep=returned)
        STATE.pure_frames.pop()
        for m in frame:
            refresh_layout(m)
        _close(frame)


def write_in_place(module: Any, name: str, value: Any) -> None:
    """Store ``value`` in the existing attribute ``name`` of ``module``, in place, open or
    not: the Objax escape hatch by which a variable view writes its module's array.

    The attribute keeps its kind (an array stays an array), so the layout is unchanged.
    """
    module.__dict__[name] = value
