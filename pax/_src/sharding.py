"""``pax.sharding``: module-shaped ``NamedSharding`` trees for ``jax.jit``.

A pax model is a pytree, so ``jax.jit(step, in_shardings=..., out_shardings=...)``
accepts for it a pytree of the same structure whose leaves are
``jax.sharding.NamedSharding``s. The functions here build such trees from a model
(concrete or abstract, see ``pax.eval_shape``) so that nobody writes them by hand:

- :func:`replicated`: every leaf whole on every device of the mesh;
- :func:`by_rules`: a ``PartitionSpec`` per leaf chosen by regular expressions on the
  leaf's path (``jax.tree_util.keystr``, e.g. ``.modules[0].weight``); first match wins;
- :func:`shard`: ``jax.device_put`` of a tree onto such shardings (also across processes);
- :func:`with_shardings`: an abstract tree whose leaves carry their shardings (for
  ``pax.load(path, like=...)`` to restore a checkpoint straight onto the devices);
- :func:`init_sharded`: build a model directly on its devices, each leaf placed as the
  rules say, without ever materialising it on one device.

Data-parallel training (model replicated, batch split along a ``'data'`` mesh axis)::

    mesh = jax.sharding.Mesh(jax.devices(), ("data",))
    model_sh, opt_sh = pax.sharding.replicated((model, optimizer), mesh)
    batch_sh = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    step = jax.jit(
        pax.build_update_fn(loss_fn),
        in_shardings=(model_sh, opt_sh, batch_sh, batch_sh),
        out_shardings=(model_sh, opt_sh, pax.sharding.replicated(0.0, mesh)),
    )
    model, optimizer = pax.sharding.shard((model, optimizer), (model_sh, opt_sh))

Place the model with :func:`shard` before the first step: ``jax.jit`` moves arrays that
are on the default device only, and raises "Sharding passed to jit does not match the
sharding on the respective arg" for arrays already placed some other way.
"""

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .abstract import eval_shape

T = TypeVar("T")

SpecLike = PartitionSpec | None | Sequence[Any]
Rules = Sequence[tuple[str | re.Pattern[str], SpecLike]] | Mapping[str, SpecLike]

MSG_RULES_FORMAT = (
    "Sharding rules must be a sequence of (pattern, PartitionSpec) pairs, e.g.\n"
    "    [(r'\\.weight$', PartitionSpec(None, 'model')), (r'.*', PartitionSpec())]\n"
    "(a pattern is a regular expression searched in the leaf's path, such as "
    "`.modules[0].weight`; the first rule that matches wins); {problem}."
)


def _check_mesh(mesh: Any, fn: str) -> Mesh:
    if not isinstance(mesh, Mesh):
        raise TypeError(
            f"pax.sharding.{fn} expects a jax.sharding.Mesh, got {type(mesh).__name__}. "
            "Build one with e.g. `jax.sharding.Mesh(jax.devices(), ('data',))`."
        )
    return mesh


def _as_spec(spec: SpecLike, where: str) -> PartitionSpec:
    if spec is None:
        return PartitionSpec()
    if isinstance(spec, PartitionSpec):
        return spec
    if isinstance(spec, (tuple, list)):
        return PartitionSpec(*spec)
    raise TypeError(
        f"{where}: expected a jax.sharding.PartitionSpec (or None for replicated), "
        f"got {type(spec).__name__} {spec!r}."
    )


def _fmt(spec: PartitionSpec) -> str:
    """``PartitionSpec('data', None)``, the same in every JAX version (newer ones print ``P``)."""
    return "PartitionSpec(" + ", ".join(repr(entry) for entry in spec) + ")"


def _spec_axes(entry: Any) -> tuple[str, ...]:
    """The mesh axis names one entry of a PartitionSpec splits a dimension over."""
    if entry is None or entry is PartitionSpec.UNCONSTRAINED:
        return ()
    if isinstance(entry, (tuple, list)):
        return tuple(entry)
    return (entry,)


