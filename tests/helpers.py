"""Shared assertions for the test suite."""

import contextlib
import importlib.util
import pathlib
import pickle
import types
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
import pytest


def tree_allclose(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Assert two pytrees have the same structure and close leaves."""
    a_leaves, a_def = jax.tree_util.tree_flatten(a)
    b_leaves, b_def = jax.tree_util.tree_flatten(b)
    assert a_def == b_def, f"structures differ:\n{a_def}\n{b_def}"
    for x, y in zip(a_leaves, b_leaves):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def pickled_copy(model: Any) -> Any:
    """``model`` through ``pickle``; the test is skipped where the model holds a
    function pickle cannot save (a ``jax.numpy``/``jax.nn`` function or a lambda, a
    JAX limitation)."""
    try:
        return pickle.loads(pickle.dumps(model))
    except (pickle.PicklingError, AttributeError, TypeError) as e:
        if "jax" in repr(e).lower() or "lambda" in repr(e).lower():
            pytest.skip(f"holds an unpicklable function: {e}")
        raise


@contextlib.contextmanager
def x64() -> Iterator[None]:
    """64-bit mode (float64, complex128) inside the ``with`` block only.

    ``jax.enable_x64`` is a context manager (thread-local) on jax 0.10: the global
    ``jax_enable_x64`` flag is untouched, so nothing leaks into the other tests of the
    same worker. Arrays made inside keep their dtypes, but run them through JAX
    inside the block too (outside it, JAX would compute in 32 bits).
    """
    with jax.enable_x64(True):
        yield


EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> types.ModuleType:
    """Import ``examples/<name>.py`` as the module ``example_<name>``. Its folder is on
    ``sys.path`` while it loads, for the scripts' ``import _common``."""
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLES))
        spec.loader.exec_module(module)
    return module
