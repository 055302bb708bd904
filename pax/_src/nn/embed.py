"""Embedding lookup."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ..core.mixed_precision import default_precision
from ..core.module import Module
from ..core.parameters import parameters_method
from ..core.rng import next_rng_key
from .initializers import Initializer
from .param_dtype import check_param_dtype, with_param_dtype
from .validation import positive_ints


@default_precision("half")
class Embed(Module):
    """A trainable lookup table mapping integer ids to vectors (haiku's ``Embed``).

    ``weight`` has shape ``(vocab_size, embed_dim)``; by default it is drawn from
    ``jax.nn.initializers.normal()`` (standard deviation 0.01), as in PAX 0.5
    (haiku's default is a truncated normal with standard deviation 1).

    Ids outside ``[0, vocab_size)`` raise a ``ValueError`` when they are concrete
    (eager calls). Under ``jax.jit``/``vmap`` they cannot be checked and follow
    JAX's indexing, as in haiku and PAX: negative ids count from the end and ids
    past the end are clamped to the last row.

    >>> import jax, jax.numpy as jnp
    >>> from pax._src.nn.embed import Embed
    >>> embed = Embed(5, 3, rng_key=jax.random.PRNGKey(0))
    >>> embed
    Embed(vocab_size=5, embed_dim=3)
    >>> embed(jnp.array([[0, 4, 4]])).shape
    (1, 3, 3)
    >>> bool((embed(jnp.array(2)) == embed.weight[2]).all())
    True

    Args:
      vocab_size: the number of rows (distinct ids).
      embed_dim: the size of each vector.
      w_init: initializer of ``weight``, ``init(key, shape, dtype)``.
      rng_key: the key for the initializer (default ``pax.next_rng_key()``).
      name: an optional name.
      param_dtype: the dtype of ``weight`` (default float32; a complex dtype draws
        complex vectors), which is the dtype of the output.
    """

    parameters = parameters_method("weight")

    weight: jax.Array

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        w_init: Initializer | None = None,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        vocab_size, embed_dim = positive_ints("Embed", vocab_size=vocab_size, embed_dim=embed_dim)
        self.param_dtype: np.dtype = check_param_dtype("Embed", param_dtype)
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        rng_key = next_rng_key() if rng_key is None else rng_key
        w_init = w_init or jax.nn.initializers.normal()
        self.weight = w_init(rng_key, (vocab_size, embed_dim), self.param_dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Look up the vectors of the ids ``x``.

        Args:
          x: integer ids of any shape ``S`` (an array, a Python int or a nested list).

        Returns:
          An array of shape ``S + (embed_dim,)``.
        """
        if not isinstance(x, (jax.Array, np.ndarray)):  # Python ints and lists
            x = np.asarray(x)
        dtype = jnp.result_type(x)
        if not jnp.issubdtype(dtype, jnp.integer):
            raise TypeError(
                f"Embed expects integer ids, got an array of dtype {dtype.name}. Cast "
                f"them with `x.astype(jnp.int32)`."
            )
        if not isinstance(x, jax.core.Tracer):
            ids = np.asarray(x)
            if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
                raise ValueError(
                    f"Embed expects ids in [0, {self.vocab_size}) (vocab_size), got ids "
                    f"from {ids.min()} to {ids.max()}."
                )
        return self.weight[(jnp.asarray(x),)]

    def __repr__(self) -> str:
        info = {"vocab_size": self.vocab_size, "embed_dim": self.embed_dim}
        return self._repr(with_param_dtype(info, self.param_dtype))
