"""Copies of a pytree on several devices, for ``jax.pmap`` over whole models."""

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def replicate(tree: Any, devices: Sequence[Any] | None = None) -> Any:
    """Stack one copy of every leaf per device (leading axis), placed on ``devices``
    (default: all local devices), ready to be passed to ``jax.pmap``.

    >>> import jax, pax
    >>> net = pax.utils.replicate(pax.Linear(2, 2))
    >>> net.weight.shape[0] == jax.local_device_count()
    True
    """
    devices = list(devices) if devices is not None else jax.local_devices()
    if not devices:
        raise ValueError("replicate needs at least one device.")
    mesh = jax.sharding.Mesh(np.array(devices), ("devices",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("devices"))
    n = len(devices)

    def put(x):
        x = jnp.asarray(x)
        return jax.device_put(jnp.broadcast_to(x[None], (n, *x.shape)), sharding)

    return jax.tree_util.tree_map(put, tree)


def unreplicate(tree: Any) -> Any:
    """The first copy of every leaf of a replicated pytree.

    >>> import jax, pax
    >>> net = pax.Linear(2, 3)
    >>> copies = pax.utils.replicate(net)  # one copy per local device
    >>> pax.utils.unreplicate(copies).weight.shape
    (2, 3)
    """
    return jax.tree_util.tree_map(lambda x: x[0], tree)
