"""NetKet's autoregressive masked layers, with a jittable incremental mode.

``MaskedConv1D``, ``MaskedConv2D`` and ``MaskedDense1D`` follow ``netket.nn`` (same
arguments, same parameter shapes ``kernel``/``bias``, same outputs): output position
``i`` depends only on the inputs at positions ``<= i`` (``< i`` when ``exclusive``),
in raster (row-major) order for ``MaskedConv2D``. Parameters are in ``param_dtype``
(float32 by default, NetKet's is float64; complex dtypes get complex values). The
number of input features, the keyword ``in_features`` (``MaskedDense1D`` also its
``size``, the sequence length), is optional as in NetKet: without it the parameters
are made at the first call through ``pax.purecall``; with it, at construction.

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
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ..core.mixed_precision import mixed_precision_method
from .initializers import Initializer, zeros
from .masked_layer import (
    MaskedLayer,
    check_cache_fits,
    check_exclusive,
    check_groups,
    check_param_dtype,
)
from .masked_layer import default_kernel_init as default_kernel_init
from .masked_layer import init_cache as init_cache
from .validation import check_positive_ints, is_integer, positive_ints


def _pair(layer: str, arg: str, value: Any) -> tuple[int, int]:
    pair = (value, value) if is_integer(value) else value
    if isinstance(pair, (tuple, list)) and len(pair) == 2:
        try:
            first, second = positive_ints(layer, **{f"{arg}[0]": pair[0], f"{arg}[1]": pair[1]})
            return first, second
        except ValueError:
            pass
    raise ValueError(
        f"{layer}: `{arg}` must be a positive int or a pair of positive ints, got {value!r}."
    )


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


def _push(
    layer: str, cache: jax.Array, x: jax.Array, position: jax.Array, exclusive: bool
) -> jax.Array:
    """Shift the register ``cache`` (``(*batch, S, in)``, newest last) by one input."""
    check_cache_fits(layer, jnp.result_type(x), cache.dtype)
    x = jnp.asarray(x).astype(cache.dtype)
    if exclusive:  # at position 0 an exclusive layer has no input yet
        x = jnp.where(position >= 1, x, jnp.zeros_like(x))
    return jnp.concatenate([cache[..., 1:, :], x[..., None, :]], axis=-2)


class MaskedConv1D(MaskedLayer):
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
      param_dtype: dtype of the kernel and bias (default float32; NetKet's is
        float64): floating or complex. The computation is in the promoted dtype of
        the input and the parameters.
      precision: ``jax.lax.Precision`` of the convolution.
      kernel_init: ``init(key, shape, dtype)`` for the kernel of shape
        ``(K - exclusive, in_features // feature_group_count, features)``
        (default ``lecun_normal()``, NetKet's).
      bias_init: ``init(key, shape, dtype)`` for the bias (default zeros).
      in_features: number of input features (keyword-only). Without it (NetKet's
        constructor) the parameters are made at the first call, which must go
        through ``pax.purecall`` (or be inside ``pax.pure``), from the input's last
        dimension and the same ``rng_key``.
      rng_key: the key of the parameters (default ``pax.next_rng_key()``).

    Inputs are ``(batch, length, in_features)`` or one sequence ``(length, in_features)``;
    the output has ``features`` in place of ``in_features``.

    >>> import jax, jax.numpy as jnp, pax
    >>> conv = MaskedConv1D(4, 3, 1, True, in_features=2, rng_key=jax.random.PRNGKey(0))
    >>> conv.kernel.shape, conv(jnp.ones((5, 10, 2))).shape
    ((2, 2, 4), (5, 10, 4))
    >>> lazy = MaskedConv1D(4, 3, 1, True, rng_key=jax.random.PRNGKey(0))  # NetKet's way
    >>> lazy
    MaskedConv1D(in_features=?, features=4, kernel_size=3, kernel_dilation=1, exclusive=True)
    >>> lazy, y = pax.purecall(lazy, jnp.ones((5, 10, 2)))
    >>> bool((lazy.kernel == conv.kernel).all())
    True
    """

    def __init__(
        self,
        features: int,
        kernel_size: int,
        kernel_dilation: int,
        exclusive: bool,
        feature_group_count: int = 1,
        use_bias: bool = True,
        param_dtype: DTypeLike = jnp.float32,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = zeros,
        *,
        in_features: int | None = None,
        rng_key: jax.Array | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        layer = "MaskedConv1D"
        features, kernel_size, kernel_dilation, feature_group_count = positive_ints(
            layer,
            features=features,
            kernel_size=kernel_size,
            kernel_dilation=kernel_dilation,
            feature_group_count=feature_group_count,
        )
        exclusive = check_exclusive(layer, exclusive)
        if exclusive and kernel_size < 2:
            raise ValueError(
                f"{layer}: an exclusive layer needs kernel_size >= 2 (its kernel has "
                f"kernel_size - 1 taps), got kernel_size={kernel_size}."
            )
        self.features = features
        self.feature_group_count = feature_group_count
        if in_features is not None:
            (in_features,) = positive_ints(layer, in_features=in_features)
            self._check_sizes({"in_features": in_features})
        self.in_features = in_features
        self.kernel_size = kernel_size
        self.kernel_dilation = kernel_dilation
        self.exclusive = exclusive
        self.use_bias = use_bias
        self.param_dtype = check_param_dtype(layer, param_dtype)
        self.precision = precision
        self._init_parameters(rng_key, kernel_init, bias_init)

    def _check_sizes(self, sizes: dict[str, int]) -> None:
        in_features = sizes["in_features"]
        check_positive_ints("MaskedConv1D", in_features=in_features)
        check_groups("MaskedConv1D", in_features, self.features, self.feature_group_count)

    def _parameter_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        cin = int(self.in_features or 0) // self.feature_group_count
        return (self.kernel_size - self.exclusive, cin, self.features), (self.features,)

    def _check_input(self, x: jax.Array) -> bool:
        shape = jnp.shape(x)
        n = self.in_features
        if len(shape) not in (2, 3) or (n is not None and shape[-1] != n):
            features = "" if n is None else f" with {n} features"
            raise ValueError(
                f"MaskedConv1D expects inputs of rank 3 (batch, length, features) or rank 2 "
                f"(length, features){features}, got shape {shape}."
            )
        return len(shape) == 2

    def __call__(self, x: jax.Array) -> jax.Array:
        """The masked convolution of a whole sequence (or batch of sequences)."""
        single = self._check_input(x)
        kernel, bias = self._parameters_for(x)
        dtype = _common_dtype(x, kernel)
        x = jnp.asarray(x, dtype)
        if single:
            x = x[None]
        d = self.kernel_dilation
        y = jax.lax.conv_general_dilated(
            x,
            kernel.astype(dtype),
            window_strides=(1,),
            # causal: (K - 1) d zeros on the left; an exclusive layer also drops the
            # last d inputs, which shifts the sequence right by d
            padding=[((self.kernel_size - 1) * d, -d * self.exclusive)],
            rhs_dilation=(d,),
            dimension_numbers=("NWC", "WIO", "NWC"),
            feature_group_count=self.feature_group_count,
            precision=self.precision,
        )
        if bias is not None:
            y = y + bias.astype(dtype)
        return y[0] if single else y

    # -- incremental mode -------------------------------------------------------------
    def init_cache(
        self, batch_size: int | None, *, dtype: DTypeLike | None = None
    ) -> "MaskedConv1D":
        """A copy with a zero cache (see :func:`init_cache`).

        The cache (``cache``, ``(batch_size, (K - 1) d + 1 - exclusive, in_features)``,
        and ``position``, an int32 scalar) is a shift register of the most recent
        inputs, in the promoted dtype of ``dtype`` (the input's, default float32) and
        the kernel. ``batch_size=None`` caches one unbatched sequence.
        """
        return init_cache(self, batch_size, dtype=dtype)

    def _cache_for(
        self, batch: tuple[int, ...], width: int | None, dtype: np.dtype
    ) -> "MaskedConv1D":
        size = (self.kernel_size - 1) * self.kernel_dilation + 1 - self.exclusive
        return self.replace(
            cache=jnp.zeros((*batch, size, self.in_features), dtype),
            position=jnp.zeros((), jnp.int32),
        )

    @mixed_precision_method
    def update_site(self, x: jax.Array) -> jax.Array:
        """One autoregressive step: the output at the current position ``i``.

        Mutates the cache, so call it inside :func:`pax.pure`, e.g.
        ``layer, y = pax.module_and_value(layer.update_site)(x)``.

        Args:
          x: ``(batch_size, in_features)`` (``(in_features,)`` for an unbatched
            cache): the input at position ``i`` for an inclusive layer, at ``i - 1``
            for an exclusive one (ignored at ``i = 0``). Its dtype must fit the
            cache's (see :func:`init_cache`).

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
        cache, position, kernel = self._site_state(x)
        cache = _push("MaskedConv1D", cache, x, position, self.exclusive)
        self.cache = cache
        self.position = position + 1
        # tap t of the kernel reads the input (K - 1 - t) d positions back, which sits
        # at register index t d (the newest input, at i - exclusive, is last)
        taps = self.kernel_size - self.exclusive
        window = cache[..., : (taps - 1) * self.kernel_dilation + 1 : self.kernel_dilation, :]
        dtype = _common_dtype(x, kernel)  # as in the full call
        y = _tap_contract(
            window.astype(dtype),
            kernel.astype(dtype),
            self.feature_group_count,
            self.precision,
        )
        if self.bias is not None:
            y = y + self.bias.astype(dtype)
        return y

    def __repr__(self) -> str:
        return self._repr(
            {
                "in_features": self._size_repr("in_features"),
                "features": self.features,
                "kernel_size": self.kernel_size,
                "kernel_dilation": self.kernel_dilation,
                "exclusive": self.exclusive,
                "feature_group_count": (
                    self.feature_group_count if self.feature_group_count != 1 else None
                ),
                "use_bias": None if self.use_bias else False,
                "param_dtype": None if self.param_dtype == np.float32 else self.param_dtype.name,
            }
        )


def conv2d_mask(kernel_size: tuple[int, int], exclusive: bool) -> np.ndarray:
    """NetKet's ``MaskedConv2D`` mask, ``(kh, kw)``: ones, except in the last kernel row
    (the current image row) from the centre column on (or right of it, when inclusive).

    >>> conv2d_mask((2, 3), exclusive=True).astype(int).tolist()
    [[1, 1, 1], [1, 0, 0]]
    """
    kh, kw = kernel_size
    mask = np.ones((kh, kw), np.float32)
    mask[-1, kw // 2 + (not exclusive) :] = 0
    return mask


class MaskedConv2D(MaskedLayer):
    """2D convolution with a mask for autoregressive networks (``netket.nn.MaskedConv2D``).

    Images are ``(batch, H, W, features)``, ordered row by row (raster order).
    Output ``(r, c)`` sees the ``kh - 1`` rows above (dilated by ``dh``), columns
    ``c - (kw // 2) dw ... c + ((kw - 1) // 2) dw``, and in row ``r`` the columns left
    of ``c`` (and ``c`` itself unless ``exclusive``): the kernel ``(kh, kw, in, out)``
    is multiplied by ``conv2d_mask`` (masked entries start at zero, as in NetKet,
    and get zero gradients).

    Args:
      features: number of output features.
      kernel_size: ``(kh, kw)`` (an int means a square kernel).
      kernel_dilation: ``(dh, dw)`` (an int means the same for both).
      exclusive: ``True`` if output ``(r, c)`` must not depend on input ``(r, c)``.
      feature_group_count: divides the input features into groups (default 1).
      use_bias: add a bias of shape ``(features,)`` (default ``True``).
      param_dtype: dtype of the kernel and bias (default float32), as in
        ``MaskedConv1D``.
      precision: ``jax.lax.Precision`` of the convolution.
      kernel_init: ``init(key, shape, dtype)`` for the kernel of shape
        ``(kh, kw, in_features // feature_group_count, features)``, then masked
        (default ``lecun_normal()``).
      bias_init: ``init(key, shape, dtype)`` for the bias (default zeros).
      in_features: number of input features (keyword-only); without it, taken at
        the first call, as in ``MaskedConv1D``.
      rng_key: the key of the parameters (default ``pax.next_rng_key()``).

    Inputs are ``(batch, H, W, in_features)`` or one image ``(H, W, in_features)``.

    >>> import jax, jax.numpy as jnp
    >>> conv = MaskedConv2D(4, (2, 3), (1, 1), True, in_features=2,
    ...                     rng_key=jax.random.PRNGKey(0))
    >>> conv.kernel.shape, conv(jnp.ones((5, 6, 6, 2))).shape
    ((2, 3, 2, 4), (5, 6, 6, 4))
    """

    cache_width: int | None

    def __init__(
        self,
        features: int,
        kernel_size: int | Sequence[int],
        kernel_dilation: int | Sequence[int],
        exclusive: bool,
        feature_group_count: int = 1,
        use_bias: bool = True,
        param_dtype: DTypeLike = jnp.float32,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = zeros,
        *,
        in_features: int | None = None,
        rng_key: jax.Array | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        layer = "MaskedConv2D"
        features, feature_group_count = positive_ints(
            layer, features=features, feature_group_count=feature_group_count
        )
        kernel_size = _pair(layer, "kernel_size", kernel_size)
        kernel_dilation = _pair(layer, "kernel_dilation", kernel_dilation)
        exclusive = check_exclusive(layer, exclusive)
        if exclusive and kernel_size == (1, 1):
            raise ValueError(
                f"{layer}: an exclusive layer with kernel_size (1, 1) sees no input; use a "
                f"larger kernel_size, e.g. (2, 3)."
            )
        self.features = features
        self.feature_group_count = feature_group_count
        if in_features is not None:
            (in_features,) = positive_ints(layer, in_features=in_features)
            self._check_sizes({"in_features": in_features})
        self.in_features = in_features
        self.kernel_size = kernel_size
        self.kernel_dilation = kernel_dilation
        self.exclusive = exclusive
        self.use_bias = use_bias
        self.param_dtype = check_param_dtype(layer, param_dtype)
        self.precision = precision
        self._init_parameters(rng_key, kernel_init, bias_init)
        self.cache_width = None

    def _check_sizes(self, sizes: dict[str, int]) -> None:
        in_features = sizes["in_features"]
        check_positive_ints("MaskedConv2D", in_features=in_features)
        check_groups("MaskedConv2D", in_features, self.features, self.feature_group_count)

    def _parameter_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        cin = int(self.in_features or 0) // self.feature_group_count
        return (*self.kernel_size, cin, self.features), (self.features,)

    def _kernel_mask(self) -> np.ndarray:
        return conv2d_mask(self.kernel_size, self.exclusive)[:, :, None, None]

    def _check_input(self, x: jax.Array) -> bool:
        shape = jnp.shape(x)
        n = self.in_features
        if len(shape) not in (3, 4) or (n is not None and shape[-1] != n):
            features = "" if n is None else f" with {n} features"
            raise ValueError(
                f"MaskedConv2D expects inputs of rank 4 (batch, H, W, features) or rank 3 "
                f"(H, W, features){features}, got shape {shape}."
            )
        return len(shape) == 3

    def _masked_kernel(self, kernel: jax.Array, dtype: Any) -> jax.Array:
        return kernel.astype(dtype) * jnp.asarray(self._kernel_mask(), dtype)

    def __call__(self, x: jax.Array) -> jax.Array:
        """The masked convolution of a whole image (or batch of images)."""
        single = self._check_input(x)
        kernel, bias = self._parameters_for(x)
        dtype = _common_dtype(x, kernel)
        x = jnp.asarray(x, dtype)
        if single:
            x = x[None]
        (kh, kw), (dh, dw) = self.kernel_size, self.kernel_dilation
        y = jax.lax.conv_general_dilated(
            x,
            self._masked_kernel(kernel, dtype),
            window_strides=(1, 1),
            padding=[((kh - 1) * dh, 0), (kw // 2 * dw, (kw - 1) // 2 * dw)],
            rhs_dilation=(dh, dw),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=self.feature_group_count,
            precision=self.precision,
        )
        if bias is not None:
            y = y + bias.astype(dtype)
        return y[0] if single else y

    # -- incremental mode (raster order) --------------------------------------------
    def _taps(self, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
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

    def init_cache(
        self, batch_size: int | None, width: int | None = None, dtype: DTypeLike | None = None
    ) -> "MaskedConv2D":
        """A copy with a zero cache for images of width ``width`` stepped in raster
        order (see :func:`init_cache`).

        The cache is a shift register of the last ``(kh - 1) dh W + (kw // 2) dw + 1 -
        exclusive`` inputs (``cache``, dtype as in :func:`init_cache`) and the flat
        position (``position``).
        """
        return init_cache(self, batch_size, width=width, dtype=dtype)

    def _cache_for(
        self, batch: tuple[int, ...], width: int | None, dtype: np.dtype
    ) -> "MaskedConv2D":
        if width is None:
            raise ValueError(
                "MaskedConv2D.init_cache needs the image `width` (inputs are stepped "
                "in raster order): pass `init_cache(batch_size, width=W)`."
            )
        check_positive_ints("MaskedConv2D.init_cache", width=width)
        size = self._taps(width)[-1]
        return self.replace(
            cache=jnp.zeros((*batch, size, self.in_features), dtype),
            position=jnp.zeros((), jnp.int32),
            cache_width=width,
        )

    @mixed_precision_method
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
        cache, position, kernel = self._site_state(x)
        width = int(self.cache_width or 0)  # set together with the cache
        rows, cols, col_offsets, back, size = self._taps(width)
        cache = _push("MaskedConv2D", cache, x, position, self.exclusive)
        column = position % width
        self.cache = cache
        self.position = position + 1
        # the input `back` positions behind i sits at register index size - 1 - (back - excl);
        # taps whose column falls outside the image read zero padding
        window = cache[..., size - 1 - (back - self.exclusive), :]
        target = column + col_offsets
        inside = (target >= 0) & (target < width)
        dtype = _common_dtype(x, kernel)  # as in the full call
        window = jnp.where(inside[:, None], window, 0).astype(dtype)
        taps = self._masked_kernel(kernel, dtype)[rows, cols]
        y = _tap_contract(window, taps, self.feature_group_count, self.precision)
        if self.bias is not None:
            y = y + self.bias.astype(dtype)
        return y

    def __repr__(self) -> str:
        return self._repr(
            {
                "in_features": self._size_repr("in_features"),
                "features": self.features,
                "kernel_size": self.kernel_size,
                "kernel_dilation": self.kernel_dilation,
                "exclusive": self.exclusive,
                "feature_group_count": (
                    self.feature_group_count if self.feature_group_count != 1 else None
                ),
                "use_bias": None if self.use_bias else False,
                "param_dtype": None if self.param_dtype == np.float32 else self.param_dtype.name,
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


class MaskedDense1D(MaskedLayer):
    """A dense layer with a mask for autoregressive networks (``netket.nn.MaskedDense1D``).

    The sequence ``(size, in_features)`` is flattened and multiplied by a kernel of
    shape ``(size * in_features, size * features)`` masked by ``dense1d_mask``:
    output position ``j`` depends on the inputs at ``i <= j`` (``i < j`` when
    exclusive), each pair of positions with its own weights. The bias is
    ``(size, features)``.

    Args:
      features: number of output features per position.
      exclusive: ``True`` if output ``j`` must not depend on input ``j``.
      use_bias: add a bias (default ``True``).
      param_dtype: dtype of the kernel and bias (default float32), as in
        ``MaskedConv1D``.
      precision: ``jax.lax.Precision`` of the matrix product.
      kernel_init: ``init(key, shape, dtype)`` for the kernel, then masked
        (default ``lecun_normal()``, fan-in ``size * in_features`` as in NetKet).
      bias_init: ``init(key, shape, dtype)`` for the bias (default zeros).
      size: the sequence length (keyword-only).
      in_features: number of input features (keyword-only). Without both (NetKet's
        constructor), the missing ones are taken from the input at the first call,
        as in ``MaskedConv1D``.
      rng_key: the key of the parameters (default ``pax.next_rng_key()``).

    Inputs are ``(batch, size, in_features)`` or ``(size, in_features)``.

    >>> import jax, jax.numpy as jnp
    >>> dense = MaskedDense1D(4, True, size=6, in_features=2, rng_key=jax.random.PRNGKey(0))
    >>> dense.kernel.shape, dense.bias.shape, dense(jnp.ones((3, 6, 2))).shape
    ((12, 24), (6, 4), (3, 6, 4))
    """

    _size_names = ("size", "in_features")

    def __init__(
        self,
        features: int,
        exclusive: bool,
        use_bias: bool = True,
        param_dtype: DTypeLike = jnp.float32,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = zeros,
        *,
        size: int | None = None,
        in_features: int | None = None,
        rng_key: jax.Array | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        layer = "MaskedDense1D"
        (features,) = positive_ints(layer, features=features)
        self.exclusive = check_exclusive(layer, exclusive)
        if size is not None:
            (size,) = positive_ints(layer, size=size)
        if in_features is not None:
            (in_features,) = positive_ints(layer, in_features=in_features)
        sizes = {"size": size, "in_features": in_features}
        self._check_sizes({k: v for k, v in sizes.items() if v is not None})
        self.size = size
        self.in_features = in_features
        self.features = features
        self.use_bias = use_bias
        self.param_dtype = check_param_dtype(layer, param_dtype)
        self.precision = precision
        self._init_parameters(rng_key, kernel_init, bias_init)

    def _sizes(self, shape: tuple[int, ...]) -> dict[str, int]:
        return {"size": shape[-2], "in_features": shape[-1]}

    def _check_sizes(self, sizes: dict[str, int]) -> None:
        check_positive_ints("MaskedDense1D", **sizes)
        if self.exclusive and sizes.get("size", 2) < 2:
            raise ValueError(
                "MaskedDense1D: an exclusive layer needs size >= 2 (with size=1 it sees no input)."
            )

    def _parameter_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        size, cin = int(self.size or 0), int(self.in_features or 0)
        return (size * cin, size * self.features), (size, self.features)

    def _kernel_mask(self) -> np.ndarray:
        size, cin = int(self.size or 0), int(self.in_features or 0)
        return dense1d_mask(size, cin, self.features, self.exclusive)

    def _check_input(self, x: jax.Array) -> bool:
        shape = jnp.shape(x)
        size, n = self.size, self.in_features
        if (
            len(shape) not in (2, 3)
            or (size is not None and shape[-2] != size)
            or (n is not None and shape[-1] != n)
        ):
            s, f = "size" if size is None else size, "features" if n is None else n
            known = [f"size {size}"] * (size is not None) + [f"{n} features"] * (n is not None)
            raise ValueError(
                f"MaskedDense1D expects inputs of shape (batch, {s}, {f}) or ({s}, {f}) "
                f"({', '.join(known)}), got shape {shape}."
                if known
                else f"MaskedDense1D expects inputs of rank 3 (batch, size, features) or rank "
                f"2 (size, features), got shape {shape}."
            )
        return len(shape) == 2

    def __call__(self, x: jax.Array) -> jax.Array:
        """The masked linear map of a whole sequence (or batch of sequences)."""
        self._check_input(x)
        kernel, bias = self._parameters_for(x)
        dtype = _common_dtype(x, kernel)
        x = jnp.asarray(x, dtype)
        kernel = kernel.astype(dtype) * jnp.asarray(self._kernel_mask(), dtype)
        y = jnp.dot(x.reshape(*x.shape[:-2], -1), kernel, precision=self.precision)
        y = y.reshape(*x.shape[:-2], self.size, self.features)
        if bias is not None:
            y = y + bias.astype(dtype)
        return y

    # -- incremental mode -------------------------------------------------------------
    def init_cache(
        self, batch_size: int | None, *, dtype: DTypeLike | None = None
    ) -> "MaskedDense1D":
        """A copy with a zero cache (see :func:`init_cache`).

        The cache holds, for every output position, the partial sum of the inputs
        seen so far (``cache``, ``(batch_size, size, features)``, dtype as in
        :func:`init_cache`), and the current position (``position``).
        """
        return init_cache(self, batch_size, dtype=dtype)

    def _cache_for(
        self, batch: tuple[int, ...], width: int | None, dtype: np.dtype
    ) -> "MaskedDense1D":
        return self.replace(
            cache=jnp.zeros((*batch, self.size, self.features), dtype),
            position=jnp.zeros((), jnp.int32),
        )

    @mixed_precision_method
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
        cache, position, kernel = self._site_state(x)
        size, cin, features = int(self.size or 0), int(self.in_features or 0), self.features
        source = position - self.exclusive  # the position of x
        dtype = _common_dtype(x, kernel)  # as in the full call
        check_cache_fits("MaskedDense1D", dtype, cache.dtype)
        x = jnp.where(source >= 0, x, 0).astype(dtype)
        blocks = kernel.reshape(size, cin, size, features)
        row = jax.lax.dynamic_index_in_dim(
            blocks, jnp.clip(source, 0, size - 1), axis=0, keepdims=False
        ).astype(dtype)
        later = jnp.arange(size) >= source + self.exclusive
        row = jnp.where(later[None, :, None], row, 0)
        contribution = jnp.einsum("...i,ijo->...jo", x, row, precision=self.precision)
        partial = cache + contribution.astype(cache.dtype)
        self.cache = partial
        self.position = position + 1
        index = jnp.clip(position, 0, size - 1)
        y = jax.lax.dynamic_index_in_dim(partial, index, axis=-2, keepdims=False).astype(dtype)
        if self.bias is not None:
            y = y + jax.lax.dynamic_index_in_dim(
                self.bias.astype(dtype), index, axis=0, keepdims=False
            )
        return y

    def __repr__(self) -> str:
        return self._repr(
            {
                "size": self._size_repr("size"),
                "in_features": self._size_repr("in_features"),
                "features": self.features,
                "exclusive": self.exclusive,
                "use_bias": None if self.use_bias else False,
                "param_dtype": None if self.param_dtype == np.float32 else self.param_dtype.name,
            }
        )
