"""Checks that catch the common silent bugs of pytree modules."""

from collections.abc import Callable
from typing import Any, cast

import jax

from .errors import SharedNodeError
from .variable import is_reference as _is_reference

MSG_IMMUTABLE = (
    "Cannot set attribute `{name}` of {module}: pax modules are immutable outside "
    "`pax.pure`.\n"
    "Mutate a copy inside a pure function and return it:\n"
    "    @pax.pure\n"
    "    def update(module):\n"
    "        module.{name} = new_value\n"
    "        return module\n"
    "    module = update(module)\n"
    "or use `module = module.replace({name}=new_value)`."
)

MSG_IMMUTABLE_DEL = (
    "Cannot delete attribute `{name}` of {module}: pax modules are immutable "
    "outside `pax.pure`. Delete it inside a function decorated by `pax.pure`."
)

MSG_MUTATED_IN_SCAN = (
    "Cannot set attribute `{name}` of {module} inside a `pax.scan` body: the module "
    "was captured from outside the body, and the new value is traced by the scan, so "
    "it would leak out of it (and the update would not happen once per step).\n"
    "Pass the module through the scan carry and return the updated module:\n"
    "    def body(carry, x):\n"
    "        rng, total = carry\n"
    "        rng, key = pax.module_and_value(rng.next_rng_key)()\n"
    "        return (rng, total + x), key\n"
    "    (rng, total), keys = pax.scan(body, (rng, total), xs)"
)


def holds_tracer(value: Any) -> bool:
    """True if ``value`` (any pytree) has a ``jax.core.Tracer`` leaf."""
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(value))


MSG_SHARED_MODULE = (
    "The module {module} appears twice in {root}: at `{first}` and at `{second}`.\n"
    "A pax module is a tree, so a module (or an array) may sit in one place only; "
    "sharing would silently turn into two independent copies after the first "
    "JAX transform.\n"
    "Use two separate modules, or keep one and call it twice:\n"
    "    self.a = pax.Linear(2, 2); self.b = pax.Linear(2, 2)   # two modules\n"
    "    self.a = fc; self.b = fc                               # wrong: shared"
)

MSG_SHARED_ARRAY = (
    "The same array object appears twice in {root}: at `{first}` and at `{second}` "
    "(shape={shape}, dtype={dtype}).\n"
    "Pytree leaves cannot be shared: after a JAX transform they become two "
    "independent arrays. Give each attribute its own array (e.g. `x.copy()`)."
)


def _path_str(path) -> str:
    return jax.tree_util.keystr(tuple(path)) or "<root>"


def _has_sharing(root: Any, module_type: type) -> bool:
    """Fast check (no key paths): does a module or array occur twice?"""
    seen = set()
    stack = [root]
    while stack:
        node = stack.pop()
        leaves = jax.tree_util.tree_leaves(
            node,
            # (mypy cannot infer a lambda with a default argument from the context)
            is_leaf=cast(
                "Callable[[Any], bool]",
                lambda x, node=node: (
                    x is not node and (isinstance(x, module_type) or _is_reference(x))
                ),
            ),
        )
        for value in leaves:
            if _is_reference(value):
                continue
            is_module = isinstance(value, module_type)
            if is_module or (hasattr(value, "shape") and hasattr(value, "dtype")):
                if id(value) in seen:
                    return True
                seen.add(id(value))
                if is_module:
                    stack.append(value)
    return False


def assert_no_sharing(root: Any) -> None:
    """Raise ``ValueError`` if a module or array occurs twice in ``root``'s tree.

    The common case (no sharing) takes one pass without key paths; the paths for the
    error message are only computed when something is shared."""
    from .module import Module  # local import: module.py imports this file

    if not _has_sharing(root, Module):
        return

    seen_modules: dict[int, str] = {}
    seen_arrays: dict[int, str] = {}

    def visit(node: Any, path: tuple) -> None:
        children, _ = jax.tree_util.tree_flatten_with_path(
            node,
            is_leaf=lambda x: x is not node and (isinstance(x, Module) or _is_reference(x)),
        )
        for sub_path, value in children:
            full = path + tuple(sub_path)
            if _is_reference(value):
                continue
            if isinstance(value, Module):
                where = _path_str(full)
                if id(value) in seen_modules:
                    raise SharedNodeError(
                        MSG_SHARED_MODULE.format(
                            module=value._short_repr(),
                            root=root._short_repr(),
                            first=seen_modules[id(value)],
                            second=where,
                        )
                    )
                seen_modules[id(value)] = where
                visit(value, full)
            elif hasattr(value, "shape") and hasattr(value, "dtype"):
                where = _path_str(full)
                if id(value) in seen_arrays:
                    raise SharedNodeError(
                        MSG_SHARED_ARRAY.format(
                            root=root._short_repr(),
                            first=seen_arrays[id(value)],
                            second=where,
                            shape=value.shape,
                            dtype=value.dtype,
                        )
                    )
                seen_arrays[id(value)] = where

    visit(root, ())
