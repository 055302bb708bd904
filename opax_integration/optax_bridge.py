"""An ``optax.GradientTransformation`` as an opax optimizer (a pax module).

opax optimizers are pax modules built from the parameters,
``optimizer = opax.adam(1e-3)(params)``, and called inside ``pax.pure`` (for example
through ``pax.purecall`` or ``pax.build_update_fn``) as
``optimizer(grads, params=params) -> updates``, which updates their state; the new
parameters are ``params - updates``. :func:`from_optax` gives the same protocol to any
optax transformation, so optax's optimizers work wherever opax's do.

optax is an optional dependency: this module imports it only when a bridge is made.

Sign convention: optax's updates are *added* to the parameters (an optimizer such as
``optax.adam`` returns ``-lr * direction``), opax's are *subtracted*. By default
(``negate=True``) the bridge returns the negated optax updates, which is right for a
complete optax optimizer: ``optax.adam``, ``optax.sgd``, any ``optax.chain`` ending in
a learning-rate scaling. A transformation that maps gradients to gradients
(``optax.clip_by_global_norm``, ``optax.scale_by_adam``) placed inside an
``opax.chain`` before opax's learning-rate scaling needs ``negate=False``.
"""

from typing import Any

import jax
import opax

import pax

MSG_NO_OPTAX = (
    "opax_integration.from_optax needs optax, which is not installed. Install the extra "
    "with `pip install pax3[optax]` (or `pip install optax`)."
)

MSG_NOT_OPTAX = (
    "opax_integration.from_optax expects an optax.GradientTransformation (for example "
    "`optax.adam(1e-3)`), got {got}.{hint}"
)

MSG_OPAX_GIVEN = (
    " opax transformations need no bridge: use `opax.adam(1e-3)(params)` directly, or "
    "pass `opax.adam(1e-3)` to opax_integration.Optimizer."
)


def _import_optax() -> Any:
    try:
        import optax
    except ImportError as err:
        raise ImportError(MSG_NO_OPTAX) from err
    return optax


def _describe(value: Any) -> str:
    if isinstance(value, type):
        return f"the class {value.__qualname__}"
    return f"a {type(value).__name__}"


def check_optax_transformation(tx: Any) -> None:
    """Raise ``TypeError`` unless ``tx`` is an ``optax.GradientTransformation``."""
    optax = _import_optax()
    if isinstance(tx, optax.GradientTransformation):
        return
    is_opax = isinstance(tx, opax.GradientTransformation) or (
        isinstance(tx, type) and issubclass(tx, opax.GradientTransformation)
    )
    raise TypeError(MSG_NOT_OPTAX.format(got=_describe(tx), hint=MSG_OPAX_GIVEN if is_opax else ""))


def looks_like_optax(tx: Any) -> bool:
    """True for an optax transformation (a named tuple with ``init`` and ``update``),
    checked without importing optax."""
    return (
        isinstance(tx, tuple)
        and callable(getattr(tx, "init", None))
        and callable(getattr(tx, "update", None))
    )


def _negate(tree: Any) -> Any:
    return jax.tree_util.tree_map(lambda u: -u, tree)