def _check_spec_axes(spec: PartitionSpec, mesh: Mesh, where: str) -> None:
    seen: list[str] = []
    for entry in spec:
        for name in _spec_axes(entry):
            if name not in mesh.shape:
                raise ValueError(
                    f"{where}: {_fmt(spec)} names the mesh axis {name!r}, "
                    f"but the mesh has the axes {tuple(mesh.axis_names)}. Use one of "
                    "those names (or None to keep that dimension whole)."
                )
            if name in seen:
                raise ValueError(
                    f"{where}: {_fmt(spec)} uses the mesh axis {name!r} "
                    "for two dimensions; each mesh axis can split at most one dimension."
                )
            seen.append(name)


def _leaf_shape(leaf: Any, path: str) -> tuple[int, ...]:
    shape = getattr(leaf, "shape", None)
    if shape is None:
        if isinstance(leaf, (int, float, complex, bool, np.number, np.bool_)):
            return ()
        raise TypeError(
            f"Leaf `{path}` is a {type(leaf).__name__}, not an array: only arrays (or "
            "jax.ShapeDtypeStruct) can be given a sharding."
        )
    return tuple(shape)


def check_spec(spec: PartitionSpec, shape: tuple[int, ...], mesh: Mesh, path: str) -> None:
    """Raises ``ValueError`` unless ``spec`` can shard an array of ``shape`` over ``mesh``.

    >>> import jax, numpy as np
    >>> from jax.sharding import Mesh, PartitionSpec as P
    >>> mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
    >>> check_spec(P("data"), (4, 3), mesh, ".weight")
    >>> check_spec(P("data", None, None), (4, 3), mesh, ".weight")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `.weight` has shape (4, 3) (rank 2) but its PartitionSpec('data', None, None) ...
    """
    where = f"`{path}`"
    _check_spec_axes(spec, mesh, where)
    if len(spec) > len(shape):
        raise ValueError(
            f"{where} has shape {shape} (rank {len(shape)}) but its {_fmt(spec)} has "
            f"{len(spec)} entr{'y' if len(spec) == 1 else 'ies'}; a PartitionSpec has at most "
            "one entry per dimension."
        )
    for dim, entry in enumerate(spec):
        axes = _spec_axes(entry)
        if not axes:
            continue
        size = math.prod(mesh.shape[name] for name in axes)
        if shape[dim] % size:
            over = f"mesh axis {axes[0]!r}" if len(axes) == 1 else f"mesh axes {axes}"
            raise ValueError(
                f"{where} has shape {shape}: dimension {dim} ({shape[dim]}) is split "
                f"over {over} of size {size}, and {shape[dim]} is not divisible by "
                f"{size}. Choose a mesh whose axis size divides it, or keep that "
                "dimension whole (None in the PartitionSpec)."
            )


def _parse_rules(rules: Any, mesh: Mesh) -> list[tuple["re.Pattern[str]", PartitionSpec]]:
    if isinstance(rules, Mapping):
        rules = list(rules.items())
    if isinstance(rules, (str, bytes)) or not isinstance(rules, Sequence):
        raise TypeError(MSG_RULES_FORMAT.format(problem=f"got {type(rules).__name__}"))
    parsed = []
    for i, rule in enumerate(rules):
        if not (isinstance(rule, (tuple, list)) and len(rule) == 2):
            raise TypeError(MSG_RULES_FORMAT.format(problem=f"rule {i} is {rule!r}"))
        pattern, spec = rule
        if isinstance(pattern, str):
            try:
                pattern = re.compile(pattern)
            except re.error as e:
                raise ValueError(
                    f"Sharding rule {i}: {pattern!r} is not a valid regular expression ({e})."
                ) from None
        elif not isinstance(pattern, re.Pattern):
            raise TypeError(
                MSG_RULES_FORMAT.format(
                    problem=f"the pattern of rule {i} is a {type(pattern).__name__}"
                )
            )
        where = f"Sharding rule {i} ({pattern.pattern!r})"
        spec = _as_spec(spec, where)
        _check_spec_axes(spec, mesh, where)  # a typo fails even if the rule matches nothing
        parsed.append((pattern, spec))
    return parsed


