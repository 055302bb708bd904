"""``opax_integration.jax_compat``: the patch that lets the unmodified PyPI opax run on
current JAX. It is part of pax (``import pax`` installs it); this name stays for code
that imported it from here."""

from pax._src.opax_compat import PATCHED_MODULES as PATCHED_MODULES
from pax._src.opax_compat import clip as clip
from pax._src.opax_compat import install as install
from pax._src.opax_compat import patch_module as patch_module

__all__ = ["PATCHED_MODULES", "clip", "install", "patch_module"]
