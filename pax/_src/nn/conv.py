"""Convolutions: ``Conv1D``, ``Conv2D`` and their transposes.

Constructor signatures, attribute names and weight shapes are PAX 0.5's (so PAX
code and state dicts load); the computations are haiku's ``hk.Conv1D`` /
``hk.Conv2D`` / ``hk.Conv1DTranspose`` / ``hk.Conv2DTranspose`` (the same
``jax.lax.conv_general_dilated`` / ``jax.lax.conv_transpose`` calls), so equal
weights give equal outputs. The one layout difference from haiku: ``bias`` always
has shape ``(out_features,)``, also for channels-first data (haiku's is
``(out_features, 1, ...)`` there).
"""

from collections.abc import Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ..core.mixed_precision import default_precision
from ..core.module import Module
from ..core.parameters import parameters_method
from ..core.rng import next_rng_key
from .data_format import canonical_data_format, flipped, input_axes, is_channels_first
from .initializers import Initializer, truncated_normal, zeros
from .padding import ConvPadding, normalize_padding
from .param_dtype import check_param_dtype, with_param_dtype
from .validation import is_integer, positive_ints

IntOrInts = int | Sequence[int]
PaddingArg = str | ConvPadding | int | tuple[int, int] | Sequence[tuple[int, int]]
# "SAME", "VALID", or one explicit (low, high) pair per spatial dimension
Padding = str | tuple[tuple[int, int], ...]


