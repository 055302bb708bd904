"""What the masked autoregressive layers share: ``param_dtype``, parameters made at the
first call when the input size is not given, and the cache of the incremental mode.

A masked layer built without ``in_features`` (NetKet's constructor) has ``kernel`` and
``bias`` set to ``None`` and keeps the key and initializers it will make them with. Its
first call through :func:`pax.purecall` (or inside :func:`pax.pure`) reads the sizes
from the input's shape and creates the parameters, exactly as an eager construction
with those sizes and the same ``rng_key`` would: the returned layer equals it, treedef
included. The first call may be traced (``jax.jit``): the parameters are then computed
inside the trace, from the stored key.
"""

from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ..core.mixed_precision import default_precision
from ..core.module import Module
from ..core.mutation import is_open
from ..core.parameters import parameters_method
from ..core.rng import next_rng_key
from .decoding import Autoregressive, CacheRequest
from .decoding import init_cache as init_cache
from .initializers import Initializer
from .param_dtype import check_param_dtype as check_param_dtype

M = TypeVar("M", bound=Module)

_lecun_normal = jax.nn.initializers.lecun_normal()


def default_kernel_init(key: jax.Array, shape: Any, dtype: DTypeLike = jnp.float32) -> jax.Array:
    """NetKet's default kernel initializer, ``jax.nn.initializers.lecun_normal()``.

    A module-level function, so that a layer still waiting for its first call (which
    keeps its initializers) can be pickled.

    >>> import jax, jax.numpy as jnp
    >>> default_kernel_init(jax.random.PRNGKey(0), (3, 4), jnp.complex64).dtype
    dtype('complex64')
    """
    return _lecun_normal(key, shape, dtype)


MSG_NO_CACHE = (
    "{layer}.update_site needs a cache: build one first with "
    "`layer = layer.init_cache(batch_size)` (or `net = init_cache(net, batch_size)` for a "
    "network), then call `pax.module_and_value(layer.update_site)(x)` inside `pax.pure` "
    "or `jax.lax.scan`."
)

MSG_FIRST_CALL_NOT_PURE = (
    "{layer} was built without {missing}, so it creates its parameters at its first call, "
    "from the shape of the input; that call must be able to store them, and a direct "
    "call cannot. Call it once through `pax.purecall` (or inside `pax.pure`) and keep the "
    "returned layer:\n"
    "    layer, y = pax.purecall(layer, x)\n"
    "or give the input size when building it: `{layer}(..., {sizes})`."
)

MSG_CACHE_BEFORE_PARAMETERS = (
    "{layer}.init_cache: the layer has no parameters yet (it was built without "
    "{missing}, and makes them at its first call). Call it once first, "
    "`layer, y = pax.purecall(layer, x)`, or give {missing} when building it."
)

MSG_CACHE_DTYPE = (
    "{layer}.update_site: this step writes {written} values into a cache of dtype "
    "{cache} ({why}). The cache of each masked layer is in the promoted dtype of the "
    "network input's dtype and the layer's kernel; build it for this input with "
    "`init_cache(net, batch_size, dtype=jnp.{written})`."
)


# -- argument checks -------------------------------------------------------------------


def check_exclusive(layer: str, exclusive: Any) -> bool:
    if not isinstance(exclusive, (bool, np.bool_)):
        raise TypeError(f"{layer}: `exclusive` must be a bool, got {exclusive!r}.")
    return bool(exclusive)


def check_groups(layer: str, in_features: int, features: int, groups: int) -> None:
    if in_features % groups or features % groups:
        raise ValueError(
            f"{layer}: in_features ({in_features}) and features ({features}) must both be "
            f"divisible by feature_group_count ({groups})."
        )


def check_cache_fits(layer: str, written: Any, cache_dtype: Any) -> None:
    """Raise unless values of dtype ``written`` go into the cache without loss."""
    written, cache_dtype = jnp.dtype(written), jnp.dtype(cache_dtype)
    if jnp.promote_types(written, cache_dtype) == cache_dtype:
        return
    if jnp.issubdtype(written, jnp.complexfloating) and not jnp.issubdtype(
        cache_dtype, jnp.complexfloating
    ):
        why = "storing them would drop their imaginary part"
    else:
        why = "storing them would round them"
    raise ValueError(
        MSG_CACHE_DTYPE.format(layer=layer, written=written.name, cache=cache_dtype.name, why=why)
    )


# -- the base class ----------------------------------------------------------------------


