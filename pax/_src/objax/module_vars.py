"""``Module.vars()``: the variables of a pax module, with Objax names.

Walks the module's pytree children in attribute order and names what it finds like
Objax: ``(MiniNet).f1(Linear).weight``. It finds

* Objax variables (``TrainVar``, ``StateVar``, ``TrainRef``, ``RandomState``); a
  ``TrainVar`` that ``module.parameters()`` leaves out (a frozen module) shows up as a
  ``StateVar`` view of it, so Objax transforms do not train frozen weights;
* submodules, recursively, through their own ``vars`` method (so ``ModuleList``,
  ``ForceArgs`` and ``pax.Function`` name their content their own way);
* PAX-style raw-array attributes, as *variable views* (see below);
* all of these inside lists, tuples and dicts held by a module, named
  ``(MyModule).layers[0](Linear).weight``. Objax's ``vars()`` skipped such containers;
  pax cannot, because they are pytree children that ``pax.grad`` trains, and skipping
  them would silently freeze those weights in ``pax.Grad``/``pax.Jit``.

A class registered with ``name_inline(cls, "attr", ...)`` (``pax/_src/core/vars_hooks.py``)
leaves those attribute names out of the variable names: ``pax.Sequential`` names its
layers ``(Sequential)[0]``.

Variable views
--------------
A raw array stored on a module (``Linear.weight``) shows up as a ``TrainVar`` view
when ``module.parameters()`` keeps it and as a ``StateVar`` view otherwise. Reading
the view reads the module's attribute (or the element of a list/dict attribute);
assigning it writes the new array straight into that module's ``__dict__``. That write
is a deliberate, Objax-style escape hatch from pax's immutability: it changes the
module object in place, without ``pax.pure``, so that Objax transforms and optimizers
can train PAX-style layers. The views of a module are cached on the module object, so
``vars()`` returns the same variable objects every time. A copy of a module (every
``pax.pure`` call, ``jax.jit`` output, ``replace``...) is a new object with its own
views: call ``vars()`` on the module object your code actually calls.
"""

from collections.abc import Iterable
from typing import Any, cast

import jax

from ..core.layout import CACHE_KEY, LAYOUT_KEY
from ..core.module import Module
from ..core.node import ARRAY_TYPES, PaxNode, is_node
from ..core.vars_hooks import inline_attributes, register_vars_provider
from .var_collection import VarCollection
from .variables import BaseVar, StateVar, TrainVar, blank_variable, reduce_mean
from .views import AttributeView, Path, read_attribute, write_attribute

VIEWS_KEY = "objax_views"


class _View(AttributeView):
    """Storage protocol of a view of ``owner.<attr>`` (at ``path`` inside it)."""

    __slots__ = ()

    def _get(self) -> Any:
        return read_attribute(self._owner, self._attr, self._path)

    def _set(self, value: Any) -> None:
        write_attribute(self._owner, self._attr, self._path, value)

    def _default_name(self) -> str | None:
        return f"({type(self._owner).__name__}).{self._attr}{jax.tree_util.keystr(self._path)}"


class TrainVarView(_View, TrainVar):
    """A trainable raw-array attribute of a module, seen as a ``TrainVar``."""

    __slots__ = ("_owner", "_attr", "_path")

    @classmethod
    def _tree_unflatten(cls, aux: Any, children: Any) -> TrainVar:
        return cast(TrainVar, TrainVar._tree_unflatten(aux, children))


class StateVarView(_View, StateVar):
    """A non-trainable raw-array attribute of a module, seen as a ``StateVar``."""

    __slots__ = ("_owner", "_attr", "_path")

    @classmethod
    def _tree_unflatten(cls, aux: Any, children: Any) -> StateVar:
        return cast(StateVar, StateVar._tree_unflatten(aux, children))


class FrozenVarView(StateVar):
    """A ``TrainVar`` that its module's ``parameters()`` leaves out (a frozen module),
    seen as a ``StateVar``: reads and writes go to the ``TrainVar`` itself."""

    __slots__ = ("_var",)
    _var: TrainVar

    def _get(self) -> Any:
        return self._var._get()

    def _set(self, value: Any) -> None:
        self._var._set(value)

    def _storage(self) -> BaseVar:
        return self._var._storage()

    def _default_name(self) -> str | None:
        return self._var._vc_name

    @classmethod
    def _tree_unflatten(cls, aux: Any, children: Any) -> StateVar:
        return cast(StateVar, StateVar._tree_unflatten(aux, children))


