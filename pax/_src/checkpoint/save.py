"""``pax.save``: one pytree of modules, optimizers and arrays to one safetensors file."""

import os
import struct
from typing import Any

import jax
import numpy as np

from .atomic import atomic_write
from .backend import SUPPORTED_DTYPES, safetensors
from .errors import PathLike, show_path, unsupported_leaf
from .format import checksum, encode_metadata
from .leaves import encode
from .structure import describe


def save(path: PathLike, tree: Any) -> None:
    """Saves ``tree`` (any pytree of pax modules, opax optimizers, variables, arrays,
    PRNG keys and Python scalars) to the file ``path``, atomically.

    The file is a `safetensors <https://github.com/huggingface/safetensors>`_ file: each
    leaf is a tensor named by its path (``jax.tree_util.keystr``), and the metadata
    holds a format version, a description of the tree's structure and a CRC-32 of
    every tensor. Saving over an existing file replaces it; a writer killed midway
    leaves the previous file intact (the new one is written beside it, flushed to disk
    and renamed over it). Static fields (hyper-parameters, functions, the training
    flag) are not saved: :func:`pax.load` takes them from its ``like`` argument.

    >>> import os, tempfile, jax, opax, pax
    >>> net = pax.Linear(2, 3, rng_key=jax.random.PRNGKey(0))
    >>> optimizer = opax.adam(1e-3)(net.parameters())
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> pax.save(path, {"model": net, "optimizer": optimizer, "step": 10})
    >>> fresh = pax.Linear(2, 3, rng_key=jax.random.PRNGKey(1))
    >>> like = {"model": fresh, "optimizer": opax.adam(1e-3)(fresh.parameters()), "step": 0}
    >>> restored = pax.load(path, like=like)
    >>> bool((restored["model"].weight == net.weight).all()), restored["step"]
    (True, 10)

    Args:
      path: the file to write (its folder must exist); any existing file is replaced.
      tree: the pytree to save.

    Raises:
      TypeError: a leaf cannot be stored (a tracer, an abstract value, an object).
      ValueError: an array is spread over several processes, or two leaves have
        the same path.
    """
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    tensors: dict[str, np.ndarray] = {}
    leaves: list[dict[str, Any]] = []
    for key_path, leaf in flat:
        name = jax.tree_util.keystr(key_path)
        if name in tensors:
            raise ValueError(
                f"pax.save: two leaves have the path {show_path(name)}; give the "
                f"containers keys whose printed forms differ."
            )
        spec, array = encode(name, leaf)
        if array.dtype.name not in SUPPORTED_DTYPES:
            supported = ", ".join(sorted(SUPPORTED_DTYPES))
            raise unsupported_leaf(
                name, f"its dtype {array.dtype.name} is not one safetensors stores ({supported})"
            )
        tensors[name] = array
        leaves.append({"path": name, **spec.to_json(), "crc32": checksum(array)})
    metadata = encode_metadata({"nodes": describe(tree), "leaves": leaves})
    payload = sum(array.nbytes for array in tensors.values())
    st = safetensors()

    def write(tmp: str) -> None:
        st.numpy.save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as f:  # the writer closes the file itself: check it is whole
            (header,) = struct.unpack("<Q", f.read(8))
            size = os.fstat(f.fileno()).st_size
        if size != 8 + header + payload:
            raise OSError(f"pax.save: short write to {tmp!r} ({size} bytes)")

    atomic_write(path, write)
