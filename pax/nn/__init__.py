"""pax layers (also available at the top level, e.g. ``pax.Linear``)."""

from pax._src.nn.attention import MultiHeadAttention as MultiHeadAttention
from pax._src.nn.conv import Conv1D as Conv1D
from pax._src.nn.conv import Conv1DTranspose as Conv1DTranspose
from pax._src.nn.conv import Conv2D as Conv2D
from pax._src.nn.conv import Conv2DTranspose as Conv2DTranspose
from pax._src.nn.decoding import init_cache as init_cache
from pax._src.nn.dropout import Dropout as Dropout
from pax._src.nn.dropout import dropout as dropout
from pax._src.nn.ema import EMA as EMA
from pax._src.nn.embed import Embed as Embed
from pax._src.nn.lambda_module import Identity as Identity
from pax._src.nn.lambda_module import Lambda as Lambda
from pax._src.nn.linear import Linear as Linear
from pax._src.nn.masked import MaskedConv1D as MaskedConv1D
from pax._src.nn.masked import MaskedConv2D as MaskedConv2D
from pax._src.nn.masked import MaskedDense1D as MaskedDense1D
from pax._src.nn.norms import BatchNorm1D as BatchNorm1D
from pax._src.nn.norms import BatchNorm2D as BatchNorm2D
from pax._src.nn.norms import GroupNorm as GroupNorm
from pax._src.nn.norms import LayerNorm as LayerNorm
from pax._src.nn.norms import RMSNorm as RMSNorm
from pax._src.nn.pooling import avg_pool as avg_pool
from pax._src.nn.pooling import max_pool as max_pool
from pax._src.nn.recurrent import GRU as GRU
from pax._src.nn.recurrent import LSTM as LSTM
from pax._src.nn.recurrent import GRUState as GRUState
from pax._src.nn.recurrent import LSTMState as LSTMState
from pax._src.nn.recurrent import VanillaRNN as VanillaRNN
from pax._src.nn.recurrent import VanillaRNNState as VanillaRNNState
from pax._src.nn.rng_seq import RngSeq as RngSeq
from pax._src.nn.rope import rotary_embedding as rotary_embedding
from pax._src.nn.sequential import Sequential as Sequential
from pax._src.nn.stack import Stack as Stack

__all__ = [
    "BatchNorm1D",
    "BatchNorm2D",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Dropout",
    "EMA",
    "Embed",
    "GRU",
    "GRUState",
    "GroupNorm",
    "Identity",
    "LSTM",
    "LSTMState",
    "Lambda",
    "LayerNorm",
    "Linear",
    "MaskedConv1D",
    "MaskedConv2D",
    "MaskedDense1D",
    "MultiHeadAttention",
    "RMSNorm",
    "RngSeq",
    "Sequential",
    "Stack",
    "VanillaRNN",
    "VanillaRNNState",
    "avg_pool",
    "dropout",
    "init_cache",
    "max_pool",
    "rotary_embedding",
]