def replicated(tree: T, mesh: Mesh) -> T:
    """A tree like ``tree`` whose leaves are ``NamedSharding(mesh, PartitionSpec())``:
    every array whole on every device of ``mesh``.

    Use it for ``in_shardings``/``out_shardings`` of ``jax.jit`` (a module gives a
    module-shaped tree) or with :func:`shard` to place a model.

    >>> import jax, numpy as np, pax
    >>> from pax._src.sharding import replicated
    >>> mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    >>> shardings = replicated(pax.Linear(2, 3), mesh)
    >>> type(shardings).__name__, tuple(shardings.weight.spec)
    ('Linear', ())
    """
    mesh = _check_mesh(mesh, "replicated")
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree_util.tree_map(lambda _: sharding, tree)


def by_rules(tree: T, mesh: Mesh, rules: Rules, *, default: SpecLike = None) -> T:
    """A tree like ``tree`` whose leaves are ``NamedSharding`` objects chosen by ``rules``.

    For each leaf, the path ``jax.tree_util.keystr(path)`` (``.modules[0].weight``,
    ``.transforms[0].mu.modules[0].weight`` for an opax Adam state, ...) is searched
    (``re.search``) with each pattern in order; the first that matches gives the
    leaf's ``PartitionSpec``; when none matches, ``default`` (replicated). Anchor a
    pattern with ``$`` to match a suffix, so that a model's rules also shard the
    optimizer state that mirrors its parameters. ``tree`` may be abstract
    (``pax.eval_shape``).

    Raises ``ValueError`` naming the leaf when a spec has more entries than the leaf
    has dimensions, names an axis the mesh does not have, or splits a dimension over
    mesh axes whose size does not divide it.

    >>> import jax, numpy as np, pax
    >>> from jax.sharding import PartitionSpec as P
    >>> from pax._src.sharding import by_rules
    >>> mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("data", "model"))
    >>> net = pax.Sequential(pax.Linear(2, 4), jax.nn.relu, pax.Linear(4, 1))
    >>> shardings = by_rules(net, mesh, [(r"\\.modules\\[0\\]\\.weight$", P(None, "model"))])
    >>> tuple(shardings.modules[0].weight.spec), tuple(shardings.modules[0].bias.spec)
    ((None, 'model'), ())

    Args:
      tree: a pytree of arrays or ``jax.ShapeDtypeStruct`` (a model, an optimizer, ...).
      mesh: the ``jax.sharding.Mesh``.
      rules: ``(pattern, spec)`` pairs (a regular expression string or compiled
        pattern, and a ``PartitionSpec``, a tuple of its entries, or ``None`` for
        replicated), or a dict of them (in insertion order).
      default: the spec of leaves no rule matches (``None``: replicated).

    Returns:
      The tree of ``jax.sharding.NamedSharding``.
    """
    mesh = _check_mesh(mesh, "by_rules")
    parsed = _parse_rules(rules, mesh)
    default_spec = _as_spec(default, "pax.sharding.by_rules(default=...)")
    _check_spec_axes(default_spec, mesh, "pax.sharding.by_rules(default=...)")

    def sharding_of(key_path: Any, leaf: Any) -> NamedSharding:
        path = jax.tree_util.keystr(key_path)
        spec = next((s for pattern, s in parsed if pattern.search(path)), default_spec)
        check_spec(spec, _leaf_shape(leaf, path), mesh, path)
        return NamedSharding(mesh, spec)

    return jax.tree_util.tree_map_with_path(sharding_of, tree)


def _put(leaf: Any, sharding: Any) -> Any:
    if isinstance(leaf, jax.ShapeDtypeStruct):
        raise TypeError(
            "pax.sharding.shard got an abstract leaf (jax.ShapeDtypeStruct): it has no "
            "values to place. Build the model on its devices with "
            "pax.sharding.init_sharded, or load a checkpoint into it."
        )
    if getattr(sharding, "is_fully_addressable", True) or (
        isinstance(leaf, jax.Array) and not leaf.is_fully_addressable
    ):
        return jax.device_put(leaf, sharding)
    # A sharding over devices of other processes: this process holds the global value
    # (every process must pass the same one) and provides the pieces its devices hold.
    host = np.asarray(leaf)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _check_same_structure(tree: Any, shardings: Any, fn: str) -> None:
    tree_def: Any = jax.tree_util.tree_structure(tree)
    shardings_def: Any = jax.tree_util.tree_structure(
        shardings, is_leaf=lambda x: isinstance(x, jax.sharding.Sharding)
    )
    if tree_def != shardings_def:
        raise ValueError(
            f"pax.sharding.{fn}: `shardings` does not have the structure of `tree`. "
            "Build it from the same tree, e.g. `pax.sharding.replicated(tree, mesh)` or "
            f"`pax.sharding.by_rules(tree, mesh, rules)`.\n  tree:      {tree_def}\n"
            f"  shardings: {shardings_def}"
        )


