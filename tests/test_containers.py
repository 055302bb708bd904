"""Lists and dicts filled after assignment (``self.fc = []; self.fc.append(...)``) are
children, as in PAX 0.5: the layout is decided when ``__init__`` or ``pax.pure`` returns."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax


class FilledInInit(pax.Module):
    def __init__(self):
        super().__init__()
        self.fc = []
        for _ in range(2):
            self.fc.append(pax.Linear(3, 3))
        self.heads = {}
        self.heads["out"] = pax.Linear(3, 1)
        self.sizes = []
        self.sizes.append(3)  # static data stays static
        self.mixed = []
        self.mixed.append(pax.Linear(3, 3))
        self.mixed.append(jax.nn.relu)

    def __call__(self, x):
        for layer in self.fc:
            x = layer(x)
        for layer in self.mixed:
            x = layer(x)
        return self.heads["out"](x)


def test_containers_filled_in_init_are_children():
    m = FilledInInit()
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(m)[0]]
    assert paths == [
        ".fc[0].weight",
        ".fc[0].bias",
        ".fc[1].weight",
        ".fc[1].bias",
        ".heads['out'].weight",
        ".heads['out'].bias",
        ".mixed[0].weight",
        ".mixed[0].bias",
    ]
    assert len(jax.tree_util.tree_leaves(m.parameters())) == 8
    assert [type(s).__name__ for s in m.submodules()] == ["Linear"] * 4


def test_filled_containers_train_and_survive_jit():
    m = FilledInInit()
    x = jnp.ones((2, 3))
    m2 = jax.jit(lambda m: m)(m)
    assert m2.sizes == [3] and m2.mixed[1] is jax.nn.relu
    np.testing.assert_allclose(m2(x), m(x))
    grads = pax.grad(lambda m: jnp.sum(m(x)))(m)
    assert all(bool(jnp.any(g != 0)) for g in jax.tree_util.tree_leaves(grads.fc[0]))
    assert jax.tree_util.tree_structure(FilledInInit()) == jax.tree_util.tree_structure(m)


def test_containers_filled_inside_pure():
    m = FilledInInit()

    @pax.pure
    def grow(m):
        m.fc.append(pax.Linear(3, 3))
        m.sizes.append(4)
        return m

    grown = grow(m)
    assert len(grown.fc) == 3 and grown.sizes == [3, 4]
    assert len(jax.tree_util.tree_leaves(grown)) == 10
    assert len(m.fc) == 2 and m.sizes == [3]  # the caller's module is unchanged
    assert len(jax.tree_util.tree_leaves(m)) == 8


def test_sharing_through_a_filled_container_still_raises():
    class Shared(pax.Module):
        def __init__(self):
            super().__init__()
            self.fc = pax.Linear(2, 2)
            self.layers = []
            self.layers.append(self.fc)

    with pytest.raises(ValueError, match="appears twice"):
        Shared()
