"""Frozen modules (``pax.freeze_parameters``): the mark on a frozen module, and the
``parameters`` methods that already honour it.

A frozen module keeps ``FROZEN_KEY: True`` among its static data; its
``parameters()`` is empty whatever method its class defines, because ``Module``
wraps every ``parameters`` method that is not marked :func:`freeze_aware`.

>>> import pax
>>> is_frozen(pax.freeze_parameters(pax.Linear(1, 1))), is_frozen(pax.Linear(1, 1))
(True, False)
"""

import weakref
from collections.abc import Callable
from typing import Any

FROZEN_KEY = "_pax_frozen"

_FREEZE_AWARE: "weakref.WeakSet[Callable[..., Any]]" = weakref.WeakSet()


def is_frozen(module: Any) -> bool:
    """``True`` for a module frozen by ``pax.freeze_parameters``."""
    return bool(module.__dict__.get(FROZEN_KEY, False))


def freeze_aware(method: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a ``parameters`` method that returns nothing trainable for a frozen module."""
    _FREEZE_AWARE.add(method)
    return method


def is_freeze_aware(method: Callable[..., Any]) -> bool:
    """Whether ``method`` was marked by :func:`freeze_aware`."""
    try:
        return method in _FREEZE_AWARE
    except TypeError:  # not weak-referenceable (e.g. a builtin): not ours
        return False
