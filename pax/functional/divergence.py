"""Divergences (``objax.functional.divergence``)."""

from pax._src.functional.divergence import kl as kl

__all__ = [
    "kl",
]
