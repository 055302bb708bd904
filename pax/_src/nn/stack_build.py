"""Building the stacked blocks of a :class:`pax.nn.Stack`.

``build_blocks`` vectorises the block constructor over the blocks' keys;
``stack_blocks`` stacks existing blocks (``Stack.from_sequential``) after checking
that they have one structure, naming the first field that differs.
"""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.layout import LAYOUT_KEY, STATIC, is_data_leaf
from ..core.module import Module
from ..core.node import PaxNode, StaticLeaf, static_equal
from ..core.rng import rng_position, temporary_rng
from ..core.structure import structure_diff, tree_nodes
from ..core.variable import is_variable

MSG_NOT_A_MODULE = (
    "pax.Stack: `make_block(rng_key)` must return one block, a pax.Module; it returned "
    "{got}. For example:\n"
    "    pax.Stack(lambda k: pax.Linear(8, 8, rng_key=k), 4)"
)

MSG_OBJAX_VARIABLE = (
    "pax.Stack: the block holds an Objax variable ({kind}); a Stack holds PAX-style "
    "blocks, whose arrays are attributes (pax.Linear, pax.BatchNorm1D, ...). Build the "
    "block from pax layers, or keep Objax-style blocks in a pax.Sequential."
)

MSG_THREAD_LOCAL_RNG = (
    "pax.Stack: `make_block` drew from pax's thread-local generator "
    "(`pax.next_rng_key()`, used by layers built without `rng_key=`). The blocks are "
    "built by one vectorised call of `make_block`, so that key is the same for every "
    "block: `{leaf}` would be identical in all {n} blocks. Give every layer a key "
    "derived from the one `make_block` receives:\n"
    "    pax.Stack(lambda k: pax.Linear(8, 8, rng_key=k), {n})   # right\n"
    "    pax.Stack(lambda k: pax.Linear(8, 8), {n})              # wrong: equal blocks\n"
    "(for several layers, split it: `k1, k2 = jax.random.split(k)`)."
)

MSG_TRACED_CONSTRUCTOR = (
    "pax.Stack: `make_block` needed a concrete value of something computed from its "
    "`rng_key`, but it runs once for all blocks under `jax.vmap`, where the key and "
    "everything computed from it are traced arrays. Keep Python-level decisions "
    "(shapes, flags, `if` tests) independent of the key; the key may only feed "
    "initializers. (JAX said: {error})"
)

MSG_UNEQUAL_BLOCKS = (
    "pax.Stack.from_sequential: block {index} differs from block 0: {problem}. A Stack "
    "stacks its blocks leaf by leaf, so every block must have the same classes, static "
    "fields (names, sizes, flags) and leaf shapes and dtypes."
)

# the seed of the generator swapped in to find leaves drawn from `pax.next_rng_key()`
_PROBE_SEED = 0x5EED


def check_no_variables(block: Module) -> None:
    """Raise ``TypeError`` if ``block`` holds Objax-style variables."""
    for leaf in jax.tree_util.tree_leaves(block, is_leaf=is_variable):
        if is_variable(leaf):
            raise TypeError(MSG_OBJAX_VARIABLE.format(kind=type(leaf).__name__))


# -- vectorised construction -------------------------------------------------------------


def build_blocks(make_block: Callable[[jax.Array], Module], keys: jax.Array) -> Module:
    """``make_block(keys[i])`` for every ``i``, as one module with stacked leaves.

    ``make_block`` runs once, under ``jax.vmap``, op by op as layers are built
    (each op is compiled once per shape and cached, so building similar Stacks again
    is fast).
    """
    n = int(keys.shape[0])

    def build(key: jax.Array) -> Module:
        block = make_block(key)
        if not isinstance(block, Module):
            got = "an array" if isinstance(block, jax.Array) else type(block).__name__
            raise TypeError(MSG_NOT_A_MODULE.format(got=got))
        check_no_variables(block)
        return block

    before = rng_position()
    try:
        blocks = jax.vmap(build)(keys)
    except jax.errors.ConcretizationTypeError as err:
        raise ValueError(MSG_TRACED_CONSTRUCTOR.format(error=str(err).splitlines()[0])) from err
    if n > 1 and rng_position() != before:
        _check_not_drawn_from_thread_local(build, keys, blocks, n)
    return blocks


