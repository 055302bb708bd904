"""Checkpoints: :func:`save` and :func:`load` a pytree of modules, optimizers and arrays.

A layer of its own above the core: it works on any pytree through
``jax.tree_util`` and imports nothing else of pax. One module per purpose:

- ``format``: the metadata pax stores in a safetensors file, and the checksums;
- ``structure``: a pytree's structure as a list of node paths and type names;
- ``leaves``: leaves (arrays, PRNG keys, Python scalars) to tensors and back;
- ``atomic``: replacing a file atomically (temporary file, fsync, rename);
- ``backend``: the safetensors library, imported on first use;
- ``save`` and ``load``: the two public functions;
- ``errors``: the messages.
"""

from .load import load as load
from .save import save as save

__all__ = ["load", "save"]
