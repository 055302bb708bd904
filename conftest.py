"""Repository-level pytest configuration: ``pax.netket`` needs netket (an optional
extra), so its modules are left out of ``--doctest-modules pax`` where it is absent."""

import importlib.util

collect_ignore_glob = []
if importlib.util.find_spec("netket") is None:
    collect_ignore_glob += ["pax/netket/*", "pax/_src/netket/*"]
