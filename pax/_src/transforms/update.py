"""``pax.build_update_fn``: one training step from a loss function."""

from collections.abc import Callable
from typing import Any, TypeVar

import jax

from ..core.module import Module
from ..core.pure import module_and_value
from ..debug.constants import update_fn_constants_check
from .grad import grad

T = TypeVar("T", bound=Module)
O = TypeVar("O", bound=Module)

MSG_BAD_LOSS_OUTPUT = (
    "The loss function given to pax.build_update_fn must return "
    "`(loss, (aux, model))`, where `model` is the (possibly updated) model it was "
    "given; {problem}.\n"
    "Example:\n"
    "    @pax.pure\n"
    "    def loss_fn(model, x, y):\n"
    "        model, y_hat = pax.purecall(model, x)\n"
    "        loss = jnp.mean((y - y_hat) ** 2)\n"
    "        return loss, (loss, model)"
)


def _checked(loss_fn: Callable) -> Callable:
    def checked_loss_fn(model, *inputs, **kwinputs):
        out = loss_fn(model, *inputs, **kwinputs)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ValueError(
                MSG_BAD_LOSS_OUTPUT.format(problem=f"it returned {type(out).__name__}")
            )
        loss, aux_and_model = out
        if not (isinstance(aux_and_model, tuple) and len(aux_and_model) == 2):
            raise ValueError(
                MSG_BAD_LOSS_OUTPUT.format(
                    problem="the second element is not a pair `(aux, model)`"
                )
            )
        new_model = aux_and_model[1]
        if jax.tree_util.tree_structure(new_model) != jax.tree_util.tree_structure(model):
            raise ValueError(
                MSG_BAD_LOSS_OUTPUT.format(
                    problem=(
                        "the returned `model` does not have the structure of the model "
                        f"it was given (got {type(new_model).__name__})"
                    )
                )
            )
        return out

    return checked_loss_fn


def build_update_fn(
    loss_fn: Callable[..., tuple[Any, tuple[Any, Any]]], *, scan_mode: bool = False
):
    """Build a simple update function.

    ``loss_fn(model, *inputs)`` must return ``(loss, (aux, model))``. The result is
    ``update_fn(model, optimizer, *inputs) -> (model, optimizer, aux)``, or with
    ``scan_mode=True`` ``update_fn((model, optimizer), *inputs) -> ((model, optimizer), aux)``
    (a ``pax.scan`` body). The optimizer is a module called as
    ``optimizer(grads, params=params) -> updates`` (an opax optimizer); the new
    parameters are ``params - updates``.

    >>> import jax.numpy as jnp, opax, pax
    >>> def mse_loss(model, x, y):
    ...     y_hat = model(x)
    ...     loss = jnp.mean(jnp.square(y - y_hat))
    ...     return loss, (loss, model)
    >>> update_fn = pax.utils.build_update_fn(mse_loss)
    >>> net = pax.Linear(2, 2)
    >>> optimizer = opax.adam(1e-4)(net.parameters())
    >>> x = jnp.ones((32, 2))
    >>> y = jnp.zeros((32, 2))
    >>> net, optimizer, loss = update_fn(net, optimizer, x, y)
    """
    grad_fn = grad(_checked(loss_fn), has_aux=True)
    check_constants = update_fn_constants_check(loss_fn)

    def update_fn(model: T, optimizer: O, *inputs, **kwinputs) -> tuple[T, O, Any]:
        if not isinstance(model, Module):
            raise TypeError(f"update_fn expects a pax model first, got {type(model).__name__}.")
        if not isinstance(optimizer, Module) or not callable(optimizer):
            raise TypeError(
                "update_fn expects an optimizer module second (e.g. "
                f"`opax.adam(1e-3)(model.parameters())`), got {type(optimizer).__name__}."
            )
        check_constants(model)  # warns once, when traced (a compiled step never runs this)
        grads, (aux, model) = grad_fn(model, *inputs, **kwinputs)
        params = model.parameters()
        optimizer, updates = module_and_value(optimizer)(grads, params=params)
        params = jax.tree_util.tree_map(lambda p, u: p - u, params, updates)
        return model.update_parameters(params), optimizer, aux

    def update_fn_scan(model_and_optimizer, *inputs, **kwinputs):
        model, optimizer = model_and_optimizer
        model, optimizer, aux = update_fn(model, optimizer, *inputs, **kwinputs)
        return (model, optimizer), aux

    return update_fn_scan if scan_mode else update_fn
