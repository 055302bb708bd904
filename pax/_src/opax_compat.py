"""Run the unmodified PyPI ``opax`` (0.2.11, its last release) on current JAX.

opax calls ``jnp.clip(x, a_min=..., a_max=...)``; JAX deprecated those keyword
names in 0.4.27 and later removed them (``jnp.clip`` takes ``min``/``max``).
Nothing else in opax depends on removed JAX API. Rather than patching JAX, we
give the two opax modules that call ``clip`` (``opax.transform`` and
``opax.schedule``) their own view of ``jax.numpy`` whose ``clip`` accepts both
spellings. ``install()`` imports those two modules and does this; ``import pax``
calls it once (no import hook). JAX itself is untouched.

This lives in pax, not in ``opax_integration`` (which re-exports it as
``opax_integration.jax_compat``), so that pax never imports the package built on it.
"""

import importlib
import types
from typing import Any, cast

import jax.numpy as jnp

PATCHED_MODULES = ("opax.transform", "opax.schedule")


def clip(x: Any, min: Any = None, max: Any = None, *, a_min: Any = None, a_max: Any = None):
    """``jnp.clip`` that also accepts the old ``a_min``/``a_max`` names."""
    lower = a_min if min is None else min
    upper = a_max if max is None else max
    return jnp.clip(x, min=lower, max=upper)


class _NumpyWithLegacyClip(types.ModuleType):
    """``jax.numpy`` with the legacy-compatible ``clip`` above."""

    def __init__(self) -> None:
        super().__init__("jax.numpy")
        self.clip = clip

    def __getattr__(self, name: str) -> Any:
        return getattr(jnp, name)


_NUMPY_VIEW = _NumpyWithLegacyClip()


def patch_module(module: types.ModuleType) -> None:
    """Point ``module.jnp`` at the compatible view (when it uses ``jnp``)."""
    if getattr(module, "jnp", None) is jnp:
        cast(Any, module).jnp = _NUMPY_VIEW


def install() -> None:
    """Patch ``opax.transform`` and ``opax.schedule`` (importing them if needed).

    ``import pax`` calls this once, explicitly (``pax/__init__.py``); calling it again
    does nothing more. Code that imports opax after pax gets the patched modules,
    since Python imports a module once.

    >>> import opax.transform, pax
    >>> install()  # already done by `import pax`: nothing changes
    >>> opax.transform.jnp.clip is clip
    True
    """
    for name in PATCHED_MODULES:
        patch_module(importlib.import_module(name))
