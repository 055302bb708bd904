"""``pax.experimental.apply_scaled_gradients``: an optimizer step under a jmp loss scale."""

import dataclasses
from typing import Any, Callable, Tuple, TypeVar, cast

import jax
import jax.numpy as jnp
import jmp

from ..core.module import Module
from ..core.pure import purecall

T = TypeVar("T", bound=Module)
O = TypeVar("O", bound=Module)


def apply_scaled_gradients(model: T, optimizer: O, loss_scale: Any, grads: T) -> Tuple[T, O, Any]:
    """Unscale ``grads``, update ``model`` with ``optimizer``, adjust ``loss_scale``.

    With a ``jmp.DynamicLossScale`` a step whose gradients are not all finite is
    skipped (model and optimizer unchanged) and the scale is lowered; otherwise the
    scale grows after its period of finite steps, as jmp defines, up to
    ``MAX_LOSS_SCALE`` (2**126, the largest scale whose reciprocal is a normal float32).

    Args:
      model: the model, whose ``parameters()`` the gradients match.
      optimizer: an opax (or pax) optimizer module: ``optimizer(grads, params=...)``
        returns the updates, which are subtracted from the parameters.
      loss_scale: a ``jmp.NoOpLossScale``, ``StaticLossScale`` or ``DynamicLossScale``.
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
    return model, optimizer, _capped(loss_scale.adjust(finite))


# The largest scale whose reciprocal is a normal float32: jmp unscales by multiplying
# with 1/scale, and 1/2**127 is subnormal, flushed to zero on CPU, which would turn every
# gradient into 0 while the finiteness check still passes (bf16 gradients never
# overflow, so a dynamic scale keeps doubling until it gets there).
MAX_LOSS_SCALE = 2.0**126


def _capped(loss_scale: Any) -> Any:
    capped = jnp.minimum(loss_scale.loss_scale, MAX_LOSS_SCALE).astype(
        jnp.result_type(loss_scale.loss_scale)
    )
    return dataclasses.replace(loss_scale, loss_scale=capped)
