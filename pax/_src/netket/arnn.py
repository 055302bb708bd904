"""Autoregressive networks for NetKet: the :class:`ARNN` base class and its presets.

A subclass writes the conditional log-amplitudes, ``log_conditionals(sigma)``
(``(batch, N, local_size)``, unnormalised; entry ``[:, i]`` may depend only on
``sigma[:, :i]``). :class:`ARNN` supplies NetKet's autoregressive protocol on top:
normalised ``conditionals_log_psi``, the probabilities ``conditionals``, the one-site
``conditional`` that ``nk.sampler.ARDirectSampler`` calls site after site (cached when
the subclass writes ``log_conditional_site``), ``reorder`` and a normalised
``__call__`` (log psi). The presets :class:`ARNNDense`, :class:`ARNNConv1D` and
:class:`ARNNConv2D` take NetKet's arguments and are built on ``pax.nn.Masked*``, whose
cache (``init_cache``/``update_site``) is jittable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from netket.hilbert import HomogeneousHilbert
from netket.nn.activation import reim_selu

from ..core.module import Module
from ..core.rng import next_rng_key
from ..nn.initializers import Initializer, zeros
from ..nn.masked import (
    MaskedConv1D,
    MaskedConv2D,
    MaskedDense1D,
    default_kernel_init,
    init_cache,
)


def normalize_log_psi(log_psi: jax.Array, machine_pow: int) -> jax.Array:
    """``log_psi`` shifted so that ``sum_k |psi_k|^machine_pow = 1`` over the last axis."""
    norm = jax.scipy.special.logsumexp(machine_pow * log_psi.real, axis=-1, keepdims=True)
    return log_psi - norm / machine_pow


class ARNN(Module):
    """Base class of autoregressive wave functions for NetKet.

    Subclasses write :meth:`log_conditionals`; for fast direct sampling also
    :meth:`init_cache` and :meth:`log_conditional_site`.

    Args:
      hilbert: an unconstrained homogeneous NetKet Hilbert space; its
        ``local_states`` give the order of the last axis of the conditionals.
      machine_pow: the exponent of the normalisation, ``sum |psi|^machine_pow = 1``.

    >>> import jax, jax.numpy as jnp, netket as nk, pax.netket
    >>> class Product(pax.netket.ARNN):  # independent sites: psi(s) = prod_i psi_i(s_i)
    ...     def __init__(self, hilbert):
    ...         super().__init__(hilbert)
    ...         self.logits = jnp.zeros((hilbert.size, hilbert.local_size))
    ...     parameters = pax.parameters_method("logits")
    ...     def log_conditionals(self, sigma):
    ...         return jnp.broadcast_to(self.logits, (*sigma.shape, self.logits.shape[-1]))
    >>> model = Product(nk.hilbert.Spin(0.5, 3))
    >>> round(float(jnp.exp(2 * model(jnp.ones((1, 3))).real)[0]), 6)  # uniform: 1/8
    0.125
    """

    def __init__(self, hilbert: Any, machine_pow: int = 2, *, name: str | None = None):
        super().__init__(name=name)
        if not isinstance(hilbert, HomogeneousHilbert) or hilbert.constrained:
            raise ValueError(
                f"{type(self).__name__} needs an unconstrained homogeneous Hilbert space "
                f"(such as nk.hilbert.Spin(0.5, N)), got {hilbert!r}."
            )
        if isinstance(machine_pow, bool) or not isinstance(machine_pow, int) or machine_pow < 1:
            raise ValueError(f"machine_pow must be a positive int, got {machine_pow!r}.")
        self.hilbert = hilbert
        self.machine_pow = machine_pow
        self.local_states = tuple(float(s) for s in hilbert.local_states)

    # -- written by subclasses ---------------------------------------------------------
    def log_conditionals(self, sigma: jax.Array) -> jax.Array:
        """Unnormalised conditional log-amplitudes, ``(batch, N, local_size)``, of
        configurations ``sigma`` ``(batch, N)``; ``[:, i]`` depends on ``sigma[:, :i]``."""
        raise NotImplementedError(
            f"{type(self).__name__} must define log_conditionals(sigma), the conditional "
            f"log-amplitudes (batch, N, local_size)."
        )

    def init_cache(self, batch_size: int | None) -> ARNN:
        """A copy ready for :meth:`log_conditional_site` at site 0 (default: pax's
        :func:`pax.nn.init_cache` of every masked layer; no cache without them)."""
        return init_cache(self, batch_size)

    def log_conditional_site(self, sigma: jax.Array, index: jax.Array) -> jax.Array:
        """Unnormalised log-amplitudes ``(batch, local_size)`` of site ``index``, called
        for ``index = 0, 1, ...`` in turn; may advance a cache (runs inside ``pax.pure``).
        Default: ``log_conditionals(sigma)[:, index]`` (correct, but not incremental)."""
        return jnp.take(self.log_conditionals(sigma), index, axis=1)

    # -- NetKet's autoregressive protocol ----------------------------------------------
    def conditionals_log_psi(self, sigma: jax.Array) -> jax.Array:
        """Normalised conditional log-amplitudes, ``(batch, N, local_size)``."""
        return normalize_log_psi(self.log_conditionals(_batched(sigma)), self.machine_pow)

    def conditionals(self, sigma: jax.Array) -> jax.Array:
        """Conditional probabilities ``|psi_i|^machine_pow``, ``(batch, N, local_size)``."""
        return jnp.exp(self.machine_pow * self.conditionals_log_psi(sigma).real)

    def conditional(self, sigma: jax.Array, index: jax.Array) -> jax.Array:
        """Probabilities ``(batch, local_size)`` of site ``index`` given the sites sampled
        before it (NetKet's ARDirectSampler calls it for ``index = 0, 1, ...``)."""
        log_psi = normalize_log_psi(self.log_conditional_site(sigma, index), self.machine_pow)
        return jnp.exp(self.machine_pow * log_psi.real)

    def reorder(self, inputs: jax.Array, axis: int = 0) -> jax.Array:
        """The autoregressive order of the sites (the identity)."""
        return inputs

    def inverse_reorder(self, inputs: jax.Array, axis: int = 0) -> jax.Array:
        """The inverse of :meth:`reorder` (the identity)."""
        return inputs

    def local_indices(self, sigma: jax.Array) -> jax.Array:
        """The index of each entry of ``sigma`` in ``hilbert.local_states``."""
        states = jnp.asarray(self.local_states, dtype=jnp.result_type(sigma))
        return jnp.argmin(jnp.abs(sigma[..., None] - states), axis=-1)

    def __call__(self, sigma: jax.Array) -> jax.Array:
        """log psi of configurations ``(batch, N)`` (or one ``(N,)``), ``(batch,)``."""
        sigma = _batched(sigma)
        log_psi = self.conditionals_log_psi(sigma)
        idx = self.local_indices(sigma)[..., None]
        return jnp.take_along_axis(log_psi, idx, axis=-1).reshape(sigma.shape[0], -1).sum(-1)


def _batched(sigma: jax.Array) -> jax.Array:
    sigma = jnp.asarray(sigma)
    return sigma[None] if sigma.ndim == 1 else sigma


def _feature_list(features: int | Sequence[int], layers: int, local_size: int) -> list[int]:
    if isinstance(features, int):
        feats = [features] * (layers - 1) + [local_size]
    else:
        feats = [int(f) for f in features]
    if len(feats) != layers:
        raise ValueError(f"features has {len(feats)} entries for {layers} layers.")
    if feats[-1] != local_size:
        raise ValueError(
            f"the last layer must have hilbert.local_size = {local_size} features, got {feats[-1]}."
        )
    return feats


class ARNNSequential(ARNN):
    """An :class:`ARNN` made of masked layers applied in turn, with ``activation``
    between them; the first layer is exclusive. Subclasses build ``self.layers``."""

    layers: list[Any]

    def __init__(
        self,
        hilbert: Any,
        activation: Callable[[jax.Array], jax.Array],
        param_dtype: Any,
        machine_pow: int,
        name: str | None,
    ):
        super().__init__(hilbert, machine_pow, name=name)
        self.activation = activation
        self.param_dtype = jnp.dtype(param_dtype)

    def reshape_inputs(self, sigma: jax.Array) -> jax.Array:
        """``(batch, N)`` to the layers' input, with one feature."""
        return sigma[..., None]

    def log_conditionals(self, sigma: jax.Array) -> jax.Array:
        x = self.reshape_inputs(sigma)
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.activation(x)
            x = layer(x)
        return x.reshape(x.shape[0], -1, x.shape[-1])

    def _cache_width(self) -> int | None:
        return None

    def init_cache(self, batch_size: int | None) -> ARNNSequential:
        dtype = jnp.promote_types(self.param_dtype, jnp.result_type(float))
        return init_cache(self, batch_size, width=self._cache_width(), dtype=dtype)

    def log_conditional_site(self, sigma: jax.Array, index: jax.Array) -> jax.Array:
        # the first (exclusive) layer takes the previous site, ignored at site 0
        previous = jnp.maximum(index - 1, 0)
        x = jax.lax.dynamic_index_in_dim(sigma, previous, axis=1, keepdims=True)
        for i, layer in enumerate(self.layers):
            if i > 0:
                x = self.activation(x)
            x = layer.update_site(x)
        return x


def _keys(rng_key: jax.Array | None, n: int) -> jax.Array:
    return jax.random.split(next_rng_key() if rng_key is None else rng_key, n)


class ARNNDense(ARNNSequential):
    """NetKet's ``ARNNDense`` on :class:`pax.nn.MaskedDense1D` layers.

    >>> import jax, jax.numpy as jnp, netket as nk, pax.netket
    >>> hi = nk.hilbert.Spin(0.5, 4)
    >>> model = pax.netket.ARNNDense(hi, layers=2, features=3, rng_key=jax.random.PRNGKey(0))
    >>> p = jnp.exp(2 * model(hi.all_states()).real)
    >>> round(float(p.sum()), 6)
    1.0
    """

    def __init__(
        self,
        hilbert: Any,
        layers: int,
        features: int | Sequence[int],
        activation: Callable[[jax.Array], jax.Array] = reim_selu,
        use_bias: bool = True,
        param_dtype: Any = jnp.float64,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = zeros,
        machine_pow: int = 2,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
    ):
        super().__init__(hilbert, activation, param_dtype, machine_pow, name)
        feats = _feature_list(features, layers, hilbert.local_size)
        ins = [1, *feats[:-1]]
        self.layers = [
            MaskedDense1D(
                feats[i],
                exclusive=(i == 0),
                use_bias=use_bias,
                precision=precision,
                kernel_init=kernel_init,
                bias_init=bias_init,
                param_dtype=self.param_dtype,
                size=hilbert.size,
                in_features=ins[i],
                rng_key=key,
            )
            for i, key in enumerate(_keys(rng_key, layers))
        ]


class ARNNConv1D(ARNNSequential):
    """NetKet's ``ARNNConv1D`` on :class:`pax.nn.MaskedConv1D` layers.

    >>> import jax, jax.numpy as jnp, netket as nk, pax.netket
    >>> hi = nk.hilbert.Spin(0.5, 4)
    >>> model = pax.netket.ARNNConv1D(
    ...     hi, layers=2, features=3, kernel_size=2, rng_key=jax.random.PRNGKey(0)
    ... )
    >>> p = jnp.exp(2 * model(hi.all_states()).real)
    >>> round(float(p.sum()), 6)
    1.0
    """

    def __init__(
        self,
        hilbert: Any,
        layers: int,
        features: int | Sequence[int],
        kernel_size: int,
        kernel_dilation: int = 1,
        activation: Callable[[jax.Array], jax.Array] = reim_selu,
        use_bias: bool = True,
        param_dtype: Any = jnp.float64,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = zeros,
        machine_pow: int = 2,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
    ):
        super().__init__(hilbert, activation, param_dtype, machine_pow, name)
        feats = _feature_list(features, layers, hilbert.local_size)
        ins = [1, *feats[:-1]]
        self.layers = [
            MaskedConv1D(
                feats[i],
                kernel_size,
                kernel_dilation,
                exclusive=(i == 0),
                use_bias=use_bias,
                precision=precision,
                kernel_init=kernel_init,
                bias_init=bias_init,
                param_dtype=self.param_dtype,
                in_features=ins[i],
                rng_key=key,
            )
            for i, key in enumerate(_keys(rng_key, layers))
        ]


class ARNNConv2D(ARNNSequential):
    """NetKet's ``ARNNConv2D`` on :class:`pax.nn.MaskedConv2D` layers (a square
    lattice of ``L * L`` sites in raster order).

    >>> import jax, jax.numpy as jnp, netket as nk, pax.netket
    >>> hi = nk.hilbert.Spin(0.5, 4)
    >>> model = pax.netket.ARNNConv2D(
    ...     hi, layers=2, features=3, kernel_size=(2, 3), rng_key=jax.random.PRNGKey(0)
    ... )
    >>> p = jnp.exp(2 * model(hi.all_states()).real)
    >>> round(float(p.sum()), 6)
    1.0
    """

    def __init__(
        self,
        hilbert: Any,
        layers: int,
        features: int | Sequence[int],
        kernel_size: tuple[int, int],
        kernel_dilation: tuple[int, int] = (1, 1),
        activation: Callable[[jax.Array], jax.Array] = reim_selu,
        use_bias: bool = True,
        param_dtype: Any = jnp.float64,
        precision: Any = None,
        kernel_init: Initializer = default_kernel_init,
        bias_init: Initializer = zeros,
        machine_pow: int = 2,
        *,
        rng_key: jax.Array | None = None,
        name: str | None = None,
    ):
        super().__init__(hilbert, activation, param_dtype, machine_pow, name)
        side = math.isqrt(hilbert.size)
        if side * side != hilbert.size:
            raise ValueError(
                f"ARNNConv2D needs a square lattice: hilbert.size = {hilbert.size} is not "
                f"a perfect square."
            )
        self.side = side
        feats = _feature_list(features, layers, hilbert.local_size)
        ins = [1, *feats[:-1]]
        self.layers = [
            MaskedConv2D(
                feats[i],
                kernel_size,
                kernel_dilation,
                exclusive=(i == 0),
                use_bias=use_bias,
                precision=precision,
                kernel_init=kernel_init,
                bias_init=bias_init,
                param_dtype=self.param_dtype,
                in_features=ins[i],
                rng_key=key,
            )
            for i, key in enumerate(_keys(rng_key, layers))
        ]

    def reshape_inputs(self, sigma: jax.Array) -> jax.Array:
        return sigma.reshape(sigma.shape[0], self.side, self.side, 1)

    def _cache_width(self) -> int | None:
        return self.side
