"""Cross-device reductions over ``axis_name='device'`` (``objax.functional.parallel``)."""

from pax._src.functional.parallel import pmax as pmax
from pax._src.functional.parallel import pmean as pmean
from pax._src.functional.parallel import pmin as pmin
from pax._src.functional.parallel import psum as psum

__all__ = [
    "pmax",
    "pmean",
    "pmin",
    "psum",
]
