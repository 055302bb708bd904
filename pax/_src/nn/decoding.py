"""The incremental-decoding protocol shared by every autoregressive layer.

A layer that can produce its output one position at a time (the masked convolutions,
causal ``MultiHeadAttention``, the recurrent cells) subclasses :class:`Autoregressive`:
:func:`init_cache` gives it a cache (state leaves: a cached model is a pytree like any
other) and its ``update_site(x_t)`` maps the input at the next position, ``(N, D)``, to
the output there, advancing the cache. A model made of such layers defines its own
``update_site`` by calling theirs (``pax.nets.Transformer`` and ``pax.Stack`` do), and
decodes with one ``pax.scan`` over positions: the step is compiled once and serves
every position, because no shape depends on the position.
"""

from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ..core.module import Module
from ..core.pure import module_and_value
from .validation import check_positive_ints

M = TypeVar("M", bound=Module)


class CacheRequest(NamedTuple):
    """What :func:`init_cache` asks of each layer: the cache's batch shape (``()`` for
    one unbatched sequence), its length, the image width (raster order, for
    ``MaskedConv2D``) and the dtype of the network's input."""

    batch: tuple[int, ...]
    max_length: int | None
    width: int | None
    dtype: np.dtype


class Autoregressive(Module):
    """The base of the layers with an incremental mode: ``_with_cache(request)`` returns
    a copy with a fresh cache, and ``update_site(x)`` (called through
    ``pax.module_and_value``) steps it by one position."""

    def _with_cache(self, request: CacheRequest) -> Module:
        raise NotImplementedError(f"{type(self).__name__} does not define `_with_cache`.")


MSG_NO_CACHE = (
    "{layer}.update_site needs a cache: build one first with "
    "`model = pax.nn.init_cache(model, batch_size, max_length=...)`, then call "
    "`pax.module_and_value(model.update_site)(x)` inside `pax.pure`, `jax.lax.scan` "
    "or `pax.scan`."
)


def stacked_axes(array: Any, rank: int) -> tuple[int, ...]:
    """The leading axes of ``array`` beyond a layer's own ``rank``: ``(n,)`` inside a
    ``pax.Stack`` of ``n`` blocks (every leaf has the blocks first), else ``()``.

    >>> import jax.numpy as jnp
    >>> stacked_axes(jnp.zeros((4, 3, 2)), 2), stacked_axes(jnp.zeros((3, 2)), 2)
    ((4,), ())
    """
    return tuple(np.shape(array)[: np.ndim(array) - rank])


def _check_input_dtype(dtype: Any) -> np.dtype:
    """The ``dtype`` argument of :func:`init_cache` (``None``: float32)."""
    if dtype is None:
        return np.dtype(np.float32)
    try:
        checked = jnp.dtype(dtype)
    except TypeError:
        checked = None
    if checked is None or not (jnp.issubdtype(checked, np.number) or checked == np.bool_):
        raise TypeError(
            f"init_cache: `dtype` is the dtype of the network's input (e.g. jnp.float32, "
            f"jnp.complex64), got {dtype!r}."
        )
    if jax.dtypes.canonicalize_dtype(checked) != checked:
        raise ValueError(
            f"init_cache: `dtype={checked.name}` needs JAX's 64-bit types, which are off by "
            f"default: turn them on with `jax.config.update('jax_enable_x64', True)` at "
            f"start-up (or run the code inside `with jax.enable_x64(True):`)."
        )
    return checked


