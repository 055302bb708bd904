"""Registry cases: normalization layers and the EMA they keep their statistics in."""

import jax.numpy as jnp
import numpy as np
from layer_registry import LayerCase, normal

import pax
from pax._src.nn.ema import EMA
from pax._src.nn.norms import BatchNorm1D, BatchNorm2D, GroupNorm, LayerNorm, RMSNorm


def random_weights(layer):
    """The layer with scale ~ 1 + N(0, 0.3) and offset ~ N(0, 0.3) (where it has them)."""
    if layer.scale is not None:
        scale = 1.0 + normal(1, layer.scale.shape, 0.3)
        layer = layer.replace(scale=scale.astype(layer.scale.dtype))
    if layer.offset is not None:
        offset = normal(2, layer.offset.shape, 0.3)
        layer = layer.replace(offset=offset.astype(layer.offset.dtype))
    return layer


def trained_batch_norm(dtype=jnp.float32, **kwargs) -> BatchNorm1D:
    """A BatchNorm1D with non-trivial weights and moving averages, in eval mode."""
    bn = random_weights(BatchNorm1D(3, **kwargs, param_dtype=dtype))
    for step in range(3):
        bn, _ = pax.purecall(bn, normal(10 + step, (6, 3), 2.0) + 1.0)
    return bn.eval()


def trained_ema() -> EMA:
    ema = EMA({"a": normal(3, (3,)), "b": normal(4, (2,))}, 0.9, debias=True)
    for step in range(2):
        ema, _ = pax.purecall(ema, {"a": normal(5 + step, (3,)), "b": normal(7 + step, (2,))})
    return ema


def batch_norm_1d_no_scale(dtype=jnp.float32):
    return BatchNorm1D(3, create_scale=False, decay_rate=0.5, param_dtype=dtype)


def batch_norm_2d_nchw_no_offset(dtype=jnp.float32):
    bn = BatchNorm2D(3, create_offset=False, data_format="NCHW", param_dtype=dtype)
    return random_weights(bn)


def layer_norm(dtype=jnp.float32):
    return random_weights(LayerNorm(4, param_dtype=dtype))


def rms_norm(dtype=jnp.float32):
    norm = RMSNorm(4, param_dtype=dtype)
    return norm.replace(scale=(1.0 + normal(1, (4,), 0.3)).astype(norm.scale.dtype))


def group_norm(dtype=jnp.float32):
    return random_weights(GroupNorm(2, 4, param_dtype=dtype))


def group_norm_channels_first_no_scale(dtype=jnp.float32):
    gn = GroupNorm(2, 4, create_scale=False, data_format="channels_first", param_dtype=dtype)
    return random_weights(gn)


# -- numpy references (the variance of complex data: the mean of |x - mean|^2) -------


def _normalize(x, mean, var, eps):
    return (x - mean) / np.sqrt(var + eps)


def _abs_var(x, axes, mean):
    return np.mean(np.abs(x - mean) ** 2, axis=axes, keepdims=True)


def np_batch_norm(bn, x):
    x = np.asarray(x)
    channel_axis = 1 if x.ndim == 2 or bn.data_format[1] == "C" else x.ndim - 1
    axes = tuple(a for a in range(x.ndim) if a != channel_axis)
    shape = [1] * x.ndim
    shape[channel_axis] = bn.num_channels
    if bn.training:
        mean = np.mean(x, axis=axes, keepdims=True)
        var = _abs_var(x, axes, mean)
    else:
        mean, var = (np.asarray(s).reshape(shape) for s in bn.moving_statistics())
    y = _normalize(x, mean, var, bn.eps)
    if bn.scale is not None:
        y = y * np.asarray(bn.scale).reshape(shape)
    if bn.offset is not None:
        y = y + np.asarray(bn.offset).reshape(shape)
    return y


def _scale_and_offset(layer, y, shape):
    if layer.scale is not None:
        y = y * np.asarray(layer.scale).reshape(shape)
    if layer.offset is not None:
        y = y + np.asarray(layer.offset).reshape(shape)
    return y


