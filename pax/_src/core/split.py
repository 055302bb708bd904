"""``pax.split`` and ``pax.merge``: a model as (skeleton, params, state) and back.

Frameworks that keep the weights apart from the model (NetKet, flax serialization,
orbax) want three things: a hashable description of the model without its arrays
(usable as a static argument of ``jax.jit``), the trainable parameters as a nested
dict, and the other arrays (batch statistics, caches, counters) as another one.

Keys of the nested dicts follow the module tree, as flax's ``params`` dicts do: an
attribute gives its name, an element of a list or tuple its index as a string
(``"0"``, ``"1"``, ...), an entry of a dict its key as a string. An Objax variable
(``pax.TrainVar``, ``pax.StateVar``) adds no level: ``self.w = pax.TrainVar(x)`` is
``{"w": x}``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .module import Module
from .node import PaxNode

Path = tuple[str, ...]


class Skeleton:
    """A model without its arrays: the treedef and, per leaf, its path, whether it is
    trainable, its shape and dtype. Hashable and compared by value (cheap: the hash is computed
    once), so equal skeletons of separately built models hit ``jax.jit``'s cache."""

    __slots__ = ("treedef", "paths", "trainable", "shapes", "dtypes", "_hash")

    def __init__(
        self,
        treedef: Any,
        paths: tuple[Path, ...],
        trainable: tuple[bool, ...],
        shapes: tuple[tuple[int, ...], ...],
        dtypes: tuple[np.dtype, ...],
    ):
        self.treedef = treedef
        self.paths = paths
        self.trainable = trainable
        self.shapes = shapes
        self.dtypes = dtypes
        self._hash = hash((treedef, paths, trainable, shapes, dtypes))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Skeleton):
            return NotImplemented
        return (
            self._hash == other._hash
            and self.paths == other.paths
            and self.trainable == other.trainable
            and self.shapes == other.shapes
            and self.dtypes == other.dtypes
            and self.treedef == other.treedef
        )

    def zeros(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(params, state)`` of zeros of the model's shapes and dtypes (placeholders,
        for example to build the model under ``jax.eval_shape`` or ``jax.jit``).

        >>> import pax
        >>> skeleton, _, _ = pax.split(pax.Linear(2, 3))
        >>> params, state = skeleton.zeros()
        >>> float(pax.merge(skeleton, params, state).weight.sum())
        0.0
        """
        entries = [
            (path, jnp.zeros(shape, dtype))
            for path, shape, dtype in zip(self.paths, self.shapes, self.dtypes)
        ]
        params = _nest([e for e, t in zip(entries, self.trainable) if t])
        state = _nest([e for e, t in zip(entries, self.trainable) if not t])
        return params, state

    def __repr__(self) -> str:
        n = sum(self.trainable)
        return f"Skeleton({self.treedef.num_leaves} arrays, {n} trainable)"


def _key_name(key: Any) -> str | None:
    """The dict key of one step of a key path; ``None`` for a variable's own value."""
    if isinstance(key, jax.tree_util.GetAttrKey):
        return key.name
    if isinstance(key, jax.tree_util.SequenceKey):
        return str(key.idx)
    if isinstance(key, jax.tree_util.DictKey):
        return str(key.key)
    if isinstance(key, jax.tree_util.FlattenedIndexKey):
        return str(key.key)
    return str(key)


