"""Applying the stacked blocks of a :class:`pax.nn.Stack`: one ``jax.lax.scan``.

``run_blocks(blocks, n, x, args, kwargs)`` returns the output and an *update*, what
the call changed in the blocks (their state: batch-norm statistics, dropout keys):

* ``None``: nothing;
* ``(None, leaves)``: the new value of each changed leaf, ``None`` for the others;
* ``(new_blocks, None)``: a block changed its structure; the new blocks.

Only the leaves a block changes leave the scan, so a forward pass neither copies the
parameters through the scan nor returns new arrays for them.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.layout import LAYOUT_KEY
from ..core.module import Module
from ..core.pure import purecall
from ..transforms.scan import scan

Update = tuple[Module | None, list[Any] | None] | None
Args = tuple[Any, ...]
Kwargs = dict[str, Any]

MSG_NOT_SHAPE_PRESERVING = (
    "pax.Stack: block {block} maps {inp} to {out}, but every block of a Stack must "
    "return an output of the shape, structure and dtype of its input. The blocks run "
    "one after the other as one `jax.lax.scan`, in which the activation is the carry "
    "passed from block to block, and a scan carry keeps its type. Stack the "
    "shape-preserving part (residual or width-preserving blocks) and put the layers "
    "that change the shape around it:\n"
    "    pax.Sequential(pax.Linear(3, 64), pax.Stack(make_block, 10), pax.Linear(64, 1))"
)

MSG_STRUCTURE_CHANGED = (
    "pax.Stack: calling the blocks changed their structure (a new attribute or "
    "static field) in different ways for the first block and the others; the blocks "
    "of a Stack must keep one structure."
)


def _structure(tree: Any) -> Any:
    return jax.tree_util.tree_structure(tree)  # Any: PyTreeDef has no type stubs


def _types(tree: Any) -> str:
    described = jax.tree_util.tree_map(
        lambda x: f"{jnp.result_type(x).name}{list(jnp.shape(x))}", tree
    )
    return described if isinstance(described, str) else str(described)


def _same_shapes(carry: Any, out: Any) -> bool:
    c_leaves, o_leaves = jax.tree_util.tree_leaves(carry), jax.tree_util.tree_leaves(out)
    return _structure(carry) == _structure(out) and all(
        jnp.shape(a) == jnp.shape(b) for a, b in zip(c_leaves, o_leaves)
    )


def _same_dtypes(carry: Any, out: Any) -> bool:
    c_leaves, o_leaves = jax.tree_util.tree_leaves(carry), jax.tree_util.tree_leaves(out)
    return all(jnp.result_type(a) == jnp.result_type(b) for a, b in zip(c_leaves, o_leaves))


def _check_carry(block: Module, carry: Any, out: Any) -> None:
    if not (_same_shapes(carry, out) and _same_dtypes(carry, out)):
        raise ValueError(
            MSG_NOT_SHAPE_PRESERVING.format(block=repr(block), inp=_types(carry), out=_types(out))
        )


def _first_block(blocks: Module) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten(blocks)
    return jax.tree_util.tree_unflatten(treedef, [leaf[0] for leaf in leaves])


def _first_block_changes_dtype(blocks: Module, x: Any, args: Args, kwargs: Kwargs) -> bool:
    """Whether block 0 returns the shapes of its input in other dtypes (e.g. a
    mixed-precision block given float32 inputs): found by abstract evaluation, before
    any scan; such a block runs apart, see ``_run_first_apart``."""

    def first_output(blocks: Module, x: Any) -> Any:
        return purecall(_first_block(blocks), x, *args, **kwargs)[1]

    out = jax.eval_shape(first_output, blocks, x)
    return _same_shapes(x, out) and not _same_dtypes(x, out)


def _scan(blocks: Module, n: int, x: Any, args: Args, kwargs: Kwargs):
    """The ``n`` stacked ``blocks`` on ``x`` as one scan: ``(output, update)``.

    The body returns, besides the block's output, what changed in the block: the new
    block when its structure changed, else its leaves with ``None`` where a leaf is
    unchanged (so only the changed leaves leave the scan, and the structure of what
    the scan returns says which they are)."""
    treedef = _structure(blocks)

    def body(carry: Any, block: Any) -> tuple[Any, Any]:
        new_block, y = purecall(block, carry, *args, **kwargs)
        _check_carry(block, carry, y)
        new_leaves, new_def = jax.tree_util.tree_flatten(new_block)
        if new_def != treedef:
            return y, (new_block, None)
        old_leaves = jax.tree_util.tree_leaves(block)
        return y, (None, [b if a is not b else None for a, b in zip(old_leaves, new_leaves)])

    y, (new_blocks, leaves) = scan(body, x, blocks, length=n)
    if new_blocks is not None:
        return y, (new_blocks, None)
    if all(leaf is None for leaf in leaves):
        return y, None
    return y, (None, leaves)


def _run_first_apart(blocks: Module, n: int, x: Any, args: Args, kwargs: Kwargs):
    """Block 0 unrolled, then a scan over the others: for a first block whose output
    dtype differs from its input's, which the later blocks keep (as a mixed-precision
    block computing in bfloat16 and returning float32 does, given bfloat16)."""
    leaves, treedef = jax.tree_util.tree_flatten(blocks)
    first: Any = _first_block(blocks)
    new_first, y = purecall(first, x, *args, **kwargs)
    first_leaves = jax.tree_util.tree_leaves(first)
    new_first_leaves = jax.tree_util.tree_leaves(new_first)
    first_def = _structure(new_first)
    if n == 1:
        if first_def == treedef and all(a is b for a, b in zip(first_leaves, new_first_leaves)):
            return y, None
        return y, (jax.tree_util.tree_map(lambda b: b[None], new_first), None)
    rest = jax.tree_util.tree_unflatten(treedef, [leaf[1:] for leaf in leaves])
    y, rest_update = _scan(rest, n - 1, y, args, kwargs)
    new_rest = updated_blocks(rest, rest_update)
    if first_def != treedef or (new_rest is not None and _structure(new_rest) != treedef):
        if new_rest is None or _structure(new_rest) != first_def:
            raise ValueError(MSG_STRUCTURE_CHANGED)
        stacked = jax.tree_util.tree_map(
            lambda a, b: jnp.concatenate([a[None], b]), new_first, new_rest
        )
        return y, (stacked, None)
    rest_leaves = jax.tree_util.tree_leaves(rest)
    new_rest_leaves = rest_leaves if new_rest is None else jax.tree_util.tree_leaves(new_rest)
    out: list[Any] = [
        None if a0 is a1 and b0 is b1 else jnp.concatenate([a1[None], b1])
        for a0, a1, b0, b1 in zip(first_leaves, new_first_leaves, rest_leaves, new_rest_leaves)
    ]
    return y, ((None, out) if any(v is not None for v in out) else None)


def _run(blocks: Module, n: int, x: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Update]:
    if _first_block_changes_dtype(blocks, x, args, kwargs):
        return _run_first_apart(blocks, n, x, args, kwargs)
    return _scan(blocks, n, x, args, kwargs)


_run_jitted = jax.jit(_run, static_argnums=1)


def _all_concrete(tree: Any) -> bool:
    """Only arrays, none of them traced. (Python numbers, flags and other values may
    steer the blocks' Python code, so they are not made traced arguments.)"""
    return all(
        isinstance(x, (jax.Array, np.ndarray)) and not isinstance(x, jax.core.Tracer)
        for x in jax.tree_util.tree_leaves(tree)
    )


def run_blocks(blocks: Module, n: int, x: Any, args: Args, kwargs: Kwargs) -> tuple[Any, Update]:
    """Apply the ``n`` stacked ``blocks`` to ``x``: ``(output, update)`` (see above)."""
    if _all_concrete((blocks, x, args, kwargs)):
        # called eagerly: one compiled program per shape, cached, instead of a new scan
        # (which compiles anew) on every call
        return _run_jitted(blocks, n, x, args, kwargs)
    return _run(blocks, n, x, args, kwargs)


def updated_blocks(blocks: Module, update: Update) -> Module | None:
    """``blocks`` after a call that made ``update`` (``None`` when unchanged)."""
    if update is None:
        return None
    full, leaves = update
    if full is not None:
        return full
    old, treedef = jax.tree_util.tree_flatten(blocks)
    new = [a if b is None else b for a, b in zip(old, leaves or [])]
    return jax.tree_util.tree_unflatten(treedef, new)


# -- keeping the new state in place (Objax-style transforms) ---------------------------------


def _is_module(x: Any) -> bool:
    return isinstance(x, Module)


def plan_in_place(old: Any, new: Any, plan: list[tuple[Module, str, Any]]) -> bool:
    """Collect the attribute writes ``(module, name, value)`` that turn the module
    ``old`` into ``new`` in place; ``False`` when their structures differ."""
    if type(old) is not type(new):
        return False
    d_old, d_new = old.__dict__, new.__dict__
    if d_old[LAYOUT_KEY] != d_new[LAYOUT_KEY]:
        return False
    for name in d_old[LAYOUT_KEY].children:
        a, b = d_old[name], d_new[name]
        if a is b:
            continue
        if isinstance(a, Module):
            if not plan_in_place(a, b, plan):
                return False
            continue
        a_leaves, a_def = jax.tree_util.tree_flatten(a, is_leaf=_is_module)
        b_leaves = jax.tree_util.tree_leaves(b, is_leaf=_is_module)
        if _structure(b) != _structure(a) or len(a_leaves) != len(b_leaves):
            return False
        values, changed = [], False
        for x, y in zip(a_leaves, b_leaves):
            if isinstance(x, Module):
                if not plan_in_place(x, y, plan):
                    return False
                values.append(x)
            else:
                changed = changed or x is not y
                values.append(y)
        if changed:
            plan.append((old, name, jax.tree_util.tree_unflatten(a_def, values)))
    return True
