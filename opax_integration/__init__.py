"""Glue between the PyPI ``opax`` optimizer package and pax.

- :mod:`opax_integration.jax_compat` lets the unmodified opax 0.2.11 run on
  current JAX (it is installed automatically by ``import pax``).
"""
