"""``Module.replace_method``: a module whose methods are replaced, per instance.

A module with replaced methods is an instance of one subclass of its class, made once
per class (JAX keeps every registered pytree class anyway). The replacement functions are
static data of the instance (``METHODS_KEY``), so two modules with the same functions
have equal treedefs (no retracing under ``jax.jit``), and a ``replace_method`` in a
loop creates no class at all.

>>> import pax
>>> fc = pax.Linear(2, 2)
>>> a = fc.replace_method(__call__=lambda self, x: x)
>>> b = fc.replace_method(__call__=lambda self, x: 2 * x)
>>> type(a) is type(b), a(1.0), b(1.0)
(True, 1.0, 2.0)
"""

import types
from collections.abc import Callable
from typing import Any, cast

METHODS_KEY = "_pax_replaced_methods"

# class -> its subclass with replaceable methods
_CLASSES: dict[type, type] = {}
_DERIVED: set[type] = set()


def _replacement(module: Any, name: str) -> Callable[..., Any] | None:
    methods = object.__getattribute__(module, "__dict__").get(METHODS_KEY)
    if methods:
        for method_name, func in methods:
            if method_name == name:
                return func
    return None


def class_with_replaceable_methods(cls: type) -> type:
    """The subclass of ``cls`` whose instances look their methods up in ``METHODS_KEY``
    first (``cls`` itself when it is such a subclass)."""
    if cls in _DERIVED:
        return cls
    derived = _CLASSES.get(cls)
    if derived is not None:
        return derived

    base_getattribute: Callable[[Any, str], Any] = cast(Any, cls).__getattribute__

    def __getattribute__(self: Any, name: str) -> Any:
        func = _replacement(self, name)
        if func is not None:
            return types.MethodType(func, self)
        return base_getattribute(self, name)

    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        func = _replacement(self, "__call__")
        if func is not None:
            return func(self, *args, **kwargs)
        for klass in cls.__mro__:
            if "__call__" in vars(klass):
                return vars(klass)["__call__"](self, *args, **kwargs)
        raise TypeError(f"'{cls.__qualname__}' object is not callable")

    namespace = {"__getattribute__": __getattribute__, "__call__": __call__}
    derived_cls = type(cls.__name__, (cls,), namespace)
    derived_cls.__qualname__ = cls.__qualname__
    derived_cls.__module__ = cls.__module__
    _CLASSES[cls] = derived_cls
    _DERIVED.add(derived_cls)
    return derived_cls


def merged_methods(module: Any, methods: dict[str, Callable[..., Any]]) -> tuple:
    """The replacement methods of ``module`` updated with ``methods``, as static data
    (a tuple of ``(name, function)`` pairs, sorted by name)."""
    current = dict(module.__dict__.get(METHODS_KEY, ()))
    current.update(methods)
    return tuple(sorted(current.items()))
