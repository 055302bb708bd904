"""The arrays a function can read without receiving them as arguments.

JAX compiles every concrete array that a traced function reads from outside its
arguments into the program as a constant. This module finds the candidates by
walking what the function holds: its closure cells, the globals its code names,
its default arguments, ``functools.partial`` arguments, the ``__self__`` of a bound
method, ``__wrapped__``, the pax module it is, and the function and variables that
pax's Objax-style transforms hold, recursively into the functions found there.
Functions of libraries (jax, numpy, the standard library, ...) are not entered.

Each array is reported once, with where it was found: ``closure 'model'`` and, for
a leaf of a pax module, the module's type and the attribute path.
"""

import dataclasses
import functools
import os
import sys
import sysconfig
import types
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from ..core.layout import INTERNAL_KEYS
from ..core.module import Module, OpaqueModule
from ..core.node import PaxNode

# Functions and objects of these packages are not entered (nor those of the stdlib).
_LIBRARIES = frozenset(
    {"jax", "jaxlib", "numpy", "scipy", "pax", "opax", "opax_integration", "optax"}
    | {"haiku", "flax", "equinox", "ml_dtypes", "_pytest", "pytest", "IPython"}
)
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ()))
_STDLIB_DIR = os.path.abspath(sysconfig.get_paths()["stdlib"]) + os.sep
_SITE_DIRS = tuple(
    os.path.abspath(sysconfig.get_paths()[key]) + os.sep for key in ("purelib", "platlib")
)
_MAX_DEPTH = 8
_MAX_ITEMS = 10_000  # elements of one list/dict that are looked at


@dataclasses.dataclass(frozen=True)
class Reached:
    """A concrete array reachable from a function, and where it was found."""

    array: Any
    origin: str  # e.g. "closure 'model'", "global 'table'", "self"
    module_type: str | None = None  # the pax module holding it, e.g. "Sequential"
    path: str = ""  # attribute path in that module (or container path), e.g. ".fc.weight"

    @property
    def where(self) -> str:
        """E.g. ``closure 'model': Sequential.layers[0].weight``."""
        if self.module_type is not None:
            return f"{self.origin}: {self.module_type}{self.path}"
        return f"{self.origin}{self.path}"


def is_concrete_array(x: Any) -> bool:
    """A JAX or NumPy array holding data (not a tracer, not an object array)."""
    if isinstance(x, jax.core.Tracer):
        return False
    if isinstance(x, np.ndarray):
        return x.dtype != object
    return isinstance(x, jax.Array)


def reachable_arrays(fn: Any) -> list[Reached]:
    """The concrete arrays ``fn`` holds or refers to, each once (first place found).

    >>> import jax.numpy as jnp, pax
    >>> from pax._src.debug.reach import reachable_arrays
    >>> def make_predict(model):
    ...     return lambda x: model(x)
    >>> [r.where for r in reachable_arrays(make_predict(pax.Linear(2, 3)))]
    ["closure 'model': Linear.weight", "closure 'model': Linear.bias"]
    """
    walker = _Walker()
    walker.callable(fn, "self", 0)
    return walker.found


def _is_library(obj: Any) -> bool:
    """True for a class or object defined by a library (by its ``__module__``)."""
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str):
        return False
    top = module.split(".")[0]
    return top in _LIBRARIES or top in _STDLIB


@functools.lru_cache(maxsize=None)
def _library_dirs(imported: frozenset[str]) -> tuple[str, ...]:
    dirs = []
    for name in imported:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file:
            dirs.append(os.path.dirname(os.path.abspath(file)) + os.sep)
    # pax's own implementation, but not code that uses pax (tests, examples, doctests)
    dirs.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep)
    return tuple(dirs)


def _is_library_code(fn: types.FunctionType) -> bool:
    """True for a function defined in a library's files or in the standard library."""
    filename = os.path.abspath(fn.__code__.co_filename)
    imported = frozenset(n for n in _LIBRARIES if n in sys.modules and n != "pax")
    if filename.startswith(_library_dirs(imported)):
        return True
    return filename.startswith(_STDLIB_DIR) and not filename.startswith(_SITE_DIRS)


