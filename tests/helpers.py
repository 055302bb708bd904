"""Shared assertions for the test suite."""

from typing import Any

import jax
import numpy as np


def tree_allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Assert two pytrees have the same structure and close leaves."""
    a_leaves, a_def = jax.tree_util.tree_flatten(a)
    b_leaves, b_def = jax.tree_util.tree_flatten(b)
    assert a_def == b_def, f"structures differ:\n{a_def}\n{b_def}"
    for x, y in zip(a_leaves, b_leaves):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)
