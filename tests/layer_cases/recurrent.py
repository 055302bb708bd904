"""Registry cases: recurrent cells, called as ``cell(state, x)``."""

from layer_registry import LayerCase, key, normal

import pax
from pax._src.nn.recurrent import GRU, GRUState, VanillaRNN, VanillaRNNState

LAYERS = [
    LayerCase(
        "lstm",
        lambda: pax.LSTM(3, 4, forget_gate_bias=1.0, rng_key=key(0)),
        lambda s: (
            pax.LSTMState(normal(s + 1, (5, 4), 0.5), normal(s + 2, (5, 4), 0.5)),
            normal(s, (5, 3)),
        ),
    ),
    LayerCase(
        "gru",
        lambda: GRU(3, 4, rng_key=key(1)),
        lambda s: (GRUState(normal(s + 1, (5, 4), 0.5)), normal(s, (5, 3))),
    ),
    LayerCase(
        "vanilla_rnn",
        lambda: VanillaRNN(3, 4, rng_key=key(2)),
        lambda s: (VanillaRNNState(normal(s + 1, (5, 4), 0.5)), normal(s, (5, 3))),
    ),
]
