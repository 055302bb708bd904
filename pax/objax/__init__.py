"""The Objax layer of pax: Objax-style variables, ``vars()``, stateful transforms,
containers, optimizers and random numbers, built on the core's extension points
(``pax/_src/core/variable.py``, ``vars_hooks.py``, ``mutation.py``).

Every name here is also available at the top level (``pax.TrainVar`` is
``pax.objax.TrainVar``), so PAX 0.5 and Objax code keeps running unchanged.

>>> import jax.numpy as jnp, pax
>>> pax.objax.TrainVar is pax.TrainVar
True
>>> w = pax.objax.TrainVar(jnp.ones(2))
>>> vc = pax.objax.VarCollection([("w", w)])
>>> grad = pax.objax.Grad(lambda: (w.value**2).sum(), vc)
>>> [g.tolist() for g in grad()]
[[2.0, 2.0]]
"""

from pax import optimizer as optimizer
from pax import random as random
from pax import util as util
from pax._src.objax import module_vars as _module_vars  # noqa: F401 (registers Module.vars())
from pax._src.objax import stack_vars as _stack_vars  # noqa: F401 (registers Stack.vars())
from pax._src.objax.force_args import ForceArgs as ForceArgs
from pax._src.objax.function import Function as Function
from pax._src.objax.grad import Grad as Grad
from pax._src.objax.grad import GradValues as GradValues
from pax._src.objax.jit import Jit as Jit
from pax._src.objax.module_list import ModuleList as ModuleList
from pax._src.objax.parallel import Parallel as Parallel
from pax._src.objax.var_collection import VarCollection as VarCollection
from pax._src.objax.variables import BaseState as BaseState
from pax._src.objax.variables import BaseVar as BaseVar
from pax._src.objax.variables import RandomState as RandomState
from pax._src.objax.variables import StateVar as StateVar
from pax._src.objax.variables import TrainRef as TrainRef
from pax._src.objax.variables import TrainVar as TrainVar
from pax._src.objax.vectorize import Vectorize as Vectorize

__all__ = [
    "BaseState",
    "BaseVar",
    "ForceArgs",
    "Function",
    "Grad",
    "GradValues",
    "Jit",
    "ModuleList",
    "Parallel",
    "RandomState",
    "StateVar",
    "TrainRef",
    "TrainVar",
    "VarCollection",
    "Vectorize",
    "optimizer",
    "random",
    "util",
]