def np_layer_norm(ln, x):
    x = np.asarray(x)
    axes = tuple(a % x.ndim for a in ln.axis)
    mean = np.mean(x, axis=axes, keepdims=True)
    y = _normalize(x, mean, _abs_var(x, axes, mean), ln.eps)
    return _scale_and_offset(ln, y, (ln.num_channels,))


def np_rms_norm(norm, x):
    """``scale * x / sqrt(mean(|x|^2) + eps)`` over the last axis."""
    x = np.asarray(x)
    y = x / np.sqrt(np.mean(np.abs(x) ** 2, axis=-1, keepdims=True) + norm.eps)
    return y * np.asarray(norm.scale)


def np_group_norm(gn, x):
    """Group norm over all axes but the batch axis (the layers' default ``axis``)."""
    assert gn.axis == slice(1, None), "this reference covers the default axis only"
    x = np.asarray(x)
    channels_first = gn.data_format in ("channels_first", "NC...")
    if channels_first:
        x = np.moveaxis(x, 1, -1)
    grouped = x.reshape(*x.shape[:-1], gn.groups, gn.num_channels // gn.groups)
    axes = tuple(range(1, x.ndim - 1)) + (x.ndim,)  # spatial axes and the channels of a group
    mean = np.mean(grouped, axis=axes, keepdims=True)
    y = _normalize(grouped, mean, _abs_var(grouped, axes, mean), gn.eps).reshape(x.shape)
    y = _scale_and_offset(gn, y, (gn.num_channels,))
    return np.moveaxis(y, -1, 1) if channels_first else y


LAYERS = [
    LayerCase(
        "batch_norm_1d_train",
        lambda: trained_batch_norm().train(),
        lambda s: (normal(s, (6, 3), 2.0) + 0.5,),
        make_dtype=lambda dtype: trained_batch_norm(dtype).train(),
        reference=np_batch_norm,
    ),
    LayerCase(
        "batch_norm_1d_train_nlc_no_scale",
        batch_norm_1d_no_scale,
        lambda s: (normal(s, (2, 4, 3)),),
        make_dtype=batch_norm_1d_no_scale,
        reference=np_batch_norm,
    ),
    LayerCase(
        "batch_norm_1d_ncw_eval",
        lambda: trained_batch_norm(data_format="NCW"),
        lambda s: (normal(s, (2, 3, 4), 2.0),),
        make_dtype=lambda dtype: trained_batch_norm(dtype, data_format="NCW"),
        reference=np_batch_norm,
    ),
    LayerCase(
        "batch_norm_2d_nchw_train_no_offset",
        batch_norm_2d_nchw_no_offset,
        lambda s: (normal(s, (2, 3, 2, 2)) + 1.0,),
        make_dtype=batch_norm_2d_nchw_no_offset,
        reference=np_batch_norm,
    ),
    LayerCase(
        "layer_norm",
        layer_norm,
        lambda s: (normal(s, (2, 3, 4), 2.0) + 1.0,),
        make_dtype=layer_norm,
        reference=np_layer_norm,
    ),
    LayerCase(
        "rms_norm",
        rms_norm,
        lambda s: (normal(s, (2, 3, 4), 2.0) + 1.0,),
        make_dtype=rms_norm,
        reference=np_rms_norm,
    ),
    LayerCase(
        "group_norm",
        group_norm,
        lambda s: (normal(s, (2, 3, 4), 2.0),),
        make_dtype=group_norm,
        reference=np_group_norm,
    ),
    LayerCase(
        "group_norm_channels_first_no_scale",
        group_norm_channels_first_no_scale,
        lambda s: (normal(s, (2, 4, 3)),),
        make_dtype=group_norm_channels_first_no_scale,
        reference=np_group_norm,
    ),
    LayerCase(
        "ema_debias",
        trained_ema,
        lambda s: ({"a": normal(s, (3,)), "b": normal(s + 1, (2,))},),
    ),
]
