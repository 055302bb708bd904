r"""Pickles written by PAX 0.5 (pax3) load into pax.

PAX users saved ``model.state_dict()``, ``optimizer.state_dict()`` (opax) and whole
modules with :mod:`pickle`. A pickle names each class by the module path it was
defined in, and PAX 0.5 defined some classes in modules that pax does not have:
``pax._src.core.base.EmptyNode`` (every non-trainable slot of an opax optimizer's
state), ``pax._src.nn.batch_norm.BatchNorm2D`` and a few more. :func:`install`
registers each such path in ``sys.modules`` as a small alias module holding pax's
equivalent classes, so ``pickle.load`` finds them; it runs once, at ``import pax``.
Paths that pax has too (``pax._src.nn.linear.Linear`` ...) need no alias.

A whole PAX 0.5 module is rebuilt by ``Module.__setstate__`` from PAX's ``__dict__``.
For pax's own classes, :func:`pax3_state` first maps PAX's fields to pax's: a reference
module is built with the constructor arguments found among the fields (PAX and pax
share signatures and attribute names), and the rebuilt module takes its arrays and
submodules from the pickle and its other fields, in their order, from the reference. So
it equals (same treedef) a module built by pax, with PAX-only fields (``reduced_axes``,
``kernel_dilation``) dropped and pax-only ones (``GroupNorm.num_channels``) present.

This file is the one place that knows PAX 0.5's module paths; tests/test_pax3_compat.py
loads a file written by pax3 0.5.10.

>>> import pickle, pax
>>> pickle.loads(b"cpax._src.core.base\nEmptyNode\n)R.")  # what PAX 0.5 wrote for EmptyNode()
EmptyNode
"""

import inspect
import sys
import types
import warnings
from collections.abc import Callable
from typing import Any

from .core.flattener import Flattener
from .core.layout import LAYOUT_KEY
from .core.lazy import LazyModule
from .core.module import Module, set_pax3_state_converter
from .core.node import EmptyNode
from .core.parameters import ParameterModule, StateModule
from .core.rng import temporary_rng
from .nets.resnet import ResNet, ResnetBlock
from .nets.transformer import DenseBlock, Transformer
from .nn.attention import MultiHeadAttention
from .nn.lambda_module import Identity, Lambda
from .nn.norms import BatchNorm, BatchNorm1D, BatchNorm2D, GroupNorm, LayerNorm

# PAX 0.5's module path -> the classes a pickle may name there (pax's equivalents)
PAX3_MODULES: dict[str, dict[str, type]] = {
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


Fields = dict[str, Any]


def _channels_of_scale_or_offset(fields: Fields) -> int:
    array = fields["scale"] if fields.get("scale") is not None else fields["offset"]
    return int(array.size)  # one value per channel, whatever the layout


def _block_stride(fields: Fields) -> Any:
    # only a block with a projection shortcut strides (pax requires it, as PAX built them)
    if not fields.get("use_projection"):
        return 1
    stride = tuple(fields["proj_conv"].stride)
    return stride[0] if len(set(stride)) == 1 else stride


# constructor arguments that PAX 0.5 did not keep as fields: how to find them
DERIVED_ARGUMENTS: dict[type, dict[str, Callable[[Fields], Any]]] = {
    GroupNorm: {"num_channels": _channels_of_scale_or_offset},
    # only the initial weights depend on it, and those come from the pickle
    MultiHeadAttention: {"w_init_scale": lambda fields: 1.0},
    ResnetBlock: {
        "in_channels": lambda fields: fields["layers"][0][0].in_features,
        "out_channels": lambda fields: fields["layers"][-1][0].out_features,
        "stride": _block_stride,
        "bottleneck": lambda fields: len(fields["layers"]) == 3,
    },
    ResNet: {
        "input_channels": lambda fields: fields["initial_conv"].in_features,
        "num_classes": lambda fields: fields["logits"].out_dim,
    },
    DenseBlock: {
        "in_dim": lambda fields: fields["fc1"].in_dim,
        "init_scale": lambda fields: fields["_init_scale"],
        "widening_factor": lambda fields: fields["_widening_factor"],
    },
    Transformer: {
        "dim": lambda fields: fields["layer_norm_output"].num_channels,
        "num_heads": lambda fields: fields["_num_heads"],
        "num_layers": lambda fields: fields["_num_layers"],
        "dropout_rate": lambda fields: fields["_dropout_rate"],
    },
}


def _reference(cls: type, fields: Fields) -> Module | None:
    """A ``cls`` built by pax from the constructor arguments among ``fields``; ``None``
    where that fails (an argument PAX did not keep, a value pax does not accept)."""
    derived: dict[str, Callable[[Fields], Any]] = {}
    for klass in reversed(cls.__mro__):
        derived.update(DERIVED_ARGUMENTS.get(klass, {}))
    kwargs = {}
    try:
        init: Any = getattr(cls, "__init__")  # noqa: B009 (mypy: __init__ of a type)
        parameters = list(inspect.signature(init).parameters.items())[1:]  # no self
        for name, parameter in parameters:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if name in fields and name not in ("name", "rng_key"):
                kwargs[name] = fields[name]
            elif name in derived:
                kwargs[name] = derived[name](fields)
        # a fixed seed: rebuilding must not advance the caller's key sequence
        with temporary_rng(0), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(**kwargs)
    except Exception:  # noqa: BLE001 - any failure means: keep PAX's fields as they are
        return None


def pax3_state(cls: type, fields: Fields) -> Fields:
    """The fields of a pax ``cls`` for a PAX 0.5 module's pickled ``fields`` (its
    ``__dict__``): arrays and submodules from ``fields``, the rest from a reference
    built by pax (see above). A user's class, or one whose reference cannot be built,
    keeps PAX's fields."""
    if not cls.__module__.startswith("pax."):
        return fields
    reference = _reference(cls, fields)
    if reference is None:
        return fields
    ref = reference.__dict__
    layout = ref[LAYOUT_KEY]
    if not set(layout.children) <= set(fields):
        return fields
    # PAX's own list of the fields that held arrays or modules
    from_pickle = {"_name", "_training", *layout.children, *fields.get("_pytree_attributes", ())}
    from_pickle.update(fields.get("_mixed_pytree_attributes") or ())
    return {
        name: fields[name] if name in from_pickle and name in fields else ref[name]
        for name in layout.names
    }


def install() -> None:
    """Registers the alias modules of :data:`PAX3_MODULES` and :func:`pax3_state`
    (idempotent)."""
    for path, classes in PAX3_MODULES.items():
        if path in sys.modules:
            continue
        alias = types.ModuleType(path, f"PAX 0.5's `{path}`, for old pickles (pax3_pickles.py).")
        alias.__dict__.update(classes)
        sys.modules[path] = alias
    set_pax3_state_converter(pax3_state)


install()
