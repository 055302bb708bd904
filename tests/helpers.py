"""Shared assertions for the test suite."""

import importlib.util
import pathlib
import types
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
