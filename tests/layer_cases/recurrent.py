"""Registry cases: recurrent cells."""

from layer_registry import LayerCase, key, normal

import pax

LAYERS = [
    LayerCase(
        "lstm",
        lambda: pax.LSTM(3, 4, forget_gate_bias=1.0, rng_key=key(0)),
        lambda s: (
            pax.LSTMState(normal(s + 1, (5, 4), 0.5), normal(s + 2, (5, 4), 0.5)),
            normal(s, (5, 3)),
        ),
    ),
]
