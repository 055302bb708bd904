"""Fully connected layer."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ..core.mixed_precision import default_precision
from ..core.module import Module
from ..core.parameters import parameters_method
from ..core.rng import next_rng_key
from .initializers import Initializer, truncated_normal, zeros
from .param_dtype import check_param_dtype, with_param_dtype
from .validation import positive_ints


@default_precision("half")
class Linear(Module):
    """A linear transformation ``y = x @ weight + bias``.

    ``weight`` has shape ``(in_dim, out_dim)``; by default it is drawn from a
    truncated normal with standard deviation ``1 / sqrt(in_dim)`` and ``bias`` is
    zero (as in haiku's ``Linear``). Both are created in ``param_dtype`` (a complex
    dtype draws complex weights of the same variance); the output has the promoted
    dtype of the input and the weights.

    >>> import jax, jax.numpy as jnp, pax
    >>> fc = pax.Linear(3, 4, rng_key=jax.random.PRNGKey(0))
    >>> fc(jnp.ones((2, 3))).shape
    (2, 4)
    >>> fc = pax.Linear(3, 4, param_dtype=jnp.complex64)
    >>> fc
    Linear(in_dim=3, out_dim=4, with_bias=True, param_dtype=complex64)
    >>> fc(jnp.ones((2, 3))).dtype.name
    'complex64'
    """

    parameters = parameters_method("weight", "bias")

    weight: jax.Array
    bias: jax.Array | None

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        with_bias: bool = True,
        w_init: Initializer | None = None,
        b_init: Initializer | None = None,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        in_dim, out_dim = positive_ints("Linear", in_dim=in_dim, out_dim=out_dim)
        dtype = check_param_dtype("Linear", param_dtype)
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.with_bias = with_bias
        self.param_dtype: np.dtype = dtype
        rng_key = next_rng_key() if rng_key is None else rng_key
        w_init = w_init or truncated_normal(stddev=1.0 / in_dim**0.5)
        b_init = b_init or zeros
        w_key, b_key = jax.random.split(rng_key)
        self.weight = w_init(w_key, (in_dim, out_dim), self.param_dtype)
        self.bias = b_init(b_key, (out_dim,), self.param_dtype) if with_bias else None

    def __call__(self, x: jax.Array) -> jax.Array:
        shape = jnp.shape(x)
        if not shape or shape[-1] != self.in_dim:
            raise ValueError(
                f"Linear expects inputs with last dimension {self.in_dim}, got shape {shape}."
            )
        y = jnp.dot(x, self.weight)
        if self.bias is not None:
            y = y + self.bias
        return y

    def __repr__(self) -> str:
        info = {"in_dim": self.in_dim, "out_dim": self.out_dim, "with_bias": self.with_bias}
        return self._repr(with_param_dtype(info, self.param_dtype))
