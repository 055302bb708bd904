"""NetKet's autoregressive masked layers, with a jittable incremental mode.

``MaskedConv1D``, ``MaskedConv2D`` and ``MaskedDense1D`` follow ``netket.nn`` (same
arguments, same parameter shapes ``kernel``/``bias``, same outputs): output position
``i`` depends only on the inputs at positions ``<= i`` (``< i`` when ``exclusive``),
in raster (row-major) order for ``MaskedConv2D``. pax builds modules eagerly, so the
layers also take the number of input features as the keyword ``in_features``
(``MaskedDense1D`` also its ``size``, the sequence length).

Incremental mode (for sampling; NetKet's fast layers cannot be jitted, these can):
``layer.init_cache(batch_size)`` (or :func:`init_cache` for a whole network) returns a
copy with a cache, whose leaves are state, not parameters. Inside :func:`pax.pure`,
``layer.update_site(x)`` takes the newest input the current output may depend on,
returns the output at the current position ``i`` and advances the cache by one
position. As in NetKet's ``FastMaskedConv1D.update_site``, that input is the one at
position ``i`` for an inclusive layer and at ``i - 1`` for an exclusive one (an
exclusive layer ignores its input at ``i = 0``); so a network whose first layer is
exclusive takes the previous sample and returns the logits of the next one. Stepping
through a sequence reproduces the full-sequence output, and works under ``jax.jit``
and ``jax.lax.scan``/``pax.scan``.
"""

import functools
from typing import Any, Callable, Optional, Sequence, Tuple, TypeVar, Union

import jax
import jax.numpy as jnp
import numpy as np

from ..core.module import Module
from ..core.parameters import parameters_method
from ..core.rng import next_rng_key
from .initializers import Initializer, zeros
from .validation import check_positive_ints

M = TypeVar("M", bound=Module)

default_kernel_init: Initializer = jax.nn.initializers.lecun_normal()
"""NetKet's default kernel initializer for the masked layers (``lecun_normal()``)."""

MSG_NO_CACHE = (
    "{layer}.update_site needs a cache: build one first with "
    "`layer = layer.init_cache(batch_size)` (or `net = init_cache(net, batch_size)` for a "
    "network), then call `pax.module_and_value(layer.update_site)(x)` inside `pax.pure` "
    "or `jax.lax.scan`."
)


def _check_exclusive(layer: str, exclusive: Any) -> bool:
    if not isinstance(exclusive, (bool, np.bool_)):
        raise TypeError(f"{layer}: `exclusive` must be a bool, got {exclusive!r}.")
    return bool(exclusive)


def _check_groups(layer: str, in_features: int, features: int, groups: int) -> None:
    if in_features % groups or features % groups:
        raise ValueError(
            f"{layer}: in_features ({in_features}) and features ({features}) must both be "
            f"divisible by feature_group_count ({groups})."
        )


def _pair(layer: str, arg: str, value: Any) -> Tuple[int, int]:
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    ok = isinstance(pair, (tuple, list)) and len(pair) == 2
    if ok:
        try:
            check_positive_ints(layer, **{arg: pair[0]})
            check_positive_ints(layer, **{arg: pair[1]})
        except ValueError:
            ok = False
    if not ok:
        raise ValueError(
            f"{layer}: `{arg}` must be a positive int or a pair of positive ints, got {value!r}."
        )
    return int(pair[0]), int(pair[1])


def _common_dtype(x: jax.Array, kernel: jax.Array) -> Any:
    return jnp.result_type(x, kernel)


