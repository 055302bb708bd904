"""``pax.grad`` and ``pax.value_and_grad``: gradients w.r.t. trainable parameters."""

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import jax

from ..core.module import Module, merge

T = TypeVar("T", bound=Module)

MSG_NOT_A_MODULE = (
    "{fn} differentiates with respect to the trainable parameters of its first "
    "argument, which must be a pax Module; got {got}.\n"
    "Put the model first: `pax.grad(loss_fn)(model, x, y)` with "
    "`def loss_fn(model, x, y): ...`. For plain arrays use `jax.grad`."
)


def _check_module(name: str, module: Any) -> None:
    if not isinstance(module, Module):
        raise TypeError(MSG_NOT_A_MODULE.format(fn=name, got=type(module).__name__))


def _wrt_parameters(
    jax_transform: Callable, name: str, func: Callable, has_aux: bool, options: dict
) -> Callable:
    """Apply ``jax_transform`` (``jax.grad`` or ``jax.value_and_grad``) with respect to
    the trainable parameters of ``func``'s first argument. ``options`` are further
    keyword arguments of the JAX transform (e.g. ``allow_int``)."""
    if "argnums" in options:
        raise ValueError(
            f"{name} always differentiates with respect to the trainable parameters of "
            "the first argument; `argnums` is not supported. Use `jax.grad` for other "
            "arguments."
        )

    def with_params(params, module, *args, **kwargs):
        return func(merge(module, params), *args, **kwargs)

    transformed = jax_transform(with_params, has_aux=has_aux, **options)

    @functools.wraps(func)
    def wrapper(module, *args, **kwargs):
        _check_module(name, module)
        return transformed(module.parameters(), module, *args, **kwargs)

    return wrapper


def value_and_grad(
    func: Callable[..., Any], has_aux: bool = False, **jax_kwargs: Any
) -> Callable[..., tuple[Any, Any]]:
    """A pax version of ``jax.value_and_grad``: gradients w.r.t. the trainable
    parameters of the first argument, as a module of the same structure (leaves
    that are not trainable are ``pax.EmptyNode``).

    >>> import jax.numpy as jnp, pax
    >>> def loss_fn(model, x):
    ...     return jnp.sum(model(x))
    >>> loss, grads = pax.value_and_grad(loss_fn)(pax.Linear(2, 1), jnp.ones((1, 2)))
    >>> grads.weight.shape
    (2, 1)
    """
    return _wrt_parameters(jax.value_and_grad, "pax.value_and_grad", func, has_aux, jax_kwargs)


def grad(func: Callable[..., Any], has_aux: bool = False, **jax_kwargs: Any) -> Callable[..., Any]:
    """Gradient w.r.t. the trainable parameters of the first argument.

    Further keyword arguments (e.g. ``allow_int``) are passed to ``jax.grad``.

    >>> import jax.numpy as jnp, pax
    >>> @pax.pure
    ... def loss_fn(model: pax.Linear, x, y):
    ...     y_hat = model(x)
    ...     loss = jnp.mean(jnp.square(y - y_hat))
    ...     return loss, (loss, model)
    >>> grad_fn = pax.grad(loss_fn, has_aux=True)
    >>> net = pax.Linear(1, 1)
    >>> x = jnp.ones((3, 1))
    >>> grads, (loss, net) = grad_fn(net, x, x)
    >>> grads.weight.shape
    (1, 1)
    """
    return _wrt_parameters(jax.grad, "pax.grad", func, has_aux, jax_kwargs)
