"""Transforms and helpers for training pax models (``pax.utils``)."""

from pax._src.transforms.grad import grad as grad
from pax._src.transforms.grad import value_and_grad as value_and_grad
from pax._src.transforms.replicate import replicate as replicate
from pax._src.transforms.replicate import unreplicate as unreplicate
from pax._src.transforms.scan import scan as scan
from pax._src.transforms.update import build_update_fn as build_update_fn

__all__ = [
    "build_update_fn",
    "grad",
    "replicate",
    "scan",
    "unreplicate",
    "value_and_grad",
]
