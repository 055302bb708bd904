"""Which attributes of a module are pytree children, and the treedef aux data.

Every module keeps a :class:`Layout` in ``__dict__["_pax_layout"]``. The layout
lists the attribute names (in assignment order), which of them are children, and
the values of the static ones. It is immutable and shared between a module and
all its copies, so flattening a module is one ``itemgetter`` call, unflattening one
generated function, and JAX's treedef comparisons hit the ``is`` fast path or a
cached hash.
"""

import functools
import operator
import types
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from .errors import HiddenNodeError
from .node import NODE_TYPES, PaxNode, StaticLeaf, is_node, static_equal, static_hash

STATIC, CHILD, MIXED = 0, 1, 2

# Keys of ``__dict__`` that belong to pax itself and are neither children nor static data.
LAYOUT_KEY = "_pax_layout"
# Per-instance caches (e.g. the Objax variable views of raw-array attributes);
# they belong to one object and are never copied.
CACHE_KEY = "_pax_cache"
INTERNAL_KEYS = frozenset({LAYOUT_KEY, CACHE_KEY})


def plain_dict(module: Any) -> dict[str, Any]:
    """A copy of ``module.__dict__`` without its per-instance caches: the starting
    point of every derived module."""
    d = dict(module.__dict__)
    d.pop(CACHE_KEY, None)
    return d


_PLAIN_STATIC = (str, bytes, int, float, complex, bool, type, range, type(None))


class Layout:
    """Immutable description of a module's attributes; the module's treedef aux data.

    ``get_children(module.__dict__)`` returns the children (the flatten hot path);
    ``build(new, cls, children)`` makes a new module (the unflatten hot path). ``build`` is
    generated on first use and cached, so each layout pays for code generation once.
    """

    __slots__ = (
        "names",
        "kinds",
        "children",
        "child_keys",
        "mixed",
        "statics",
        "static_dict",
        "get_children",
        "build",
        "_hash",
    )

    def __init__(self, kinds: dict[str, int], values: dict[str, Any]):
        self.kinds = kinds
        self.names = tuple(kinds)
        self.children = tuple(n for n, k in kinds.items() if k != STATIC)
        self.child_keys = tuple(jax.tree_util.GetAttrKey(n) for n in self.children)
        self.mixed = frozenset(n for n, k in kinds.items() if k == MIXED)
        self.statics = tuple((n, values[n]) for n, k in kinds.items() if k == STATIC)
        static_dict = dict(self.statics)
        static_dict[LAYOUT_KEY] = self
        self.static_dict = static_dict
        self.get_children = _children_getter(self.children, self.mixed)
        self._hash: int | None = None

    def __getattr__(self, name: str) -> Any:
        # only reached while the ``build`` slot is still empty
        if name == "build":
            build = _generate_builder(self)
            self.build = build
            return build
        raise AttributeError(name)

    # -- updates (each returns a new layout) --------------------------------
    def with_field(self, name: str, kind: int, values: dict[str, Any]) -> "Layout":
        kinds = dict(self.kinds)
        kinds[name] = kind
        return Layout(kinds, values)

    def without_field(self, name: str, values: dict[str, Any]) -> "Layout":
        kinds = dict(self.kinds)
        del kinds[name]
        return Layout(kinds, values)

    def __reduce__(self):
        # the generated accessors are rebuilt, not pickled
        return (_layout_from_statics, (self.kinds, dict(self.statics)))

    # -- pytree aux-data protocol --------------------------------------------
    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Layout):
            return NotImplemented
        if self.children != other.children or self.mixed != other.mixed:
            return False
        if len(self.statics) != len(other.statics):
            return False
        return all(
            na == nb and static_equal(va, vb)
            for (na, va), (nb, vb) in zip(self.statics, other.statics)
        )

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            statics = tuple((n, static_hash(v)) for n, v in self.statics)
            h = self._hash = hash((self.children, self.mixed, statics))
        return h

    def __repr__(self) -> str:
        statics = ", ".join(f"{n}={v!r}" for n, v in self.statics)
        return f"Layout(children={self.children}, static=({statics}))"


def _layout_from_statics(kinds: dict[str, int], statics: dict[str, Any]) -> Layout:
    return Layout(kinds, statics)


def _children_getter(children: tuple[str, ...], mixed: frozenset) -> Callable:
    if mixed:
        return lambda d: tuple(wrap_mixed(d[n]) if n in mixed else d[n] for n in children)
    if len(children) == 0:
        return lambda d: ()
    if len(children) == 1:
        (only,) = children
        return lambda d: (d[only],)
    return operator.itemgetter(*children)


def _generate_builder(layout: Layout) -> Callable:
    """Generate ``build(new, cls, children)`` for this layout: ``new(cls)`` with a
    ``__dict__`` made of the static values plus the children, without loops or zips."""
    lines = [
        "def build(new, cls, children):",
        "    module = new(cls)",
        "    d = module.__dict__",
        "    d.update(static)",
    ]
    if layout.children:
        targets = ", ".join(f"d[{name!r}]" for name in layout.children)
        lines.append(f"    {targets}, = children")
    for name in sorted(layout.mixed):
        lines.append(f"    d[{name!r}] = unwrap_mixed(d[{name!r}])")
    lines.append("    return module")
    namespace: dict[str, Any] = {
        "static": layout.static_dict,
        "unwrap_mixed": unwrap_mixed,
    }
    exec("\n".join(lines), namespace)  # noqa: S102 - code built from attribute names only
    return namespace["build"]