def _replicate(layer: str, arg: str, value: Any, ndim: int) -> tuple[int, ...]:
    """An int, or a sequence of 1 or ``ndim`` ints, as a tuple of ``ndim`` positive ints."""
    if is_integer(value):
        values: tuple[Any, ...] = (value,) * ndim
    elif isinstance(value, (list, tuple)) and len(value) in (1, ndim):
        values = tuple(value) * (ndim // len(value))
    else:
        raise ValueError(
            f"{layer}: `{arg}` must be an int or a sequence of {ndim} ints, got {value!r}."
        )
    return tuple(positive_ints(layer, **{arg: v})[0] for v in values)


def _normalize_conv_padding(layer: str, padding: Any, ndim: int) -> Padding:
    """``"SAME"``/``"VALID"``, or a tuple of ``ndim`` explicit ``(low, high)`` pairs."""
    if isinstance(padding, str):  # also ConvPadding, a str enum
        try:
            return str(normalize_padding(padding))
        except ValueError as err:
            raise ValueError(f"{layer}: {err}") from None
    if is_integer(padding):
        if padding < 0:
            raise ValueError(f"{layer}: an int `padding` must be >= 0, got {padding!r}.")
        return ((int(padding), int(padding)),) * ndim

    def is_pair(p: Any) -> bool:
        return isinstance(p, (list, tuple)) and len(p) == 2 and all(is_integer(v) for v in p)

    if is_pair(padding):  # one (low, high) pair for every spatial dimension
        pairs: tuple[Any, ...] = (padding,) * ndim
    elif (
        isinstance(padding, (list, tuple))
        and len(padding) in (1, ndim)
        and all(is_pair(p) for p in padding)
    ):
        pairs = tuple(padding) * (ndim // len(padding))
    else:
        raise ValueError(
            f"{layer}: `padding` must be 'SAME', 'VALID' (pax.ConvPadding), an int, or "
            f"(low, high) int pairs, one per spatial dimension ({ndim}), got {padding!r}."
        )
    return tuple((int(lo), int(hi)) for lo, hi in pairs)


@default_precision("half")
class _ConvBase(Module):
    """What the convolutions and the transposed convolutions share."""

    parameters = parameters_method("weight", "bias")

    _NDIM: ClassVar[int] = 0
    _KERNEL_FORMAT: ClassVar[str] = ""

    weight: jax.Array
    bias: jax.Array | None

    def _init_common(
        self,
        in_features: int,
        out_features: int,
        kernel_shape: IntOrInts,
        stride: IntOrInts,
        padding: PaddingArg,
        with_bias: bool,
        data_format: str,
        param_dtype: DTypeLike,
    ) -> None:
        layer = type(self).__name__
        in_features, out_features = positive_ints(
            layer, in_features=in_features, out_features=out_features
        )
        self.param_dtype: np.dtype = check_param_dtype(layer, param_dtype)
        n = self._NDIM
        data_format = canonical_data_format(layer, data_format, spatial_rank=n)
        self.in_features = in_features
        self.out_features = out_features
        self.kernel_shape = _replicate(layer, "kernel_shape", kernel_shape, n)
        self.stride = _replicate(layer, "stride", stride, n)
        self.padding = _normalize_conv_padding(layer, padding, n)
        self.with_bias = bool(with_bias)
        self.data_format = data_format
        self.kernel_format = self._KERNEL_FORMAT

    def _init_weights(
        self,
        w_shape: tuple[int, ...],
        fan_in: int,
        w_init: Initializer | None,
        b_init: Initializer | None,
        rng_key: jax.Array | None,
    ) -> None:
        rng_key = next_rng_key() if rng_key is None else rng_key
        w_key, b_key = jax.random.split(rng_key)
        w_init = w_init or truncated_normal(stddev=1.0 / np.sqrt(fan_in))
        b_init = b_init or zeros
        self.weight = w_init(w_key, w_shape, self.param_dtype)
        self.bias = (
            b_init(b_key, (self.out_features,), self.param_dtype) if self.with_bias else None
        )

    @property
    def _channels_first(self) -> bool:
        return is_channels_first(self.data_format)

    def _batched_input(self, x: Any) -> tuple[jax.Array, bool]:
        """``x`` with a batch axis (added when ``x`` is one unbatched example), after
        checking its rank and channel count."""
        x = jnp.asarray(x)
        shape = tuple(x.shape)
        n = self._NDIM
        unbatched = len(shape) == n + 1
        channels = None
        if len(shape) in (n + 1, n + 2):
            channels = shape[int(not unbatched)] if self._channels_first else shape[-1]
        if channels != self.in_features:
            layout = input_axes(self.data_format)
            hint = ""
            if len(shape) in (n + 1, n + 2):
                other = flipped(self.data_format)
                other_channels = shape[-1] if self._channels_first else shape[int(not unbatched)]
                if other_channels == self.in_features:
                    hint = f" For {input_axes(other)} inputs use data_format={other!r}."
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank {n + 2} {layout} or rank "
                f"{n + 1} {layout.replace('N, ', '')} with {self.in_features} channels "
                f"(data_format={self.data_format!r}), got shape {shape}.{hint}"
            )
        if unbatched:
            x = x[None]
        return x, unbatched

    def _finish(self, y: jax.Array, unbatched: bool) -> jax.Array:
        """Add the bias and drop the batch axis of an unbatched input."""
        if self.bias is not None:
            bias = self.bias.astype(y.dtype)
            if self._channels_first:
                bias = bias.reshape((-1,) + (1,) * self._NDIM)
            y = y + bias
        return y[0] if unbatched else y

    def _operands(self, x: jax.Array) -> tuple[jax.Array, jax.Array, Any]:
        dtype = jnp.result_type(x.dtype, self.weight.dtype)
        x, w = x.astype(dtype), self.weight.astype(dtype)
        dimension_numbers = jax.lax.conv_dimension_numbers(
            x.shape, w.shape, (self.data_format, self.kernel_format, self.data_format)
        )
        return x, w, dimension_numbers

    def _repr_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "kernel_shape": self.kernel_shape,
            "padding": self.padding,
        }
        if any(s != 1 for s in self.stride):
            info["stride"] = self.stride
        return info

    def _repr_with_dtype(self, info: dict[str, Any]) -> str:
        return self._repr(with_param_dtype(info, self.param_dtype))


