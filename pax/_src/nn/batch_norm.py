"""Batch normalization."""

from typing import Optional

import jax
import jax.numpy as jnp

from ..core.module import Module
from ..core.parameters import parameters_method
from .validation import check_positive_ints


class BatchNorm(Module):
    """Batch normalization over every axis but the channel axis (the last one).

    In training mode it normalizes with the batch statistics and updates their
    exponential moving averages (state, not trainable; call it inside
    ``pax.pure``); in evaluation mode it uses the averages. The averages are
    zero-debiased exactly like haiku's ``BatchNorm``, so outputs match haiku.
    """

    parameters = parameters_method("scale", "offset")
    _pax_default_precision = "full"

    def __init__(
        self,
        num_channels: int,
        create_scale: bool = True,
        create_offset: bool = True,
        decay_rate: float = 0.9,
        eps: float = 1e-5,
        *,
        name: Optional[str] = None,
    ):
        super().__init__(name=name)
        check_positive_ints(type(self).__name__, num_channels=num_channels)
        if not 0.0 <= decay_rate < 1.0:
            raise ValueError(f"decay_rate must be in [0, 1), got {decay_rate!r}.")
        self.num_channels = num_channels
        self.create_scale = create_scale
        self.create_offset = create_offset
        self.decay_rate = decay_rate
        self.eps = eps
        self.scale = jnp.ones((num_channels,), jnp.float32) if create_scale else None
        self.offset = jnp.zeros((num_channels,), jnp.float32) if create_offset else None
        # haiku-style debiased moving averages: hidden values and an update counter
        self.ema_mean = jnp.zeros((num_channels,), jnp.float32)
        self.ema_var = jnp.zeros((num_channels,), jnp.float32)
        self.ema_count = jnp.zeros((), jnp.int32)

    def moving_statistics(self):
        """The debiased moving mean and variance (0 and 1 before any update)."""
        count = self.ema_count
        correction = 1.0 - jnp.power(jnp.float32(self.decay_rate), count)
        safe = jnp.where(count > 0, correction, 1.0)
        mean = jnp.where(count > 0, self.ema_mean / safe, 0.0)
        var = jnp.where(count > 0, self.ema_var / safe, 1.0)
        return mean, var

    def __call__(self, x: jax.Array) -> jax.Array:
        shape = jnp.shape(x)
        if not shape or shape[-1] != self.num_channels:
            raise ValueError(
                f"{type(self).__name__} expects {self.num_channels} channels on the last "
                f"axis, got input of shape {shape}."
            )
        axes = tuple(range(len(shape) - 1))
        if self.training:
            mean = jnp.mean(x, axis=axes)
            var = jnp.mean(jnp.square(x), axis=axes) - jnp.square(mean)
            d = jnp.float32(self.decay_rate)
            self.ema_mean = self.ema_mean * d + jax.lax.stop_gradient(mean) * (1 - d)
            self.ema_var = self.ema_var * d + jax.lax.stop_gradient(var) * (1 - d)
            self.ema_count = self.ema_count + 1
        else:
            mean, var = self.moving_statistics()
        inv = jax.lax.rsqrt(var + self.eps)
        if self.scale is not None:
            inv = inv * self.scale
        y = (x - mean) * inv
        if self.offset is not None:
            y = y + self.offset
        return y

    def __repr__(self) -> str:
        return self._repr(
            {
                "num_channels": self.num_channels,
                "create_scale": self.create_scale,
                "create_offset": self.create_offset,
                "decay_rate": self.decay_rate,
                "eps": self.eps,
            }
        )


class BatchNorm1D(BatchNorm):
    """Batch normalization of ``(N, C)`` or ``(N, L, C)`` inputs.

    >>> import jax.numpy as jnp, pax
    >>> bn = pax.BatchNorm1D(3)
    >>> bn, y = pax.purecall(bn, jnp.arange(12.0).reshape(4, 3))
    >>> y.mean(axis=0).round(4).tolist()
    [0.0, 0.0, 0.0]
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        if jnp.ndim(x) not in (2, 3):
            raise ValueError(
                f"BatchNorm1D expects (N, C) or (N, L, C) inputs, got shape {jnp.shape(x)}."
            )
        return super().__call__(x)


class BatchNorm2D(BatchNorm):
    """Batch normalization of ``(N, H, W, C)`` inputs."""

    def __call__(self, x: jax.Array) -> jax.Array:
        if jnp.ndim(x) != 4:
            raise ValueError(f"BatchNorm2D expects (N, H, W, C) inputs, got shape {jnp.shape(x)}.")
        return super().__call__(x)