def _global_names(code: types.CodeType) -> Iterator[str]:
    """The names a code object (and the code nested in it) may read from globals."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


class _Walker:
    def __init__(self) -> None:
        self.found: list[Reached] = []
        self._arrays: set[int] = set()
        self._seen: set[int] = set()

    def _add(self, array: Any, origin: str, module_type: str | None, path: str) -> None:
        if is_concrete_array(array) and id(array) not in self._arrays:
            self._arrays.add(id(array))
            self.found.append(Reached(array, origin, module_type, path))

    def _first_visit(self, obj: Any) -> bool:
        if id(obj) in self._seen:
            return False
        self._seen.add(id(obj))
        return True

    # -- values ------------------------------------------------------------------
    def value(self, value: Any, origin: str, path: str, depth: int) -> None:
        """Arrays held by a value found at ``origin`` + ``path``."""
        if depth > _MAX_DEPTH or value is None:
            return
        if isinstance(value, (jax.Array, np.ndarray)):
            self._add(value, origin, None, path)
        elif isinstance(value, PaxNode):
            self._node(value, origin, path, depth)
        elif isinstance(value, (list, tuple)):
            if self._first_visit(value):
                for i, item in enumerate(value[:_MAX_ITEMS]):
                    self.value(item, origin, f"{path}[{i}]", depth + 1)
        elif isinstance(value, dict):
            if self._first_visit(value):
                for i, (key, item) in enumerate(value.items()):
                    if i >= _MAX_ITEMS:
                        break
                    self.value(item, origin, f"{path}[{key!r}]", depth + 1)
        elif callable(value):
            self.callable(value, f"{origin}{path}", depth + 1)
        elif not _is_library(type(value)) and self._first_visit(value):
            self._object(value, f"{origin}{path}", depth + 1)

    def _node(self, node: PaxNode, origin: str, path: str, depth: int) -> None:
        if not self._first_visit(node):
            return
        if isinstance(node, OpaqueModule):  # pax.Jit, pax.Function, ...: what they hold
            self._attributes(node, f"{origin}{path}", depth + 1)
        elif isinstance(node, Module):
            owner = type(node).__qualname__
            for key_path, leaf in jax.tree_util.tree_flatten_with_path(node)[0]:
                self._add(leaf, f"{origin}{path}", owner, jax.tree_util.keystr(key_path))
        else:  # an Objax-style variable: its value
            for leaf in jax.tree_util.tree_leaves(node):
                self._add(leaf, origin, None, path)

    def _object(self, obj: Any, origin: str, depth: int) -> None:
        """An instance of a user class: its pytree leaves, or else its attributes."""
        try:
            leaves = jax.tree_util.tree_flatten_with_path(obj)[0]
        except Exception:  # noqa: BLE001 - a broken flatten: look at the attributes
            leaves = [((), obj)]
        if len(leaves) == 1 and leaves[0][1] is obj:
            self._attributes(obj, origin, depth)
            return
        for key_path, leaf in leaves:
            self.value(leaf, origin, jax.tree_util.keystr(key_path), depth + 1)

    def _attributes(self, obj: Any, origin: str, depth: int) -> None:
        attrs = getattr(obj, "__dict__", None)
        if not isinstance(attrs, dict):
            return
        for name, item in list(attrs.items()):
            if name == "__wrapped__":  # what a pax transform or a decorator wraps
                self.callable(item, origin, depth)
            elif name not in INTERNAL_KEYS:
                self.value(item, origin, f".{name}", depth)

    # -- callables -----------------------------------------------------------------
    def callable(self, fn: Any, origin: str, depth: int) -> None:
        """Arrays a callable holds: see the module docstring."""
        if isinstance(fn, PaxNode):
            self.value(fn, origin, "", depth)
            return
        if depth > _MAX_DEPTH or not self._first_visit(fn):
            return
        try:
            wrapped = getattr(fn, "__wrapped__", None)  # functools.wraps, jax.jit, ...
        except Exception:  # noqa: BLE001 - an object with an odd __getattr__
            wrapped = None
        if isinstance(fn, functools.partial):
            for i, arg in enumerate(fn.args):
                self.value(arg, _join(origin, f"partial argument {i}"), "", depth + 1)
            for name, arg in fn.keywords.items():
                self.value(arg, _join(origin, f"partial argument '{name}'"), "", depth + 1)
            self.callable(fn.func, origin, depth + 1)
        elif isinstance(fn, types.MethodType):
            self.value(fn.__self__, _join(origin, "self"), "", depth + 1)
            self.callable(fn.__func__, origin, depth + 1)
        elif isinstance(fn, types.FunctionType):
            if not _is_library_code(fn):
                self._function(fn, origin, depth)
        elif not isinstance(fn, type) and not _is_library(type(fn)):
            self._object(fn, origin, depth + 1)  # an instance of a user class
        if wrapped is not None and not isinstance(fn, type):
            self.callable(wrapped, origin, depth + 1)

    def _function(self, fn: types.FunctionType, origin: str, depth: int) -> None:
        code = fn.__code__
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            self.value(content, _join(origin, f"closure '{name}'"), "", depth + 1)
        namespace: dict[str, Any] = fn.__globals__
        for name in dict.fromkeys(_global_names(code)):
            if name in namespace:
                item = namespace[name]
                if not isinstance(item, types.ModuleType):
                    self.value(item, _join(origin, f"global '{name}'"), "", depth + 1)
        for i, default in enumerate(fn.__defaults__ or ()):
            self.value(default, _join(origin, f"default {i}"), "", depth + 1)
        for name, default in (fn.__kwdefaults__ or {}).items():
            self.value(default, _join(origin, f"default '{name}'"), "", depth + 1)


def _join(origin: str, step: str) -> str:
    """``self`` (the function itself) disappears from the names of what it holds."""
    return step if origin == "self" else f"{origin} > {step}"