class _Conv(_ConvBase):
    """An N-D convolution; ``Conv1D`` and ``Conv2D`` fix N and the data formats."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_shape: IntOrInts,
        stride: IntOrInts = 1,
        rate: IntOrInts = 1,
        padding: PaddingArg = "SAME",
        with_bias: bool = True,
        w_init: Initializer | None = None,
        b_init: Initializer | None = None,
        data_format: str = "",
        feature_group_count: int = 1,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        layer = type(self).__name__
        self._init_common(
            in_features,
            out_features,
            kernel_shape,
            stride,
            padding,
            with_bias,
            data_format,
            param_dtype,
        )
        self.rate = _replicate(layer, "rate", rate, self._NDIM)
        in_features, out_features = self.in_features, self.out_features
        (feature_group_count,) = positive_ints(layer, feature_group_count=feature_group_count)
        if in_features % feature_group_count or out_features % feature_group_count:
            raise ValueError(
                f"{layer}: `in_features` ({in_features}) and `out_features` "
                f"({out_features}) must be multiples of `feature_group_count` "
                f"({feature_group_count})."
            )
        self.feature_group_count = feature_group_count
        # (*kernel_shape, in_features // groups, out_features): PAX's and haiku's layout
        w_shape = (*self.kernel_shape, in_features // feature_group_count, out_features)
        self._init_weights(w_shape, int(np.prod(w_shape[:-1])), w_init, b_init, rng_key)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Convolve ``x``.

        Args:
          x: a batched input of the layer's ``data_format`` with ``in_features``
            channels, or one example without the batch axis.

        Returns:
          The output, with ``out_features`` channels in the same layout.
        """
        x, unbatched = self._batched_input(x)
        x, w, dimension_numbers = self._operands(x)
        y = jax.lax.conv_general_dilated(
            x,
            w,
            window_strides=self.stride,
            padding=self.padding,
            lhs_dilation=(1,) * self._NDIM,
            rhs_dilation=self.rate,
            dimension_numbers=dimension_numbers,
            feature_group_count=self.feature_group_count,
        )
        return self._finish(y, unbatched)

    def __repr__(self) -> str:
        info = self._repr_info()
        if any(r != 1 for r in self.rate):
            info["rate"] = self.rate
        info["with_bias"] = self.with_bias
        info["data_format"] = self.data_format
        if self.feature_group_count != 1:
            info["feature_group_count"] = self.feature_group_count
        return self._repr_with_dtype(info)


class _ConvTranspose(_ConvBase):
    """An N-D transposed convolution; ``Conv1DTranspose`` and ``Conv2DTranspose``
    fix N and the data formats."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_shape: IntOrInts,
        stride: IntOrInts = 1,
        padding: PaddingArg = "SAME",
        with_bias: bool = True,
        w_init: Initializer | None = None,
        b_init: Initializer | None = None,
        data_format: str = "",
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        self._init_common(
            in_features,
            out_features,
            kernel_shape,
            stride,
            padding,
            with_bias,
            data_format,
            param_dtype,
        )
        # (*kernel_shape, out_features, in_features): PAX's and haiku's layout
        w_shape = (*self.kernel_shape, self.out_features, self.in_features)
        fan_in = int(np.prod(self.kernel_shape)) * self.in_features
        self._init_weights(w_shape, fan_in, w_init, b_init, rng_key)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Apply the transposed convolution to ``x``.

        Args:
          x: a batched input of the layer's ``data_format`` with ``in_features``
            channels, or one example without the batch axis.

        Returns:
          The output, with ``out_features`` channels in the same layout; with
          ``padding="SAME"`` each spatial size is ``stride`` times the input's.
        """
        x, unbatched = self._batched_input(x)
        x, w, dimension_numbers = self._operands(x)
        y = jax.lax.conv_transpose(
            x,
            w,
            strides=self.stride,
            padding=self.padding,
            dimension_numbers=dimension_numbers,
        )
        return self._finish(y, unbatched)

    def __repr__(self) -> str:
        info = self._repr_info()
        info["with_bias"] = self.with_bias
        info["data_format"] = self.data_format
        return self._repr_with_dtype(info)


_CONV_ARGS = """
    Args:
      in_features: number of input channels.
      out_features: number of output channels.
      kernel_shape: the kernel's spatial shape, an int or a sequence of {n} ints.
      stride: the step between windows, an int or a sequence of {n} ints (default 1).
      rate: the kernel dilation, an int or a sequence of {n} ints; 1 (the default)
        is an ordinary convolution.
      padding: ``"SAME"`` (the default) or ``"VALID"`` (any case, or
        :class:`pax.ConvPadding`), an int ``p`` (``(p, p)`` everywhere), or
        explicit ``(low, high)`` pairs: one pair for every spatial dimension, or
        a sequence of {n}.
      with_bias: whether to add a bias (default ``True``).
      w_init: ``init(key, shape, dtype)`` for ``weight`` (default: a truncated
        normal with standard deviation ``1 / sqrt(fan_in)``, haiku's).
      b_init: ``init(key, shape, dtype)`` for ``bias`` (default zeros).
      data_format: ``{last!r}`` (the default) or ``{first!r}``; also
        ``"channels_last"`` or ``"channels_first"`` (stored as ``{last!r}``/``{first!r}``).
      feature_group_count: split the channels into this many groups, each
        convolved separately (``in_features`` and ``out_features`` must be
        multiples of it; default 1).
      rng_key: the key for the initial weights (default ``pax.next_rng_key()``).
      name: an optional name.
      param_dtype: the dtype of ``weight`` and ``bias`` (default float32; a complex
        dtype draws complex weights); the layer computes in the promoted dtype of
        the input and the weights.

    ``weight`` has shape ``(*kernel_shape, in_features // feature_group_count,
    out_features)`` and ``bias`` (``None`` without bias) ``(out_features,)``.
    Inputs are batched ``{last_layout}`` (``{first_layout}`` channels-first) or one
    example without the batch axis.
"""

