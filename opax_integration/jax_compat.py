"""Run the unmodified PyPI ``opax`` (0.2.11, its last release) on current JAX.

opax calls ``jnp.clip(x, a_min=..., a_max=...)``; JAX deprecated those keyword
names in 0.4.27 and later removed them (``jnp.clip`` takes ``min``/``max``).
Nothing else in opax depends on removed JAX API. Rather than patching JAX, we
give the two opax modules that call ``clip`` (``opax.transform`` and
``opax.schedule``) their own view of ``jax.numpy`` whose ``clip`` accepts both
spellings. ``install()`` does this for opax modules already imported and, through
an import hook, for those imported later. JAX itself is untouched.
"""

import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any, Optional, cast

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


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        patch_module(module)


class _OpaxFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path, target=None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname not in PATCHED_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader)
        return spec


def install() -> None:
    """Patch the opax modules already imported and hook those imported later."""
    for name in PATCHED_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            patch_module(module)
    if not any(isinstance(f, _OpaxFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _OpaxFinder())
