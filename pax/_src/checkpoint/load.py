"""``pax.load``: a checkpoint read back into the shape of a given tree, after checks."""

import os
from typing import Any

import jax
import numpy as np

from .backend import safetensors
from .errors import PathLike, corrupt, mismatch, show_path
from .format import checksum, decode_metadata
from .leaves import (
    KEY,
    PYTHON_SCALARS,
    LeafSpec,
    decode,
    difference,
    from_stored,
    scalar_fits,
    spec_of_like,
    stored_as,
)
from .structure import Entry, describe, first_difference

Saved = tuple[str, LeafSpec, int]  # (path, spec, crc32)


def load(path: PathLike, like: Any) -> Any:
    """Loads the checkpoint at ``path`` (written by :func:`pax.save`) into a tree
    shaped like ``like``.

    ``like`` gives the structure, the static fields and the type of every leaf: a
    module built the way the saved one was (freshly constructed is fine), or its
    abstract version (``jax.ShapeDtypeStruct`` leaves, e.g. from ``jax.eval_shape``).
    An array lands where the ``like`` leaf is: with its ``.sharding`` when it has one
    (a ``jax.sharding.NamedSharding`` places each shard on its device), on the
    default device otherwise. Numpy and Python-scalar leaves of ``like`` come back as
    numpy arrays and Python scalars.

    Before anything is returned the file's structure, shapes and dtypes are checked
    against ``like`` and every tensor against its checksum; ``like`` itself is never
    changed.

    >>> import os, tempfile, jax, jax.numpy as jnp, pax
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> pax.save(path, {"w": jnp.ones((2, 3), jnp.bfloat16), "key": jax.random.key(0)})
    >>> def make():
    ...     return {"w": jnp.zeros((2, 3), jnp.bfloat16), "key": jax.random.key(1)}
    >>> tree = pax.load(path, like=jax.eval_shape(make))
    >>> tree["w"].dtype, tree["key"].dtype
    (dtype(bfloat16), key<fry>)
    >>> pax.load(path, like={**make(), "w": jnp.zeros((3, 2))})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: ... at `['w']`: expected shape (3, 2) (in `like`), found shape (2, 3) ...

    Args:
      path: the checkpoint file.
      like: a pytree with the structure of the saved one.

    Returns:
      A new pytree with the structure and static fields of ``like`` and the saved values.

    Raises:
      FileNotFoundError, IsADirectoryError: there is no file at ``path``.
      ValueError: the file does not match ``like`` (the message names the first
        mismatching path and both values), or it is truncated or corrupt.
      TypeError: a leaf of ``like`` is not an array, a ``jax.ShapeDtypeStruct``, a
        PRNG key or a Python scalar.
    """
    file = os.fspath(path)
    if os.path.isdir(file):
        raise IsADirectoryError(f"pax.load: {file!r} is a directory; give a checkpoint file.")
    like_flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    like_leaves = [leaf for _, leaf in like_flat]
    like_specs = [
        spec_of_like(jax.tree_util.keystr(key_path), leaf) for key_path, leaf in like_flat
    ]
    st = safetensors()
    try:
        with st.safe_open(file, framework="np") as f:
            structure = decode_metadata(f.metadata(), file)
            nodes, saved = _parse(structure, file)
            if set(f.keys()) != {p for p, _, _ in saved}:
                raise corrupt(file, "its tensors are not the ones its description lists")
            diff = first_difference(describe(like), nodes)
            if diff is not None:
                raise mismatch(file, *diff)
            for (leaf_path, spec, _), like_spec in zip(saved, like_specs):
                leaf_diff = difference(like_spec, spec)
                if leaf_diff is not None:
                    raise mismatch(file, leaf_path, *leaf_diff)
            arrays = [_read(f, file, *entry) for entry in saved]
    except st.SafetensorError as err:
        raise corrupt(file, f"safetensors cannot read it ({err})") from None
    for array, (leaf_path, spec, _), like_spec in zip(arrays, saved, like_specs):
        if spec.kind in PYTHON_SCALARS and like_spec.kind not in PYTHON_SCALARS:
            if not scalar_fits(array.item(), like_spec.dtype):
                found = f"the Python {spec.kind} {array.item()!r}"
                raise mismatch(file, leaf_path, f"a value that fits in {like_spec.dtype}", found)
    values = [decode(a, spec, leaf) for a, (_, spec, _), leaf in zip(arrays, saved, like_leaves)]
    return jax.tree_util.tree_unflatten(treedef, values)


def _parse(structure: Any, file: str) -> tuple[list[Entry], list[Saved]]:
    """The node list and the leaf entries of a decoded structure description."""
    try:
        nodes = [(str(p), str(t)) for p, t in structure["nodes"]]
        saved = [
            (entry["path"], LeafSpec.from_json(entry), int(entry["crc32"]))
            for entry in structure["leaves"]
        ]
    except (KeyError, TypeError, ValueError) as err:
        raise corrupt(file, f"the structure description is malformed ({err!r})") from None
    if [p for p, t in nodes if t == "*"] != [p for p, _, _ in saved]:
        raise corrupt(file, "its node list and its leaf list name different leaves")
    return nodes, saved


def _read(f: Any, file: str, path: str, spec: LeafSpec, crc: int) -> np.ndarray:
    """The tensor of one leaf, checked against its description and checksum."""
    array = f.get_tensor(path)
    if spec.kind == KEY:
        ok = array.dtype == np.uint32 and array.shape[: len(spec.shape)] == spec.shape
    else:
        ok = (array.dtype.name, array.shape) == stored_as(spec)
        ok = ok and (spec.kind not in PYTHON_SCALARS or array.shape == ())
    if not ok:
        raise corrupt(
            file,
            f"the tensor of {show_path(path)} is {array.dtype.name}{list(array.shape)}, "
            f"its description says {spec.show()}",
        )
    found = checksum(array)
    if found != crc:
        raise corrupt(
            file,
            f"the bytes of {show_path(path)} do not match their checksum (crc32 "
            f"{crc:08x} saved, {found:08x} read)",
        )
    return from_stored(array, spec)
