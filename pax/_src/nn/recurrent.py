"""Recurrent cells: ``VanillaRNN``, ``LSTM`` and ``GRU``.

A cell is called as ``cell(state, x) -> (new_state, output)`` on one time step;
``pax.scan(cell, cell.initial_state(N), xs, time_major=False)`` runs it over a
sequence. Constructors, attribute names and the fused weight layouts are PAX 0.5's.

The cells also follow the decoding protocol of the other autoregressive layers:
:func:`pax.nn.init_cache` keeps a zero state in the cell (``cache``) and
``update_site(x_t)`` steps it, returning the output, so a model mixing recurrent
cells, causal attention and masked convolutions decodes with one ``update_site``.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import DTypeLike

from ..core.mixed_precision import mixed_precision_method
from ..core.rng import next_rng_key
from .decoding import MSG_NO_CACHE, Autoregressive, CacheRequest, stacked_axes
from .initializers import Initializer
from .linear import Linear
from .param_dtype import check_param_dtype, with_param_dtype
from .validation import positive_ints


class LSTMState(NamedTuple):
    """The state of an LSTM: hidden and cell, each ``(batch, hidden_dim)``.

    >>> import jax.numpy as jnp, pax
    >>> lstm = pax.LSTM(3, 4)
    >>> state = lstm.initial_state(2)
    >>> state.hidden.shape, state.cell.shape
    ((2, 4), (2, 4))
    """

    hidden: jax.Array
    cell: jax.Array


class GRUState(NamedTuple):
    """The state of a GRU: hidden, ``(batch, hidden_dim)``.

    >>> import pax
    >>> pax.GRU(3, 4).initial_state(2).hidden.shape
    (2, 4)
    """

    hidden: jax.Array


class VanillaRNNState(NamedTuple):
    """The state of a VanillaRNN: hidden, ``(batch, hidden_dim)``.

    >>> import pax
    >>> pax.VanillaRNN(3, 4).initial_state(2).hidden.shape
    (2, 4)
    """

    hidden: jax.Array


class RNN(Autoregressive):
    """The base class of the recurrent cells: ``input_dim``, ``hidden_dim``,
    ``initial_state(batch_size)`` and the decoding step ``update_site(x)``."""

    input_dim: int
    hidden_dim: int
    param_dtype: np.dtype
    cache: tuple[Any, ...] | None  # the state NamedTuple
    """The state ``update_site`` steps (set by :func:`pax.nn.init_cache`), else ``None``."""
    _input_linear: str = "fc"  # the name of a Linear the input goes through

    def _init_sizes(
        self, input_dim: object, hidden_dim: object, param_dtype: DTypeLike
    ) -> tuple[int, int]:
        """Check and set ``input_dim``, ``hidden_dim`` and ``param_dtype``."""
        layer = type(self).__name__
        input_dim, hidden_dim = positive_ints(layer, input_dim=input_dim, hidden_dim=hidden_dim)
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.param_dtype = check_param_dtype(layer, param_dtype)
        self.cache = None
        return input_dim, hidden_dim

    def initial_state(self, batch_size: int) -> NamedTuple:
        """The all-zero state for ``batch_size`` sequences."""
        raise NotImplementedError(f"{type(self).__name__} does not define `initial_state`.")

    def _with_cache(self, request: CacheRequest) -> "RNN":
        zeros: Any = self.initial_state(1)
        weight = getattr(self, self._input_linear).weight
        stacked = stacked_axes(weight, 2)  # the blocks of a pax.Stack, if any
        dtype = jnp.promote_types(request.dtype, zeros[0].dtype)
        state = type(zeros)(
            *(jnp.zeros((*stacked, *request.batch, self.hidden_dim), dtype) for _ in zeros)
        )
        return self.replace(cache=state)

    @mixed_precision_method
    def update_site(self, x: jax.Array) -> jax.Array:
        """One step from the cached state: ``state, y = cell(state, x)`` keeps ``state``
        in ``cache`` and returns ``y``. Call it through
        ``pax.module_and_value(cell.update_site)(x)``, after :func:`pax.nn.init_cache`.

        Args:
          x: ``(N, input_dim)`` (``(input_dim,)`` for a cache made with
            ``batch_size=None``).

        Returns:
          The output ``(N, hidden_dim)``.

        >>> import jax, jax.numpy as jnp, pax
        >>> lstm = pax.LSTM(3, 8, rng_key=jax.random.PRNGKey(0))
        >>> xs = jnp.ones((2, 5, 3))  # (N, T, input_dim)
        >>> step = lambda m, x: pax.module_and_value(m.update_site)(x)
        >>> _, ys = pax.scan(step, pax.nn.init_cache(lstm, 2), xs, time_major=False)
        >>> _, expected = pax.scan(lstm, lstm.initial_state(2), xs, time_major=False)
        >>> bool(jnp.allclose(ys, expected))
        True
        """
        if self.cache is None:
            raise ValueError(MSG_NO_CACHE.format(layer=type(self).__name__))
        state, y = self(self.cache, x)  # type: ignore[operator]
        self.cache = state
        return y

    def _check_step(self, state_cls: type, state: NamedTuple, x: jax.Array) -> None:
        """Raise unless ``state`` is a ``state_cls`` whose fields match the input ``x``."""
        layer = type(self).__name__
        x_shape = jnp.shape(x)
        if not x_shape or x_shape[-1] != self.input_dim:
            raise ValueError(
                f"{layer} expects inputs with last dimension {self.input_dim}, got {x_shape}."
            )
        if not isinstance(state, state_cls):
            article = "an" if state_cls is LSTMState else "a"
            raise TypeError(
                f"{layer} expects {article} {state_cls.__name__} as its first argument, got "
                f"{type(state).__name__}. Start from `cell.initial_state(batch_size)`; "
                f"the cell is called as `cell(state, x)`."
            )
        expected = (*x_shape[:-1], self.hidden_dim)
        shapes = {name: jnp.shape(value) for name, value in zip(state._fields, state)}
        if any(shape != expected for shape in shapes.values()):
            got = " and ".join(f"{name} {shape}" for name, shape in shapes.items())
            raise ValueError(
                f"{layer} expects a state of shape {expected} for inputs of shape {x_shape}, "
                f"got {got}. Use `cell.initial_state(batch_size)`."
            )

    def _zeros(self, batch_size: int) -> jax.Array:
        # the dtype of the outputs for float32 inputs, so that a scan's carry keeps its
        # dtype: float32 for float32 and half-precision weights, complex64 for complex64
        dtype = jnp.promote_types(self.param_dtype, jnp.float32)
        return jnp.zeros((batch_size, self.hidden_dim), dtype)

    def __repr__(self) -> str:
        info = {"input_dim": self.input_dim, "hidden_dim": self.hidden_dim}
        return self._repr(with_param_dtype(info, self.param_dtype))


class VanillaRNN(RNN):
    """A basic recurrent cell: ``h' = tanh(fc([x, h]))``; the output is ``h'``.

    ``fc`` maps ``input_dim + hidden_dim`` to ``hidden_dim``: its first
    ``input_dim`` weight rows act on ``x``, the rest on ``h``. This is PAX's cell;
    haiku's ``VanillaRNN`` uses ``relu`` instead of ``tanh``.

    Args:
        input_dim: the size ``D`` of the last axis of ``x``.
        hidden_dim: the size ``H`` of the hidden state.
        rng_key: the key of the weight initialization (default ``pax.next_rng_key()``).
        name: the module name.
        param_dtype: the dtype of the weights (default float32); the initial state
            has the dtype ``promote_types(param_dtype, float32)``.

    Called as ``cell(state, x)`` with ``x`` of shape ``(N, D)`` and a
    ``VanillaRNNState`` of shape ``(N, H)``; returns ``(new_state, h')``.

    >>> import jax, jax.numpy as jnp
    >>> rnn = VanillaRNN(3, 8, rng_key=jax.random.PRNGKey(0))
    >>> state = rnn.initial_state(batch_size=2)
    >>> state, h = rnn(state, jnp.ones((2, 3)))
    >>> h.shape, rnn.fc.weight.shape
    ((2, 8), (11, 8))
    """

    fc: Linear

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        input_dim, hidden_dim = self._init_sizes(input_dim, hidden_dim, param_dtype)
        rng_key = next_rng_key() if rng_key is None else rng_key
        self.fc = Linear(
            input_dim + hidden_dim,
            hidden_dim,
            rng_key=rng_key,
            name="vanilla_rnn_fc",
            param_dtype=param_dtype,
        )

    def __call__(self, state: VanillaRNNState, x: jax.Array) -> tuple[VanillaRNNState, jax.Array]:
        self._check_step(VanillaRNNState, state, x)
        hidden = jnp.tanh(self.fc(jnp.concatenate([x, state.hidden], axis=-1)))
        return VanillaRNNState(hidden), hidden

    def initial_state(self, batch_size: int) -> VanillaRNNState:
        """A zero hidden state of shape ``(batch_size, hidden_dim)``."""
        return VanillaRNNState(self._zeros(batch_size))


class LSTM(RNN):
    """A long short-term memory cell (the gates of haiku's ``LSTM``).

    ``i, g, f, o = split(fc([x, h]), 4)`` (in this order along the last axis);
    ``c' = sigmoid(f + forget_gate_bias) * c + sigmoid(i) * tanh(g)`` and
    ``h' = sigmoid(o) * tanh(c')``; the output is ``h'``. ``fc`` maps
    ``input_dim + hidden_dim`` to ``4 * hidden_dim``, its first ``input_dim``
    weight rows acting on ``x``. haiku's ``LSTM`` uses ``forget_gate_bias=1.0``;
    PAX's default is ``0.0``.

    Args:
        input_dim: the size ``D`` of the last axis of ``x``.
        hidden_dim: the number ``H`` of LSTM cells.
        w_init: the initializer of ``fc.weight`` (default: truncated normal with
            standard deviation ``1 / sqrt(input_dim + hidden_dim)``).
        forget_gate_bias: added to the forget gate before the sigmoid.
        rng_key: the key of the weight initialization (default ``pax.next_rng_key()``).
        name: the module name.
        param_dtype: the dtype of the weights (default float32); the initial state
            has the dtype ``promote_types(param_dtype, float32)``.

    Called as ``cell(state, x)`` with ``x`` of shape ``(N, D)`` and an
    ``LSTMState`` of two ``(N, H)`` arrays; returns ``(new_state, h')``.

    >>> import jax, jax.numpy as jnp
    >>> lstm = LSTM(3, 8, rng_key=jax.random.PRNGKey(0))
    >>> state = lstm.initial_state(batch_size=2)
    >>> state, h = lstm(state, jnp.ones((2, 3)))
    >>> h.shape, lstm.fc.weight.shape
    ((2, 8), (11, 32))
    """

    fc: Linear

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        w_init: Initializer | None = None,
        forget_gate_bias: float = 0.0,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        input_dim, hidden_dim = self._init_sizes(input_dim, hidden_dim, param_dtype)
        self.forget_gate_bias = forget_gate_bias
        rng_key = next_rng_key() if rng_key is None else rng_key
        self.fc = Linear(
            input_dim + hidden_dim,
            4 * hidden_dim,
            w_init=w_init,
            rng_key=rng_key,
            name="lstm_fc",
            param_dtype=param_dtype,
        )

    def __call__(self, state: LSTMState, x: jax.Array) -> tuple[LSTMState, jax.Array]:
        self._check_step(LSTMState, state, x)
        gates = self.fc(jnp.concatenate([x, state.hidden], axis=-1))
        i, g, f, o = jnp.split(gates, 4, axis=-1)
        f = jax.nn.sigmoid(f + self.forget_gate_bias)
        cell = f * state.cell + jax.nn.sigmoid(i) * jnp.tanh(g)
        hidden = jax.nn.sigmoid(o) * jnp.tanh(cell)
        return LSTMState(hidden, cell), hidden

    def initial_state(self, batch_size: int) -> LSTMState:
        """Zero hidden and cell states of shape ``(batch_size, hidden_dim)``."""
        return LSTMState(self._zeros(batch_size), self._zeros(batch_size))


class GRU(RNN):
    """A gated recurrent unit, the "fully gated" variant (the gates of haiku's ``GRU``).

    ``z, r = split(sigmoid(xh_zr_fc([x, h])), 2)`` (update gate first), then
    ``a = tanh(xh_h_fc([x, r * h]))`` (the reset gate scales ``h`` before the
    matmul) and ``h' = (1 - z) * h + z * a``; the output is ``h'``. Both linear
    layers act on ``input_dim + hidden_dim`` features, the first ``input_dim``
    weight rows on ``x``.

    Args:
        input_dim: the size ``D`` of the last axis of ``x``.
        hidden_dim: the number ``H`` of GRU cells.
        rng_key: the key of the weight initialization (default ``pax.next_rng_key()``).
        name: the module name.
        param_dtype: the dtype of the weights (default float32); the initial state
            has the dtype ``promote_types(param_dtype, float32)``.

    Called as ``cell(state, x)`` with ``x`` of shape ``(N, D)`` and a
    ``GRUState`` of shape ``(N, H)``; returns ``(new_state, h')``.

    >>> import jax, jax.numpy as jnp
    >>> gru = GRU(3, 8, rng_key=jax.random.PRNGKey(0))
    >>> state = gru.initial_state(batch_size=2)
    >>> state, h = gru(state, jnp.ones((2, 3)))
    >>> h.shape, gru.xh_zr_fc.weight.shape, gru.xh_h_fc.weight.shape
    ((2, 8), (11, 16), (11, 8))
    """

    xh_zr_fc: Linear
    xh_h_fc: Linear
    _input_linear = "xh_zr_fc"

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
        param_dtype: DTypeLike = jnp.float32,
    ):
        super().__init__(name=name)
        input_dim, hidden_dim = self._init_sizes(input_dim, hidden_dim, param_dtype)
        rng_key = next_rng_key() if rng_key is None else rng_key
        zr_key, h_key = jax.random.split(rng_key)
        xh_dim = input_dim + hidden_dim
        self.xh_zr_fc = Linear(
            xh_dim, 2 * hidden_dim, rng_key=zr_key, name="xh_to_zr", param_dtype=param_dtype
        )
        self.xh_h_fc = Linear(
            xh_dim, hidden_dim, rng_key=h_key, name="xh_to_h", param_dtype=param_dtype
        )

    def __call__(self, state: GRUState, x: jax.Array) -> tuple[GRUState, jax.Array]:
        self._check_step(GRUState, state, x)
        h = state.hidden
        zr = jax.nn.sigmoid(self.xh_zr_fc(jnp.concatenate([x, h], axis=-1)))
        z, r = jnp.split(zr, 2, axis=-1)
        a = jnp.tanh(self.xh_h_fc(jnp.concatenate([x, r * h], axis=-1)))
        hidden = (1 - z) * h + z * a
        return GRUState(hidden), hidden

    def initial_state(self, batch_size: int) -> GRUState:
        """A zero hidden state of shape ``(batch_size, hidden_dim)``."""
        return GRUState(self._zeros(batch_size))
