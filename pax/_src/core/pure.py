"""``pax.pure``: the only place where modules may be mutated."""

import functools
from collections.abc import Callable
from types import MethodType
from typing import Any, TypeVar

import jax

from .guards import assert_no_sharing
from .leaks import check_no_leaked_tracers
from .module import Module
from .mutation import pure_frame

O = TypeVar("O")


def collect_modules(tree: Any, out: list[Module]) -> None:
    """Append every module in ``tree`` (and every submodule) to ``out``."""
    for leaf in jax.tree_util.tree_leaves(tree, is_leaf=lambda x: isinstance(x, Module)):
        if isinstance(leaf, Module):
            out.append(leaf)
            collect_modules(leaf.submodules(), out)


def _copy(tree: Any) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _split_callable(func: Callable, caller: str) -> tuple[Callable, tuple[Any, ...]]:
    """A module or bound method becomes (plain function, leading arguments)."""
    if isinstance(func, MethodType) and isinstance(func.__self__, Module):
        return func.__func__, (func.__self__,)
    if isinstance(func, Module):
        if not callable(func):
            raise TypeError(f"{func._short_repr()} has no `__call__` method.")
        return type(func).__call__, (func,)
    if callable(func):
        return func, ()
    raise TypeError(f"{caller} expects a function, a pax module or a method of one; got {func!r}.")


def pure(func: Callable[..., O]) -> Callable[..., O]:
    """Make ``func`` pure: it runs on copies of its arguments, which it may mutate.

    The caller's modules never change; return a mutated module to keep it.

    >>> import jax.numpy as jnp, pax
    >>> net = pax.Linear(3, 3)
    >>> @pax.pure
    ... def add_tag(m):
    ...     m.tag = "new"
    ...     return m
    >>> tagged = add_tag(net)
    >>> tagged.tag, hasattr(net, "tag")
    ('new', False)
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fn, leading = _split_callable(func, "pax.pure")
        args, kwargs = _copy(((*leading, *args), kwargs))
        modules: list[Module] = []
        collect_modules((args, kwargs), modules)
        # the copies, then every module created while `fn` runs (see mutation.py)
        with pure_frame(modules) as frame:
            out = fn(*args, **kwargs)
        _check_returned_modules(out, frame.modules)
        check_no_leaked_tracers(out, frame.records, fn)
        return out

    return wrapper


def _check_returned_modules(out: Any, *mutated: list[Module]) -> None:
    """Modules that were mutable in this call and come back must still be trees:
    an assignment such as ``self.b = self.a`` or ``self.b = [self.w]`` is caught
    here, when the call returns, so a swap (``self.a, self.b = self.b, self.a``) works."""
    ids = {id(m) for group in mutated for m in group}
    for leaf in jax.tree_util.tree_leaves(out, is_leaf=lambda x: isinstance(x, Module)):
        if isinstance(leaf, Module) and id(leaf) in ids:
            assert_no_sharing(leaf)


def module_and_value(module_or_method: Callable[..., O]) -> Callable[..., tuple[Any, O]]:
    """A pure function that calls a module (or a module's method) and returns
    ``(updated_module, output)``.

    >>> import jax.numpy as jnp, pax
    >>> net = pax.Linear(1, 1)
    >>> net, y = pax.module_and_value(net)(jnp.ones((32, 1)))
    >>> y.shape
    (32, 1)
    """
    func, leading = _split_callable(module_or_method, "module_and_value")

    def run(mod, *args, **kwargs):
        if not isinstance(mod, Module):
            raise TypeError(f"Expected a pax module as first argument, got {type(mod)}.")
        out = func(mod, *args, **kwargs)
        return mod, out

    run.__qualname__ = getattr(func, "__qualname__", run.__qualname__)  # for error messages
    run = pure(run)
    return functools.partial(run, *leading) if leading else run


def purecall(module: Callable[..., O], *args: Any, **kwargs: Any) -> tuple[Any, O]:
    """Call ``module(*args, **kwargs)`` purely; return ``(updated_module, output)``.

    >>> import jax.numpy as jnp, pax
    >>> bn = pax.BatchNorm1D(3)
    >>> bn, y = pax.purecall(bn, jnp.ones((4, 3)))
    >>> y.shape
    (4, 3)
    """
    if not isinstance(module, Module):
        raise TypeError(f"purecall expects a pax module, got {type(module)}.")
    return module_and_value(module)(*args, **kwargs)
