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

A class may set ``_pax_vars_inline = ("attr", ...)`` to leave those attribute names out
of the variable names: ``pax.Sequential`` names its layers ``(Sequential)[0]``.

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

from typing import Any, Dict, Iterable, Optional, Set, Tuple, cast

import jax
from jax.tree_util import DictKey, GetAttrKey, SequenceKey

from ..core.layout import CACHE_KEY, LAYOUT_KEY
from ..core.module import set_vars_provider
from ..core.node import ARRAY_TYPES, PaxNode, is_node
from .var_collection import VarCollection
from .variables import BaseVar, StateVar, TrainVar, reduce_mean

VIEWS_KEY = "objax_views"

Path = Tuple[Any, ...]


class _View:
    """Storage protocol of a view of ``owner.__dict__[attr]`` (at ``path`` inside it)."""

    __slots__ = ()
    _pax_is_view = True
    # slots of the concrete view classes
    _owner: Any
    _attr: str
    _path: Path

    def _get(self) -> Any:
        value = _read_attr(self._owner, self._attr)
        return _get_path(value, self._path) if self._path else value

    def _set(self, value: Any) -> None:
        d = self._owner.__dict__
        if self._path:
            value = _replace_path(_read_attr(self._owner, self._attr), self._path, value)
        d[self._attr] = value

    def _default_name(self) -> Optional[str]:
        return f"({type(self._owner).__name__}).{self._attr}{jax.tree_util.keystr(self._path)}"


class TrainVarView(_View, TrainVar):
    """A trainable raw-array attribute of a module, seen as a ``TrainVar``."""

    __slots__ = ("_owner", "_attr", "_path")

    @classmethod
    def _pax_unflatten(cls, aux: Any, children: Any) -> TrainVar:
        return cast(TrainVar, TrainVar._pax_unflatten(aux, children))


class StateVarView(_View, StateVar):
    """A non-trainable raw-array attribute of a module, seen as a ``StateVar``."""

    __slots__ = ("_owner", "_attr", "_path")

    @classmethod
    def _pax_unflatten(cls, aux: Any, children: Any) -> StateVar:
        return cast(StateVar, StateVar._pax_unflatten(aux, children))


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

    def _default_name(self) -> Optional[str]:
        return self._var._pax_name

    @classmethod
    def _pax_unflatten(cls, aux: Any, children: Any) -> StateVar:
        return cast(StateVar, StateVar._pax_unflatten(aux, children))


def _frozen_view_of(owner: Any, attr: str, path: Path, var: TrainVar) -> BaseVar:
    """The cached ``FrozenVarView`` of the ``TrainVar`` at ``owner.<attr><path>``."""
    views = _views(owner)
    key = (attr, path, "frozen")
    view: Any = views.get(key)
    if view is None or view._var is not var:
        view = object.__new__(FrozenVarView)
        view._value = None
        view._reduce = var._reduce
        view._pax_name = None
        view._var = var
        views[key] = view
    return cast(BaseVar, view)


def _read_attr(owner: Any, attr: str) -> Any:
    try:
        return owner.__dict__[attr]
    except KeyError:
        raise ValueError(
            f"The variable view of `({type(owner).__name__}).{attr}` is stale: the "
            f"module no longer has that attribute. Call `vars()` again."
        ) from None


def _get_path(value: Any, path: Path) -> Any:
    for key in path:
        if isinstance(key, SequenceKey):
            value = value[key.idx]
        elif isinstance(key, DictKey):
            value = value[key.key]
        elif isinstance(key, GetAttrKey):
            value = getattr(value, key.name)
        else:
            return _find_path(value, path)
    return value


def _find_path(value: Any, path: Path) -> Any:
    for p, leaf in jax.tree_util.tree_flatten_with_path(value, is_leaf=is_node)[0]:
        if tuple(p) == path:
            return leaf
    raise ValueError(f"No leaf at {jax.tree_util.keystr(path)} in {type(value).__name__}.")


def _replace_path(value: Any, path: Path, new: Any) -> Any:
    pairs, treedef = jax.tree_util.tree_flatten_with_path(value, is_leaf=is_node)
    leaves = [new if tuple(p) == path else x for p, x in pairs]
    if not any(tuple(p) == path for p, _ in pairs):
        raise ValueError(
            f"Cannot assign the variable view: no leaf at {jax.tree_util.keystr(path)} "
            f"any more. Call `vars()` again."
        )
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _new_view(cls: type, owner: Any, attr: str, path: Path) -> BaseVar:
    view: Any = object.__new__(cls)
    view._value = None
    view._reduce = reduce_mean
    view._pax_name = None
    view._owner = owner
    view._attr = attr
    view._path = path
    return view


def module_cache(owner: Any, key: str) -> Dict[Any, Any]:
    """The dict ``key`` of ``owner``'s per-instance cache (created on first use)."""
    d = owner.__dict__
    cache = d.get(CACHE_KEY)
    if cache is None:
        cache = d[CACHE_KEY] = {}
    return cast(Dict[Any, Any], cache.setdefault(key, {}))


def _views(owner: Any) -> Dict[Any, BaseVar]:
    return module_cache(owner, VIEWS_KEY)


def view_of(owner: Any, attr: str, path: Path, trainable: bool) -> BaseVar:
    """The cached variable view of ``owner.__dict__[attr]`` at ``path``."""
    views = _views(owner)
    cls = TrainVarView if trainable else StateVarView
    view = views.get((attr, path))
    if type(view) is not cls:
        view = views[(attr, path)] = _new_view(cls, owner, attr, path)
    return view


def _children(value: Any) -> Iterable[Tuple[Path, Any]]:
    if is_node(value):
        return [((), value)]
    return [
        (tuple(p), x) for p, x in jax.tree_util.tree_flatten_with_path(value, is_leaf=is_node)[0]
    ]


def _trainable_paths(module: Any) -> Set[Tuple[str, Path]]:
    """(attribute, path) of the raw arrays and ``TrainVar`` variables that ``module.parameters()``
    keeps."""
    d = module.__dict__
    params = module.parameters().__dict__
    missing = object()
    out: Set[Tuple[str, Path]] = set()
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
    known = var._pax_name
    if known is None or (name != known and name.endswith(known)):
        var._pax_name = name
    vc.update([(name, var)])


def module_vars(module: Any, scope: str = "") -> VarCollection:
    """The ``VarCollection`` of ``module`` (see the module docstring)."""
    vc = VarCollection()
    prefix = f"{scope}({type(module).__name__})"
    d = module.__dict__
    inline = getattr(type(module), "_pax_vars_inline", ())
    trainable: Optional[Set[Tuple[str, Path]]] = None
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
set_vars_provider(module_vars)
