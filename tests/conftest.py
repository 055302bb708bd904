"""Test configuration: 8 host CPU devices for multi-device tests.

XLA_FLAGS must be set before jax is imported anywhere, so this file sets it at
import time (pytest imports conftest.py before any test module).
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402

import pax  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_pax_rng():
    """Every test starts from the same thread-local key sequence."""
    pax.seed_rng_key(42)
    yield


def pytest_report_header(config):
    return f"jax {jax.__version__}, devices: {jax.device_count()} x {jax.devices()[0].platform}"
