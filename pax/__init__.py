"""pax: neural-network modules for JAX in which a model is an ordinary pytree."""

from pax import debug as debug
from pax import errors as errors
from pax import experimental as experimental
from pax import functional as functional
from pax import nets as nets
from pax import nn as nn
from pax import objax as objax
from pax import optimizer as optimizer
from pax import random as random
from pax import sharding as sharding
from pax import util as util
from pax import utils as utils
from pax._src import pax3_pickles as _pax3_pickles  # noqa: F401 (PAX 0.5 pickles load)
from pax._src.core.mixed_precision import apply_mp_policy as apply_mp_policy
from pax._src.core.mixed_precision import default_mp_policy as default_mp_policy
from pax._src.core.mixed_precision import mixed_precision_method as mixed_precision_method
from pax._src.core.mixed_precision import unwrap_mp_policy as unwrap_mp_policy
from pax._src.core.module import Module as Module
from pax._src.core.node import EmptyNode as EmptyNode
from pax._src.core.parameters import ParameterModule as ParameterModule
from pax._src.core.parameters import StateModule as StateModule
from pax._src.core.parameters import enable_eval_mode as enable_eval_mode
from pax._src.core.parameters import enable_train_mode as enable_train_mode
from pax._src.core.parameters import freeze_parameters as freeze_parameters
from pax._src.core.parameters import parameters_method as parameters_method
from pax._src.core.parameters import select_parameters as select_parameters
from pax._src.core.parameters import unfreeze_parameters as unfreeze_parameters
from pax._src.core.parameters import update_parameters as update_parameters
from pax._src.core.pure import module_and_value as module_and_value
from pax._src.core.pure import pure as pure
from pax._src.core.pure import purecall as purecall
from pax._src.core.rng import next_rng_key as next_rng_key
from pax._src.core.rng import seed_rng_key as seed_rng_key
from pax._src.core.split import merge as merge
from pax._src.core.split import split as split
from pax._src.core.structure import assert_structure_equal as assert_structure_equal
from pax._src.nn.attention import MultiHeadAttention as MultiHeadAttention
from pax._src.nn.conv import Conv1D as Conv1D
from pax._src.nn.conv import Conv1DTranspose as Conv1DTranspose
from pax._src.nn.conv import Conv2D as Conv2D
from pax._src.nn.conv import Conv2DTranspose as Conv2DTranspose
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
from pax._src.nn.padding import ConvPadding as ConvPadding
from pax._src.nn.pooling import avg_pool as avg_pool
from pax._src.nn.pooling import max_pool as max_pool
from pax._src.nn.recurrent import GRU as GRU
from pax._src.nn.recurrent import LSTM as LSTM
from pax._src.nn.recurrent import GRUState as GRUState
from pax._src.nn.recurrent import LSTMState as LSTMState
from pax._src.nn.recurrent import VanillaRNN as VanillaRNN
from pax._src.nn.recurrent import VanillaRNNState as VanillaRNNState
from pax._src.nn.rng_seq import RngSeq as RngSeq
from pax._src.nn.sequential import Sequential as Sequential
from pax._src.nn.stack import Stack as Stack
from pax._src.transforms.grad import grad as grad
from pax._src.transforms.grad import value_and_grad as value_and_grad
from pax._src.transforms.scan import scan as scan
from pax._src.transforms.update import build_update_fn as build_update_fn
from pax.objax import BaseState as BaseState
from pax.objax import BaseVar as BaseVar
from pax.objax import ForceArgs as ForceArgs
from pax.objax import Function as Function
from pax.objax import Grad as Grad
from pax.objax import GradValues as GradValues
from pax.objax import Jit as Jit
from pax.objax import ModuleList as ModuleList
from pax.objax import Parallel as Parallel
from pax.objax import RandomState as RandomState
from pax.objax import StateVar as StateVar
from pax.objax import TrainRef as TrainRef
from pax.objax import TrainVar as TrainVar
from pax.objax import VarCollection as VarCollection
from pax.objax import Vectorize as Vectorize

__version__ = "0.6.0"

__all__ = [
    "BaseState",
    "BaseVar",
    "BatchNorm1D",
    "BatchNorm2D",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "ConvPadding",
    "Dropout",
    "EMA",
    "Embed",
    "EmptyNode",
    "ForceArgs",
    "Function",
    "GRU",
    "GRUState",
    "Grad",
    "GradValues",
    "GroupNorm",
    "Identity",
    "Jit",
    "LSTM",
    "LSTMState",
    "Lambda",
    "LayerNorm",
    "Linear",
    "MaskedConv1D",
    "MaskedConv2D",
    "MaskedDense1D",
    "Module",
    "ModuleList",
    "MultiHeadAttention",
    "Parallel",
    "ParameterModule",
    "RMSNorm",
    "RandomState",
    "RngSeq",
    "Sequential",
    "Stack",
    "StateModule",
    "StateVar",
    "TrainRef",
    "TrainVar",
    "VanillaRNN",
    "VanillaRNNState",
    "VarCollection",
    "Vectorize",
    "apply_mp_policy",
    "assert_structure_equal",
    "avg_pool",
    "build_update_fn",
    "debug",
    "default_mp_policy",
    "dropout",
    "enable_eval_mode",
    "enable_train_mode",
    "errors",
    "eval_shape",
    "experimental",
    "freeze_parameters",
    "functional",
    "grad",
    "load",
    "max_pool",
    "merge",
    "mixed_precision_method",
    "module_and_value",
    "nets",
    "next_rng_key",
    "nn",
    "objax",
    "optimizer",
    "parameters_method",
    "pure",
    "purecall",
    "random",
    "save",
    "scan",
    "seed_rng_key",
    "select_parameters",
    "sharding",
    "split",
    "unfreeze_parameters",
    "unwrap_mp_policy",
    "update_parameters",
    "util",
    "utils",
    "value_and_grad",
]

# Let the unmodified PyPI opax run on current JAX: one explicit call, which patches
# `opax.transform` and `opax.schedule` (see pax/_src/opax_compat.py).
from pax._src import opax_compat as _opax_compat  # noqa: E402

_opax_compat.install()

from pax._src.abstract import eval_shape  # noqa: E402
from pax._src.checkpoint import load, save  # noqa: E402
