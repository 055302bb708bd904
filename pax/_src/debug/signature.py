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

from ..core.layout import LAYOUT_KEY
from ..core.module import Module, OpaqueModule
from ..core.node import EmptyNode, static_equal, static_hash
from ..core.structure import tree_nodes

# the names under which Module keeps its own static fields
_FIELD_NAMES = {"_training": "training", "_name": "name"}
_MAX_LINES = 20
_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60


@dataclasses.dataclass(frozen=True)
class Entry:
    """One node of the arguments. ``kind`` is ``array``, ``static``, ``module``,
    ``sequence``, ``dict``, ``none``, ``node`` or ``opaque``; ``key`` is what is
    compared; ``field`` names a module's static field (changes of one field in many
    modules are told as one)."""

    kind: str
    key: Any
    text: str
    tracer: bool = False
    field: str = ""


Signature = dict[str, Entry]  # path -> entry, paths as core/structure.tree_nodes writes them


def describe(tree: Any, root: str, out: Signature) -> None:
    """Add the entries of ``tree`` (an argument named ``root``) to ``out``: one per node
    of ``core.structure.tree_nodes``, and one per static field of each module."""
    for path, node, is_leaf in tree_nodes(tree, root):
        out[path] = _entry(node, is_leaf)
        if isinstance(node, Module) and not isinstance(node, OpaqueModule):
            for name, value in node.__dict__[LAYOUT_KEY].statics:
                field = _FIELD_NAMES.get(name, name)
                out[f"{path}.{field}"] = Entry("static", value, _static_text(value), field=field)


def _static_text(value: Any) -> str:
    return _repr.repr(value)


def _array_entry(x: Any) -> Entry:
    aval = getattr(x, "aval", None) if isinstance(x, jax.core.Tracer) else None
    weak = "~" if getattr(aval, "weak_type", False) else ""
    text = f"{weak}{np.dtype(x.dtype).name}[{','.join(str(d) for d in np.shape(x))}]"
    # the abstract value's own text also shows what else jit keys on (e.g. a sharding)
    return Entry("array", (text, str(aval)), text, tracer=aval is not None)


def _entry(node: Any, is_leaf: bool) -> Entry:
    if isinstance(node, (jax.Array, np.ndarray, jax.core.Tracer)):
        return _array_entry(node)
    if isinstance(node, OpaqueModule):
        return Entry("opaque", node, f"{type(node).__qualname__} object")
    if isinstance(node, Module):
        cls = type(node)
        return Entry("module", (cls, node.__dict__[LAYOUT_KEY].children), cls.__qualname__)
    if isinstance(node, EmptyNode):
        return Entry("node", "EmptyNode", "EmptyNode")
    if node is None:
        return Entry("none", None, "None")
    if type(node) in (list, tuple):
        text = f"{type(node).__name__} of {len(node)}"
        return Entry("sequence", (type(node), len(node)), text)
    if type(node) is dict:
        keys = sorted(node, key=repr)  # jax.jit does not see the order of a dict
        return Entry("dict", frozenset(node), f"dict with keys {_static_text(keys)}")
    if is_leaf:  # a Python value (a static argument)
        return Entry("static", node, _static_text(node))
    # a pytree node of another type: its own static data is in its one-level treedef
    one_level = jax.tree_util.tree_structure(node, is_leaf=lambda x: x is not node)
    return Entry("node", one_level, type(node).__qualname__)


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


def _inside(path: str, roots: list[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or below one (``model.a[0]`` is below
    ``model.a``, ``model.ab`` is not)."""
    return any(
        path.startswith(root) and (len(path) == len(root) or path[len(root)] in ".[")
        for root in roots
    )


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
    covered: list[str] = []  # replaced, added or removed subtrees
    for path, entry in new.items():
        if _inside(path, covered):
            continue
        before = old.get(path)
        if before is None:
            changes.append((path, f"added ({entry.text})", None))
            covered.append(path)
            continue
        if _same(before, entry):
            continue
        change = _change(before, entry)
        if change is not None:
            group = (entry.field, change) if entry.field else None
            changes.append((path, change, group))
        if _replaced(before, entry):
            covered.append(path)
    for path, entry in old.items():
        if path not in new and not _inside(path, covered):
            changes.append((path, f"removed (was {entry.text})", None))
            covered.append(path)
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
