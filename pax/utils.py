"""Helpers for training pax models (``pax.utils``, PAX 0.5's name). ``pax.util``
(Objax's name) re-exports exactly these objects, so code written for either runs.

>>> import pax
>>> sorted(pax.util.__all__) == sorted(pax.utils.__all__)
True
"""

from pax._src.objax.renamer import Renamer as Renamer
from pax._src.transforms.grad import grad as grad
from pax._src.transforms.grad import value_and_grad as value_and_grad
from pax._src.transforms.replicate import replicate as replicate
from pax._src.transforms.replicate import unreplicate as unreplicate
from pax._src.transforms.scan import scan as scan
from pax._src.transforms.update import build_update_fn as build_update_fn

__all__ = [
    "Renamer",
    "build_update_fn",
    "grad",
    "replicate",
    "scan",
    "unreplicate",
    "value_and_grad",
]
