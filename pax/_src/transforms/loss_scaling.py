"""``pax.experimental.apply_scaled_gradients``: an optimizer step under a jmp loss scale,
and ``pax.experimental.DynamicLossScale``, a ``jmp.DynamicLossScale`` that works with a
float16 scale on current JAX.

jmp 0.0.4's ``DynamicLossScale.adjust`` mixes its float32 ``min_loss_scale`` with the
scale (``lax.select requires arguments to have the same dtypes, got float32, float16``
when the scale is float16, as in PAX 0.5's mixed-precision example), and its pytree
drops ``min_loss_scale``. Both helpers here adjust in the scale's own dtype, without
changing jmp or JAX for anyone else.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, cast

import jax
import jax.numpy as jnp
import jmp

from ..core.module import Module
from ..core.pure import purecall

T = TypeVar("T", bound=Module)
O = TypeVar("O", bound=Module)


def apply_scaled_gradients(model: T, optimizer: O, loss_scale: Any, grads: T) -> tuple[T, O, Any]:
    """Unscale ``grads``, update ``model`` with ``optimizer``, adjust ``loss_scale``.

    With a ``jmp.DynamicLossScale`` a step whose gradients are not all finite is
    skipped (model and optimizer unchanged) and the scale is lowered; otherwise the
    scale grows after its period of finite steps, as jmp defines, up to
    ``MAX_LOSS_SCALE`` (2**126, the largest scale whose reciprocal is a normal float32).

    Args:
      model: the model, whose ``parameters()`` the gradients match.
      optimizer: an opax (or pax) optimizer module: ``optimizer(grads, params=...)``
        returns the updates, which are subtracted from the parameters.
      loss_scale: a ``jmp.NoOpLossScale``, ``StaticLossScale`` or ``DynamicLossScale``
        (or :class:`DynamicLossScale`); a float16 or bfloat16 scale stays in its dtype.
      grads: gradients of the *scaled* loss (``pax.grad`` of ``loss_scale.scale(loss)``).

    Returns:
      ``(model, optimizer, loss_scale)``, updated.

    >>> import jax.numpy as jnp, jmp, opax, pax
    >>> net = pax.Linear(2, 2)
    >>> opt = opax.adam(1e-4)(net.parameters())
    >>> loss_scale = jmp.DynamicLossScale(jnp.float32(2**15), period=1)
    >>> grads = net.parameters()
    >>> net, opt, loss_scale = pax.experimental.apply_scaled_gradients(net, opt, loss_scale, grads)
    >>> float(loss_scale.loss_scale)
    65536.0
    """
    params = model.parameters()
    grads = loss_scale.unscale(grads)
    updates: Any
    new_optimizer, updates = purecall(cast(Callable[..., Any], optimizer), grads, params=params)
    new_params = jax.tree_util.tree_map(jax.lax.sub, params, updates)
    new_model = model.update_parameters(new_params)
    if not isinstance(loss_scale, jmp.DynamicLossScale):
        return new_model, new_optimizer, loss_scale
    finite = jmp.all_finite(grads)
    model, optimizer = jmp.select_tree(finite, (new_model, new_optimizer), (model, optimizer))
    return model, optimizer, _capped(adjust_loss_scale(loss_scale, finite))


def adjust_loss_scale(loss_scale: Any, grads_finite: Any) -> Any:
    """``loss_scale.adjust(grads_finite)`` of a ``jmp.DynamicLossScale``, computed in
    the scale's own dtype (jmp's rule: grow by ``factor`` after ``period`` finite steps
    unless that overflows, shrink by ``factor`` down to ``min_loss_scale`` after a
    non-finite one); the result is of the same class.

    >>> import jax.numpy as jnp, jmp
    >>> scale = jmp.DynamicLossScale(jnp.float16(2**15), period=1)
    >>> grown = adjust_loss_scale(scale, jnp.array(True))  # 2**16 overflows float16
    >>> grown.loss_scale.dtype, float(grown.loss_scale)
    (dtype('float16'), 32768.0)
    >>> float(adjust_loss_scale(scale, jnp.array(False)).loss_scale)
    16384.0
    """
    scale = jnp.asarray(loss_scale.loss_scale)
    dtype = scale.dtype
    factor = jnp.asarray(loss_scale.factor, dtype)
    grown = scale * factor
    grown = jnp.where(jnp.isfinite(grown), grown, scale)
    at_period = loss_scale.counter == (loss_scale.period - 1)
    lowered = jnp.maximum(jnp.asarray(loss_scale.min_loss_scale).astype(dtype), scale / factor)
    new_scale = jnp.where(grads_finite, jnp.where(at_period, grown, scale), lowered)
    counter = ((loss_scale.counter + 1) % loss_scale.period) * grads_finite
    return dataclasses.replace(loss_scale, loss_scale=new_scale.astype(dtype), counter=counter)


@jax.tree_util.register_pytree_node_class
class DynamicLossScale(jmp.DynamicLossScale):
    """A ``jmp.DynamicLossScale`` (same constructor, an instance of it) whose
    ``adjust`` works in the scale's dtype, so a float16 scale, as PAX 0.5's examples
    used, works on current JAX; it also keeps ``min_loss_scale`` through JAX
    transforms (jmp's pytree resets it).

    >>> import jax, jax.numpy as jnp, jmp, pax
    >>> loss_scale = pax.experimental.DynamicLossScale(jmp.half_dtype()(2**15), period=2)
    >>> adjust = jax.jit(lambda s, finite: s.adjust(finite))
    >>> loss_scale = adjust(adjust(loss_scale, jnp.array(True)), jnp.array(False))
    >>> loss_scale.loss_scale.dtype, float(loss_scale.loss_scale)
    (dtype('float16'), 16384.0)
    """

    def adjust(self, grads_finite: jax.Array) -> "DynamicLossScale":
        """The next loss scale: see :func:`adjust_loss_scale`."""
        return cast(DynamicLossScale, adjust_loss_scale(self, grads_finite))

    def tree_flatten(self) -> tuple[tuple[Any, Any, Any], tuple[int, int]]:
        return (self.loss_scale, self.counter, self.min_loss_scale), (self.period, self.factor)

    @classmethod
    def tree_unflatten(cls, meta: tuple[int, int], data: Any) -> "DynamicLossScale":
        loss_scale, counter, min_loss_scale = data
        period, factor = meta
        return cls(loss_scale, counter, period, factor, min_loss_scale)


# The largest scale whose reciprocal is a normal float32: jmp unscales by multiplying
# with 1/scale, and 1/2**127 is subnormal, flushed to zero on CPU, which would turn every
# gradient into 0 while the finiteness check still passes (bf16 gradients never
# overflow, so a dynamic scale keeps doubling until it gets there).
MAX_LOSS_SCALE = 2.0**126


def _capped(loss_scale: Any) -> Any:
    dtype = jnp.result_type(loss_scale.loss_scale)
    if not jnp.issubdtype(dtype, jnp.floating):  # jmp warns about such a scale; keep it
        return loss_scale
    # float16 and bfloat16 cannot hold MAX_LOSS_SCALE: their largest finite value caps
    cap = min(MAX_LOSS_SCALE, float(jnp.finfo(dtype).max))
    capped = jnp.minimum(loss_scale.loss_scale, jnp.asarray(cap, dtype))
    return dataclasses.replace(loss_scale, loss_scale=capped)