def classify(owner: Any, name: str, value: Any) -> int:
    """Decide whether ``value`` is a child, a mixed child or static data.

    Raises ``ValueError`` when a static value hides arrays or modules, which would
    silently drop them from the pytree.
    """
    if isinstance(value, NODE_TYPES):
        return CHILD
    if isinstance(value, _PLAIN_STATIC):
        return STATIC
    leaves = jax.tree_util.tree_leaves(value, is_leaf=is_node)
    has_node = has_other = False
    for leaf in leaves:
        if isinstance(leaf, NODE_TYPES):
            has_node = True
        else:
            has_other = True
            check_not_hiding_nodes(owner, name, leaf)
    if has_node:
        return MIXED if has_other else CHILD
    return STATIC


_MUTABLE_CONTAINERS = (list, dict)


def holds_mutable_container(value: Any) -> bool:
    """A list or dict, or a tuple holding one (at any depth)."""
    if isinstance(value, _MUTABLE_CONTAINERS):
        return True
    if isinstance(value, tuple):
        return any(holds_mutable_container(v) for v in value)
    return False


def refresh_layout(owner: Any) -> None:
    """Re-decide the kind of every attribute that holds a list or a dict.

    ``self.fc = []`` followed by ``self.fc.append(pax.Linear(3, 3))`` fills the
    container after ``__setattr__`` classified it (as static data, being empty). PAX
    0.5 allowed this in ``__init__``, so the layout is refreshed when ``__init__``
    (or a ``pax.pure`` call) returns. Only construction and ``pure`` pay for it;
    flattening never does.
    """
    d = owner.__dict__
    layout: Layout = d[LAYOUT_KEY]
    kinds = None
    for name, kind in layout.kinds.items():
        value = d[name]
        if not holds_mutable_container(value):
            continue
        new_kind = classify(owner, name, value)
        if new_kind != kind or kind == STATIC:
            # a static container is also re-snapshotted: its contents may have changed
            if kinds is None:
                kinds = dict(layout.kinds)
            kinds[name] = new_kind
    if kinds is not None:
        d[LAYOUT_KEY] = Layout(kinds, d)


MSG_HIDDEN_NODE = (
    "Attribute `{owner}.{name}` holds a {holder} that contains {what}, but pax "
    "cannot see inside a {holder}: the {what_short} would be dropped from the "
    "pytree (not trained, not copied, not traced).\n"
    "Store it directly, or in a list/tuple/dict, or in a registered pytree:\n"
    "    self.{name} = <the array or module>        # right\n"
    "    self.{name} = SomeObject(<array or module>) # wrong"
)


def _describe(value: Any) -> tuple[str, str]:
    if isinstance(value, PaxNode):
        return f"a {type(value).__name__} module", "module"
    return "an array", "array"


def _hidden_node(value: Any, depth: int = 0, seen=None):
    """Return an array or pax node hidden inside a non-pytree object, if any."""
    if depth > 3:
        return None
    if isinstance(value, NODE_TYPES):
        if isinstance(value, np.ndarray) and value.dtype == object:
            return None  # not data, e.g. the devices of a `jax.sharding.Mesh`
        return value
    if isinstance(value, (_PLAIN_STATIC, types.FunctionType, types.BuiltinFunctionType)):
        return None
    if isinstance(value, types.ModuleType):
        return None
    if seen is None:
        seen = set()
    if id(value) in seen:
        return None
    seen.add(id(value))
    if isinstance(value, types.MethodType):
        return _hidden_node(value.__self__, depth + 1, seen)
    if isinstance(value, functools.partial):
        candidates: list[Any] = [value.func, *value.args, *value.keywords.values()]
    elif isinstance(value, (set, frozenset)):
        candidates = list(value)
    elif isinstance(value, (list, tuple)):
        candidates = list(value)
    elif isinstance(value, dict):
        candidates = list(value.values())
    else:
        attrs = getattr(value, "__dict__", None)
        if not isinstance(attrs, dict):
            return None
        candidates = list(attrs.values())
    for item in candidates:
        found = _hidden_node(item, depth + 1, seen)
        if found is not None:
            return found
    return None


def check_not_hiding_nodes(owner: Any, name: str, value: Any) -> None:
    """Raise ``ValueError`` if a static ``value`` hides arrays or modules."""
    found = _hidden_node(value)
    if found is not None:
        what, what_short = _describe(found)
        holder = type(value).__name__
        raise HiddenNodeError(
            MSG_HIDDEN_NODE.format(
                owner=type(owner).__name__,
                name=name,
                holder=holder,
                what=what,
                what_short=what_short,
            )
        )


def is_data_leaf(x: Any) -> bool:
    # arrays, tracers, and array stand-ins such as ``jax.ShapeDtypeStruct``
    return isinstance(x, NODE_TYPES) or (hasattr(x, "shape") and hasattr(x, "dtype"))


def wrap_mixed(value: Any) -> Any:
    """Move the non-array leaves of a mixed attribute into the tree structure."""
    return jax.tree_util.tree_map(
        lambda x: x if is_data_leaf(x) else StaticLeaf(x), value, is_leaf=is_node
    )


def unwrap_mixed(value: Any) -> Any:
    """Inverse of :func:`wrap_mixed`."""
    return jax.tree_util.tree_map(
        lambda x: x.value if isinstance(x, StaticLeaf) else x,
        value,
        is_leaf=lambda x: isinstance(x, (StaticLeaf, PaxNode)),
    )
