"""Registry cases: normalization layers."""

from layer_registry import LayerCase, normal

import pax


def trained_batch_norm(**kwargs) -> pax.BatchNorm1D:
    """A BatchNorm1D with non-trivial weights and moving averages, in eval mode."""
    bn = pax.BatchNorm1D(3, **kwargs)
    if bn.scale is not None:
        bn = bn.replace(scale=1.0 + normal(1, bn.scale.shape, 0.3))
    if bn.offset is not None:
        bn = bn.replace(offset=normal(2, bn.offset.shape, 0.3))
    for step in range(3):
        bn, _ = pax.purecall(bn, normal(10 + step, (8, 3), 2.0) + 1.0)
    return bn.eval()


LAYERS = [
    LayerCase(
        "batch_norm_1d_train",
        lambda: trained_batch_norm().train(),
        lambda s: (normal(s, (6, 3), 2.0) + 0.5,),
    ),
    LayerCase(
        "batch_norm_1d_train_nlc_no_scale",
        lambda: pax.BatchNorm1D(3, create_scale=False, decay_rate=0.5),
        lambda s: (normal(s, (4, 5, 3)),),
    ),
    LayerCase(
        "batch_norm_1d_eval",
        lambda: trained_batch_norm(),
        lambda s: (normal(s, (6, 3), 2.0),),
    ),
    LayerCase(
        "batch_norm_2d_train",
        lambda: pax.BatchNorm2D(2, create_offset=False),
        lambda s: (normal(s, (2, 3, 3, 2)) + 1.0,),
    ),
]
