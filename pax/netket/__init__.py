"""pax models in `NetKet <https://netket.readthedocs.io>`_ (``pip install pax3[netket]``).

``import pax.netket`` registers pax in NetKet's model-framework registry, after which
``nk.vqs.MCState(sampler, model)`` and ``nk.vqs.FullSumState(hilbert, model)`` take any
``pax.Module`` whose ``__call__(sigma)`` returns log psi of a batch of configurations.
``vstate.parameters`` is the model's trainable parameters as a nested dict (see
:func:`pax.split`), ``vstate.model_state`` its other arrays and ``vstate.model`` the
module with the current weights. :class:`ARNN` and its presets are autoregressive
models for ``nk.sampler.ARDirectSampler``, sampled through pax's jittable cache.

>>> import jax, netket as nk, pax, pax.netket
>>> hi = nk.hilbert.Spin(0.5, 3)
>>> model = pax.Sequential(pax.Linear(3, 1), lambda x: x[..., 0])
>>> vstate = nk.vqs.FullSumState(hi, model)
>>> sorted(vstate.parameters["modules"]["0"])
['bias', 'weight']
"""

from pax._src.netket.arnn import ARNN as ARNN
from pax._src.netket.arnn import ARNNConv1D as ARNNConv1D
from pax._src.netket.arnn import ARNNConv2D as ARNNConv2D
from pax._src.netket.arnn import ARNNDense as ARNNDense
from pax._src.netket.arnn import ARNNSequential as ARNNSequential
from pax._src.netket.framework import PaxModel as PaxModel
from pax._src.netket.framework import register as register

register()

__all__ = [
    "ARNN",
    "ARNNConv1D",
    "ARNNConv2D",
    "ARNNDense",
    "ARNNSequential",
    "PaxModel",
    "register",
]
