"""Recurrent cells. A cell is called as ``cell(state, x) -> (new_state, output)``."""

from typing import NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp

from ..core.module import Module
from ..core.rng import next_rng_key
from .initializers import Initializer
from .linear import Linear
from .validation import check_positive_ints


class LSTMState(NamedTuple):
    """The state of an LSTM: hidden and cell, each ``(batch, hidden_dim)``."""

    hidden: jax.Array
    cell: jax.Array


class LSTM(Module):
    """A long short-term memory cell (the gates of haiku's ``LSTM``).

    ``gates = fc([x, hidden])`` split into input, candidate, forget and output;
    the forget gate gets ``forget_gate_bias`` (haiku uses 1.0).

    >>> import jax, jax.numpy as jnp, pax
    >>> lstm = pax.LSTM(3, 8, rng_key=jax.random.PRNGKey(0))
    >>> state = lstm.initial_state(batch_size=2)
    >>> state, h = lstm(state, jnp.ones((2, 3)))
    >>> h.shape
    (2, 8)
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        w_init: Optional[Initializer] = None,
        forget_gate_bias: float = 0.0,
        *,
        rng_key: Optional[jax.Array] = None,
        name: Optional[str] = None,
    ):
        super().__init__(name=name)
        check_positive_ints("LSTM", input_dim=input_dim, hidden_dim=hidden_dim)
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.forget_gate_bias = forget_gate_bias
        rng_key = next_rng_key() if rng_key is None else rng_key
        self.fc = Linear(input_dim + hidden_dim, 4 * hidden_dim, w_init=w_init, rng_key=rng_key)

    def __call__(self, state: LSTMState, x: jax.Array) -> Tuple[LSTMState, jax.Array]:
        x_shape = jnp.shape(x)
        if not x_shape or x_shape[-1] != self.input_dim:
            raise ValueError(
                f"LSTM expects inputs with last dimension {self.input_dim}, got {x_shape}."
            )
        if not isinstance(state, LSTMState):
            raise TypeError(
                f"LSTM expects an LSTMState as its first argument, got "
                f"{type(state).__name__}. Start from `lstm.initial_state(batch_size)`."
            )
        expected = (*x_shape[:-1], self.hidden_dim)
        if jnp.shape(state.hidden) != expected or jnp.shape(state.cell) != expected:
            raise ValueError(
                f"LSTM expects a state of shape {expected} for inputs of shape {x_shape}, "
                f"got hidden {jnp.shape(state.hidden)} and cell {jnp.shape(state.cell)}. "
                f"Use `lstm.initial_state(batch_size)`."
            )
        gates = self.fc(jnp.concatenate([x, state.hidden], axis=-1))
        i, g, f, o = jnp.split(gates, 4, axis=-1)
        f = jax.nn.sigmoid(f + self.forget_gate_bias)
        cell = f * state.cell + jax.nn.sigmoid(i) * jnp.tanh(g)
        hidden = jax.nn.sigmoid(o) * jnp.tanh(cell)
        return LSTMState(hidden, cell), hidden

    def initial_state(self, batch_size: int) -> LSTMState:
        """Zero hidden and cell states for ``batch_size`` sequences."""
        shape = (batch_size, self.hidden_dim)
        return LSTMState(jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.float32))

    def __repr__(self) -> str:
        return self._repr({"input_dim": self.input_dim, "hidden_dim": self.hidden_dim})