def init_cache(
    module: M,
    batch_size: int | None,
    *,
    max_length: int | None = None,
    width: int | None = None,
    dtype: DTypeLike | None = None,
) -> M:
    """A copy of ``module`` in which every autoregressive layer has a fresh cache.

    Works on one layer or on a whole model (any nesting of modules, ``pax.Stack``
    included); other layers are unchanged. The cache is state: it is not part of
    ``parameters()``. What each layer keeps:

    * a masked convolution, a shift register of its latest inputs;
    * a causal ``MultiHeadAttention``, the keys and values of ``max_length``
      positions, which of them are real tokens, and the position (attention that is
      not causal gets no cache: its output depends on later positions);
    * a recurrent cell (``LSTM``, ``GRU``, ``VanillaRNN``), its state.

    Each cache is in ``jnp.promote_types(dtype, weights' dtype)``, the dtype the
    layer's step computes in for inputs of dtype ``dtype``. A step whose values do not
    fit a masked layer's cache without loss raises ``ValueError`` naming the layer.

    Args:
      module: an autoregressive layer or a model containing some (with parameters:
        a masked layer built without ``in_features`` is called once first).
      batch_size: the number of sequences stepped together; ``None`` for one
        unbatched sequence (inputs ``(features,)`` to ``update_site``; masked layers
        and recurrent cells only).
      max_length: the number of positions an attention cache holds (required when
        the model has causal attention). Stepping past it is an error: eagerly a
        ``ValueError``; under ``jax.jit`` (where the position is not known) the
        outputs of those steps are NaN and the cache is left as it was.
      width: the image width ``W``, required by ``MaskedConv2D`` (raster order).
      dtype: the dtype of the network's input (default float32).

    Returns:
      The module with caches, ready for ``update_site`` at position 0.

    >>> import jax, jax.numpy as jnp, pax
    >>> conv = pax.MaskedConv1D(4, 3, 1, True, in_features=2, rng_key=jax.random.PRNGKey(0))
    >>> cached = init_cache(conv, 8)
    >>> cached.cache.shape, cached.cache.dtype  # the last (3 - 1) * 1 inputs
    ((8, 2, 2), dtype('float32'))
    >>> complex_conv = pax.MaskedConv1D(4, 3, 1, True, param_dtype=jnp.complex64,
    ...                                 in_features=2, rng_key=jax.random.PRNGKey(0))
    >>> init_cache(complex_conv, 8).cache.dtype
    dtype('complex64')
    >>> attn = pax.MultiHeadAttention(2, 4, 1.0, causal=True, rng_key=jax.random.PRNGKey(0))
    >>> init_cache(attn, 3, max_length=16).key_cache.shape  # (N, max_length, heads, K)
    (3, 16, 2, 4)
    """
    input_dtype = _check_input_dtype(dtype)
    if batch_size is None:
        batch: tuple[int, ...] = ()
    else:
        check_positive_ints("init_cache", batch_size=batch_size)
        batch = (int(batch_size),)
    if max_length is not None:
        check_positive_ints("init_cache", max_length=max_length)
        max_length = int(max_length)
    request = CacheRequest(batch, max_length, width, input_dtype)

    def add(m: Module) -> Module:
        if isinstance(m, Autoregressive):
            return m._with_cache(request)
        return m

    return module.apply(add)


def update_site_of_stacked_blocks(blocks: M, x: Any, *args: Any, **kwargs: Any) -> tuple[M, Any]:
    """``update_site`` through the blocks of a ``pax.Stack`` (leaves with the blocks on
    their leading axis), one ``jax.lax.scan``: ``(new blocks, output of the last)``.
    The other arguments reach every block unchanged (e.g. a padding mask).

    >>> import jax, jax.numpy as jnp, pax
    >>> stack = pax.Stack(lambda k: pax.LSTM(4, 4, rng_key=k), 3)
    >>> cached = init_cache(stack, 2)
    >>> blocks, y = update_site_of_stacked_blocks(cached.blocks, jnp.ones((2, 4)))
    >>> y.shape, blocks.cache.hidden.shape  # one state per block
    ((2, 4), (3, 2, 4))
    """

    def step(h: Any, block: Any) -> tuple[Any, Any]:
        block, h = module_and_value(block.update_site)(h, *args, **kwargs)
        return h, block

    y, new_blocks = jax.lax.scan(step, x, blocks)
    return new_blocks, y
