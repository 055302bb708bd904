"""The dtype a layer creates its parameters in: ``param_dtype``.

Every pax layer with parameters takes ``param_dtype`` (default ``jnp.float32``):
float32, float64, bfloat16, float16, complex64 or complex128 (the 64-bit ones need
``jax_enable_x64``). The layer computes in the promoted dtype of its input and its
parameters, so a float32 input into a complex128 layer gives a complex128 output.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

DEFAULT_PARAM_DTYPE = np.dtype(np.float32)


def check_param_dtype(layer: str, param_dtype: Any) -> np.dtype:
    """``param_dtype`` as a numpy dtype, if it is a floating or complex dtype that JAX
    holds as it is (``float64``/``complex128`` need ``jax_enable_x64``).

    >>> import jax.numpy as jnp
    >>> check_param_dtype("Linear", jnp.bfloat16).name
    'bfloat16'
    >>> check_param_dtype("Linear", jnp.int32)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Linear: `param_dtype` must be a floating or complex dtype ..., got int32.
    """
    expected = "a floating or complex dtype (jnp.float32, jnp.bfloat16, jnp.complex64, ...)"
    dtype = None
    if param_dtype is not None:  # jnp.dtype(None) would be float64
        try:
            dtype = jnp.dtype(param_dtype)
        except TypeError:
            pass
    if dtype is None:
        raise TypeError(f"{layer}: `param_dtype` must be {expected}, got {param_dtype!r}.")
    if not jnp.issubdtype(dtype, jnp.inexact):
        raise ValueError(f"{layer}: `param_dtype` must be {expected}, got {dtype.name}.")
    if jax.dtypes.canonicalize_dtype(dtype) != dtype:
        raise ValueError(
            f"{layer}: `param_dtype={dtype.name}` needs JAX's 64-bit types, which are off by "
            f"default: turn them on with `jax.config.update('jax_enable_x64', True)` at "
            f"start-up (or run the code inside `with jax.enable_x64(True):`); without them "
            f"JAX would silently make the parameters "
            f"{jax.dtypes.canonicalize_dtype(dtype).name}."
        )
    return dtype


def real_dtype(dtype: Any) -> np.dtype:
    """The real dtype of the parts of ``dtype`` (``complex64 -> float32``); a real
    dtype unchanged.

    >>> real_dtype("complex128").name, real_dtype("bfloat16").name
    ('float64', 'bfloat16')
    """
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return jnp.finfo(dtype).dtype
    return dtype


def with_param_dtype(info: dict[str, Any], dtype: np.dtype) -> dict[str, Any]:
    """A layer's repr fields, with ``param_dtype`` added when it is not float32.

    >>> with_param_dtype({"in_dim": 3}, np.dtype("complex64"))
    {'in_dim': 3, 'param_dtype': 'complex64'}
    """
    return info if dtype == DEFAULT_PARAM_DTYPE else {**info, "param_dtype": dtype.name}
