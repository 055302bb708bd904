"""The layer registry's building blocks, shared by ``tests/layer_cases/*.py``.

Each module in ``tests/layer_cases/`` defines ``LAYERS``, a list of ``LayerCase``s
for one layer family; ``tests/test_layers.py`` collects them all and runs the
generic checks (jit equals eager, vmap equals a loop, gradients equal finite
differences, mixed precision, equal treedefs) over every case.
"""

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

import pax


def normal(seed: int, shape, scale: float = 1.0) -> jax.Array:
    """A float32 standard normal array (times ``scale``) from ``PRNGKey(seed)``."""
    return scale * jax.random.normal(jax.random.PRNGKey(seed), shape, jnp.float32)


def key(i: int) -> jax.Array:
    return jax.random.PRNGKey(i)


def purecall(module, *args):
    return pax.purecall(module, *args)


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """One layer configuration under test.

    ``make()`` builds the layer, ``inputs(seed)`` its call arguments (different
    seeds give different values of the same shapes), and
    ``call(module, *args) -> (module, output)`` runs it purely.

    Two optional fields drive the parameter-dtype checks of ``tests/test_param_dtype.py``
    (float64 and complex128):

    - ``make_dtype(dtype)`` builds the same layer with ``param_dtype=dtype`` (every
      case whose layer has parameters sets it; the check then runs on it). For a
      layer with custom initializers, pass them the dtype they are called with.
    - ``reference(module, *args)`` is the layer's output recomputed in numpy from
      ``np.asarray`` of the module's arrays and of ``args`` (in their dtypes, here
      float64 or complex128), independent of the layer's code; the check compares
      ``call(module, *args)[1]`` with it.
    """

    id: str
    make: Callable[[], pax.Module]
    inputs: Callable[[int], tuple[Any, ...]]
    call: Callable[..., tuple[pax.Module, Any]] = purecall
    make_dtype: Callable[[Any], pax.Module] | None = None
    reference: Callable[..., Any] | None = None


def collect_cases() -> dict[str, list[LayerCase]]:
    """Every ``tests/layer_cases/*.py`` module's ``LAYERS``, by module name (sorted)."""
    import layer_cases  # here, not at the top: the case modules import this module

    families: dict[str, list[LayerCase]] = {}
    for info in sorted(pkgutil.iter_modules(layer_cases.__path__), key=lambda i: i.name):
        families[info.name] = importlib.import_module(f"layer_cases.{info.name}").LAYERS
    ids = [case.id for cases in families.values() for case in cases]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicated, f"layer case ids must be unique, repeated: {duplicated}"
    return families
