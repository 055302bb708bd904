"""``pax.Parallel``: ``jax.pmap`` for functions and modules that use variables."""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .function import VarsWrapper, check_callable, resolve_vc
from .swapping import REGISTRY, changes_of, swapped, unique_storages, write_back
from .var_collection import VarCollection

MSG_NOT_REPLICATED = (
    "pax.Parallel needs the variables it uses replicated on the devices, but {name} "
    "is not. Call it inside a `replicate()` block of its variables:\n"
    "    with model.vars().replicate():\n"
    "        y = para_m(x)"
)


@functools.lru_cache(maxsize=None)
def _device_sharding(axis_name: str) -> jax.sharding.NamedSharding:
    mesh = jax.sharding.Mesh(np.array(jax.local_devices()), (axis_name,))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(axis_name))


class Parallel(VarsWrapper):
    """Run ``f`` on every local device in parallel (``jax.pmap``), splitting the
    leading (batch) axis of every argument between the devices.

    Call it inside ``with vc.replicate():``, which puts a copy of each variable on
    every device (and a different ``RandomState`` per device). Values ``f`` leaves in
    variables stay per device until the block ends, where each variable's ``reduce``
    combines them (the mean by default). The outputs of the devices are combined with
    ``reduce`` (by default concatenated back into one batch).

    >>> import jax, jax.numpy as jnp, pax
    >>> m = pax.Sequential(pax.Linear(2, 3), jax.nn.relu)
    >>> para_m = pax.Parallel(m)
    >>> x = jnp.ones((4 * jax.local_device_count(), 2))
    >>> with m.vars().replicate():
    ...     y = para_m(x)
    >>> y.shape == (x.shape[0], 3)
    True

    Inside ``f``, ``jax.lax.pmean(x, "device")`` and friends combine values over the
    devices (``axis_name``).

    Args:
      f: the function or module to run in parallel.
      vc: the variables ``f`` uses (default ``f.vars()``; required for a plain
        function).
      reduce: combines the per-device outputs (applied to every output array, which
        has a leading device axis).
      axis_name: the name of the device axis for collective operations.
      static_argnums: indices of positional arguments passed unchanged to every
        device and compiled in as constants.
    """

    def __init__(
        self,
        f: Callable[..., Any],
        vc: VarCollection | None = None,
        reduce: Callable[[jax.Array], jax.Array] = jnp.concatenate,
        axis_name: str = "device",
        static_argnums: Sequence[int] | None = None,
    ):
        check_callable("pax.Parallel", f)
        self.__wrapped__ = f
        self.vc = resolve_vc("pax.Parallel", f, vc)
        self.reduce = reduce
        self.axis_name = axis_name
        self.static_argnums = frozenset(static_argnums or ())
        self._pmapped = jax.pmap(
            self._run,
            axis_name=axis_name,
            static_broadcasted_argnums=tuple(sorted(i + 1 for i in self.static_argnums)),
        )

    def _run(self, tensors, *args):
        storages = unique_storages(list(self.vc))
        with swapped("pax.Parallel", storages, tensors):
            output = self.__wrapped__(*args)
            changes = changes_of(storages, tensors)
        return output, changes

    def _device_reshape(self, x: Any) -> jax.Array:
        n = jax.local_device_count()
        if not hasattr(x, "ndim"):
            x = jnp.asarray(x)
        if x.ndim == 0:
            return jnp.broadcast_to(x, (n,))
        if x.shape[0] % n:
            raise ValueError(
                f"pax.Parallel splits the leading axis of every argument between the "
                f"{n} devices, but got an array of shape {tuple(x.shape)}; use a batch "
                f"size divisible by {n}, or list the argument in `static_argnums`."
            )
        return x.reshape((n, x.shape[0] // n) + tuple(x.shape[1:]))

    def __call__(self, *args: Any) -> Any:
        """Run on all devices; returns the reduced outputs."""
        storages = unique_storages(list(self.vc))
        for s in storages:
            if id(s) not in REGISTRY.replicated:
                raise ValueError(MSG_NOT_REPLICATED.format(name=s._describe()))
        args = tuple(
            a if i in self.static_argnums else jax.tree_util.tree_map(self._device_reshape, a)
            for i, a in enumerate(args)
        )
        # the sharding pmap gives its outputs: inputs that already have it (every call
        # after the first) are not copied and do not cause a new compilation
        sharding = _device_sharding(self.axis_name)
        tensors = [jax.device_put(s._get(), sharding) for s in storages]
        output, changes = self._pmapped(tensors, *args)
        write_back(storages, changes)
        return jax.tree_util.tree_map(self.reduce, output)

    def __repr__(self) -> str:
        return f"Parallel({self.__wrapped__!r}, axis_name={self.axis_name!r})"
