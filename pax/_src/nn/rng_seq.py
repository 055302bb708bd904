"""``RngSeq``: a module that hands out a sequence of random keys."""

from typing import List, Optional, Union

import jax

from ..core.parameters import StateModule
from ..core.rng import next_rng_key as _global_next_rng_key


class RngSeq(StateModule):
    """An endless sequence of random keys; its key is non-trainable state.

    ``next_rng_key`` mutates the module, so call it inside ``pax.pure``.

    >>> import pax
    >>> seq = pax.RngSeq(seed=0)
    >>> seq, key = pax.module_and_value(seq.next_rng_key)()
    >>> key.shape
    (2,)
    """

    def __init__(
        self,
        seed: Optional[int] = None,
        rng_key: Optional[jax.Array] = None,
        *,
        name: Optional[str] = None,
    ):
        super().__init__(name=name)
        if rng_key is not None:
            self._rng_key = rng_key
        elif seed is not None:
            self._rng_key = jax.random.PRNGKey(seed)
        else:
            self._rng_key = _global_next_rng_key()

    def next_rng_key(self, num_keys: int = 1) -> Union[jax.Array, List[jax.Array]]:
        """The next key (or a list of ``num_keys`` keys); advances the sequence."""
        if not isinstance(num_keys, int) or num_keys < 1:
            raise ValueError(f"num_keys must be a positive int, got {num_keys!r}.")
        self._rng_key, *keys = jax.random.split(self._rng_key, num_keys + 1)
        return keys[0] if num_keys == 1 else keys