_TRANSPOSE_ARGS = """
    Args:
      in_features: number of input channels.
      out_features: number of output channels.
      kernel_shape: the kernel's spatial shape, an int or a sequence of {n} ints.
      stride: the upsampling factor, an int or a sequence of {n} ints (default 1).
      padding: ``"SAME"`` (the default; the output is ``stride`` times larger) or
        ``"VALID"`` (any case, or :class:`pax.ConvPadding`), an int, or explicit
        ``(low, high)`` pairs as in :func:`jax.lax.conv_transpose` (one pair, or a
        sequence of {n}).
      with_bias: whether to add a bias (default ``True``).
      w_init: ``init(key, shape, dtype)`` for ``weight`` (default: a truncated
        normal with standard deviation ``1 / sqrt(prod(kernel_shape) *
        in_features)``, haiku's).
      b_init: ``init(key, shape, dtype)`` for ``bias`` (default zeros).
      data_format: ``{last!r}`` (the default) or ``{first!r}``; also
        ``"channels_last"`` or ``"channels_first"`` (stored as ``{last!r}``/``{first!r}``).
      rng_key: the key for the initial weights (default ``pax.next_rng_key()``).
      name: an optional name.
      param_dtype: the dtype of ``weight`` and ``bias`` (default float32; a complex
        dtype draws complex weights); the layer computes in the promoted dtype of
        the input and the weights.

    ``weight`` has shape ``(*kernel_shape, out_features, in_features)`` and
    ``bias`` (``None`` without bias) ``(out_features,)``. Inputs are batched
    ``{last_layout}`` (``{first_layout}`` channels-first) or one example without
    the batch axis.
"""


def _args_doc(template: str, n: int) -> str:
    last = canonical_data_format("", "channels_last", spatial_rank=n)
    first = flipped(last)
    return template.format(
        n=n, last=last, first=first, last_layout=input_axes(last), first_layout=input_axes(first)
    )


class Conv1D(_Conv):
    """A 1-D convolution over ``(N, W, C)`` inputs (``(N, C, W)`` with ``data_format="NCW"``).

    >>> import jax, jax.numpy as jnp, pax
    >>> conv = Conv1D(3, 4, kernel_shape=3, stride=2, rng_key=jax.random.PRNGKey(0))
    >>> conv.weight.shape, conv(jnp.ones((2, 9, 3))).shape
    ((3, 3, 4), (2, 5, 4))
    >>> conv  # doctest: +NORMALIZE_WHITESPACE
    Conv1D(in_features=3, out_features=4, kernel_shape=(3,), padding=SAME, stride=(2,),
           with_bias=True, data_format=NWC)
    """

    _NDIM = 1
    _KERNEL_FORMAT = "WIO"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_shape: IntOrInts,
        stride: IntOrInts = 1,
        rate: IntOrInts = 1,
        padding: PaddingArg = "SAME",
        with_bias: bool = True,
        w_init: Initializer | None = None,
        b_init: Initializer | None = None,
        data_format: str = "NWC",
        feature_group_count: int = 1,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(
            in_features,
            out_features,
            kernel_shape,
            stride,
            rate,
            padding,
            with_bias,
            w_init,
            b_init,
            data_format,
            feature_group_count,
            rng_key=rng_key,
            name=name,
            param_dtype=param_dtype,
        )

    __init__.__doc__ = _args_doc(_CONV_ARGS, 1)


