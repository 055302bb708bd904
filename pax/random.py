"""Objax-style random numbers: ``pax.random.Generator`` and the functions drawing
from ``pax.random.DEFAULT_GENERATOR`` (created on first use)."""

from typing import Any

from pax._src.objax.random import Generator as Generator
from pax._src.objax.random import default_generator as _default_generator
from pax._src.objax.random import normal as normal
from pax._src.objax.random import randint as randint
from pax._src.objax.random import truncated_normal as truncated_normal
from pax._src.objax.random import uniform as uniform


def __getattr__(name: str) -> Any:
    if name == "DEFAULT_GENERATOR":
        return _default_generator()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_GENERATOR",
    "Generator",
    "normal",
    "randint",
    "truncated_normal",
    "uniform",
]