def _paths(model: Any) -> tuple[list[tuple[Path, Any]], Any]:
    """``[(path, leaf)]`` and the treedef; variables contribute no path level."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(model)
    out = []
    for keypath, leaf in flat:
        names: list[str] = []
        node: Any = model
        for key in keypath:
            if not (isinstance(node, PaxNode) and not isinstance(node, Module)):
                names.append(_key_name(key) or "")
            node = _step(node, key)
        out.append((tuple(names), leaf))
    return out, treedef


def _step(node: Any, key: Any) -> Any:
    if isinstance(key, jax.tree_util.GetAttrKey):
        if isinstance(node, Module):  # its fields, not a property of the same name
            return vars(node).get(key.name)
        return getattr(node, key.name, None)  # a named tuple, a dataclass
    if isinstance(key, jax.tree_util.SequenceKey):
        return node[key.idx]
    if isinstance(key, jax.tree_util.DictKey):
        return node[key.key]
    return None


def _nest(entries: list[tuple[Path, Any]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path, value in entries:
        d = root
        for name in path[:-1]:
            d = d.setdefault(name, {})
        d[path[-1]] = value
    return root


def _trainable_paths(model: Module) -> set[Path]:
    return {path for path, _ in _paths(model.parameters())[0]}


def split(model: Module) -> tuple[Skeleton, dict[str, Any], dict[str, Any]]:
    """Split a model into ``(skeleton, params, state)``; :func:`merge` undoes it.

    ``skeleton`` holds no arrays and is hashable (pass it to ``jax.jit`` as a static
    argument); ``params`` is a nested dict of the trainable arrays (those that
    ``model.parameters()`` keeps), keyed by attribute path; ``state`` the same for
    every other array.

    >>> import jax, jax.numpy as jnp, pax
    >>> net = pax.Sequential(pax.Linear(2, 3), pax.BatchNorm1D(3))
    >>> skeleton, params, state = pax.split(net)
    >>> jax.tree_util.tree_map(jnp.shape, params["modules"]["0"])
    {'bias': (3,), 'weight': (2, 3)}
    >>> sorted(state["modules"]["1"])
    ['ema_mean', 'ema_var']
    >>> pax.merge(skeleton, params, state) == net
    True

    Args:
      model: a ``pax.Module``.

    Returns:
      ``(skeleton, params, state)``.

    Raises:
      TypeError: ``model`` is not a ``pax.Module``.
      ValueError: two leaves would get the same key (a dict whose keys differ only in
        type, such as ``1`` and ``"1"``).
    """
    if not isinstance(model, Module):
        raise TypeError(f"pax.split takes a pax.Module, got {type(model).__name__}.")
    entries, treedef = _paths(model)
    trainable_paths = _trainable_paths(model)
    paths = tuple(p for p, _ in entries)
    if len(set(paths)) != len(paths):
        seen: set[Path] = set()
        dup = next(p for p in paths if p in seen or seen.add(p))  # type: ignore[func-returns-value]
        raise ValueError(
            f"pax.split: two arrays of the model have the same key path {'/'.join(dup)!r} "
            f"(dict keys are turned into str: use keys that differ as strings)."
        )
    trainable = tuple(p in trainable_paths for p in paths)
    shapes = tuple(tuple(np.shape(leaf)) for _, leaf in entries)
    dtypes = tuple(np.dtype(leaf.dtype) for _, leaf in entries)
    skeleton = Skeleton(treedef, paths, trainable, shapes, dtypes)
    params = _nest([(p, x) for (p, x), t in zip(entries, trainable) if t])
    state = _nest([(p, x) for (p, x), t in zip(entries, trainable) if not t])
    return skeleton, params, state


def _lookup(tree: Any, path: Path, what: str) -> Any:
    node = tree
    for depth, name in enumerate(path):
        if not isinstance(node, dict) or name not in node:
            where = "/".join(path[: depth + 1])
            raise ValueError(
                f"pax.merge: {what} has no entry {where!r} (needed for the model's array "
                f"{'/'.join(path)!r}). Pass the dicts that pax.split returned for a model "
                f"of this structure."
            )
        node = node[name]
    return node


def _count(tree: Any) -> int:
    if isinstance(tree, dict):
        return sum(_count(v) for v in tree.values())
    return 1


def merge(skeleton: Skeleton, params: dict[str, Any], state: dict[str, Any]) -> Module:
    """The model that :func:`split` split into ``(skeleton, params, state)``.

    Works under ``jax.jit`` and ``jax.grad`` (the arrays may be tracers).

    >>> import pax
    >>> skeleton, params, state = pax.split(pax.Linear(2, 3))
    >>> pax.merge(skeleton, params, state).weight.shape
    (2, 3)

    Raises:
      TypeError: ``skeleton`` is not a skeleton from :func:`split`.
      ValueError: a key is missing or extra, or an array has the wrong shape (the
        message names its path).
    """
    if not isinstance(skeleton, Skeleton):
        raise TypeError(
            f"pax.merge takes the skeleton returned by pax.split, got {type(skeleton).__name__}."
        )
    leaves = []
    for path, trainable, shape in zip(skeleton.paths, skeleton.trainable, skeleton.shapes):
        what = "params" if trainable else "state"
        leaf = _lookup(params if trainable else state, path, what)
        if tuple(np.shape(leaf)) != shape:
            raise ValueError(
                f"pax.merge: {what} entry {'/'.join(path)!r} has shape {np.shape(leaf)}, "
                f"the model expects {shape}."
            )
        leaves.append(leaf)
    n_params = sum(skeleton.trainable)
    for tree, n, what in ((params, n_params, "params"), (state, len(leaves) - n_params, "state")):
        if _count(tree) != n:
            extra = _extra_paths(tree, skeleton, what == "params")
            raise ValueError(
                f"pax.merge: {what} has entries the model does not have: {extra}. Pass the "
                f"dicts that pax.split returned for a model of this structure."
            )
    return jax.tree_util.tree_unflatten(skeleton.treedef, leaves)


def _extra_paths(tree: Any, skeleton: Skeleton, trainable: bool) -> list[str]:
    known = {p for p, t in zip(skeleton.paths, skeleton.trainable) if t == trainable}
    found: list[str] = []

    def walk(node: Any, path: Path) -> None:
        if isinstance(node, dict) and path not in known:
            for k, v in node.items():
                walk(v, (*path, str(k)))
        elif path not in known:
            found.append("/".join(path))

    walk(tree, ())
    return found
