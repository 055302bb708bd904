"""``pax.util``: Objax's name for :mod:`pax.utils`; it re-exports the same objects
(one implementation, two names).

>>> import pax
>>> pax.util.Renamer is pax.utils.Renamer, pax.util.scan is pax.utils.scan
(True, True)
"""

from pax.utils import Renamer as Renamer
from pax.utils import __all__ as __all__
from pax.utils import build_update_fn as build_update_fn
from pax.utils import grad as grad
from pax.utils import replicate as replicate
from pax.utils import scan as scan
from pax.utils import unreplicate as unreplicate
from pax.utils import value_and_grad as value_and_grad