class OptaxOptimizer(opax.GradientTransformation):
    """An optax transformation and its state as an opax optimizer module.

    Usually made by :func:`from_optax`: ``from_optax(optax.adam(1e-3))(params)``. The
    transformation is static data; its state (``opt_state``, what ``tx.init(params)``
    returned) holds the module's arrays, none of them trainable. Call it like an opax
    optimizer, inside ``pax.pure``: ``optimizer(grads, params=params) -> updates``, to
    subtract from the parameters (see the module docstring for the sign).

    >>> import jax.numpy as jnp, optax, pax
    >>> from opax_integration import from_optax
    >>> params = {"w": jnp.ones(3)}
    >>> optimizer = from_optax(optax.sgd(0.25))(params)
    >>> optimizer, updates = pax.purecall(optimizer, {"w": jnp.full(3, 2.0)}, params=params)
    >>> updates["w"].tolist()  # 0.25 * 2: params - updates is the SGD step
    [0.5, 0.5, 0.5]

    Args:
      tx: the ``optax.GradientTransformation``.
      params: the parameters (any pytree, e.g. ``model.parameters()``).
      negate: return ``-updates`` (opax's convention); see :func:`from_optax`.
    """

    # the optax state is never trainable, even where it holds copies of modules
    parameters = pax.parameters_method(submodules=False)

    def __init__(self, tx: Any, params: Any, *, negate: bool = True):
        check_optax_transformation(tx)
        super().__init__(params=params)
        self.tx = tx
        self.negate = bool(negate)
        self.opt_state = tx.init(params)

    def __call__(self, updates: Any, params: Any = None, **extra_args: Any) -> Any:
        """The updates for ``updates`` (the gradients); keyword arguments beyond
        ``params`` go to optax's ``update`` (e.g. ``value=loss`` for
        ``optax.contrib.reduce_on_plateau``)."""
        updates, self.opt_state = self.tx.update(updates, self.opt_state, params, **extra_args)
        return _negate(updates) if self.negate else updates


class OptaxFactory:
    """``params -> OptaxOptimizer`` for one optax transformation: what
    :func:`from_optax` returns, used like ``opax.adam(1e-3)``.

    >>> import optax, pax
    >>> from opax_integration import from_optax
    >>> factory = from_optax(optax.sgd(0.1))
    >>> factory
    from_optax(GradientTransformationExtraArgs(...), negate=True)
    >>> type(factory(pax.Linear(2, 1).parameters())).__name__
    'OptaxOptimizer'
    """

    __slots__ = ("tx", "negate")

    def __init__(self, tx: Any, negate: bool = True):
        check_optax_transformation(tx)
        self.tx = tx
        self.negate = bool(negate)

    def __call__(self, params: Any) -> OptaxOptimizer:
        return OptaxOptimizer(self.tx, params, negate=self.negate)

    def __repr__(self) -> str:
        return f"from_optax({self.tx!r}, negate={self.negate})"


def from_optax(tx: Any, *, negate: bool = True) -> OptaxFactory:
    """An opax-style optimizer factory for the optax transformation ``tx``.

    ``from_optax(optax.adam(1e-3))`` is used like ``opax.adam(1e-3)``: call it with the
    parameters to get the optimizer module, then update it inside ``pax.pure`` (with
    ``pax.build_update_fn``, ``pax.purecall``, inside ``opax.chain``), or give it to
    :class:`opax_integration.Optimizer` for Objax-style training.

    >>> import jax, jax.numpy as jnp, optax, pax
    >>> from opax_integration import from_optax
    >>> def loss_fn(model, x, y):
    ...     loss = jnp.mean((model(x) - y) ** 2)
    ...     return loss, (loss, model)
    >>> net = pax.Linear(2, 1)
    >>> optimizer = from_optax(optax.adam(1e-2))(net.parameters())
    >>> update_fn = jax.jit(pax.build_update_fn(loss_fn))
    >>> net, optimizer, loss = update_fn(net, optimizer, jnp.ones((4, 2)), jnp.zeros((4, 1)))
    >>> int(optimizer.opt_state[0].count)
    1

    Args:
      tx: an ``optax.GradientTransformation``.
      negate: optax's updates are added to the parameters, opax's subtracted; with
        ``True`` (the default) the optimizer returns the negated optax updates, right
        for a complete optax optimizer (``optax.adam``, ``optax.sgd``, a chain ending
        in a learning-rate scaling). Use ``False`` for a gradient-to-gradient
        transformation (``optax.clip_by_global_norm``) inside an ``opax.chain``.

    Raises:
      ImportError: optax is not installed.
      TypeError: ``tx`` is not an ``optax.GradientTransformation``.
    """
    return OptaxFactory(tx, negate=negate)
