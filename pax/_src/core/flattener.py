"""``pax.experimental.Flattener``: modules kept as flat leaf lists (PAX 0.5)."""

from typing import Any, TypeVar

import jax

from .module import Module

F = TypeVar("F", bound="Flattener")


class Flattener(Module):
    """Hold pytrees as their leaves and treedefs, so flattening the holder costs one
    list per entry whatever the depth of the models (PAX 0.5's speed trick).
    Attribute access rebuilds the stored value.

    >>> import pax, opax
    >>> net = pax.Linear(3, 3)
    >>> flat = pax.experimental.Flattener(model=net, optimizer=opax.adam(1e-3)(net.parameters()))
    >>> print(flat.model.summary())
    Linear(in_dim=3, out_dim=3, with_bias=True)
    >>> print(flat.update(model=pax.Linear(4, 4)).model.summary())
    Linear(in_dim=4, out_dim=4, with_bias=True)
    """

    treedef_dict: dict[str, Any]
    leaves_dict: dict[str, list[Any]]

    def __init__(self, **trees: Any):
        super().__init__()
        treedefs: dict[str, Any] = {}
        leaves: dict[str, list[Any]] = {}
        for name, value in trees.items():
            leaves[name], treedefs[name] = jax.tree_util.tree_flatten(value)
        self.treedef_dict = treedefs
        self.leaves_dict = leaves

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        treedefs = d.get("treedef_dict")
        if treedefs is None or name not in treedefs:
            raise AttributeError(f"Flattener holds no `{name}`.")
        return jax.tree_util.tree_unflatten(treedefs[name], d["leaves_dict"][name])

    def update(self: F, **trees: Any) -> F:
        """A copy with the given entries replaced or added."""
        treedefs = dict(self.treedef_dict)
        leaves = dict(self.leaves_dict)
        for name, value in trees.items():
            leaves[name], treedefs[name] = jax.tree_util.tree_flatten(value)
        return self.replace(treedef_dict=treedefs, leaves_dict=leaves)

    def parameters(self: F) -> F:
        raise ValueError(
            "A Flattener stores its arrays as non-trainable leaves. Rebuild the module "
            "first (`flat.model.parameters()`)."
        )
