"""The layer registry's building blocks, shared by ``tests/layer_cases/*.py``.

Each module in ``tests/layer_cases/`` defines ``LAYERS``, a list of ``LayerCase``s
for one layer family; ``tests/test_layers.py`` collects them all and runs the
generic checks (jit equals eager, vmap equals a loop, gradients equal finite
differences, mixed precision, equal treedefs) over every case.
"""

import dataclasses
from typing import Any, Callable, Tuple

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
    """

    id: str
    make: Callable[[], pax.Module]
    inputs: Callable[[int], Tuple[Any, ...]]
    call: Callable[..., Tuple[pax.Module, Any]] = purecall
