r"""Pickles written by PAX 0.5 (pax3) load into pax.

PAX users saved ``model.state_dict()``, ``optimizer.state_dict()`` (opax) and whole
modules with :mod:`pickle`. A pickle names each class by the module path it was
defined in, and PAX 0.5 defined some classes in modules that pax does not have:
``pax._src.core.base.EmptyNode`` (every non-trainable slot of an opax optimizer's
state), ``pax._src.nn.batch_norm.BatchNorm2D`` and a few more. :func:`install`
registers each such path in ``sys.modules`` as a small alias module holding pax's
equivalent classes, so ``pickle.load`` finds them; it runs once, at ``import pax``.
Paths that pax has too (``pax._src.nn.linear.Linear`` ...) need no alias. A whole
PAX 0.5 module is rebuilt by ``Module.__setstate__`` (see ``pax/_src/core/module.py``),
which turns PAX's ``__dict__`` into pax's.

This file is the one place that knows PAX 0.5's module paths; tests/test_pax3_compat.py
loads a file written by pax3 0.5.10.

>>> import pickle, pax
>>> pickle.loads(b"cpax._src.core.base\nEmptyNode\n)R.")  # what PAX 0.5 wrote for EmptyNode()
EmptyNode
"""

import sys
import types
from typing import Dict

from .core.flattener import Flattener
from .core.lazy import LazyModule
from .core.node import EmptyNode
from .core.parameters import ParameterModule, StateModule
from .nn.lambda_module import Identity, Lambda
from .nn.norms import BatchNorm, BatchNorm1D, BatchNorm2D, GroupNorm, LayerNorm

# PAX 0.5's module path -> the classes a pickle may name there (pax's equivalents)
PAX3_MODULES: Dict[str, Dict[str, type]] = {
    "pax._src.core.base": {"EmptyNode": EmptyNode},
    "pax._src.core.utility_modules": {
        "ParameterModule": ParameterModule,
        "StateModule": StateModule,
        "LazyModule": LazyModule,
        "Lambda": Lambda,
        "Flattener": Flattener,
    },
    "pax._src.nn.batch_norm": {
        "BatchNorm": BatchNorm,
        "BatchNorm1D": BatchNorm1D,
        "BatchNorm2D": BatchNorm2D,
    },
    "pax._src.nn.group_norm": {"GroupNorm": GroupNorm},
    "pax._src.nn.identity": {"Identity": Identity},
    "pax._src.nn.layer_norm": {"LayerNorm": LayerNorm},
}


def install() -> None:
    """Registers the alias modules of :data:`PAX3_MODULES` (idempotent)."""
    for path, classes in PAX3_MODULES.items():
        if path in sys.modules:
            continue
        alias = types.ModuleType(path, f"PAX 0.5's `{path}`, for old pickles (pax3_pickles.py).")
        alias.__dict__.update(classes)
        sys.modules[path] = alias


install()
