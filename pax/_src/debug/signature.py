"""What ``jax.jit`` keys a trace on, as a flat, readable description of arguments.

``describe(tree, root)`` gives ``{path: Entry}`` for every node of a pytree of
arguments: the shape, dtype and weak type of each (traced) array, the type and
attribute names of each pax module, the value of each static field (the treedef
aux data a module keeps in its layout), the length of each list, the keys of each
dict, and Python values (``static_argnums``). ``diff(old, new)`` says which paths
differ, in words. Paths read like code: ``model.layers[3].rate``.
"""

import dataclasses
import reprlib
from typing import Any

import jax
import numpy as np

from ..core.layout import LAYOUT_KEY, Layout
from ..core.module import Module, OpaqueModule
from ..core.node import EmptyNode, static_equal, static_hash

# the names under which Module keeps its own static fields
_FIELD_NAMES = {"_training": "training", "_name": "name"}
_MAX_LINES = 20
_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60


@dataclasses.dataclass(frozen=True)
class Entry:
    """One node of the arguments. ``kind`` is ``array``, ``static``, ``module``,
    ``sequence``, ``dict``, ``none``, ``node`` or ``opaque``; ``key`` is what is compared."""

    kind: str
    key: Any
    text: str
    tracer: bool = False


Signature = dict[tuple[Any, ...], tuple[str, Entry]]  # path parts -> (path text, entry)


def describe(tree: Any, root: str, out: Signature) -> None:
    """Add the entries of ``tree`` (an argument named ``root``) to ``out``."""
    _describe(tree, (root,), root, out)


def _static_text(value: Any) -> str:
    return _repr.repr(value)


def _array_entry(x: Any) -> Entry:
    aval = getattr(x, "aval", None) if isinstance(x, jax.core.Tracer) else None
    weak = "~" if getattr(aval, "weak_type", False) else ""
    text = f"{weak}{np.dtype(x.dtype).name}[{','.join(str(d) for d in np.shape(x))}]"
    # the abstract value's own text also shows what else jit keys on (e.g. a sharding)
    return Entry("array", (text, str(aval)), text, tracer=aval is not None)


def _describe(tree: Any, parts: tuple[Any, ...], path: str, out: Signature) -> None:
    if isinstance(tree, (jax.Array, np.ndarray)) or isinstance(tree, jax.core.Tracer):
        out[parts] = (path, _array_entry(tree))
    elif isinstance(tree, OpaqueModule):
        out[parts] = (path, Entry("opaque", tree, f"{type(tree).__qualname__} object"))
    elif isinstance(tree, Module):
        _describe_module(tree, parts, path, out)
    elif isinstance(tree, EmptyNode):
        out[parts] = (path, Entry("node", "EmptyNode", "EmptyNode"))
    elif tree is None:
        out[parts] = (path, Entry("none", None, "None"))
    elif type(tree) in (list, tuple):
        name = type(tree).__name__
        out[parts] = (path, Entry("sequence", (type(tree), len(tree)), f"{name} of {len(tree)}"))
        for i, item in enumerate(tree):
            _describe(item, parts + (i,), f"{path}[{i}]", out)
    elif type(tree) is dict:
        keys = sorted(tree, key=repr)  # jax.jit does not see the order of a dict
        text = f"dict with keys {_static_text(keys)}"
        out[parts] = (path, Entry("dict", frozenset(tree), text))
        for key, item in tree.items():
            _describe(item, parts + (("key", key),), f"{path}[{key!r}]", out)
    else:
        _describe_other(tree, parts, path, out)


def _describe_module(module: Module, parts: tuple[Any, ...], path: str, out: Signature) -> None:
    d = module.__dict__
    layout: Layout = d[LAYOUT_KEY]
    cls = type(module)
    out[parts] = (path, Entry("module", (cls, layout.children), cls.__qualname__))
    for name, value in layout.statics:
        field = _FIELD_NAMES.get(name, name)
        entry = Entry("static", value, _static_text(value))
        out[parts + (("attr", field),)] = (f"{path}.{field}", entry)
    for name in layout.children:
        _describe(d[name], parts + (("attr", name),), f"{path}.{name}", out)


def _describe_other(tree: Any, parts: tuple[Any, ...], path: str, out: Signature) -> None:
    """A leaf that is a Python value, or a pytree node of another type."""
    children, treedef = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: x is not tree)
    if len(children) == 1 and children[0][0] == () and children[0][1] is tree:
        out[parts] = (path, Entry("static", tree, _static_text(tree)))
        return
    one_level = jax.tree_util.tree_structure(tree, is_leaf=lambda x: x is not tree)
    out[parts] = (path, Entry("node", one_level, type(tree).__qualname__))
    for key_path, child in children:
        key = jax.tree_util.keystr(key_path)
        _describe(child, parts + (("node", key),), f"{path}{key}", out)


