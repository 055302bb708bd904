"""``import pax`` never imports netket (an optional extra); runs with or without it."""

import os
import subprocess
import sys

CODE = """
import sys
import pax
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("netket", "flax"))
sys.exit(f"import pax imported {loaded}" if loaded else 0)
"""


def test_import_pax_does_not_import_netket():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
