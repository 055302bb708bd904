"""Objax-style utilities (``pax.util``): ``Renamer`` for ``VarCollection.rename``."""

from pax._src.objax.renamer import Renamer as Renamer

__all__ = ["Renamer"]
