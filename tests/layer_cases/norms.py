"""Registry cases: normalization layers and the EMA they keep their statistics in."""

from layer_registry import LayerCase, normal

import pax
from pax._src.nn.ema import EMA
from pax._src.nn.norms import BatchNorm1D, BatchNorm2D, GroupNorm, LayerNorm


def random_weights(layer):
    """The layer with scale ~ 1 + N(0, 0.3) and offset ~ N(0, 0.3) (where it has them)."""
    if layer.scale is not None:
        layer = layer.replace(scale=1.0 + normal(1, layer.scale.shape, 0.3))
    if layer.offset is not None:
        layer = layer.replace(offset=normal(2, layer.offset.shape, 0.3))
    return layer


def trained_batch_norm(**kwargs) -> BatchNorm1D:
    """A BatchNorm1D with non-trivial weights and moving averages, in eval mode."""
    bn = random_weights(BatchNorm1D(3, **kwargs))
    for step in range(3):
        bn, _ = pax.purecall(bn, normal(10 + step, (6, 3), 2.0) + 1.0)
    return bn.eval()


def trained_ema() -> EMA:
    ema = EMA({"a": normal(3, (3,)), "b": normal(4, (2,))}, 0.9, debias=True)
    for step in range(2):
        ema, _ = pax.purecall(ema, {"a": normal(5 + step, (3,)), "b": normal(7 + step, (2,))})
    return ema


LAYERS = [
    LayerCase(
        "batch_norm_1d_train",
        lambda: trained_batch_norm().train(),
        lambda s: (normal(s, (6, 3), 2.0) + 0.5,),
    ),
    LayerCase(
        "batch_norm_1d_train_nlc_no_scale",
        lambda: BatchNorm1D(3, create_scale=False, decay_rate=0.5),
        lambda s: (normal(s, (2, 4, 3)),),
    ),
    LayerCase(
        "batch_norm_1d_ncw_eval",
        lambda: trained_batch_norm(data_format="NCW"),
        lambda s: (normal(s, (2, 3, 4), 2.0),),
    ),
    LayerCase(
        "batch_norm_2d_nchw_train_no_offset",
        lambda: random_weights(BatchNorm2D(3, create_offset=False, data_format="NCHW")),
        lambda s: (normal(s, (2, 3, 2, 2)) + 1.0,),
    ),
    LayerCase(
        "layer_norm",
        lambda: random_weights(LayerNorm(4)),
        lambda s: (normal(s, (2, 3, 4), 2.0) + 1.0,),
    ),
    LayerCase(
        "group_norm",
        lambda: random_weights(GroupNorm(2, 4)),
        lambda s: (normal(s, (2, 3, 4), 2.0),),
    ),
    LayerCase(
        "group_norm_channels_first_no_scale",
        lambda: random_weights(GroupNorm(2, 4, create_scale=False, data_format="channels_first")),
        lambda s: (normal(s, (2, 4, 3)),),
    ),
    LayerCase(
        "ema_debias",
        trained_ema,
        lambda s: ({"a": normal(s, (3,)), "b": normal(s + 1, (2,))},),
    ),
]
