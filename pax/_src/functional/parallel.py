"""Cross-device reductions of ``pax.functional.parallel``.

Use them inside ``jax.pmap(..., axis_name='device')`` (or any transformation binding the
axis name, e.g. ``jax.vmap(..., axis_name='device')``). Every function works on pytrees.
"""

from typing import Any

from jax import lax


def pmax(x: Any, axis_name: str = "device") -> Any:
    """Maximum of ``x`` over the devices of the mapped axis ``axis_name``.

    >>> import jax, jax.numpy as jnp
    >>> from pax._src.functional.parallel import pmax
    >>> jax.vmap(pmax, axis_name="device")(jnp.array([1.0, 3.0, 2.0]))
    Array([3., 3., 3.], dtype=float32)
    """
    return lax.pmax(x, axis_name)


def pmean(x: Any, axis_name: str = "device") -> Any:
    """Mean of ``x`` over the devices of the mapped axis ``axis_name``.

    >>> import jax, jax.numpy as jnp
    >>> from pax._src.functional.parallel import pmean
    >>> jax.vmap(pmean, axis_name="device")(jnp.array([1.0, 3.0, 2.0]))
    Array([2., 2., 2.], dtype=float32)
    """
    return lax.pmean(x, axis_name)


def pmin(x: Any, axis_name: str = "device") -> Any:
    """Minimum of ``x`` over the devices of the mapped axis ``axis_name``.

    >>> import jax, jax.numpy as jnp
    >>> from pax._src.functional.parallel import pmin
    >>> jax.vmap(pmin, axis_name="device")(jnp.array([1.0, 3.0, 2.0]))
    Array([1., 1., 1.], dtype=float32)
    """
    return lax.pmin(x, axis_name)


def psum(x: Any, axis_name: str = "device") -> Any:
    """Sum of ``x`` over the devices of the mapped axis ``axis_name``.

    >>> import jax, jax.numpy as jnp
    >>> from pax._src.functional.parallel import psum
    >>> jax.vmap(psum, axis_name="device")(jnp.array([1.0, 3.0, 2.0]))
    Array([6., 6., 6.], dtype=float32)
    """
    return lax.psum(x, axis_name)
