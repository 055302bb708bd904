"""pax layers (also available at the top level, e.g. ``pax.Linear``)."""

from pax._src.nn.batch_norm import BatchNorm1D as BatchNorm1D
from pax._src.nn.batch_norm import BatchNorm2D as BatchNorm2D
from pax._src.nn.dropout import Dropout as Dropout
from pax._src.nn.dropout import dropout as dropout
from pax._src.nn.lambda_module import Identity as Identity
from pax._src.nn.lambda_module import Lambda as Lambda
from pax._src.nn.linear import Linear as Linear
from pax._src.nn.recurrent import LSTM as LSTM
from pax._src.nn.recurrent import LSTMState as LSTMState
from pax._src.nn.rng_seq import RngSeq as RngSeq
from pax._src.nn.sequential import Sequential as Sequential

__all__ = [
    "BatchNorm1D",
    "BatchNorm2D",
    "Dropout",
    "Identity",
    "LSTM",
    "LSTMState",
    "Lambda",
    "Linear",
    "RngSeq",
    "Sequential",
    "dropout",
]
