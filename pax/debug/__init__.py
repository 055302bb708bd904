"""``pax.debug``: why a jitted step traces again, and which arrays it compiles in.

- :func:`explain_retraces` wraps a step so that every new trace under ``jax.jit``
  reports what changed in its arguments (a ``RetraceWarning`` and a ``logging``
  record on the ``"pax.debug"`` logger).
- :func:`find_constants` lists the arrays a function bakes into its program as
  constants, and where it holds them. ``pax.build_update_fn`` and ``pax.Jit`` warn
  (``CapturedConstantsWarning``) when a traced step captures more than
  :func:`get_constant_warning_bytes`.
"""

from pax._src.debug.constants import (
    DEFAULT_CONSTANT_WARNING_BYTES as DEFAULT_CONSTANT_WARNING_BYTES,
)
from pax._src.debug.constants import CapturedConstantsWarning as CapturedConstantsWarning
from pax._src.debug.constants import Constant as Constant
from pax._src.debug.constants import Constants as Constants
from pax._src.debug.constants import find_constants as find_constants
from pax._src.debug.constants import get_constant_warning_bytes as get_constant_warning_bytes
from pax._src.debug.constants import set_constant_warning_bytes as set_constant_warning_bytes
from pax._src.debug.retraces import RetraceWarning as RetraceWarning
from pax._src.debug.retraces import explain_retraces as explain_retraces

__all__ = [
    "CapturedConstantsWarning",
    "Constant",
    "Constants",
    "DEFAULT_CONSTANT_WARNING_BYTES",
    "RetraceWarning",
    "explain_retraces",
    "find_constants",
    "get_constant_warning_bytes",
    "set_constant_warning_bytes",
]