@default_precision("half")
class MaskedLayer(Autoregressive):
    """The base of ``MaskedConv1D``, ``MaskedConv2D`` and ``MaskedDense1D``.

    Subclasses say which sizes an input determines (``_sizes``), the parameter shapes
    and masks (``_parameter_shapes``, ``_kernel_mask``) and how to make a cache
    (``_cache_for``); this class creates the parameters (now or at the first call)
    and checks the cache.
    """

    parameters = parameters_method("kernel", "bias")

    in_features: int | None
    param_dtype: np.dtype
    use_bias: bool
    kernel: jax.Array | None
    bias: jax.Array | None
    init_key: jax.Array | None
    """The key the parameters will be drawn from at the first call; ``None`` once
    they exist."""
    _initializers: tuple[Initializer, Initializer] | None
    cache: jax.Array | None
    position: jax.Array | None

    # -- what subclasses define ---------------------------------------------------------
    _size_names: tuple[str, ...] = ("in_features",)

    def _sizes(self, shape: tuple[int, ...]) -> dict[str, int]:
        """The sizes an input of this (checked) shape determines, by name."""
        return {"in_features": shape[-1]}

    def _check_sizes(self, sizes: dict[str, int]) -> None:
        """Raise if these sizes do not make a valid layer."""
        raise NotImplementedError

    def _parameter_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        raise NotImplementedError

    def _kernel_mask(self) -> np.ndarray | None:
        return None

    def _cache_for(
        self, batch: tuple[int, ...], width: int | None, dtype: np.dtype
    ) -> "MaskedLayer":
        raise NotImplementedError

    # -- parameters ---------------------------------------------------------------------
    def _missing_sizes(self) -> list[str]:
        return [name for name in self._size_names if getattr(self, name) is None]

    def _init_parameters(
        self,
        rng_key: jax.Array | None,
        kernel_init: Initializer,
        bias_init: Initializer,
    ) -> None:
        """Called by ``__init__`` once the sizes given are set: the parameters now, or
        (a size missing) ``None`` until the first call, which uses the same key."""
        rng_key = next_rng_key() if rng_key is None else rng_key
        if self._missing_sizes():
            self.kernel = None
            self.bias = None
            self.init_key = rng_key
            self._initializers = (kernel_init, bias_init)
        else:
            self.kernel, self.bias = self._new_parameters(rng_key, kernel_init, bias_init)
            self.init_key = None
            self._initializers = None
        self.cache = None
        self.position = None

    def _new_parameters(
        self, rng_key: jax.Array, kernel_init: Initializer, bias_init: Initializer
    ) -> tuple[jax.Array, jax.Array | None]:
        k_key, b_key = jax.random.split(rng_key)
        kernel_shape, bias_shape = self._parameter_shapes()
        kernel = kernel_init(k_key, kernel_shape, self.param_dtype)
        mask = self._kernel_mask()
        if mask is not None:  # masked entries start at zero, as in NetKet
            kernel = kernel * jnp.asarray(mask, self.param_dtype)
        bias = bias_init(b_key, bias_shape, self.param_dtype) if self.use_bias else None
        return kernel, bias

    def _parameters_for(self, x: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        """``(kernel, bias)``, made from the shape of ``x`` (already checked) if this is
        the first call of a layer built without its input size."""
        if self.kernel is not None:
            return self.kernel, self.bias
        layer = type(self).__name__
        sizes = self._sizes(jnp.shape(x))
        if not is_open(self):  # outside pax.pure: nowhere to keep them
            missing = self._missing_sizes()
            raise ValueError(
                MSG_FIRST_CALL_NOT_PURE.format(
                    layer=layer,
                    missing=" and ".join(f"`{name}`" for name in missing),
                    sizes=", ".join(f"{name}={sizes[name]}" for name in missing),
                )
            )
        self._check_sizes(sizes)
        check_param_dtype(layer, self.param_dtype)  # x64 may have been turned off since
        for name, value in sizes.items():
            setattr(self, name, value)
        initializers = self._initializers
        key = self.init_key
        if initializers is None or key is None:  # only if `kernel` was replaced by None
            raise ValueError(
                f"{layer} has no kernel and no `init_key` to make one from: build the "
                f"layer again rather than replacing its kernel by None."
            )
        kernel, bias = self._new_parameters(key, *initializers)
        self.kernel, self.bias = kernel, bias
        self.init_key = None
        self._initializers = None
        return kernel, bias

    def _size_repr(self, name: str) -> Any:
        value = getattr(self, name)
        return "?" if value is None else value

    # -- the cache ------------------------------------------------------------------------
    def _with_cache(self, request: CacheRequest) -> Module:
        layer = type(self).__name__
        if self.kernel is None:
            missing = " and ".join(f"`{name}`" for name in self._missing_sizes())
            raise ValueError(MSG_CACHE_BEFORE_PARAMETERS.format(layer=layer, missing=missing))
        dtype = jnp.promote_types(request.dtype, self.kernel.dtype)
        cached = self._cache_for(request.batch, request.width, dtype)
        kernel_rank = len(self._parameter_shapes()[0])
        stacked = self.kernel.shape[: self.kernel.ndim - kernel_rank]
        if stacked and cached.cache is not None:
            # the blocks of a pax.Stack (leaves with a leading axis): one cache per block
            cached = cached.replace(
                cache=jnp.zeros((*stacked, *cached.cache.shape), dtype),
                position=jnp.zeros(stacked, jnp.int32),
            )
        return cached

    def _site_state(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """The cache, position and kernel of this layer, after checking that ``x``
        (one position of input) fits them."""
        layer = type(self).__name__
        cache, position, kernel = self.cache, self.position, self.kernel
        if cache is None or position is None or kernel is None:
            raise ValueError(MSG_NO_CACHE.format(layer=layer))
        in_features = self.in_features
        expected = (*cache.shape[:-2], in_features)
        if jnp.shape(x) != expected:
            raise ValueError(
                f"{layer}.update_site expects one position of input, shape {expected} (the "
                f"batch shape of the cache and {in_features} features), got shape "
                f"{jnp.shape(x)}."
            )
        return cache, position, kernel
