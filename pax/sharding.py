"""Module-shaped ``jax.sharding.NamedSharding`` trees for ``jax.jit``, and sharded init.

>>> import jax, pax
>>> mesh = jax.make_mesh((jax.device_count(),), ("data",))
>>> net = pax.Linear(4, 2, rng_key=jax.random.PRNGKey(0))
>>> shardings = pax.sharding.replicated(net, mesh)
>>> type(shardings).__name__, shardings.weight.spec == jax.sharding.PartitionSpec()
('Linear', True)
"""

from pax._src.sharding import by_rules as by_rules
from pax._src.sharding import init_sharded as init_sharded
from pax._src.sharding import replicated as replicated
from pax._src.sharding import shard as shard
from pax._src.sharding import with_shardings as with_shardings

__all__ = ["by_rules", "init_sharded", "replicated", "shard", "with_shardings"]
