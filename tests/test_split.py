"""``pax.split`` / ``pax.merge``: a model as (skeleton, params, state) and back."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pax


class ObjaxStyle(pax.Module):
    def __init__(self):
        super().__init__()
        self.w = pax.TrainVar(jnp.ones((2, 3)))
        self.count = pax.StateVar(jnp.zeros(()))
        self.raw = jnp.arange(3.0)  # a plain Module: not trainable


class Containers(pax.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [pax.Linear(2, 2), pax.Linear(2, 3)]
        self.heads = {"a": pax.Linear(3, 1), "b": (pax.Linear(3, 2), jax.nn.relu)}


MODELS = {
    "linear": lambda: pax.Linear(2, 3, rng_key=jax.random.PRNGKey(0)),
    "sequential_batchnorm": lambda: pax.Sequential(
        pax.Linear(2, 3), jax.nn.relu, pax.BatchNorm1D(3)
    ),
    "containers": Containers,
    "objax": ObjaxStyle,
    "frozen": lambda: pax.freeze_parameters(pax.Sequential(pax.Linear(2, 3), pax.Linear(3, 1))),
    "eval_mode": lambda: pax.BatchNorm1D(3).eval(),
    "lstm": lambda: pax.LSTM(2, 3),
}


def _paths(tree, prefix=()):
    if isinstance(tree, dict):
        for k, v in tree.items():
            assert isinstance(k, str), k
            yield from _paths(v, (*prefix, k))
    else:
        yield prefix, tree


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip(name):
    model = MODELS[name]()
    skeleton, params, state = pax.split(model)
    back = pax.merge(skeleton, params, state)
    assert back == model
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(model)
    assert back.training == model.training
    tree_allclose(back, model, rtol=0, atol=0)
    # params are exactly the leaves parameters() keeps; state the others
    n_params = len(jax.tree_util.tree_leaves(model.parameters()))
    assert len(jax.tree_util.tree_leaves(params)) == n_params
    n_all = len(jax.tree_util.tree_leaves(model))
    assert len(jax.tree_util.tree_leaves(state)) == n_all - n_params


@pytest.mark.parametrize("name", sorted(MODELS))
def test_skeleton_is_array_free_hashable_and_equal_across_builds(name):
    a, b = MODELS[name](), MODELS[name]()
    sa, sb = pax.split(a)[0], pax.split(b)[0]
    assert sa == sb and hash(sa) == hash(sb)
    assert jax.tree_util.tree_leaves(sa) == [sa]  # not a pytree with array children

    def walk(x, seen):
        if id(x) in seen:
            return
        seen.add(id(x))
        assert not isinstance(x, (jax.Array, np.ndarray)), type(x)
        if isinstance(x, (tuple, list)):
            for y in x:
                walk(y, seen)
        elif hasattr(x, "__slots__") and not isinstance(x, type):
            for slot in x.__slots__:
                walk(getattr(x, slot, None), seen)

    walk(sa, set())
    # the treedef carries no arrays either: rebuilding it from placeholders works
    leaves = [object()] * sa.treedef.num_leaves
    assert jax.tree_util.tree_leaves(jax.tree_util.tree_unflatten(sa.treedef, leaves)) == leaves


def test_keys_follow_the_module_tree():
    _, params, state = pax.split(Containers())
    assert set(params) == {"blocks", "heads"}
    assert set(params["blocks"]) == {"0", "1"}
    assert params["heads"]["b"]["0"]["weight"].shape == (3, 2)
    assert state == {}
    _, params, state = pax.split(ObjaxStyle())
    assert set(params) == {"w"} and params["w"].shape == (2, 3)  # no level for the variable
    assert set(state) == {"count", "raw"}


def test_variables_inside_named_tuples_add_no_level():
    class Holder(pax.Module):
        def __init__(self):
            super().__init__()
            self.pair = pax.LSTMState(pax.TrainVar(jnp.ones(2)), pax.StateVar(jnp.zeros(2)))

    _, params, state = pax.split(Holder())
    assert set(params["pair"]) == {"hidden"} and params["pair"]["hidden"].shape == (2,)
    assert set(state["pair"]) == {"cell"}


def test_frozen_model_has_everything_in_state():
    model = MODELS["frozen"]()
    _, params, state = pax.split(model)
    assert params == {}
    assert len(jax.tree_util.tree_leaves(state)) == 4


def test_different_structures_have_different_skeletons():
    a = pax.split(pax.Linear(2, 3))[0]
    assert a != pax.split(pax.Linear(2, 4))[0]
    assert a != pax.split(pax.Linear(2, 3).eval())[0]
    assert a != pax.split(pax.freeze_parameters(pax.Linear(2, 3)))[0]


def test_jit_with_static_skeleton_does_not_retrace():
    traces = []

    def _apply(params, state, x, skeleton):
        traces.append(1)
        return pax.merge(skeleton, params, state)(x)

    apply = jax.jit(_apply, static_argnums=3)
    x = jnp.ones((4, 2))
    for seed in range(3):  # three separately built models
        model = pax.Sequential(pax.Linear(2, 3, rng_key=jax.random.PRNGKey(seed)), jax.nn.tanh)
        skeleton, params, state = pax.split(model)
        np.testing.assert_allclose(apply(params, state, x, skeleton), model(x), rtol=1e-6)
    assert len(traces) == 1


def test_grad_through_merge_equals_pax_grad():
    model = pax.Sequential(pax.Linear(2, 3), jax.nn.tanh, pax.Linear(3, 1))
    skeleton, params, state = pax.split(model)
    x = jnp.linspace(-1, 1, 8).reshape(4, 2)

    def loss(params):
        return jnp.sum(pax.merge(skeleton, params, state)(x) ** 2)

    grads = jax.grad(loss)(params)
    expected = pax.grad(lambda m: jnp.sum(m(x) ** 2))(model)
    tree_allclose(grads, pax.split(model.update_parameters(expected))[1], rtol=1e-6)


def test_merge_missing_key_names_the_path():
    skeleton, params, state = pax.split(Containers())
    del params["heads"]["a"]["bias"]
    with pytest.raises(ValueError, match=r"params has no entry 'heads/a/bias'"):
        pax.merge(skeleton, params, state)


def test_merge_wrong_shape_names_the_path():
    skeleton, params, state = pax.split(pax.Sequential(pax.Linear(2, 3)))
    params["modules"]["0"]["weight"] = jnp.ones((3, 3))
    with pytest.raises(
        ValueError, match=r"'modules/0/weight' has shape \(3, 3\).*expects \(2, 3\)"
    ):
        pax.merge(skeleton, params, state)


def test_merge_extra_key_names_the_path():
    skeleton, params, state = pax.split(pax.BatchNorm1D(3))
    state["extra"] = jnp.ones(())
    with pytest.raises(ValueError, match=r"state has entries the model does not have: \['extra'\]"):
        pax.merge(skeleton, params, state)


def test_bad_arguments_raise_type_errors():
    with pytest.raises(TypeError, match="pax.split takes a pax.Module"):
        pax.split({"w": jnp.ones(2)})
    with pytest.raises(TypeError, match="skeleton returned by pax.split"):
        pax.merge(jax.tree_util.tree_structure(pax.Linear(1, 1)), {}, {})


def test_split_does_not_change_the_model():
    model = pax.BatchNorm1D(3)
    before = jax.tree_util.tree_leaves(model)
    _, _, state = pax.split(model)
    state["ema_mean"]["averages"] = jnp.ones((1, 3))  # edits a dict, not the model
    assert all(a is b for a, b in zip(jax.tree_util.tree_leaves(model), before))
