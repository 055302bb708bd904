"""Registry cases: multi-head attention (model_size 6 = 2 heads * key_size 3)."""

import numpy as np
from layer_registry import LayerCase, key, normal, purecall

from pax._src.nn.attention import MultiHeadAttention

# an (N=2, 1, 1, T=4) padding mask, fixed (a mask is not a differentiable input)
PADDING = np.arange(4)[None, None, None, :] < np.array([4, 2])[:, None, None, None]


def masked_self_attention(mha, x):
    return purecall(mha, x, x, x, PADDING)


LAYERS = [
    LayerCase(
        "multi_head_attention",
        lambda: MultiHeadAttention(2, 3, 1.0, rng_key=key(0)),
        lambda s: (normal(s, (2, 4, 6)),),
        call=masked_self_attention,
    ),
]
