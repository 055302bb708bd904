"""Extension points of ``Module.vars()``: who lists a module's variables, and how
they are named. The core defines the hooks; the Objax layer
(``pax/_src/objax/module_vars.py``, ``pax/_src/objax/stack_vars.py``) registers the
providers, so the core never imports it.

>>> import pax
>>> from pax._src.core.vars_hooks import inline_attributes, vars_provider
>>> inline_attributes(pax.Sequential)
('modules',)
>>> vars_provider(pax.Linear) is not None
True
"""

import weakref
from collections.abc import Callable
from typing import Any

VarsProvider = Callable[[Any, str], Any]

_PROVIDERS: "weakref.WeakKeyDictionary[type, VarsProvider]" = weakref.WeakKeyDictionary()
_INLINE: "weakref.WeakKeyDictionary[type, tuple[str, ...]]" = weakref.WeakKeyDictionary()


def register_vars_provider(cls: type, provider: VarsProvider) -> None:
    """``cls(...).vars(scope)`` (and that of its subclasses) calls ``provider(module, scope)``."""
    _PROVIDERS[cls] = provider


def vars_provider(cls: type) -> VarsProvider | None:
    """The provider registered for ``cls`` or its nearest base class, if any."""
    for klass in cls.__mro__:
        provider = _PROVIDERS.get(klass)
        if provider is not None:
            return provider
    return None


def name_inline(cls: type, *attributes: str) -> None:
    """Leave ``attributes`` out of the variable names of ``cls`` (and its subclasses):
    ``pax.Sequential`` names its layers ``(Sequential)[0](Linear).weight``, as Objax."""
    _INLINE[cls] = tuple(attributes)


def inline_attributes(cls: type) -> tuple[str, ...]:
    """The attributes that ``cls`` (or its nearest registered base) names inline."""
    for klass in cls.__mro__:
        names = _INLINE.get(klass)
        if names is not None:
            return names
    return ()