def _check_not_drawn_from_thread_local(
    build: Callable[[jax.Array], Module], keys: jax.Array, blocks: Module, n: int
) -> None:
    """``make_block`` drew from ``pax.next_rng_key()``: build again with another
    thread-local generator; a leaf that changes came from it, so it is the same in
    every block. (Drawing is fine when nothing depends on it, e.g. a LayerNorm built
    without a key.) Skipped when the blocks are traced (built under a JAX transform)."""
    pairs = jax.tree_util.tree_flatten_with_path(blocks)[0]
    if any(isinstance(leaf, jax.core.Tracer) for _, leaf in pairs):
        return
    with temporary_rng(_PROBE_SEED):  # the user's sequence advanced once, as by one build
        probe = jax.vmap(build)(keys)
    structure: Any = jax.tree_util.tree_structure(blocks)  # PyTreeDef: no type stubs
    if structure != jax.tree_util.tree_structure(probe):
        return
    for (path, leaf), other in zip(pairs, jax.tree_util.tree_leaves(probe)):
        if not np.array_equal(_comparable(leaf), _comparable(other)):
            where = f"({type(blocks).__name__}){jax.tree_util.keystr(path)}"
            raise ValueError(MSG_THREAD_LOCAL_RNG.format(leaf=where, n=n))


def _comparable(x: Any) -> np.ndarray:
    if jnp.issubdtype(jnp.result_type(x), jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    return np.asarray(x)


# -- stacking existing blocks ----------------------------------------------------------------


def stack_blocks(blocks: list[Module]) -> Module:
    """One module whose leaves are those of ``blocks`` stacked on a new leading axis.

    Raises ``ValueError`` naming the first block and field that differ from block 0.
    """
    ref = blocks[0]
    ref_def: Any = jax.tree_util.tree_structure(ref)  # PyTreeDef: no type stubs
    ref_types = _leaf_types(ref)
    for i, block in enumerate(blocks[1:], start=1):
        if jax.tree_util.tree_structure(block) != ref_def or _leaf_types(block) != ref_types:
            problem = first_difference(ref, block, type(ref).__name__)
            if problem is None:
                problem = "their structures differ:\n" + structure_diff(ref, block)
            raise ValueError(MSG_UNEQUAL_BLOCKS.format(index=i, problem=problem))
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *blocks)


def _leaf_types(block: Module) -> list[Any]:
    return [(jnp.shape(x), jnp.result_type(x)) for x in jax.tree_util.tree_leaves(block)]


def _is_array(x: Any) -> bool:
    return is_data_leaf(x) and not isinstance(x, PaxNode)


_FIELD_NAMES = {"_name": "name", "_training": "training"}


def first_difference(a: Any, b: Any, path: str) -> str | None:
    """Where ``b`` first differs from ``a`` (block 0) in structure or leaf type, walking
    both with the core's one tree walk (``tree_nodes``); ``None`` when no node differs."""
    for (where, x, _), (_, y, _) in zip(tree_nodes(a, path), tree_nodes(b, path)):
        found = _node_difference(where, x, y)
        if found is not None:
            return found
    return None


def _node_difference(path: str, a: Any, b: Any) -> str | None:
    """How node ``b`` differs from node ``a`` of block 0, not looking at their children."""
    if _is_array(a) and _is_array(b):
        ta = (tuple(jnp.shape(a)), jnp.result_type(a).name)
        tb = (tuple(jnp.shape(b)), jnp.result_type(b).name)
        if ta != tb:
            return f"`{path}` has shape {tb[0]} and dtype {tb[1]}, block 0 has {ta[0]} and {ta[1]}"
        return None
    if type(a) is not type(b):
        return f"`{path}` is a {type(b).__qualname__}, in block 0 a {type(a).__qualname__}"
    if isinstance(a, Module):
        la, lb = a.__dict__[LAYOUT_KEY], b.__dict__[LAYOUT_KEY]
        if la.names != lb.names:
            return f"`{path}` has the fields {list(lb.names)}, block 0 has {list(la.names)}"
        for name in la.names:
            sub = f"{path}.{_FIELD_NAMES.get(name, name)}"
            va, vb = a.__dict__[name], b.__dict__[name]
            static_a, static_b = la.kinds[name] == STATIC, lb.kinds[name] == STATIC
            if static_a and static_b and not static_equal(va, vb):
                return f"`{sub}` is {vb!r}, in block 0 {va!r}"
            if static_a != static_b:
                return _node_difference(sub, va, vb) or f"`{sub}` differs from block 0's"
        return None
    if isinstance(a, (list, tuple)) and len(a) != len(b):
        return f"`{path}` has {len(b)} entries, in block 0 {len(a)}"
    if isinstance(a, dict) and list(a) != list(b):
        return f"`{path}` has the keys {list(b)}, block 0 has {list(a)}"
    if isinstance(a, StaticLeaf) and not static_equal(a.value, b.value):
        return f"`{path}` is {b.value!r}, in block 0 {a.value!r}"
    if isinstance(a, (PaxNode, list, tuple, dict)) or static_equal(a, b):
        return None
    return f"`{path}` is {b!r}, in block 0 {a!r}"
