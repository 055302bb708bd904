"""``pax.functional``: the functions of ``objax.functional`` (activations, pooling on
NCHW inputs, array operations) and the submodules ``divergence``, ``loss`` and ``parallel``."""

from pax._src.functional.activation import celu as celu
from pax._src.functional.activation import elu as elu
from pax._src.functional.activation import leaky_relu as leaky_relu
from pax._src.functional.activation import log_sigmoid as log_sigmoid
from pax._src.functional.activation import log_softmax as log_softmax
from pax._src.functional.activation import logsumexp as logsumexp
from pax._src.functional.activation import relu as relu
from pax._src.functional.activation import selu as selu
from pax._src.functional.activation import sigmoid as sigmoid
from pax._src.functional.activation import softmax as softmax
from pax._src.functional.activation import softplus as softplus
from pax._src.functional.activation import tanh as tanh
from pax._src.functional.misc import dynamic_slice as dynamic_slice
from pax._src.functional.misc import flatten as flatten
from pax._src.functional.misc import interpolate as interpolate
from pax._src.functional.misc import one_hot as one_hot
from pax._src.functional.misc import pad as pad
from pax._src.functional.misc import rsqrt as rsqrt
from pax._src.functional.misc import scan as scan
from pax._src.functional.misc import stop_gradient as stop_gradient
from pax._src.functional.misc import top_k as top_k
from pax._src.functional.misc import upsample_2d as upsample_2d
from pax._src.functional.misc import upscale_nn as upscale_nn
from pax._src.functional.pooling import average_pool_2d as average_pool_2d
from pax._src.functional.pooling import batch_to_space2d as batch_to_space2d
from pax._src.functional.pooling import channel_to_space2d as channel_to_space2d
from pax._src.functional.pooling import max_pool_2d as max_pool_2d
from pax._src.functional.pooling import space_to_batch2d as space_to_batch2d
from pax._src.functional.pooling import space_to_channel2d as space_to_channel2d
from pax.functional import divergence as divergence
from pax.functional import loss as loss
from pax.functional import parallel as parallel

__all__ = [
    "average_pool_2d",
    "batch_to_space2d",
    "celu",
    "channel_to_space2d",
    "divergence",
    "dynamic_slice",
    "elu",
    "flatten",
    "interpolate",
    "leaky_relu",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "loss",
    "max_pool_2d",
    "one_hot",
    "pad",
    "parallel",
    "relu",
    "rsqrt",
    "scan",
    "selu",
    "sigmoid",
    "softmax",
    "softplus",
    "space_to_batch2d",
    "space_to_channel2d",
    "stop_gradient",
    "tanh",
    "top_k",
    "upsample_2d",
    "upscale_nn",
]
