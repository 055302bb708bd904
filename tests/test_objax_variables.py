"""Objax variables: TrainVar, StateVar, TrainRef, RandomState (SPEC §3)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax
from pax._src.objax.variables import reduce_first, reduce_mean


class Holder(pax.Module):
    """A module holding one variable of each kind (Objax style)."""

    def __init__(self):
        super().__init__()
        self.w = pax.TrainVar(jnp.arange(6.0).reshape(2, 3))
        self.s = pax.StateVar(jnp.zeros((3,)))
        self.r = pax.RandomState(0)

    def __call__(self, x):
        return x @ self.w.value + self.s.value


# -- the guide's examples -------------------------------------------------------------


def test_trainvar_guide_example():
    v = pax.TrainVar(jnp.arange(6, dtype=jnp.float32))
    assert v.value.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    with pytest.raises(
        ValueError, match=r"(?s)TrainVar.value is read-only.*v.assign\(v.value \+ 1\)"
    ):
        v.value += 1
    v.assign(v.value + 1)
    assert v.value.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    v.assign(jnp.arange(1, 7, dtype=jnp.float32))
    assert v.value.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_statevar_guide_example():
    v = pax.StateVar(jnp.arange(6, dtype=jnp.float32))
    v.value += 1
    assert v.value.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    v.assign(v.value + 1)
    assert v.value.tolist() == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


def test_trainref_guide_example():
    t = pax.TrainVar(jnp.arange(6, dtype=jnp.float32))
    v = pax.TrainRef(t)
    v.value += 1
    assert v.value.tolist() == t.value.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    v.assign(v.value + 1)
    assert t.value.tolist() == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert isinstance(v, pax.BaseState) and not isinstance(v, pax.TrainVar)


def test_trainref_needs_a_trainvar():
    with pytest.raises(TypeError, match="TrainRef references a TrainVar, got StateVar"):
        pax.TrainRef(pax.StateVar(jnp.zeros(())))


def test_random_state_split_follows_jax_random_split():
    v = pax.RandomState(1)
    np.testing.assert_array_equal(v.value, jax.random.PRNGKey(1))
    assert v.value.tolist() == [0, 1]
    with jax.threefry_partitionable(False):  # the mode RandomState always splits in
        expected = jax.random.split(jax.random.PRNGKey(1), 3)
    keys = v.split(2)
    np.testing.assert_array_equal(keys, expected[1:])
    np.testing.assert_array_equal(v.value, expected[0])


@pytest.mark.parametrize("global_partitionable", [True, False])
def test_random_state_guide_printout(global_partitionable):
    # The guide's numbers, whatever JAX's global threefry setting is.
    with jax.threefry_partitionable(global_partitionable):
        v = pax.RandomState(1)
        assert v.value.tolist() == [0, 1]
        assert v.split(1).tolist() == [[3819641963, 2025898573]]
        assert v.value.tolist() == [2441914641, 1384938218]
        assert v.split(2).tolist() == [[622232657, 209145368], [2741198523, 2127103341]]
        assert v.value.tolist() == [3514448473, 2078537737]
        v.seed(1)
        assert v.value.tolist() == [0, 1]


def test_random_state_split_rejects_bad_n():
    with pytest.raises(ValueError, match="positive int"):
        pax.RandomState(0).split(0)


# -- assign checks --------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, match",
    [
        (jnp.zeros((3,)), r"expected shape \(2, 3\) and dtype float32, received shape \(3,\)"),
        (jnp.zeros((2, 3), jnp.int32), r"received shape \(2, 3\) and dtype int32"),
    ],
)
def test_assign_checks_shape_and_dtype_and_names_the_variable(bad, match):
    m = Holder()
    m.vars()  # gives the variables their names
    with pytest.raises(ValueError, match=r"Cannot assign to TrainVar `\(Holder\).w`: .*" + match):
        m.w.assign(bad)
    m.w.assign(bad, check=False)
    assert m.w.value.shape == bad.shape


def test_statevar_value_setter_checks_too():
    v = pax.StateVar(jnp.zeros((2,)))
    with pytest.raises(ValueError, match=r"StateVar\(shape=\(2,\), dtype=float32\)"):
        v.value = jnp.zeros((3,))


def test_assign_converts_python_and_numpy_values():
    v = pax.StateVar(jnp.zeros((2,)))
    v.assign(np.ones((2,), np.float32))
    assert isinstance(v.value, jax.Array)
    s = pax.StateVar(jnp.zeros(()))
    s.value = 3.0
    assert float(s.value) == 3.0


def test_variables_equal_by_identity_not_elementwise():
    a = pax.TrainVar(jnp.ones(2))
    b = pax.TrainVar(jnp.ones(2))
    assert a != b and a == a  # identity, not an array (operators are elementwise)
    assert len({a, b}) == 2


# -- pytree behaviour -------------------------------------------------------------------


def test_leaves_are_plain_arrays_and_kind_is_static():
    m = Holder()
    leaves = jax.tree_util.tree_leaves(m)
    assert len(leaves) == 3 and all(isinstance(x, jax.Array) for x in leaves)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(m)[0]]
    assert paths == [".w.value", ".s.value", ".r.value"]
    assert jax.tree_util.tree_structure(Holder()) == jax.tree_util.tree_structure(m)
    # the class and the reduce function are part of the treedef
    t = jax.tree_util.tree_structure(pax.TrainVar(jnp.zeros(2)))
    s = jax.tree_util.tree_structure(pax.StateVar(jnp.zeros(2)))
    r = jax.tree_util.tree_structure(pax.TrainVar(jnp.zeros(2), reduce=reduce_first))
    assert t != s and t != r


def test_unflatten_builds_new_variables():
    m = Holder()
    m2 = jax.tree_util.tree_map(lambda x: x, m)
    assert m2.w is not m.w and isinstance(m2.w, pax.TrainVar)
    assert isinstance(m2.r, pax.RandomState) and m2.r.reduce is not None
    m2.s.value += 1  # changes the copy only
    assert float(m.s.value.sum()) == 0.0


@pytest.mark.parametrize("transform", ["jit", "grad", "vmap", "pure"])
def test_jax_transforms_work_on_modules_holding_variables(transform):
    m = Holder()
    x = jnp.ones((2,))
    if transform == "jit":
        np.testing.assert_allclose(jax.jit(lambda m, x: m(x))(m, x), m(x))
    elif transform == "grad":
        g = jax.grad(lambda m: m(x).sum(), allow_int=True)(m)
        np.testing.assert_allclose(g.w.value, jnp.ones((2, 3)))
    elif transform == "vmap":
        y = jax.vmap(lambda m, x: m(x), in_axes=(None, 0))(m, jnp.ones((4, 2)))
        assert y.shape == (4, 3)
    else:

        @pax.pure
        def bump(m):
            m.s.value += 1  # a variable of the copy: allowed
            return m

        m2 = bump(m)
        assert float(m2.s.value.sum()) == 3.0 and float(m.s.value.sum()) == 0.0


def test_parameters_keep_only_trainvars():
    m = Holder()
    params = m.parameters()
    assert isinstance(params.w, pax.TrainVar)
    assert isinstance(params.s, pax.EmptyNode) and isinstance(params.r, pax.EmptyNode)
    grads = pax.grad(lambda m, x: m(x).sum())(m, jnp.ones((2,)))
    np.testing.assert_allclose(grads.w.value, jnp.ones((2, 3)))
    assert jax.tree_util.tree_leaves(pax.freeze_parameters(m).parameters()) == []


def test_trainref_pytree_and_sharing_guard():
    class Opt(pax.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model
            self.refs = [pax.TrainRef(v) for v in model.vars().subset(is_a=pax.TrainVar)]

    opt = Opt(Holder())  # the TrainRef aliases model.w: not a sharing error
    assert isinstance(opt.parameters().refs[0], pax.EmptyNode)
    leaves, treedef = jax.tree_util.tree_flatten(opt.refs[0])
    assert leaves[0] is opt.model.w.value
    new_ref = jax.tree_util.tree_unflatten(treedef, [jnp.zeros((2, 3))])
    assert isinstance(new_ref, pax.TrainRef) and isinstance(new_ref.ref, pax.TrainVar)
    assert new_ref.ref is not opt.model.w
    new_ref.value += 1
    assert float(new_ref.ref.value.sum()) == 6.0


def test_state_dict_round_trip_with_variables():
    m = Holder()
    state = m.state_dict()
    np.testing.assert_array_equal(state["w"], m.w.value)
    m2 = m.load_state_dict(jax.tree_util.tree_map(jnp.zeros_like, state))
    assert isinstance(m2.w, pax.TrainVar) and float(jnp.abs(m2.w.value).sum()) == 0.0


# -- reduce ------------------------------------------------------------------------------


def test_reduce_functions():
    x = jnp.arange(6.0).reshape(3, 2)
    np.testing.assert_allclose(pax.TrainVar(jnp.zeros(2)).reduce(x), [2.0, 3.0])
    counts = jnp.array([2, 2, 2], jnp.int32)
    assert reduce_mean(counts).dtype == jnp.int32
    assert pax.RandomState(0).reduce(x).tolist() == [0.0, 1.0]
    assert pax.StateVar(jnp.zeros(2), reduce=lambda t: t.sum(0)).reduce(x).tolist() == [6.0, 9.0]
    assert pax.TrainRef(pax.TrainVar(jnp.zeros(2), reduce=reduce_first)).reduce(x).tolist() == [
        0.0,
        1.0,
    ]


# -- tracer-leak guard ---------------------------------------------------------------------

TRANSFORMS = {
    "jit": lambda f: jax.jit(f)(jnp.ones(())),
    "grad": lambda f: jax.grad(lambda x: (f(x), x)[1])(jnp.ones(())),
    "vmap": lambda f: jax.vmap(f)(jnp.ones((2,))),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@pytest.mark.parametrize("how", ["assign", "setter"])
def test_tracer_leak_raises_and_names_the_variable(name, how):
    m = Holder()
    m.vars()

    def f(x):
        value = m.s.value + x
        if how == "assign":
            m.s.assign(value)
        else:
            m.s.value = value
        return x

    with pytest.raises(
        ValueError,
        match=r"(?s)Cannot write a traced value into StateVar `\(Holder\).s`.*pax.Jit\(f, vc=",
    ):
        TRANSFORMS[name](f)
    assert not isinstance(m.s.value, jax.core.Tracer)
    assert float(m.s.value.sum()) == 0.0


def test_tracer_leak_names_unnamed_variables_by_repr():
    v = pax.StateVar(jnp.zeros((2,)))
    with pytest.raises(ValueError, match=r"into StateVar\(shape=\(2,\), dtype=float32\)"):
        jax.jit(lambda x: v.assign(x))(jnp.ones((2,)))


def test_trainref_write_leak_names_the_trainvar():
    m = Holder()
    m.vars()
    ref = pax.TrainRef(m.w)
    with pytest.raises(ValueError, match=r"TrainVar `\(Holder\).w`"):
        jax.jit(lambda x: ref.assign(ref.value + x))(1.0)


def test_variables_created_inside_a_trace_may_take_tracers():
    def f(x):
        v = pax.StateVar(x)
        v.value = v.value * 2
        return v.value

    assert float(jax.jit(f)(1.0)) == 2.0


def test_pax_style_training_of_objax_variables():
    import opax

    class Model(pax.Module):
        def __init__(self):
            super().__init__()
            self.w = pax.TrainVar(jnp.ones((2, 1)))
            self.calls = pax.StateVar(jnp.zeros((), jnp.int32))

        def __call__(self, x):
            self.calls.value += 1
            return x @ self.w.value

    def loss_fn(model, x, y):
        model, y_hat = pax.purecall(model, x)
        loss = jnp.mean((y_hat - y) ** 2)
        return loss, (loss, model)

    model = Model()
    optimizer = opax.adam(1e-2)(model.parameters())
    update_fn = jax.jit(pax.build_update_fn(loss_fn))
    losses = []
    for _ in range(3):
        model, optimizer, loss = update_fn(model, optimizer, jnp.ones((4, 2)), jnp.zeros((4, 1)))
        losses.append(float(loss))
    assert losses[2] < losses[0] and int(model.calls.value) == 3


# -- variables used as arrays (Objax's operators, issue 17) ---------------------------

ARRAY_EXPRESSIONS = {
    "matmul": lambda v, x: x @ v,
    "rmatmul_of_var": lambda v, x: v.T @ x.T,
    "add": lambda v, x: v + 1,
    "radd": lambda v, x: 1 + v,
    "sub": lambda v, x: v - x[0, 0],
    "rsub": lambda v, x: 2.0 - v,
    "mul": lambda v, x: v * 3,
    "rmul": lambda v, x: x[0, :1] * v,
    "truediv": lambda v, x: v / 2,
    "rtruediv": lambda v, x: 1.0 / (v + 1),
    "floordiv": lambda v, x: v // 2,
    "rfloordiv": lambda v, x: 7.0 // (v + 1),
    "mod": lambda v, x: v % 2,
    "rmod": lambda v, x: 7.0 % (v + 1),
    "pow": lambda v, x: v**2,
    "rpow": lambda v, x: 2.0**v,
    "neg": lambda v, x: -v,
    "pos": lambda v, x: +v,
    "abs": lambda v, x: abs(v - 2),
    "lt": lambda v, x: v < 2,
    "le": lambda v, x: v <= 2,
    "gt": lambda v, x: v > 2,
    "ge": lambda v, x: v >= 2,
    "getitem": lambda v, x: v[0],
    "getitem_slice": lambda v, x: v[:, 1:],
    "transpose": lambda v, x: v.T,
    "numpy_left": lambda v, x: np.ones((4, 2), np.float32) @ v,
    "numpy_add": lambda v, x: np.ones(3, np.float32) + v,
    "two_variables": lambda v, x: v + pax.StateVar(jnp.ones((2, 3))),
}


@pytest.mark.parametrize("name", sorted(ARRAY_EXPRESSIONS))
@pytest.mark.parametrize("kind", ["TrainVar", "StateVar", "TrainRef"])
def test_variable_used_as_array_equals_its_value(kind, name):
    expr = ARRAY_EXPRESSIONS[name]
    value = jnp.arange(6.0).reshape(2, 3)
    var = {
        "TrainVar": lambda: pax.TrainVar(value),
        "StateVar": lambda: pax.StateVar(value),
        "TrainRef": lambda: pax.TrainRef(pax.TrainVar(value)),
    }[kind]()
    x = jnp.linspace(-1.0, 1.0, 8).reshape(4, 2)
    got = expr(var, x)
    assert isinstance(got, jax.Array), type(got)
    np.testing.assert_array_equal(got, expr(value, x))
    # inside jax.jit the variable (a pytree) holds a tracer: the operators still work
    jitted = jax.jit(expr)(var, x)
    np.testing.assert_allclose(jitted, expr(value, x), rtol=1e-6)


def test_integer_variable_operators():
    v = pax.StateVar(jnp.array([1, 2, 6], jnp.int32))
    np.testing.assert_array_equal(v & 3, [1, 2, 2])
    np.testing.assert_array_equal(5 | v, [5, 7, 7])
    np.testing.assert_array_equal(v ^ 1, [0, 3, 7])
    np.testing.assert_array_equal(~v, [-2, -3, -7])
    np.testing.assert_array_equal(v << 1, [2, 4, 12])
    np.testing.assert_array_equal(v >> 1, [0, 1, 3])
    quotient, remainder = divmod(v, 4)
    np.testing.assert_array_equal(quotient, [0, 0, 1])
    np.testing.assert_array_equal(remainder, [1, 2, 2])


def test_variable_properties_len_iter_and_conversions():
    v = pax.TrainVar(jnp.arange(6.0).reshape(2, 3))
    assert (v.shape, v.dtype, v.ndim, v.size, len(v)) == ((2, 3), jnp.float32, 2, 6, 2)
    assert [row.tolist() for row in v] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    scalar = pax.StateVar(jnp.array(3))
    assert (int(scalar), float(scalar), complex(scalar), [0, 1, 2, 3][scalar]) == (
        3,
        3.0,
        3 + 0j,
        3,
    )
    # the truth value is the array's: scalars convert, larger arrays are ambiguous
    assert bool(scalar) and not bool(pax.StateVar(jnp.zeros(())))
    with pytest.raises(ValueError, match="truth value of an array"):
        bool(v)
    ref = pax.TrainRef(v)
    assert ref.shape == (2, 3) and ref[1, 2] == 5.0


@pytest.mark.parametrize("dtype", [None, np.float64, np.int32])
@pytest.mark.parametrize("copy", [None, True])
def test_numpy_asarray_of_a_variable(dtype, copy):
    v = pax.StateVar(jnp.arange(6.0).reshape(2, 3))
    expected = np.arange(6.0).reshape(2, 3).astype(dtype or np.float32)
    got = np.array(v, dtype=dtype, copy=copy)
    assert got.dtype == expected.dtype and got.dtype != object
    np.testing.assert_array_equal(got, expected)
    if copy:
        got[0, 0] = 10  # a copy of its own: the variable is unchanged
        assert float(v.value[0, 0]) == 0.0
    np.testing.assert_array_equal(np.asarray(pax.TrainRef(pax.TrainVar(v.value))), expected)


def test_numpy_functions_take_variables():
    v = pax.StateVar(jnp.arange(6.0))
    assert float(np.sum(v)) == 15.0 and float(np.mean(v)) == 2.5
    np.testing.assert_allclose(np.exp(v), np.exp(np.arange(6.0)), rtol=1e-6)
    np.testing.assert_array_equal(v, np.arange(6.0))


def test_numpy_asarray_without_copy_is_refused():
    v = pax.StateVar(jnp.arange(3.0))
    with pytest.raises(ValueError, match="copy=False"):
        np.asarray(v, copy=False)


def test_variables_compare_and_hash_by_identity():
    """``==`` is identity (VarCollection's dedup and conflict checks rely on it)."""
    a = pax.TrainVar(jnp.zeros(3))
    b = pax.TrainVar(jnp.zeros(3))
    assert a == a and a != b and not (a == b) and not (a != a)
    assert len({a, b, a}) == 2 and a in [a] and b not in [a]
    vc = pax.VarCollection({"a": a, "a2": a, "b": b})
    assert list(vc) == [a, b]
    with pytest.raises(ValueError, match="conflict"):
        vc + pax.VarCollection({"a": b})
    assert (vc + pax.VarCollection({"a": a}))["a"] is a


def test_jax_numpy_functions_need_value():
    """JAX 0.10 ignores ``__jax_array__``: jax.numpy functions name the variable."""
    v = pax.TrainVar(jnp.ones((2, 3)))
    with pytest.raises(TypeError, match="dot requires ndarray or scalar arguments, got.*TrainVar"):
        jnp.dot(jnp.ones(2), v)
    np.testing.assert_array_equal(jnp.dot(jnp.ones(2), v.value), [2.0, 2.0, 2.0])


def test_assign_accepts_a_variable():
    v = pax.StateVar(jnp.zeros(3))
    v.assign(pax.TrainVar(jnp.ones(3)))
    assert isinstance(v.value, jax.Array) and v.value.tolist() == [1.0, 1.0, 1.0]