def _tap_contract(taps: jax.Array, kernel: jax.Array, groups: int, precision: Any) -> jax.Array:
    """``sum_t taps[..., t, :] @ kernel[t]`` with grouped features.

    ``taps`` is ``(*batch, T, in)``, ``kernel`` ``(T, in // groups, out)`` as in
    ``lax.conv_general_dilated`` (output feature ``o`` belongs to group
    ``o // (out // groups)``); the result is ``(*batch, out)``.
    """
    *batch, t, cin = taps.shape
    cout = kernel.shape[-1]
    taps = taps.reshape(*batch, t, groups, cin // groups)
    kernel = kernel.reshape(t, cin // groups, groups, cout // groups)
    y = jnp.einsum("...tgi,tigo->...go", taps, kernel, precision=precision)
    return y.reshape(*batch, cout)


def _push(cache: jax.Array, x: jax.Array, position: jax.Array, exclusive: bool) -> jax.Array:
    """Shift the register ``cache`` (``(*batch, S, in)``, newest last) by one input."""
    x = x.astype(cache.dtype)
    if exclusive:  # at position 0 an exclusive layer has no input yet
        x = jnp.where(position >= 1, x, jnp.zeros_like(x))
    return jnp.concatenate([cache[..., 1:, :], x[..., None, :]], axis=-2)


def _check_site_input(module: Any, x: jax.Array) -> Tuple[jax.Array, jax.Array]:
    """The cache and position of ``module``, after checking that ``x`` fits them."""
    layer = type(module).__name__
    cache, position = module.cache, module.position
    if cache is None or position is None:
        raise ValueError(MSG_NO_CACHE.format(layer=layer))
    expected = (*cache.shape[:-2], module.in_features)
    if jnp.shape(x) != expected:
        raise ValueError(
            f"{layer}.update_site expects one position of input, shape {expected} (the batch "
            f"shape of the cache and {module.in_features} features), got shape "
            f"{jnp.shape(x)}."
        )
    return cache, position


def _cache_batch_shape(layer: str, batch_size: Optional[int]) -> Tuple[int, ...]:
    if batch_size is None:
        return ()
    check_positive_ints(f"{layer}.init_cache", batch_size=batch_size)
    return (batch_size,)


def init_cache(
    module: M,
    batch_size: Optional[int],
    *,
    width: Optional[int] = None,
    dtype: Any = jnp.float32,
) -> M:
    """A copy of ``module`` in which every masked layer has a fresh (zero) cache.

    Works on one layer or on a whole network (any nesting of modules); other layers
    are unchanged. The cache is state: it is not part of ``parameters()``.

    Args:
      module: a masked layer, or a module containing masked layers.
      batch_size: the number of sequences stepped together; ``None`` for one
        unbatched sequence (inputs ``(features,)`` to ``update_site``).
      width: the image width ``W``, required by ``MaskedConv2D`` (raster order).
      dtype: the dtype of the cached inputs.

    Returns:
      The module with caches, ready for ``update_site`` at position 0.

    >>> import jax
    >>> conv = MaskedConv1D(4, 3, 1, True, in_features=2, rng_key=jax.random.PRNGKey(0))
    >>> init_cache(conv, 8).cache.shape  # the last (3 - 1) * 1 inputs
    (8, 2, 2)
    """

    def add(m: Module) -> Module:
        if isinstance(m, (MaskedConv1D, MaskedDense1D)):
            return m._with_cache(batch_size, dtype)
        if isinstance(m, MaskedConv2D):
            if width is None:
                raise ValueError(
                    "MaskedConv2D.init_cache needs the image `width` (inputs are stepped "
                    "in raster order): pass `init_cache(batch_size, width=W)`."
                )
            return m._with_cache(batch_size, width, dtype)
        return m

    return module.apply(add)


class MaskedConv1D(Module):
    """1D convolution with a mask for autoregressive networks (``netket.nn.MaskedConv1D``).

    Output position ``i`` sees the inputs at ``i - (K - 1) d, ..., i - d, i`` (kernel
    size ``K``, dilation ``d``); an exclusive layer drops the last of them and sees
    ``i - (K - 1) d, ..., i - d``, so its kernel has ``K - 1`` taps (as in NetKet, it
    shifts the inputs by ``d``). There is no mask to multiply: the convolution is
    ``lax.conv_general_dilated`` with left (causal) padding.

    Args:
      features: number of output features (convolution filters).
      kernel_size: length ``K`` of the kernel (``>= 2`` when exclusive).
      kernel_dilation: dilation ``d`` of the kernel.
      exclusive: ``True`` if output ``i`` must not depend on input ``i``.
      feature_group_count: divides the input features into groups (default 1).
      use_bias: add a bias of shape ``(features,)`` (default ``True``).
      precision: ``jax.lax.Precision`` of the convolution.
      kernel_init: ``init(key, shape, dtype)`` for the kernel of shape
        ``(K - exclusive, in_features // feature_group_count, features)``
        (default ``lecun_normal()``, NetKet's).
      bias_init: ``init(key, shape, dtype)`` for the bias (default zeros).
      in_features: number of input features (keyword-only, required: pax layers
        are built eagerly).

    Inputs are ``(batch, length, in_features)`` or one sequence ``(length, in_features)``;
    the output has ``features`` in place of ``in_features``.

    >>> import jax, jax.numpy as jnp
    >>> conv = MaskedConv1D(4, 3, 1, True, in_features=2, rng_key=jax.random.PRNGKey(0))
    >>> conv.kernel.shape, conv(jnp.ones((5, 10, 2))).shape
    ((2, 2, 4), (5, 10, 4))
    """

    parameters = parameters_method("kernel", "bias")
    _pax_default_precision = "half"

    kernel: jax.Array
    bias: Optional[jax.Array]
    cache: Optional[jax.Array]
    position: Optional[jax.Array]

    def __init__(
        self,
        features: int,
        kernel_size: int,
        kernel_dilation: int,
        exclusive: bool,
        feature_group_count: int = 1,
        use_bias: bool = True,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = zeros,
        *,
        in_features: int,
        rng_key: Optional[jax.Array] = None,
        name: Optional[str] = None,
    ):
        super().__init__(name=name)
        layer = "MaskedConv1D"
        check_positive_ints(
            layer,
            features=features,
            kernel_size=kernel_size,
            kernel_dilation=kernel_dilation,
            feature_group_count=feature_group_count,
            in_features=in_features,
        )
        exclusive = _check_exclusive(layer, exclusive)
        if exclusive and kernel_size < 2:
            raise ValueError(
                f"{layer}: an exclusive layer needs kernel_size >= 2 (its kernel has "
                f"kernel_size - 1 taps), got kernel_size={kernel_size}."
            )
        _check_groups(layer, in_features, features, feature_group_count)
        self.in_features = in_features
        self.features = features
        self.kernel_size = kernel_size
        self.kernel_dilation = kernel_dilation
        self.exclusive = exclusive
        self.feature_group_count = feature_group_count
        self.use_bias = use_bias
        self.precision = precision
        rng_key = next_rng_key() if rng_key is None else rng_key
        k_key, b_key = jax.random.split(rng_key)
        shape = (kernel_size - exclusive, in_features // feature_group_count, features)
        self.kernel = kernel_init(k_key, shape, jnp.float32)
        self.bias = bias_init(b_key, (features,), jnp.float32) if use_bias else None
        self.cache = None
        self.position = None

    def _check_input(self, x: jax.Array) -> bool:
        shape = jnp.shape(x)
        if len(shape) not in (2, 3) or shape[-1] != self.in_features:
            raise ValueError(
                f"MaskedConv1D expects inputs of rank 3 (batch, length, features) or rank 2 "
                f"(length, features) with {self.in_features} features, got shape {shape}."
            )
        return len(shape) == 2

    def __call__(self, x: jax.Array) -> jax.Array:
        """The masked convolution of a whole sequence (or batch of sequences)."""
        single = self._check_input(x)
        dtype = _common_dtype(x, self.kernel)
        x = jnp.asarray(x, dtype)
        if single:
            x = x[None]
        d = self.kernel_dilation
        y = jax.lax.conv_general_dilated(
            x,
            self.kernel.astype(dtype),
            window_strides=(1,),
            # causal: (K - 1) d zeros on the left; an exclusive layer also drops the
            # last d inputs, which shifts the sequence right by d
            padding=[((self.kernel_size - 1) * d, -d * self.exclusive)],
            rhs_dilation=(d,),
            dimension_numbers=("NWC", "WIO", "NWC"),
            feature_group_count=self.feature_group_count,
            precision=self.precision,
        )
        if self.bias is not None:
            y = y + self.bias.astype(dtype)
        return y[0] if single else y

    # -- incremental mode -------------------------------------------------------------
    @property
    def init_cache(self) -> Callable[..., "MaskedConv1D"]:
        """``layer.init_cache(batch_size, dtype=jnp.float32)``: a copy with a zero cache.

        The cache (``cache``, ``(batch_size, (K - 1) d + 1 - exclusive, in_features)``,
        and ``position``, an int32 scalar) is a shift register of the most recent
        inputs. ``batch_size=None`` caches one unbatched sequence. (A property rather
        than a method so that ``pax.apply_mp_policy`` does not cast the weights of the
        returned copy; see :func:`init_cache`.)
        """
        return functools.partial(init_cache, self)

    def _with_cache(self, batch_size: Optional[int], dtype: Any) -> "MaskedConv1D":
        batch = _cache_batch_shape("MaskedConv1D", batch_size)
        size = (self.kernel_size - 1) * self.kernel_dilation + 1 - self.exclusive
        return self.replace(
            cache=jnp.zeros((*batch, size, self.in_features), dtype),
            position=jnp.zeros((), jnp.int32),
        )

    def update_site(self, x: jax.Array) -> jax.Array:
        """One autoregressive step: the output at the current position ``i``.

        Mutates the cache, so call it inside :func:`pax.pure`, e.g.
        ``layer, y = pax.module_and_value(layer.update_site)(x)``.

        Args:
          x: ``(batch_size, in_features)`` (``(in_features,)`` for an unbatched
            cache): the input at position ``i`` for an inclusive layer, at ``i - 1``
            for an exclusive one (ignored at ``i = 0``).

        Returns:
          ``(batch_size, features)``: the output of the full layer at position ``i``.

        >>> import jax, jax.numpy as jnp, pax
        >>> conv = MaskedConv1D(4, 3, 1, True, in_features=2, rng_key=jax.random.PRNGKey(0))
        >>> xs = jnp.linspace(-1.0, 1.0, 12).reshape(6, 2)  # one sequence
        >>> previous = jnp.concatenate([jnp.zeros((1, 2)), xs[:-1]])  # exclusive: x[i - 1]
        >>> def step(layer, x):
        ...     return pax.module_and_value(layer.update_site)(x)
        >>> _, ys = jax.lax.scan(step, conv.init_cache(None), previous)
        >>> bool(jnp.allclose(ys, conv(xs), atol=1e-6))
        True
        """
        cache, position = _check_site_input(self, x)
        cache = _push(cache, x, position, self.exclusive)
        self.cache = cache
        self.position = position + 1
        # tap t of the kernel reads the input (K - 1 - t) d positions back, which sits
        # at register index t d (the newest input, at i - exclusive, is last)
        taps = self.kernel_size - self.exclusive
        window = cache[..., : (taps - 1) * self.kernel_dilation + 1 : self.kernel_dilation, :]
        dtype = _common_dtype(window, self.kernel)
        y = _tap_contract(
            window.astype(dtype),
            self.kernel.astype(dtype),
            self.feature_group_count,
            self.precision,
        )
        if self.bias is not None:
            y = y + self.bias.astype(dtype)
        return y

    def __repr__(self) -> str:
        return self._repr(
            {
                "in_features": self.in_features,
                "features": self.features,
                "kernel_size": self.kernel_size,
                "kernel_dilation": self.kernel_dilation,
                "exclusive": self.exclusive,
                "feature_group_count": (
                    self.feature_group_count if self.feature_group_count != 1 else None
                ),
                "use_bias": None if self.use_bias else False,
            }
        )


def conv2d_mask(kernel_size: Tuple[int, int], exclusive: bool) -> np.ndarray:
    """NetKet's ``MaskedConv2D`` mask, ``(kh, kw)``: ones, except in the last kernel row
    (the current image row) from the centre column on (or right of it, when inclusive).

    >>> conv2d_mask((2, 3), exclusive=True).astype(int).tolist()
    [[1, 1, 1], [1, 0, 0]]
    """
    kh, kw = kernel_size
    mask = np.ones((kh, kw), np.float32)
    mask[-1, kw // 2 + (not exclusive) :] = 0
    return mask


class MaskedConv2D(Module):
    """2D convolution with a mask for autoregressive networks (``netket.nn.MaskedConv2D``).

    Images are ``(batch, H, W, features)``, ordered row by row (raster order).
    Output ``(r, c)`` sees the ``kh - 1`` rows above (dilated by ``dh``), columns
    ``c - (kw // 2) dw ... c + ((kw - 1) // 2) dw``, and in row ``r`` the columns left
    of ``c`` (and ``c`` itself unless ``exclusive``): the kernel ``(kh, kw, in, out)``
    is multiplied by :func:`conv2d_mask` (masked entries start at zero, as in NetKet,
    and get zero gradients).

    Args:
      features: number of output features.
      kernel_size: ``(kh, kw)`` (an int means a square kernel).
      kernel_dilation: ``(dh, dw)`` (an int means the same for both).
      exclusive: ``True`` if output ``(r, c)`` must not depend on input ``(r, c)``.
      feature_group_count: divides the input features into groups (default 1).
      use_bias: add a bias of shape ``(features,)`` (default ``True``).
      precision: ``jax.lax.Precision`` of the convolution.
      kernel_init: ``init(key, shape, dtype)`` for the kernel of shape
        ``(kh, kw, in_features // feature_group_count, features)``, then masked
        (default ``lecun_normal()``).
      bias_init: ``init(key, shape, dtype)`` for the bias (default zeros).
      in_features: number of input features (keyword-only, required).

    Inputs are ``(batch, H, W, in_features)`` or one image ``(H, W, in_features)``.

    >>> import jax, jax.numpy as jnp
    >>> conv = MaskedConv2D(4, (2, 3), (1, 1), True, in_features=2,
    ...                     rng_key=jax.random.PRNGKey(0))
    >>> conv.kernel.shape, conv(jnp.ones((5, 6, 6, 2))).shape
    ((2, 3, 2, 4), (5, 6, 6, 4))
    """

    parameters = parameters_method("kernel", "bias")
    _pax_default_precision = "half"

    kernel: jax.Array
    bias: Optional[jax.Array]
    cache: Optional[jax.Array]
    position: Optional[jax.Array]

    def __init__(
        self,
        features: int,
        kernel_size: Union[int, Sequence[int]],
        kernel_dilation: Union[int, Sequence[int]],
        exclusive: bool,
        feature_group_count: int = 1,
        use_bias: bool = True,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = zeros,
        *,
        in_features: int,
        rng_key: Optional[jax.Array] = None,
        name: Optional[str] = None,
    ):
        super().__init__(name=name)
        layer = "MaskedConv2D"
        check_positive_ints(
            layer,
            features=features,
            feature_group_count=feature_group_count,
            in_features=in_features,
        )
        kernel_size = _pair(layer, "kernel_size", kernel_size)
        kernel_dilation = _pair(layer, "kernel_dilation", kernel_dilation)
        exclusive = _check_exclusive(layer, exclusive)
        if exclusive and kernel_size == (1, 1):
            raise ValueError(
                f"{layer}: an exclusive layer with kernel_size (1, 1) sees no input; use a "
                f"larger kernel_size, e.g. (2, 3)."
            )
        _check_groups(layer, in_features, features, feature_group_count)
        self.in_features = in_features
        self.features = features
        self.kernel_size = kernel_size
        self.kernel_dilation = kernel_dilation
        self.exclusive = exclusive
        self.feature_group_count = feature_group_count
        self.use_bias = use_bias
        self.precision = precision
        rng_key = next_rng_key() if rng_key is None else rng_key
        k_key, b_key = jax.random.split(rng_key)
        shape = (*kernel_size, in_features // feature_group_count, features)
        mask = jnp.asarray(conv2d_mask(kernel_size, exclusive))[:, :, None, None]
        self.kernel = kernel_init(k_key, shape, jnp.float32) * mask
        self.bias = bias_init(b_key, (features,), jnp.float32) if use_bias else None
        self.cache = None
        self.position = None
        self.cache_width: Optional[int] = None

    def _check_input(self, x: jax.Array) -> bool:
        shape = jnp.shape(x)
        if len(shape) not in (3, 4) or shape[-1] != self.in_features:
            raise ValueError(
                f"MaskedConv2D expects inputs of rank 4 (batch, H, W, features) or rank 3 "
                f"(H, W, features) with {self.in_features} features, got shape {shape}."
            )
        return len(shape) == 3

    def _masked_kernel(self, dtype: Any) -> jax.Array:
        mask = conv2d_mask(self.kernel_size, self.exclusive)[:, :, None, None]
        return self.kernel.astype(dtype) * jnp.asarray(mask, dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        """The masked convolution of a whole image (or batch of images)."""
        single = self._check_input(x)
        dtype = _common_dtype(x, self.kernel)
        x = jnp.asarray(x, dtype)
        if single:
            x = x[None]
        (kh, kw), (dh, dw) = self.kernel_size, self.kernel_dilation
        y = jax.lax.conv_general_dilated(
            x,
            self._masked_kernel(dtype),
            window_strides=(1, 1),
            padding=[((kh - 1) * dh, 0), (kw // 2 * dw, (kw - 1) // 2 * dw)],
            rhs_dilation=(dh, dw),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=self.feature_group_count,
            precision=self.precision,
        )
        if self.bias is not None:
            y = y + self.bias.astype(dtype)
        return y[0] if single else y

    # -- incremental mode (raster order) --------------------------------------------
    def _taps(self, width: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """The unmasked kernel taps that can fall inside an image of this width.

        Returns kernel rows and columns, each tap's column offset and its distance
        back (in raster order) from the current position, and the register size.
        """
        (kh, kw), (dh, dw) = self.kernel_size, self.kernel_dilation
        mask = conv2d_mask(self.kernel_size, self.exclusive)
        rows, cols, col_offsets, back = [], [], [], []
        for a in range(kh):
            for b in range(kw):
                col_offset = (b - kw // 2) * dw
                if mask[a, b] and abs(col_offset) < width:
                    rows.append(a)
                    cols.append(b)
                    col_offsets.append(col_offset)
                    back.append((kh - 1 - a) * dh * width - col_offset)
        size = max(back, default=self.exclusive) + 1 - self.exclusive
        as_array = functools.partial(np.asarray, dtype=np.int32)
        return as_array(rows), as_array(cols), as_array(col_offsets), as_array(back), size

    @property
    def init_cache(self) -> Callable[..., "MaskedConv2D"]:
        """``layer.init_cache(batch_size, width, dtype=jnp.float32)``: a copy with a zero
        cache for images of width ``width`` stepped in raster order.

        The cache is a shift register of the last ``(kh - 1) dh W + (kw // 2) dw + 1 -
        exclusive`` inputs (``cache``) and the flat position (``position``). (A
        property, as ``MaskedConv1D.init_cache``.)
        """

        def init(
            batch_size: Optional[int], width: Optional[int] = None, dtype: Any = jnp.float32
        ) -> "MaskedConv2D":
            return init_cache(self, batch_size, width=width, dtype=dtype)

        return init

    def _with_cache(self, batch_size: Optional[int], width: int, dtype: Any) -> "MaskedConv2D":
        batch = _cache_batch_shape("MaskedConv2D", batch_size)
        check_positive_ints("MaskedConv2D.init_cache", width=width)
        size = self._taps(width)[-1]
        return self.replace(
            cache=jnp.zeros((*batch, size, self.in_features), dtype),
            position=jnp.zeros((), jnp.int32),
            cache_width=width,
        )

    def update_site(self, x: jax.Array) -> jax.Array:
        """One step in raster order: the output at flat position ``i = r * W + c``.

        Call it inside :func:`pax.pure`, as ``MaskedConv1D.update_site``.

        Args:
          x: ``(batch_size, in_features)``: the input at flat position ``i`` for an
            inclusive layer, at ``i - 1`` for an exclusive one (ignored at ``i = 0``).

        Returns:
          ``(batch_size, features)``: the output of the full layer at ``(r, c)``.

        >>> import jax, jax.numpy as jnp, pax
        >>> conv = MaskedConv2D(4, (2, 3), (1, 1), True, in_features=2,
        ...                     rng_key=jax.random.PRNGKey(0))
        >>> image = jnp.linspace(-1.0, 1.0, 40).reshape(4, 5, 2)  # H = 4, W = 5
        >>> flat = image.reshape(20, 2)  # raster order
        >>> previous = jnp.concatenate([jnp.zeros((1, 2)), flat[:-1]])  # exclusive
        >>> def step(layer, x):
        ...     return pax.module_and_value(layer.update_site)(x)
        >>> _, ys = jax.lax.scan(step, conv.init_cache(None, width=5), previous)
        >>> bool(jnp.allclose(ys.reshape(4, 5, 4), conv(image), atol=1e-6))
        True
        """
        cache, position = _check_site_input(self, x)
        width = int(self.cache_width or 0)  # set together with the cache
        rows, cols, col_offsets, back, size = self._taps(width)
        cache = _push(cache, x, position, self.exclusive)
        column = position % width
        self.cache = cache
        self.position = position + 1
        # the input `back` positions behind i sits at register index size - 1 - (back - excl);
        # taps whose column falls outside the image read zero padding
        window = cache[..., size - 1 - (back - self.exclusive), :]
        target = column + col_offsets
        inside = (target >= 0) & (target < width)
        dtype = _common_dtype(window, self.kernel)
        window = jnp.where(inside[:, None], window, 0).astype(dtype)
        kernel = self._masked_kernel(dtype)[rows, cols]
        y = _tap_contract(window, kernel, self.feature_group_count, self.precision)
        if self.bias is not None:
            y = y + self.bias.astype(dtype)
        return y

    def __repr__(self) -> str:
        return self._repr(
            {
                "in_features": self.in_features,
                "features": self.features,
                "kernel_size": self.kernel_size,
                "kernel_dilation": self.kernel_dilation,
                "exclusive": self.exclusive,
                "feature_group_count": (
                    self.feature_group_count if self.feature_group_count != 1 else None
                ),
                "use_bias": None if self.use_bias else False,
            }
        )


def dense1d_mask(size: int, in_features: int, features: int, exclusive: bool) -> np.ndarray:
    """NetKet's ``MaskedDense1D`` mask, ``(size * in_features, size * features)``: the
    block ``(i, j)`` (input position ``i``, output position ``j``) is ones iff
    ``j >= i + exclusive``.

    >>> dense1d_mask(3, 1, 1, exclusive=True).astype(int).tolist()
    [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    """
    block = np.triu(np.ones((size, size), np.float32), int(exclusive))
    return np.kron(block, np.ones((in_features, features), np.float32))


class MaskedDense1D(Module):
    """A dense layer with a mask for autoregressive networks (``netket.nn.MaskedDense1D``).

    The sequence ``(size, in_features)`` is flattened and multiplied by a kernel of
    shape ``(size * in_features, size * features)`` masked by :func:`dense1d_mask`:
    output position ``j`` depends on the inputs at ``i <= j`` (``i < j`` when
    exclusive), each pair of positions with its own weights. The bias is
    ``(size, features)``.

    Args:
      features: number of output features per position.
      exclusive: ``True`` if output ``j`` must not depend on input ``j``.
      use_bias: add a bias (default ``True``).
      precision: ``jax.lax.Precision`` of the matrix product.
      kernel_init: ``init(key, shape, dtype)`` for the kernel, then masked
        (default ``lecun_normal()``, fan-in ``size * in_features`` as in NetKet).
      bias_init: ``init(key, shape, dtype)`` for the bias (default zeros).
      size: the sequence length (keyword-only, required).
      in_features: number of input features (keyword-only, required).

    Inputs are ``(batch, size, in_features)`` or ``(size, in_features)``.

    >>> import jax, jax.numpy as jnp
    >>> dense = MaskedDense1D(4, True, size=6, in_features=2, rng_key=jax.random.PRNGKey(0))
    >>> dense.kernel.shape, dense.bias.shape, dense(jnp.ones((3, 6, 2))).shape
    ((12, 24), (6, 4), (3, 6, 4))
    """

    parameters = parameters_method("kernel", "bias")
    _pax_default_precision = "half"

    kernel: jax.Array
    bias: Optional[jax.Array]
    cache: Optional[jax.Array]
    position: Optional[jax.Array]

    def __init__(
        self,
        features: int,
        exclusive: bool,
        use_bias: bool = True,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = zeros,
        *,
        size: int,
        in_features: int,
        rng_key: Optional[jax.Array] = None,
        name: Optional[str] = None,
    ):
        super().__init__(name=name)
        layer = "MaskedDense1D"
        check_positive_ints(layer, features=features, size=size, in_features=in_features)
        exclusive = _check_exclusive(layer, exclusive)
        if exclusive and size < 2:
            raise ValueError(
                f"{layer}: an exclusive layer needs size >= 2 (with size=1 it sees no input)."
            )
        self.size = size
        self.in_features = in_features
        self.features = features
        self.exclusive = exclusive
        self.use_bias = use_bias
        self.precision = precision
        rng_key = next_rng_key() if rng_key is None else rng_key
        k_key, b_key = jax.random.split(rng_key)
        shape = (size * in_features, size * features)
        mask = jnp.asarray(dense1d_mask(size, in_features, features, exclusive))
        self.kernel = kernel_init(k_key, shape, jnp.float32) * mask
        self.bias = bias_init(b_key, (size, features), jnp.float32) if use_bias else None
        self.cache = None
        self.position = None

    def _check_input(self, x: jax.Array) -> bool:
        shape = jnp.shape(x)
        if len(shape) not in (2, 3) or shape[-2:] != (self.size, self.in_features):
            raise ValueError(
                f"MaskedDense1D expects inputs of shape (batch, {self.size}, "
                f"{self.in_features}) or ({self.size}, {self.in_features}) (size "
                f"{self.size}, {self.in_features} features), got shape {shape}."
            )
        return len(shape) == 2

    def __call__(self, x: jax.Array) -> jax.Array:
        """The masked linear map of a whole sequence (or batch of sequences)."""
        self._check_input(x)
        dtype = _common_dtype(x, self.kernel)
        x = jnp.asarray(x, dtype)
        mask = dense1d_mask(self.size, self.in_features, self.features, self.exclusive)
        kernel = self.kernel.astype(dtype) * jnp.asarray(mask, dtype)
        y = jnp.dot(x.reshape(*x.shape[:-2], -1), kernel, precision=self.precision)
        y = y.reshape(*x.shape[:-2], self.size, self.features)
        if self.bias is not None:
            y = y + self.bias.astype(dtype)
        return y

    # -- incremental mode -------------------------------------------------------------
    @property
    def init_cache(self) -> Callable[..., "MaskedDense1D"]:
        """``layer.init_cache(batch_size, dtype=jnp.float32)``: a copy with a zero cache.

        The cache holds, for every output position, the partial sum of the inputs
        seen so far (``cache``, ``(batch_size, size, features)``), and the current
        position (``position``). (A property, as ``MaskedConv1D.init_cache``.)
        """
        return functools.partial(init_cache, self)

    def _with_cache(self, batch_size: Optional[int], dtype: Any) -> "MaskedDense1D":
        batch = _cache_batch_shape("MaskedDense1D", batch_size)
        return self.replace(
            cache=jnp.zeros((*batch, self.size, self.features), dtype),
            position=jnp.zeros((), jnp.int32),
        )

    def update_site(self, x: jax.Array) -> jax.Array:
        """One autoregressive step: the output at the current position ``j``.

        Adds the input's contribution to every later output (one row block of the
        kernel), then reads output ``j``. Call it inside :func:`pax.pure`, as
        ``MaskedConv1D.update_site``; stepping past position ``size - 1`` is undefined.

        Args:
          x: ``(batch_size, in_features)``: the input at position ``j`` for an
            inclusive layer, at ``j - 1`` for an exclusive one (ignored at ``j = 0``).

        Returns:
          ``(batch_size, features)``: the output of the full layer at position ``j``.

        >>> import jax, jax.numpy as jnp, pax
        >>> dense = MaskedDense1D(4, True, size=6, in_features=2, rng_key=jax.random.PRNGKey(0))
        >>> xs = jnp.linspace(-1.0, 1.0, 12).reshape(6, 2)
        >>> previous = jnp.concatenate([jnp.zeros((1, 2)), xs[:-1]])  # exclusive: x[j - 1]
        >>> def step(layer, x):
        ...     return pax.module_and_value(layer.update_site)(x)
        >>> _, ys = jax.lax.scan(step, dense.init_cache(None), previous)
        >>> bool(jnp.allclose(ys, dense(xs), atol=1e-6))
        True
        """
        cache, position = _check_site_input(self, x)
        source = position - self.exclusive  # the position of x
        dtype = _common_dtype(x, self.kernel)
        x = jnp.where(source >= 0, x, 0).astype(dtype)
        kernel = self.kernel.reshape(self.size, self.in_features, self.size, self.features)
        row = jax.lax.dynamic_index_in_dim(
            kernel, jnp.clip(source, 0, self.size - 1), axis=0, keepdims=False
        ).astype(dtype)
        later = jnp.arange(self.size) >= source + self.exclusive
        row = jnp.where(later[None, :, None], row, 0)
        partial = cache.astype(dtype) + jnp.einsum(
            "...i,ijo->...jo", x, row, precision=self.precision
        )
        self.cache = partial
        self.position = position + 1
        index = jnp.clip(position, 0, self.size - 1)
        y = jax.lax.dynamic_index_in_dim(partial, index, axis=-2, keepdims=False)
        if self.bias is not None:
            y = y + jax.lax.dynamic_index_in_dim(
                self.bias.astype(dtype), index, axis=0, keepdims=False
            )
        return y

    def __repr__(self) -> str:
        return self._repr(
            {
                "size": self.size,
                "in_features": self.in_features,
                "features": self.features,
                "exclusive": self.exclusive,
                "use_bias": None if self.use_bias else False,
            }
        )
