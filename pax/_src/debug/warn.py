"""Warnings raised while JAX traces, pointing at the user's function."""

import functools
import types
import warnings
from typing import Any


def code_location(fn: Any) -> tuple[str, int, str] | None:
    """(file, line, module) where the user's function ``fn`` is defined, if known."""
    for _ in range(16):  # through decorators (functools.wraps), partials and methods
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None:
            fn = wrapped
        elif isinstance(fn, types.MethodType):
            fn = fn.__func__
        elif isinstance(fn, functools.partial):
            fn = fn.func
        elif isinstance(fn, types.FunctionType):
            code = fn.__code__
            return code.co_filename, code.co_firstlineno, fn.__module__ or "__main__"
        else:
            return None
    return None


def warn_at(fn: Any, message: str, category: type) -> None:
    """``warnings.warn`` pointing at the definition of ``fn`` (the call stack of a
    warning raised while JAX traces is JAX's, not the user's)."""
    location = code_location(fn)
    if location is None:
        warnings.warn(message, category, stacklevel=3)
    else:
        filename, lineno, module = location
        warnings.warn_explicit(message, category, filename, lineno, module=module)