class Conv2D(_Conv):
    """A 2-D convolution over ``(N, H, W, C)`` inputs (``(N, C, H, W)`` with
    ``data_format="NCHW"``).

    >>> import jax, jax.numpy as jnp, pax
    >>> conv = Conv2D(3, 8, kernel_shape=(3, 5), padding="VALID", rng_key=jax.random.PRNGKey(0))
    >>> conv.weight.shape, conv(jnp.ones((2, 10, 10, 3))).shape
    ((3, 5, 3, 8), (2, 8, 6, 8))
    >>> grouped = Conv2D(4, 8, 3, padding=[(1, 1), (0, 0)], data_format="NCHW",
    ...                  feature_group_count=2)
    >>> grouped  # doctest: +NORMALIZE_WHITESPACE
    Conv2D(in_features=4, out_features=8, kernel_shape=(3, 3), padding=((1, 1), (0, 0)),
           with_bias=True, data_format=NCHW, feature_group_count=2)
    """

    _NDIM = 2
    _KERNEL_FORMAT = "HWIO"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_shape: IntOrInts,
        stride: IntOrInts = 1,
        rate: IntOrInts = 1,
        padding: PaddingArg = "SAME",
        with_bias: bool = True,
        w_init: Initializer | None = None,
        b_init: Initializer | None = None,
        data_format: str = "NHWC",
        feature_group_count: int = 1,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(
            in_features,
            out_features,
            kernel_shape,
            stride,
            rate,
            padding,
            with_bias,
            w_init,
            b_init,
            data_format,
            feature_group_count,
            rng_key=rng_key,
            name=name,
            param_dtype=param_dtype,
        )

    __init__.__doc__ = _args_doc(_CONV_ARGS, 2)


class Conv1DTranspose(_ConvTranspose):
    """A 1-D transposed convolution over ``(N, W, C)`` inputs (``(N, C, W)`` with
    ``data_format="NCW"``), e.g. to upsample by ``stride``.

    >>> import jax, jax.numpy as jnp, pax
    >>> up = Conv1DTranspose(3, 4, kernel_shape=4, stride=2, rng_key=jax.random.PRNGKey(0))
    >>> up.weight.shape, up(jnp.ones((2, 5, 3))).shape
    ((4, 4, 3), (2, 10, 4))
    """

    _NDIM = 1
    _KERNEL_FORMAT = "WOI"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_shape: IntOrInts,
        stride: IntOrInts = 1,
        padding: PaddingArg = "SAME",
        with_bias: bool = True,
        w_init: Initializer | None = None,
        b_init: Initializer | None = None,
        data_format: str = "NWC",
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(
            in_features,
            out_features,
            kernel_shape,
            stride,
            padding,
            with_bias,
            w_init,
            b_init,
            data_format,
            rng_key=rng_key,
            name=name,
            param_dtype=param_dtype,
        )

    __init__.__doc__ = _args_doc(_TRANSPOSE_ARGS, 1)


class Conv2DTranspose(_ConvTranspose):
    """A 2-D transposed convolution over ``(N, H, W, C)`` inputs (``(N, C, H, W)``
    with ``data_format="NCHW"``), e.g. to upsample by ``stride``.

    >>> import jax, jax.numpy as jnp, pax
    >>> up = Conv2DTranspose(8, 3, kernel_shape=4, stride=2, rng_key=jax.random.PRNGKey(0))
    >>> up.weight.shape, up(jnp.ones((2, 5, 6, 8))).shape
    ((4, 4, 3, 8), (2, 10, 12, 3))
    >>> up  # doctest: +NORMALIZE_WHITESPACE
    Conv2DTranspose(in_features=8, out_features=3, kernel_shape=(4, 4), padding=SAME,
                    stride=(2, 2), with_bias=True, data_format=NHWC)
    """

    _NDIM = 2
    _KERNEL_FORMAT = "HWOI"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_shape: IntOrInts,
        stride: IntOrInts = 1,
        padding: PaddingArg = "SAME",
        with_bias: bool = True,
        w_init: Initializer | None = None,
        b_init: Initializer | None = None,
        data_format: str = "NHWC",
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(
            in_features,
            out_features,
            kernel_shape,
            stride,
            padding,
            with_bias,
            w_init,
            b_init,
            data_format,
            rng_key=rng_key,
            name=name,
            param_dtype=param_dtype,
        )

    __init__.__doc__ = _args_doc(_TRANSPOSE_ARGS, 2)