def _frozen_view_of(owner: Any, attr: str, path: Path, var: TrainVar) -> BaseVar:
    """The cached ``FrozenVarView`` of the ``TrainVar`` at ``owner.<attr><path>``."""
    views = _views(owner)
    key = (attr, path, "frozen")
    view: Any = views.get(key)
    if view is None or view._var is not var:
        view = views[key] = blank_variable(FrozenVarView, None, var._reduce, _var=var)
    return cast(BaseVar, view)


def _new_view(cls: type[BaseVar], owner: Any, attr: str, path: Path) -> BaseVar:
    return blank_variable(cls, None, reduce_mean, _owner=owner, _attr=attr, _path=path)


def module_cache(owner: Any, key: str) -> dict[Any, Any]:
    """The dict ``key`` of ``owner``'s per-instance cache (created on first use)."""
    d = owner.__dict__
    cache = d.get(CACHE_KEY)
    if cache is None:
        cache = d[CACHE_KEY] = {}
    return cast(dict[Any, Any], cache.setdefault(key, {}))


def _views(owner: Any) -> dict[Any, BaseVar]:
    return module_cache(owner, VIEWS_KEY)


def view_of(owner: Any, attr: str, path: Path, trainable: bool) -> BaseVar:
    """The cached variable view of ``owner.__dict__[attr]`` at ``path``."""
    views = _views(owner)
    cls = TrainVarView if trainable else StateVarView
    view = views.get((attr, path))
    if type(view) is not cls:
        view = views[(attr, path)] = _new_view(cls, owner, attr, path)
    return view


def _children(value: Any) -> Iterable[tuple[Path, Any]]:
    if is_node(value):
        return [((), value)]
    return [
        (tuple(p), x) for p, x in jax.tree_util.tree_flatten_with_path(value, is_leaf=is_node)[0]
    ]


def _trainable_paths(module: Any) -> set[tuple[str, Path]]:
    """(attribute, path) of the raw arrays and ``TrainVar`` variables that ``module.parameters()``
    keeps."""
    d = module.__dict__
    params = module.parameters().__dict__
    missing = object()
    out: set[tuple[str, Path]] = set()
    for attr in d[LAYOUT_KEY].children:
        kept = params.get(attr, missing)
        if kept is missing:
            continue
        for path, leaf in _children(kept):
            if isinstance(leaf, (*ARRAY_TYPES, TrainVar)):
                out.add((attr, path))
    return out


def add_named(vc: VarCollection, name: str, var: BaseVar) -> None:
    # Remember a name for error messages: the first one found, or a longer version of
    # it (`(MiniNet).f1(Linear).weight` after `(Linear).weight`).
    known = var._vc_name
    if known is None or (name != known and name.endswith(known)):
        var._vc_name = name
    vc.update([(name, var)])


def module_vars(module: Any, scope: str = "") -> VarCollection:
    """The ``VarCollection`` of ``module`` (see the module docstring)."""
    vc = VarCollection()
    prefix = f"{scope}({type(module).__name__})"
    d = module.__dict__
    inline = inline_attributes(type(module))
    trainable: set[tuple[str, Path]] | None = None
    for attr in d[LAYOUT_KEY].children:
        base = prefix if attr in inline else f"{prefix}.{attr}"
        for path, leaf in _children(d[attr]):
            name = base + jax.tree_util.keystr(path)
            if isinstance(leaf, TrainVar):
                if trainable is None:
                    trainable = _trainable_paths(module)
                if (attr, path) in trainable:
                    add_named(vc, name, leaf)
                else:  # its module is frozen: Objax transforms must not train it
                    add_named(vc, name, _frozen_view_of(module, attr, path, leaf))
            elif isinstance(leaf, BaseVar):
                add_named(vc, name, leaf)
            elif isinstance(leaf, ARRAY_TYPES):
                if trainable is None:
                    trainable = _trainable_paths(module)
                add_named(vc, name, view_of(module, attr, path, (attr, path) in trainable))
            elif isinstance(leaf, PaxNode) and callable(getattr(leaf, "vars", None)):
                vc.update(cast(Any, leaf).vars(scope=name))
    return vc


# `Module.vars()` (the core calls it through this hook and never imports this layer)
register_vars_provider(Module, module_vars)
