"""pax in NetKet's model-framework registry (``netket.utils.model_frameworks``).

NetKet drives every model through a flax-like static object with ``init`` and
``apply(variables, *args, method=..., mutable=...)``. :class:`PaxModel` is that object
for a ``pax.Module``: it holds the model's :func:`pax.split` skeleton (hashable, no
arrays), so NetKet's jitted functions see the same static argument at every step, and
rebuilds the module from ``variables`` with :func:`pax.merge` inside them.

Variables: ``{"params": <trainable arrays>, "state": <other arrays>}`` (``"state"``
only when the model has any; NetKet calls it the ``model_state``). For autoregressive
sampling NetKet adds a ``"cache"`` collection: the state of ``model.init_cache(batch)``.
"""

from __future__ import annotations

import sys
from typing import Any

import jax

from ..core.module import Module
from ..core.pure import module_and_value
from ..core.split import Skeleton, merge, split

PARAMS, STATE, CACHE = "params", "state", "cache"

MSG_NO_INIT = (
    "A pax model is built with its weights, so NetKet cannot initialise {model} again "
    "(`vstate.init()`). Build a new model instead (`Model(..., rng_key=jax.random.PRNGKey(1))`) "
    "and a new state (`nk.vqs.MCState(sampler, model)`), or set `vstate.parameters`."
)


def _collections(mutable: Any) -> tuple[str, ...] | bool:
    """flax's ``mutable`` argument as a tuple of collection names (or True / False)."""
    if isinstance(mutable, bool):
        return mutable
    if isinstance(mutable, str):
        return (mutable,)
    return tuple(mutable)


class PaxModel:
    """A ``pax.Module`` as NetKet's flax-like static model: ``init``/``apply`` on
    variables dicts. Equal (and equal-hash) for models of equal structure.

    ``model.<method>`` gives the method's name, so NetKet's
    ``model.apply(variables, x, method=model.conditional)`` works as with flax.

    >>> import jax, jax.numpy as jnp, pax, pax.netket
    >>> variables, static = pax.netket.register().wrap(pax.Linear(2, 1))
    >>> jax.tree_util.tree_map(jnp.shape, variables)
    {'params': {'bias': (1,), 'weight': (2, 1)}}
    >>> static.apply(variables, jnp.ones((3, 2))).shape
    (3, 1)
    """

    __slots__ = ("skeleton", "model_class")

    def __init__(self, skeleton: Skeleton, model_class: type):
        self.skeleton = skeleton
        self.model_class = model_class

    def __hash__(self) -> int:
        return hash(self.skeleton)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaxModel) and self.skeleton == other.skeleton

    def __repr__(self) -> str:
        return f"PaxModel({self.model_class.__qualname__}, {self.skeleton})"

    def __getattr__(self, name: str) -> str:
        if not name.startswith("_") and callable(getattr(self.model_class, name, None)):
            return name
        raise AttributeError(f"{self.model_class.__qualname__} has no method {name!r}.")

    # -- between variables dicts and modules -----------------------------------------
    def variables(self, model: Module) -> dict[str, Any]:
        """The variables dict of ``model`` (which must have this skeleton's structure)."""
        _, params, state = split(model)
        return {PARAMS: params, STATE: state} if state else {PARAMS: params}

    def module(self, variables: Any) -> Module:
        """The pax module with the arrays of ``variables`` (and its ``"cache"``)."""
        params = variables.get(PARAMS, {})
        model = merge(self.skeleton, params, variables.get(STATE, {}))
        if CACHE in variables:
            cache = variables[CACHE]
            unbatched = split(_with_cache(model, None))[0]
            batch_size = _cache_batch_size(unbatched, cache)
            model = merge(split(_with_cache(model, batch_size))[0], params, cache)
        return model

    def init(self, rngs: Any, *args: Any, method: Any = None, **kwargs: Any) -> dict[str, Any]:
        """NetKet calls ``init`` only to make the autoregressive sampler's cache
        (``init(key, sigma, 0, method=model.conditional)``): returns ``{"cache": ...}``
        of zeros for a batch of ``sigma``'s size."""
        del rngs, kwargs
        if method in (None, "__call__") or not args:
            raise ValueError(MSG_NO_INIT.format(model=self.model_class.__qualname__))
        model = merge(self.skeleton, *self.skeleton.zeros())
        cached = _with_cache(model, _batch_size(args[0]))
        return {CACHE: split(cached)[2]}

    def apply(
        self,
        variables: Any,
        *args: Any,
        method: Any = None,
        mutable: Any = False,
        rngs: Any = None,
        **kwargs: Any,
    ) -> Any:
        """``module.<method>(*args, **kwargs)`` (``__call__`` by default) on the module
        rebuilt from ``variables``; with ``mutable``, also the updated collections."""
        del rngs  # pax modules take their keys as arguments
        model = self.module(variables)
        if method is None:
            method = "__call__"
        if isinstance(method, str):
            model, out = module_and_value(getattr(model, method))(*args, **kwargs)
        elif callable(method):  # flax also takes a function of the module
            model, out = module_and_value(lambda m, *a, **k: method(m, *a, **k))(
                model, *args, **kwargs
            )
        else:
            raise TypeError(f"method must be a method name or a function, got {method!r}.")
        wanted = _collections(mutable)
        if wanted is False:
            return out
        _, _, state = split(model)
        # a model without a cache still returns an (empty) "cache" when asked for one
        asked_cache = wanted is not True and CACHE in wanted
        name = CACHE if CACHE in variables or asked_cache else STATE
        updated = {name: state}
        if wanted is not True:
            updated = {k: v for k, v in updated.items() if k in wanted}
        return out, updated


