"""Fully connected layer."""

from typing import Optional

import jax
import jax.numpy as jnp

from ..core.module import Module
from ..core.parameters import parameters_method
from ..core.rng import next_rng_key
from .initializers import Initializer, truncated_normal, zeros
from .validation import check_positive_ints


class Linear(Module):
    """A linear transformation ``y = x @ weight + bias``.

    ``weight`` has shape ``(in_dim, out_dim)``; by default it is drawn from a
    truncated normal with standard deviation ``1 / sqrt(in_dim)`` and ``bias`` is
    zero (as in haiku's ``Linear``).

    >>> import jax, jax.numpy as jnp, pax
    >>> fc = pax.Linear(3, 4, rng_key=jax.random.PRNGKey(0))
    >>> fc(jnp.ones((2, 3))).shape
    (2, 4)
    """

    parameters = parameters_method("weight", "bias")
    _pax_default_precision = "half"

    weight: jax.Array
    bias: Optional[jax.Array]

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        with_bias: bool = True,
        w_init: Optional[Initializer] = None,
        b_init: Optional[Initializer] = None,
        *,
        rng_key: Optional[jax.Array] = None,
        name: Optional[str] = None,
    ):
        super().__init__(name=name)
        check_positive_ints("Linear", in_dim=in_dim, out_dim=out_dim)
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.with_bias = with_bias
        rng_key = next_rng_key() if rng_key is None else rng_key
        w_init = w_init or truncated_normal(stddev=1.0 / in_dim**0.5)
        b_init = b_init or zeros
        w_key, b_key = jax.random.split(rng_key)
        self.weight = w_init(w_key, (in_dim, out_dim), jnp.float32)
        self.bias = b_init(b_key, (out_dim,), jnp.float32) if with_bias else None

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
        return self._repr(
            {"in_dim": self.in_dim, "out_dim": self.out_dim, "with_bias": self.with_bias}
        )