# -- comparing two signatures ------------------------------------------------------------


def _same(a: Entry, b: Entry) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == "static":
        return static_equal(a.key, b.key) and static_hash(a.key) == static_hash(b.key)
    if a.kind == "opaque":
        return a.key is b.key
    if a.kind == "module":
        return a.key[0] is b.key[0] and a.key[1] == b.key[1]
    return bool(a.key == b.key)


def _change(old: Entry, new: Entry) -> str | None:
    """What changed between two entries of one path, or ``None`` when the difference
    is told by the entries below it (attributes added or removed)."""
    if old.kind == "module" and new.kind == "module" and old.key[0] is new.key[0]:
        old_names, new_names = old.key[1], new.key[1]
        if set(old_names) != set(new_names):
            return None  # the added/removed attributes are listed themselves
        return f"attributes in another order: {old_names} -> {new_names}"
    if old.kind == "module" and new.kind == "module" and old.text == new.text:
        return f"{old.text} -> another class of the same name ({new.text})"
    if old.kind in ("sequence", "dict") and old.kind == new.kind and old.key != new.key:
        return f"{old.text} -> {new.text}"
    if old.kind == "static" and new.kind == "static":
        return _static_change(old.key, new.key)
    if old.kind == "array" and new.kind == "array":
        if old.text == new.text:
            return f"{old.key[1]} -> {new.key[1]}"
        return _array_change(old.text, new.text)
    if old.kind == "opaque" and new.kind == "opaque" and old.text == new.text:
        return f"another {new.text} (compared by identity)"
    if old.kind == new.kind == "node" and old.text == new.text:
        return f"{old.text} with other static data: {old.key} -> {new.key}"
    return f"{old.text} -> {new.text}"


def _static_change(old: Any, new: Any) -> str:
    text = f"{_static_text(old)} -> {_static_text(new)}"
    if static_equal(old, new):
        return text + " (equal, but their hashes differ: give the class a consistent __hash__)"
    if type(old) is type(new) and type(old).__eq__ is object.__eq__:
        return text + (
            " (a new object each time, compared by identity: reuse one object, or give "
            "the class __eq__ and __hash__)"
        )
    return text


def _array_change(old: str, new: str) -> str:
    text = f"{old} -> {new}"
    old_weak, new_weak = old.startswith("~"), new.startswith("~")
    if old_weak and not new_weak:
        return text + " (weak type: a Python scalar before, an array now)"
    if new_weak and not old_weak:
        return text + " (weak type: an array before, a Python scalar now)"
    return text


def _inside(parts: tuple[Any, ...], roots: list[tuple[Any, ...]]) -> bool:
    return any(parts[: len(r)] == r for r in roots)


def _replaced(old: Entry, new: Entry) -> bool:
    """True when the node became something else, so the paths below it are not compared."""
    if old.kind != new.kind:
        return True
    if old.kind in ("module", "sequence"):
        return old.key[0] is not new.key[0]
    return old.kind == "node" and old.text != new.text


def diff(old: Signature, new: Signature) -> list[str]:
    """The differences between two signatures, one line per path, in words.

    The same change of a static field in many modules (``model.eval()`` sets
    ``training`` in every submodule) is one line that counts the others.
    """
    changes: list[tuple[str, str, Any]] = []  # (path, change, grouping key or None)
    covered: list[tuple[Any, ...]] = []  # replaced, added or removed subtrees
    for parts, (path, entry) in new.items():
        if _inside(parts, covered):
            continue
        previous = old.get(parts)
        if previous is None:
            changes.append((path, f"added ({entry.text})", None))
            covered.append(parts)
            continue
        before = previous[1]
        if _same(before, entry):
            continue
        change = _change(before, entry)
        if change is not None:
            group = (parts[-1], change) if entry.kind == "static" else None
            changes.append((path, change, group))
        if _replaced(before, entry):
            covered.append(parts)
    for parts, (path, entry) in old.items():
        if parts not in new and not _inside(parts, covered):
            changes.append((path, f"removed (was {entry.text})", None))
            covered.append(parts)
    return _grouped(changes)


def _grouped(changes: list[tuple[str, str, Any]]) -> list[str]:
    paths_of: dict[Any, list[str]] = {}
    for path, _, group in changes:
        if group is not None:
            paths_of.setdefault(group, []).append(path)
    lines: list[str] = []
    for path, change, group in changes:
        same = paths_of.get(group, [path]) if group is not None else [path]
        if same[0] != path:
            continue  # told with the first path of its group
        line = f"{path}: {change}"
        if len(same) > 1:
            others = len(same) - 1
            line += f" (and at {others} other path{'s' if others > 1 else ''}, e.g. {same[1]})"
        lines.append(line)
    if len(lines) > _MAX_LINES:
        lines = lines[:_MAX_LINES] + [f"... and {len(lines) - _MAX_LINES} more differences"]
    return lines
