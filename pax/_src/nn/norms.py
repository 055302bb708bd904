"""Normalization layers: BatchNorm1D, BatchNorm2D, LayerNorm and GroupNorm."""

from collections.abc import Sequence
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ..core.mixed_precision import default_precision
from ..core.module import Module
from ..core.parameters import parameters_method
from ..core.rng import next_rng_key
from .data_format import canonical_data_format, channel_axis, input_axes, is_channels_first
from .ema import EMA
from .initializers import Initializer, ones, zeros
from .param_dtype import check_param_dtype, real_dtype, with_param_dtype
from .validation import positive_ints

Axis = int | slice | Sequence[int]


def _check_axis(layer: str, axis: Axis) -> slice | tuple[int, ...]:
    """``axis`` as a slice or a tuple of ints (an int becomes a 1-tuple)."""
    if isinstance(axis, slice):
        return axis
    if isinstance(axis, int) and not isinstance(axis, bool):
        return (axis,)
    if isinstance(axis, Sequence) and all(
        isinstance(a, int) and not isinstance(a, bool) for a in axis
    ):
        return tuple(axis)
    raise ValueError(
        f"{layer}: `axis` must be an int, a slice or a sequence of ints, got {axis!r}."
    )


def _absolute_axes(layer: str, axis: slice | tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """The axes ``axis`` picks out of a rank-``ndim`` input, as non-negative ints."""
    if isinstance(axis, slice):
        return tuple(range(ndim)[axis])
    for a in axis:
        if not -ndim <= a < ndim:
            raise ValueError(f"{layer}: `axis` {axis} is out of range for inputs of rank {ndim}.")
    return tuple(sorted({a % ndim for a in axis}))


def _check_init(layer: str, create: bool, init: Initializer | None, what: str) -> None:
    if not create and init is not None:
        raise ValueError(
            f"{layer}: cannot set `{what}_init` when `create_{what}=False`; "
            f"pass `create_{what}=True` or drop `{what}_init`."
        )


def _check_call_time(layer: str, create: bool, value: jax.Array | None, what: str) -> None:
    if create and value is not None:
        raise ValueError(
            f"{layer}: cannot pass `{what}` at call time when `create_{what}=True` "
            f"(the layer has its own `{what}`); build it with `create_{what}=False`."
        )


def _scale_and_offset(
    num_channels: int,
    create_scale: bool,
    create_offset: bool,
    scale_init: Initializer | None,
    offset_init: Initializer | None,
    rng_key: jax.Array | None,
    dtype: np.dtype,
) -> tuple[jax.Array | None, jax.Array | None]:
    rng_key = next_rng_key() if rng_key is None else rng_key
    scale_key, offset_key = jax.random.split(rng_key)
    shape = (num_channels,)
    scale = (scale_init or ones)(scale_key, shape, dtype) if create_scale else None
    offset = (offset_init or zeros)(offset_key, shape, dtype) if create_offset else None
    return scale, offset


class _Normalization(Module):
    """What the normalization layers share: ``param_dtype`` in their repr."""

    param_dtype: np.dtype

    def _repr_with_dtype(self, info: dict[str, object]) -> str:
        return self._repr(with_param_dtype(info, self.param_dtype))


def _abs_square(x: jax.Array) -> jax.Array:
    """``|x|^2``, real also for complex ``x`` (``x**2`` for real ``x``)."""
    return (
        jnp.square(jnp.real(x)) + jnp.square(jnp.imag(x)) if jnp.iscomplexobj(x) else jnp.square(x)
    )


# -- BatchNorm ------------------------------------------------------------------------


@default_precision("full")
class BatchNorm(_Normalization):
    """Batch normalization over every axis but the channel axis (the base of
    :class:`BatchNorm1D` and :class:`BatchNorm2D`).

    In training mode it normalizes with the statistics of the batch and updates
    their moving averages, the :class:`EMA` submodules ``ema_mean`` and
    ``ema_var`` (state, not trainable: call it inside ``pax.pure``); in
    evaluation mode it normalizes with the moving averages:

    .. math::

        y = \\text{scale} \\cdot \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\text{offset}.

    The averages are zero-debiased (``debias=True``), so training and
    evaluation match haiku's ``BatchNorm``. ``scale`` and ``offset`` have
    PAX 0.5's shapes (``num_channels`` on the channel axis, ones elsewhere), so
    PAX state dicts load.

    ``scale`` and ``offset`` are created in ``param_dtype``. The moving averages are
    kept in at least single precision: the mean in ``promote_types(param_dtype,
    float32)`` (complex for a complex layer) and the variance, which is real
    (``mean(|x - mean|^2)``), in that dtype's real counterpart; a complex128 layer
    keeps a complex128 mean and a float64 variance.
    """

    parameters = parameters_method("scale", "offset")

    # the spatial axes of a full-rank input (data_format.py), and the input ranks accepted
    _SPATIAL_RANK: ClassVar[int] = 0
    _RANKS: ClassVar[tuple[int, ...]] = ()

    scale: jax.Array | None
    offset: jax.Array | None
    ema_mean: EMA
    ema_var: EMA

    def __init__(
        self,
        num_channels: int,
        create_scale: bool = True,
        create_offset: bool = True,
        decay_rate: float = 0.9,
        eps: float = 1e-5,
        data_format: str = "",
        *,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        layer = type(self).__name__
        (num_channels,) = positive_ints(layer, num_channels=num_channels)
        self.param_dtype = check_param_dtype(layer, param_dtype)
        if isinstance(decay_rate, bool) or not isinstance(decay_rate, (int, float)):
            raise TypeError(f"{layer}: `decay_rate` must be a float, got {decay_rate!r}.")
        if not 0.0 <= decay_rate < 1.0:
            raise ValueError(f"{layer}: `decay_rate` must be in [0, 1), got {decay_rate!r}.")
        data_format = canonical_data_format(layer, data_format, spatial_rank=self._SPATIAL_RANK)
        axis = channel_axis(data_format)
        self.num_channels = num_channels
        self.create_scale = create_scale
        self.create_offset = create_offset
        self.decay_rate = float(decay_rate)
        self.eps = eps
        self.data_format = data_format
        param_shape = [1] * max(self._RANKS)
        param_shape[axis] = num_channels
        dtype = self.param_dtype
        self.scale = jnp.ones(param_shape, dtype) if create_scale else None
        self.offset = jnp.zeros(param_shape, dtype) if create_offset else None
        # with debias=True the initial values only show before the first update
        mean_dtype = jnp.promote_types(dtype, jnp.float32)
        var_dtype = real_dtype(mean_dtype)
        self.ema_mean = EMA(jnp.zeros(param_shape, mean_dtype), decay_rate, debias=True)
        self.ema_var = EMA(jnp.ones(param_shape, var_dtype), decay_rate, debias=True)

    def _channel_axis(self, x_shape: tuple[int, ...]) -> int:
        ndim = len(x_shape)
        if ndim in self._RANKS and ndim >= 2:
            axis = 1 if ndim == 2 else channel_axis(self.data_format) % ndim
            if x_shape[axis] == self.num_channels:
                return axis
        raise ValueError(
            f"{type(self).__name__} expects inputs of {self._shapes()} "
            f"with {self.num_channels} channels (data_format={self.data_format!r}), "
            f"got shape {x_shape}."
        )

    def _shapes(self) -> str:
        ranks = " or ".join(f"{r} (N, C)" if r == 2 else str(r) for r in self._RANKS)
        return f"rank {ranks} {input_axes(self.data_format)}"

    def moving_statistics(self) -> tuple[jax.Array, jax.Array]:
        """The moving mean and variance, each of shape ``(num_channels,)``
        (0 and 1 before the first training step)."""
        return (
            self.ema_mean.averages.reshape(self.num_channels),
            self.ema_var.averages.reshape(self.num_channels),
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        """Normalize ``x`` (in training mode, also update the moving averages).

        Args:
          x: an array of one of the shapes the layer's ``data_format`` accepts.

        Returns:
          The normalized array, of the shape of ``x``.
        """
        shape = tuple(jnp.shape(x))
        channel_axis = self._channel_axis(shape)
        axes = tuple(i for i in range(len(shape)) if i != channel_axis)
        stats_shape = [1] * len(shape)
        stats_shape[channel_axis] = self.num_channels
        if self.training:
            mean = jnp.mean(x, axis=axes)
            # the variance of complex data is real: mean(|x|^2) - |mean|^2
            mean_of_squares = jnp.mean(_abs_square(x), axis=axes)
            var = mean_of_squares - _abs_square(mean)
            param_shape = self.ema_mean.averages.shape
            self.ema_mean(jax.lax.stop_gradient(mean).reshape(param_shape))
            self.ema_var(jax.lax.stop_gradient(var).reshape(param_shape))
        else:
            dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.float32
            dtype = jnp.result_type(dtype, *(p for p in (self.scale, self.offset) if p is not None))
            moving_mean, moving_var = self.moving_statistics()
            if jnp.issubdtype(moving_mean.dtype, jnp.complexfloating):
                dtype = jnp.promote_types(dtype, jnp.complex64)
            mean, var = moving_mean.astype(dtype), moving_var.astype(real_dtype(dtype))
        mean = mean.reshape(stats_shape)
        var = var.reshape(stats_shape)
        inv = jax.lax.rsqrt(var + jax.lax.convert_element_type(self.eps, var.dtype))
        if self.scale is not None:
            inv = self.scale.reshape(stats_shape) * inv
        y = (x - mean) * inv
        if self.offset is not None:
            y = y + self.offset.reshape(stats_shape)
        return y

    def __repr__(self) -> str:
        return self._repr_with_dtype(
            {
                "num_channels": self.num_channels,
                "create_scale": self.create_scale,
                "create_offset": self.create_offset,
                "decay_rate": self.decay_rate,
                "eps": self.eps,
                "data_format": self.data_format,
            }
        )

    def summary(self, return_list: bool = False) -> str | list[str]:
        """One line: the moving-average submodules are details of the layer (as in PAX)."""
        lines = [repr(self)]
        return lines if return_list else lines[0]


class BatchNorm1D(BatchNorm):
    """Batch normalization of ``(N, C)`` or ``(N, W, C)`` inputs (``"NCW"``:
    ``(N, C)`` or ``(N, C, W)``); see the shared base :class:`pax._src.nn.norms.BatchNorm`.

    >>> import jax.numpy as jnp, pax
    >>> bn = pax.BatchNorm1D(3)
    >>> bn  # doctest: +ELLIPSIS
    BatchNorm1D(num_channels=3, ..., decay_rate=0.9, eps=1e-05, data_format=NWC)
    >>> bn, y = pax.purecall(bn, jnp.arange(12.0).reshape(4, 3))
    >>> y.mean(axis=0).round(4).tolist()
    [0.0, 0.0, 0.0]
    >>> [round(m, 4) for m in bn.moving_statistics()[0].tolist()]  # debiased: the batch mean
    [4.5, 5.5, 6.5]

    Args:
      num_channels: the number of channels ``C``.
      create_scale: create a trainable ``scale`` (initially ones).
      create_offset: create a trainable ``offset`` (initially zeros).
      decay_rate: the decay rate of the moving averages, in ``[0, 1)``.
      eps: added to the variance before the square root.
      data_format: ``"NWC"``/``"channels_last"`` or ``"NCW"``/``"channels_first"``.
      name: an optional name.
      param_dtype: the dtype of ``scale`` and ``offset`` (default float32); see
        :class:`BatchNorm` for the moving averages.
    """

    _SPATIAL_RANK = 1
    _RANKS = (2, 3)

    def __init__(
        self,
        num_channels: int,
        create_scale: bool = True,
        create_offset: bool = True,
        decay_rate: float = 0.9,
        eps: float = 1e-5,
        data_format: str = "NWC",
        *,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(
            num_channels,
            create_scale,
            create_offset,
            decay_rate,
            eps,
            data_format,
            name=name,
            param_dtype=param_dtype,
        )


class BatchNorm2D(BatchNorm):
    """Batch normalization of ``(N, H, W, C)`` inputs (``"NCHW"``: ``(N, C, H, W)``);
    see the shared base :class:`pax._src.nn.norms.BatchNorm`.

    >>> import jax.numpy as jnp, pax
    >>> bn = pax.BatchNorm2D(2, data_format="NCHW")
    >>> bn.scale.shape
    (1, 2, 1, 1)
    >>> bn, y = pax.purecall(bn, jnp.arange(16.0).reshape(2, 2, 2, 2))
    >>> y.mean(axis=(0, 2, 3)).round(4).tolist()
    [0.0, 0.0]

    Args:
      num_channels: the number of channels ``C``.
      create_scale: create a trainable ``scale`` (initially ones).
      create_offset: create a trainable ``offset`` (initially zeros).
      decay_rate: the decay rate of the moving averages, in ``[0, 1)``.
      eps: added to the variance before the square root.
      data_format: ``"NHWC"``/``"channels_last"`` or ``"NCHW"``/``"channels_first"``.
      name: an optional name.
      param_dtype: the dtype of ``scale`` and ``offset`` (default float32); see
        :class:`BatchNorm` for the moving averages.
    """

    _SPATIAL_RANK = 2
    _RANKS = (4,)

    def __init__(
        self,
        num_channels: int,
        create_scale: bool = True,
        create_offset: bool = True,
        decay_rate: float = 0.9,
        eps: float = 1e-5,
        data_format: str = "NHWC",
        *,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(
            num_channels,
            create_scale,
            create_offset,
            decay_rate,
            eps,
            data_format,
            name=name,
            param_dtype=param_dtype,
        )


# -- LayerNorm --------------------------------------------------------------------------


@default_precision("full")
class LayerNorm(_Normalization):
    r"""Layer normalization (https://arxiv.org/abs/1607.06450), as haiku's ``LayerNorm``.

    Normalizes over ``axis`` (by default the last one) and applies a per-channel
    ``scale`` and ``offset`` of shape ``(num_channels,)`` along the last axis:

    .. math::

        y = \text{scale} \cdot \frac{x - \mathrm{mean}(x)}{\sqrt{\mathrm{var}(x) + \epsilon}}
            + \text{offset}.

    >>> import jax, jax.numpy as jnp
    >>> from pax._src.nn.norms import LayerNorm
    >>> ln = LayerNorm(3, -1, True, True, rng_key=jax.random.PRNGKey(0))
    >>> ln
    LayerNorm(num_channels=3, axis=(-1,), create_scale=True, create_offset=True, eps=1e-05)
    >>> y = ln(jnp.array([[1.0, 2.0, 3.0]]))
    >>> [round(v, 3) for v in y[0].tolist()]
    [-1.225, 0.0, 1.225]

    Args:
      num_channels: the size ``C`` of the last axis (inputs are ``(N, ..., C)``).
      axis: an int, a sequence of ints or a slice: the axes to normalize over.
      create_scale: create a trainable ``scale``.
      create_offset: create a trainable ``offset``.
      eps: added to the variance before the square root.
      scale_init: initializer of ``scale`` (default ones); only with ``create_scale``.
      offset_init: initializer of ``offset`` (default zeros); only with ``create_offset``.
      rng_key: the key for the initializers (default ``pax.next_rng_key()``).
      name: an optional name.
      param_dtype: the dtype of ``scale`` and ``offset`` (default float32). For
        complex inputs the variance is ``mean(|x - mean|^2)``.
    """

    parameters = parameters_method("scale", "offset")

    scale: jax.Array | None
    offset: jax.Array | None

    def __init__(
        self,
        num_channels: int,
        axis: Axis = -1,
        create_scale: bool = True,
        create_offset: bool = True,
        eps: float = 1e-5,
        scale_init: Initializer | None = None,
        offset_init: Initializer | None = None,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        (num_channels,) = positive_ints("LayerNorm", num_channels=num_channels)
        self.param_dtype = check_param_dtype("LayerNorm", param_dtype)
        _check_init("LayerNorm", create_scale, scale_init, "scale")
        _check_init("LayerNorm", create_offset, offset_init, "offset")
        self.num_channels = num_channels
        self.axis = _check_axis("LayerNorm", axis)
        self.create_scale = create_scale
        self.create_offset = create_offset
        self.eps = eps
        self.scale, self.offset = _scale_and_offset(
            num_channels,
            create_scale,
            create_offset,
            scale_init,
            offset_init,
            rng_key,
            self.param_dtype,
        )

    def __call__(
        self,
        x: jax.Array,
        scale: jax.Array | None = None,
        offset: jax.Array | None = None,
    ) -> jax.Array:
        """Normalize ``x``.

        Args:
          x: an array ``(N, ..., C)`` with ``C = num_channels``.
          scale: a scale broadcastable to ``x`` (only when ``create_scale=False``).
          offset: an offset broadcastable to ``x`` (only when ``create_offset=False``).

        Returns:
          The normalized array, of the shape of ``x``.
        """
        _check_call_time("LayerNorm", self.create_scale, scale, "scale")
        _check_call_time("LayerNorm", self.create_offset, offset, "offset")
        shape = tuple(jnp.shape(x))
        if not shape or shape[-1] != self.num_channels:
            raise ValueError(
                f"LayerNorm expects inputs with last dimension {self.num_channels} "
                f"(num_channels), got shape {shape}."
            )
        axes = _absolute_axes("LayerNorm", self.axis, len(shape))
        mean = jnp.mean(x, axis=axes, keepdims=True)
        variance = jnp.var(x, axis=axes, keepdims=True)
        if self.scale is not None:
            scale = self.scale
        if self.offset is not None:
            offset = self.offset
        inv = jax.lax.rsqrt(variance + jax.lax.convert_element_type(self.eps, variance.dtype))
        if scale is not None:
            inv = scale * inv
        y = inv * (x - mean)
        if offset is not None:
            y = y + offset
        return y

    def __repr__(self) -> str:
        return self._repr_with_dtype(
            {
                "num_channels": self.num_channels,
                "axis": self.axis,
                "create_scale": self.create_scale,
                "create_offset": self.create_offset,
                "eps": self.eps,
            }
        )


# -- GroupNorm --------------------------------------------------------------------------


@default_precision("full")
class GroupNorm(_Normalization):
    r"""Group normalization (https://arxiv.org/abs/1803.08494), as haiku's ``GroupNorm``.

    The channels are split into ``groups`` groups; each group is normalized with
    its mean and variance over ``axis`` (by default every axis but the batch
    axis) and the channels within the group, then a per-channel ``scale`` and
    ``offset`` of shape ``(num_channels,)`` are applied.

    >>> import jax, jax.numpy as jnp
    >>> from pax._src.nn.norms import GroupNorm
    >>> gn = GroupNorm(2, 4, rng_key=jax.random.PRNGKey(0))
    >>> gn  # doctest: +ELLIPSIS
    GroupNorm(groups=2, num_channels=4, axis=slice(1, None, None), ...)
    >>> y = gn(jnp.arange(16.0).reshape(2, 2, 4))
    >>> y.shape, y[0, :, :2].mean().round(4).item()
    ((2, 2, 4), 0.0)

    Args:
      groups: the number of groups; it must divide ``num_channels``.
      num_channels: the number of channels ``C``.
      axis: an int, a sequence of ints or a slice: the axes of the input to
        normalize over (besides the channels of a group). By default all but the
        first (batch) axis.
      create_scale: create a trainable ``scale``.
      create_offset: create a trainable ``offset``.
      eps: added to the variance before the square root.
      scale_init: initializer of ``scale`` (default ones); only with ``create_scale``.
      offset_init: initializer of ``offset`` (default zeros); only with ``create_offset``.
      data_format: ``"channels_last"``/``"N...C"`` or ``"channels_first"``/``"NC..."``.
      rng_key: the key for the initializers (default ``pax.next_rng_key()``).
      name: an optional name.
      param_dtype: the dtype of ``scale`` and ``offset`` (default float32). For
        complex inputs the variance is ``mean(|x - mean|^2)``.
    """

    parameters = parameters_method("scale", "offset")

    scale: jax.Array | None
    offset: jax.Array | None

    def __init__(
        self,
        groups: int,
        num_channels: int,
        axis: Axis = slice(1, None),
        create_scale: bool = True,
        create_offset: bool = True,
        eps: float = 1e-5,
        scale_init: Initializer | None = None,
        offset_init: Initializer | None = None,
        data_format: str = "channels_last",
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        groups, num_channels = positive_ints("GroupNorm", groups=groups, num_channels=num_channels)
        self.param_dtype = check_param_dtype("GroupNorm", param_dtype)
        if num_channels % groups:
            raise ValueError(
                f"GroupNorm: `num_channels` ({num_channels}) must be divisible by "
                f"`groups` ({groups})."
            )
        data_format = canonical_data_format("GroupNorm", data_format, spatial_rank=None)
        _check_init("GroupNorm", create_scale, scale_init, "scale")
        _check_init("GroupNorm", create_offset, offset_init, "offset")
        self.groups = groups
        self.num_channels = num_channels
        self.axis = _check_axis("GroupNorm", axis)
        self.create_scale = create_scale
        self.create_offset = create_offset
        self.eps = eps
        self.data_format = data_format
        self.scale, self.offset = _scale_and_offset(
            num_channels,
            create_scale,
            create_offset,
            scale_init,
            offset_init,
            rng_key,
            self.param_dtype,
        )

    def __call__(
        self,
        x: jax.Array,
        scale: jax.Array | None = None,
        offset: jax.Array | None = None,
    ) -> jax.Array:
        """Normalize ``x``.

        Args:
          x: an array ``(N, ..., C)`` (``channels_first``: ``(N, C, ...)``) with
            ``C = num_channels``.
          scale: a scale broadcastable to ``x`` (only when ``create_scale=False``).
          offset: an offset broadcastable to ``x`` (only when ``create_offset=False``).

        Returns:
          The normalized array, of the shape of ``x``.
        """
        _check_call_time("GroupNorm", self.create_scale, scale, "scale")
        _check_call_time("GroupNorm", self.create_offset, offset, "offset")
        shape = tuple(jnp.shape(x))
        channels_last = not is_channels_first(self.data_format)
        ndim = len(shape)
        if ndim < 2 or shape[channel_axis(self.data_format)] != self.num_channels:
            raise ValueError(
                f"GroupNorm expects inputs of rank >= 2 {input_axes(self.data_format)} "
                f"with {self.num_channels} "
                f"channels (data_format={self.data_format!r}), got shape {shape}."
            )
        axes = _absolute_axes("GroupNorm", self.axis, ndim)
        per_group = self.num_channels // self.groups
        # split the channel axis into (groups, channels per group) and reduce over
        # the latter together with `axis`, never over the groups
        if channels_last:
            group_shape = shape[:-1] + (self.groups, per_group)
            reduced = tuple(a + 1 if a == ndim - 1 else a for a in axes)
        else:
            group_shape = shape[:1] + (self.groups, per_group) + shape[2:]
            reduced = tuple(a if a == 0 else a + 1 for a in axes)
        grouped = jnp.reshape(x, group_shape)
        mean = jnp.mean(grouped, reduced, keepdims=True)
        var = jnp.var(grouped, reduced, keepdims=True)
        eps = jax.lax.convert_element_type(self.eps, var.dtype)
        y = jnp.reshape((grouped - mean) * jax.lax.rsqrt(var + eps), shape)

        if self.scale is not None:
            scale = self.scale
        if self.offset is not None:
            offset = self.offset
        if not channels_last:  # per-channel parameters broadcast along axis 1
            param_shape = (self.num_channels,) + (1,) * (ndim - 2)
            scale = None if scale is None else self._to_channels_first(scale, param_shape)
            offset = None if offset is None else self._to_channels_first(offset, param_shape)
        if scale is not None:
            y = y * scale
        if offset is not None:
            y = y + offset
        return y

    @staticmethod
    def _to_channels_first(value: jax.Array, param_shape: tuple[int, ...]) -> jax.Array:
        value = jnp.asarray(value)
        return value.reshape(param_shape) if value.shape == param_shape[:1] else value

    def __repr__(self) -> str:
        return self._repr_with_dtype(
            {
                "groups": self.groups,
                "num_channels": self.num_channels,
                "axis": self.axis,
                "create_scale": self.create_scale,
                "create_offset": self.create_offset,
                "eps": self.eps,
                "data_format": self.data_format,
            }
        )


# -- RMSNorm ----------------------------------------------------------------------------


@default_precision("full")
class RMSNorm(_Normalization):
    r"""Root-mean-square normalization (https://arxiv.org/abs/1910.07467): LayerNorm
    without the mean, as in T5 and LLaMA.

    Over the last axis (``C = num_channels`` features):

    .. math::

        y = \text{scale} \cdot \frac{x}{\sqrt{\mathrm{mean}(|x|^2) + \epsilon}}.

    >>> import jax.numpy as jnp
    >>> from pax._src.nn.norms import RMSNorm
    >>> norm = RMSNorm(2)
    >>> norm
    RMSNorm(num_channels=2, create_scale=True, eps=1e-06)
    >>> [round(v, 3) for v in norm(jnp.array([3.0, 4.0])).tolist()]  # rms = sqrt(12.5)
    [0.849, 1.131]

    Args:
      num_channels: the size ``C`` of the last axis (inputs are ``(..., C)``).
      create_scale: create a trainable ``scale`` of shape ``(C,)``.
      eps: added to the mean square before the square root.
      scale_init: initializer of ``scale`` (default ones); only with ``create_scale``.
      rng_key: the key for the initializer (default ``pax.next_rng_key()``).
      name: an optional name.
      param_dtype: the dtype of ``scale`` (default float32).
    """

    parameters = parameters_method("scale")

    scale: jax.Array | None

    def __init__(
        self,
        num_channels: int,
        create_scale: bool = True,
        eps: float = 1e-6,
        scale_init: Initializer | None = None,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        (num_channels,) = positive_ints("RMSNorm", num_channels=num_channels)
        self.param_dtype = check_param_dtype("RMSNorm", param_dtype)
        _check_init("RMSNorm", create_scale, scale_init, "scale")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
            raise ValueError(f"RMSNorm: `eps` must be a number >= 0, got {eps!r}.")
        self.num_channels = num_channels
        self.create_scale = create_scale
        self.eps = eps
        self.scale, _ = _scale_and_offset(
            num_channels, create_scale, False, scale_init, None, rng_key, self.param_dtype
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        """Normalize ``x`` of shape ``(..., C)``; returns its shape."""
        shape = tuple(jnp.shape(x))
        if not shape or shape[-1] != self.num_channels:
            raise ValueError(
                f"RMSNorm expects inputs with last dimension {self.num_channels} "
                f"(num_channels), got shape {shape}."
            )
        mean_square = jnp.mean(_abs_square(x), axis=-1, keepdims=True)
        inv = jax.lax.rsqrt(mean_square + jax.lax.convert_element_type(self.eps, mean_square.dtype))
        y = x * inv
        if self.scale is not None:
            y = self.scale * y
        return y

    def __repr__(self) -> str:
        return self._repr_with_dtype(
            {"num_channels": self.num_channels, "create_scale": self.create_scale, "eps": self.eps}
        )