def _cache_batch_size(unbatched: Skeleton, cache: Any) -> int | None:
    """The batch size of ``cache``: the leading axis that its arrays have and those of
    the unbatched cache (``init_cache(None)``) do not."""
    for path, shape, trainable in zip(unbatched.paths, unbatched.shapes, unbatched.trainable):
        if trainable:
            continue
        leaf: Any = cache
        for name in path:
            leaf = leaf.get(name) if isinstance(leaf, dict) else None
        if leaf is not None and jax.numpy.ndim(leaf) == len(shape) + 1:
            return int(jax.numpy.shape(leaf)[0])
    return None


def _batch_size(x: Any) -> int | None:
    shape = jax.numpy.shape(x) if x is not None else ()
    return shape[0] if len(shape) >= 2 else None


def _with_cache(model: Module, batch_size: int | None) -> Module:
    init_cache = getattr(model, "init_cache", None)
    if not callable(init_cache):
        raise ValueError(
            f"{type(model).__qualname__} has no `init_cache(batch_size)` method, so NetKet's "
            f"autoregressive sampler cannot give it a cache. Subclass pax.netket.ARNN."
        )
    return init_cache(batch_size)


def _is_loaded() -> bool:
    return "pax" in sys.modules


def _is_my_module(module: Any) -> bool:
    return isinstance(module, Module)


def _wrap(module: Module) -> tuple[dict[str, Any], PaxModel]:
    skeleton, _, _ = split(module)
    static = PaxModel(skeleton, type(module))
    return static.variables(module), static


def _unwrap(static: PaxModel, variables: Any) -> Module:
    return static.module(variables)


def register() -> Any:
    """Register pax in NetKet's model-framework registry (once; later calls return the
    same entry). ``import pax.netket`` calls it.

    >>> import pax.netket
    >>> pax.netket.register() is pax.netket.register()
    True
    """
    from netket.utils.model_frameworks import base

    for entry in base.registered_frameworks:
        if getattr(entry, "name", None) == "pax":
            return entry

    @base.framework
    class PaxFramework(base.ModuleFramework):
        name: str = "pax"

        @property
        def model_contains_parameters(self) -> bool:
            return True

        @staticmethod
        def wrapped_model_class(static_model: PaxModel) -> type:
            return static_model.model_class

        is_loaded = staticmethod(_is_loaded)
        is_my_module = staticmethod(_is_my_module)
        wrap = staticmethod(_wrap)
        unwrap = staticmethod(_unwrap)

    return PaxFramework
