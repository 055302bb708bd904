"""Leaves to tensors and back: JAX and numpy arrays, typed PRNG keys, Python scalars.

Each saved leaf is one tensor plus a :class:`LeafSpec` (its kind, dtype and shape),
stored in the checkpoint's metadata. A typed PRNG key (``jax.random.key``) is stored
as its ``key_data`` (``uint32``) with the name of its implementation; a Python
``bool``/``int``/``float`` as a 0-d ``bool``/``int64``/``float64`` tensor; a
``complex128`` array (a dtype safetensors does not hold) as a ``float64`` tensor of
its real and imaginary parts, with one more axis of size 2. On load the ``like``
leaf decides what comes back (a JAX array placed with the ``like`` leaf's sharding,
a numpy array, a key, a Python scalar).
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .errors import show_path, unsupported_leaf

ARRAY = "array"
KEY = "key"
PYTHON_SCALARS: dict[str, type] = {"bool": bool, "int": int, "float": float}
_PYTHON_DTYPES = {"bool": np.bool_, "int": np.int64, "float": np.float64}
# array dtypes safetensors does not hold, stored as (real, imaginary) pairs of this dtype
_STORED_AS_PAIRS = {"complex128": np.dtype(np.float64)}


@dataclasses.dataclass(frozen=True)
class LeafSpec:
    """What a leaf is: ``kind`` (``"array"``, ``"key"``, ``"bool"``, ``"int"`` or
    ``"float"``), its ``dtype`` name (``"key<fry>"`` for keys), ``shape``, and for a
    key the name of its PRNG implementation (``impl``)."""

    kind: str
    dtype: str
    shape: tuple[int, ...]
    impl: str | None = None

    def show(self) -> str:
        """How this leaf is named in messages: ``a float32 array of shape (2, 3)``."""
        if self.kind in PYTHON_SCALARS:
            return f"a Python {self.kind}"
        noun = "PRNG key array" if self.kind == KEY else "array"
        article = "an" if self.dtype.startswith("int") else "a"
        return f"{article} {self.dtype} {noun} of shape {self.shape}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "dtype": self.dtype, "shape": list(self.shape)}
        if self.impl is not None:
            out["impl"] = self.impl
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "LeafSpec":
        """Raises ``KeyError``/``TypeError``/``ValueError`` on a malformed entry."""
        kind, dtype, shape, impl = d["kind"], d["dtype"], d["shape"], d.get("impl")
        if kind not in (ARRAY, KEY, *PYTHON_SCALARS) or not isinstance(dtype, str):
            raise ValueError(f"unknown leaf kind {kind!r} or dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(n, int) for n in shape):
            raise ValueError(f"malformed shape {shape!r}")
        if (kind == KEY) != isinstance(impl, str):
            raise ValueError("a PRNG key entry needs its `impl` (and only keys have one)")
        return cls(kind, dtype, tuple(shape), impl)


def _is_key(x: Any) -> bool:
    return jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _little_endian(array: np.ndarray) -> np.ndarray:
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array).reshape(array.shape)  # (it makes 0-d arrays 1-d)
    if array.dtype.byteorder == ">":
        array = array.byteswap().view(array.dtype.newbyteorder("<"))
    return array


def encode(path: str, leaf: Any) -> tuple[LeafSpec, np.ndarray]:
    """The spec and the (C-contiguous, little-endian) tensor that store ``leaf``."""
    if isinstance(leaf, jax.core.Tracer):
        raise unsupported_leaf(
            path,
            "it is a tracer, so pax.save was called inside a JAX transformation "
            "(jax.jit, jax.grad, ...); save the concrete values it returns instead",
        )
    if isinstance(leaf, bool):  # before int: bool is a subclass of int
        return LeafSpec("bool", "bool", ()), np.asarray(leaf, np.bool_)
    if isinstance(leaf, (int, float)):
        kind = "int" if isinstance(leaf, int) else "float"
        try:
            array: np.ndarray = np.asarray(leaf, _PYTHON_DTYPES[kind])
        except OverflowError:
            raise unsupported_leaf(path, f"the Python int {leaf} does not fit in int64") from None
        return LeafSpec(kind, array.dtype.name, ()), array
    if isinstance(leaf, jax.Array):
        if not leaf.is_fully_addressable:
            raise ValueError(
                f"pax.save: the array at {show_path(path)} is spread over several "
                f"processes, and pax.save writes one file from one process. Gather it "
                f"first (jax.experimental.multihost_utils.process_allgather), or save "
                f"from each process its addressable shards."
            )
        if _is_key(leaf):
            data = _little_endian(np.asarray(jax.random.key_data(leaf)))
            impl = str(jax.random.key_impl(leaf))
            return LeafSpec(KEY, str(leaf.dtype), tuple(leaf.shape), impl), data
        array = np.asarray(leaf)
    elif isinstance(leaf, (np.ndarray, np.generic)):
        array = np.asarray(leaf)
    elif isinstance(leaf, jax.ShapeDtypeStruct):
        raise unsupported_leaf(
            path, "it is abstract (a jax.ShapeDtypeStruct); only `like` may be abstract"
        )
    else:
        hint = (
            " (a VarCollection is not a pytree: save the module, or `vc.tensors()` and "
            "restore in place with `vc.assign(pax.load(path, like=vc.tensors()))`)"
            if type(leaf).__name__ == "VarCollection"
            else ""
        )
        raise unsupported_leaf(path, f"it is a {type(leaf).__qualname__}{hint}")
    if array.dtype.kind == "O":
        raise unsupported_leaf(path, "it is a numpy array of Python objects")
    spec = LeafSpec(ARRAY, array.dtype.name, tuple(array.shape))
    pair_dtype = _STORED_AS_PAIRS.get(spec.dtype)
    if pair_dtype is not None:  # (..., 2): the real and imaginary parts
        array = np.stack([array.real, array.imag], axis=-1).astype(pair_dtype)
    return spec, _little_endian(array)


def stored_as(spec: LeafSpec) -> tuple[str, tuple[int, ...]]:
    """The dtype name and shape of the tensor that stores an array leaf of ``spec``."""
    pair_dtype = _STORED_AS_PAIRS.get(spec.dtype)
    if spec.kind == ARRAY and pair_dtype is not None:
        return pair_dtype.name, spec.shape + (2,)
    return spec.dtype, spec.shape


def from_stored(array: np.ndarray, spec: LeafSpec) -> np.ndarray:
    """The array of ``spec`` that the tensor ``array`` (of the form :func:`stored_as`
    gives) stores."""
    if spec.kind == ARRAY and spec.dtype in _STORED_AS_PAIRS:
        out = np.empty(spec.shape, np.dtype(spec.dtype))
        out.real, out.imag = array[..., 0], array[..., 1]
        return out
    return array


def spec_of_like(path: str, leaf: Any) -> LeafSpec:
    """The spec a ``like`` leaf asks for (arrays, tracers and ``jax.ShapeDtypeStruct``s
    by their dtype and shape)."""
    if isinstance(leaf, bool):
        return LeafSpec("bool", "bool", ())
    if isinstance(leaf, (int, float)):
        kind = "int" if isinstance(leaf, int) else "float"
        return LeafSpec(kind, np.dtype(_PYTHON_DTYPES[kind]).name, ())
    if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
        if _is_key(leaf):
            return LeafSpec(KEY, str(leaf.dtype), tuple(leaf.shape))
        return LeafSpec(ARRAY, np.dtype(leaf.dtype).name, tuple(leaf.shape))
    raise TypeError(
        f"pax.load: `like` has a {type(leaf).__qualname__} at {show_path(path)}, which is "
        f"not an array, a jax.ShapeDtypeStruct, a PRNG key or a Python int/float/bool."
    )


def difference(like: LeafSpec, saved: LeafSpec) -> tuple[str, str] | None:
    """``(expected, found)`` phrases when ``saved`` cannot be loaded as ``like``."""
    if like.kind == ARRAY and saved.kind in PYTHON_SCALARS and like.shape == ():
        # e.g. a Python int that jax.eval_shape turned into an int32 ShapeDtypeStruct
        family = {"bool": np.bool_, "int": np.integer, "float": np.floating}[saved.kind]
        if jnp.issubdtype(like.dtype, family):
            return None
    if like.kind != saved.kind:
        return like.show(), saved.show()
    if like.kind in PYTHON_SCALARS:
        return None
    if like.shape != saved.shape:
        return f"shape {like.shape}", f"shape {saved.shape}"
    if like.dtype != saved.dtype:
        return f"dtype {like.dtype}", f"dtype {saved.dtype}"
    return None


def scalar_fits(value: Any, dtype: Any) -> bool:
    """Whether a Python scalar becomes an array of ``dtype`` without overflow (a float
    may round: that is what a float32 ``like`` asks for)."""
    with np.errstate(all="ignore"):
        try:
            converted = np.asarray(value).astype(dtype)
        except (OverflowError, ValueError):
            return False
    if isinstance(value, float):
        return bool(np.isfinite(converted)) or not np.isfinite(value)
    return converted.item() == value


def decode(array: np.ndarray, saved: LeafSpec, like_leaf: Any) -> Any:
    """The value of a leaf read as ``array``, of the type ``like_leaf`` asks for."""
    if isinstance(like_leaf, (bool, int, float)):
        return type(like_leaf)(array.item())
    if saved.kind == KEY:
        return _place(jax.random.wrap_key_data(jnp.asarray(array), impl=saved.impl), like_leaf)
    if saved.kind in PYTHON_SCALARS:  # into a 0-d array leaf (checked by `scalar_fits`)
        array = np.asarray(array.item()).astype(like_leaf.dtype)
    if isinstance(like_leaf, np.ndarray):
        return np.array(array)
    if isinstance(like_leaf, np.generic):
        return array[()]
    return _place(array, like_leaf)


def _place(x: Any, like_leaf: Any) -> jax.Array:
    """``x`` on the devices of ``like_leaf`` (its ``.sharding``), weakly typed if it is.

    A ``like`` leaf on the default device alone (or with no sharding) gives an array
    like ``jnp.asarray`` does: on the default device, not committed to it.
    """
    sharding = (
        None if isinstance(like_leaf, jax.core.Tracer) else getattr(like_leaf, "sharding", None)
    )
    if isinstance(sharding, jax.sharding.SingleDeviceSharding) and sharding.device_set == {
        jax.devices()[0]
    }:
        sharding = None
    if getattr(like_leaf, "weak_type", False):  # rare (scalars): made on the default device
        out = _weakly_typed(jax.device_put(x))
        return out if sharding is None else jax.device_put(out, sharding)
    return jax.device_put(x) if sharding is None else jax.device_put(x, sharding)


def _weakly_typed(x: jax.Array) -> jax.Array:
    """``x`` as a weakly typed array (as made from a Python scalar), which changes how it
    promotes with other dtypes; unchanged unless its dtype is JAX's default for its kind."""
    if jnp.issubdtype(x.dtype, jnp.integer):
        zero: Any = 0
    elif jnp.issubdtype(x.dtype, jnp.floating):
        zero = 0.0
    elif jnp.issubdtype(x.dtype, jnp.complexfloating):
        zero = 0j
    else:
        return x
    base = jax.lax.full(x.shape, zero)
    return base.at[...].set(x) if base.dtype == x.dtype else x