def shard(tree: T, shardings: Any) -> T:
    """``tree`` with each leaf placed as the matching leaf of ``shardings`` says.

    ``shardings`` has the structure of ``tree`` (from :func:`replicated` or
    :func:`by_rules`) or is one sharding for every leaf. Like ``jax.device_put``, also
    for a mesh that spans several processes (``jax.distributed``): there every process
    passes the same global value, e.g. a model built from the same seed. (For a batch
    of which each process holds its own rows use
    ``jax.make_array_from_process_local_data``.)

    >>> import jax, numpy as np, pax
    >>> from pax._src.sharding import replicated, shard
    >>> mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    >>> net = pax.Linear(2, 3)
    >>> placed = shard(net, replicated(net, mesh))
    >>> placed.weight.sharding.is_fully_replicated
    True
    """
    if isinstance(shardings, jax.sharding.Sharding):
        return jax.tree_util.tree_map(lambda leaf: _put(leaf, shardings), tree)
    _check_same_structure(tree, shardings, "shard")
    return jax.tree_util.tree_map(_put, tree, shardings)


def with_shardings(tree: T, shardings: Any) -> T:
    """``tree`` as ``jax.ShapeDtypeStruct`` leaves that carry the matching sharding of
    ``shardings``: an abstract model that says where each leaf goes, e.g. for
    ``pax.load(path, like=...)`` to restore a checkpoint straight onto the devices.

    >>> import jax, numpy as np, pax
    >>> from pax._src.abstract import eval_shape
    >>> from pax._src.sharding import replicated, with_shardings
    >>> mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("data",))
    >>> abstract = eval_shape(pax.Linear, 2, 3)
    >>> placed = with_shardings(abstract, replicated(abstract, mesh))
    >>> placed.weight.shape, placed.weight.sharding.is_fully_replicated
    ((2, 3), True)
    """
    _check_same_structure(tree, shardings, "with_shardings")

    def abstract(leaf: Any, sharding: Any) -> jax.ShapeDtypeStruct:
        if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
            leaf = jnp.asarray(leaf)  # a Python scalar: JAX's dtype and weak type
        return jax.ShapeDtypeStruct(
            leaf.shape, leaf.dtype, sharding=sharding, weak_type=getattr(leaf, "weak_type", False)
        )

    return jax.tree_util.tree_map(abstract, tree, shardings)


def init_sharded(
    constructor: Callable[..., T],
    mesh: Mesh,
    rules: Rules | None = None,
    *args: Any,
    **kwargs: Any,
) -> T:
    """``constructor(*args, **kwargs)`` built directly on the devices of ``mesh``, each
    leaf placed as :func:`by_rules` says (``rules=None``: replicated).

    The abstract model (``pax.eval_shape``) gives the shapes the rules are checked
    against; then ``jax.jit(constructor, out_shardings=...)`` runs the initialisers so
    that every device computes only its own pieces: a model too large for one device
    never exists whole on one. The result equals ``constructor(*args, **kwargs)``
    (the same draws from ``pax.next_rng_key``, which advances as in a real build).

    >>> import jax, numpy as np, pax
    >>> from jax.sharding import PartitionSpec as P
    >>> from pax._src.sharding import init_sharded
    >>> mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("model",))
    >>> net = init_sharded(pax.Linear, mesh, [(r"weight$", P(None, "model"))], 2, 4)
    >>> tuple(net.weight.sharding.spec)
    (None, 'model')
    """
    mesh = _check_mesh(mesh, "init_sharded")
    abstract = eval_shape(constructor, *args, **kwargs)
    shardings = replicated(abstract, mesh) if rules is None else by_rules(abstract, mesh, rules)

    def build() -> T:
        return constructor(*args, **kwargs)

    return jax.jit(build, out_shardings=shardings)()
