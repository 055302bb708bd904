"""``pax.pure``, ``pax.purecall``, ``pax.module_and_value`` and ``module % x`` (SPEC §1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax


class Counter(pax.Module):
    def __init__(self, start=0):
        super().__init__()
        self.count = jnp.array(start)
        self.fc = pax.Linear(1, 1)

    def __call__(self, x, step=1):
        self.count = self.count + step
        return x * self.count

    def bump(self, k):
        """A method other than ``__call__`` that mutates."""
        self.count = self.count + k
        return self.count * 10


class Holder(pax.Module):
    def __init__(self, **attributes):
        super().__init__()
        for name, value in attributes.items():
            setattr(self, name, value)


def state(module):
    """Treedef and leaf identities: equal states mean nothing changed."""
    leaves, treedef = jax.tree_util.tree_flatten(module)
    return treedef, [id(x) for x in leaves], sorted(vars(module))


# -- copies ---------------------------------------------------------------------------------


def test_pure_runs_on_copies_of_module_arguments():
    net = Counter()
    seen = {}

    @pax.pure
    def f(m, others, kw=None):
        seen["m"], seen["inner"], seen["kw"] = m, others[0], kw
        return None

    other, kw = pax.Linear(1, 1), pax.Linear(2, 2)
    f(net, [other], kw=kw)
    assert seen["m"] is not net and seen["m"] == net
    assert seen["m"].fc is not net.fc  # submodules are copied too
    assert seen["inner"] is not other and seen["inner"] == other
    assert seen["kw"] is not kw and seen["kw"] == kw


def test_non_module_arguments_pass_through():
    x = jnp.arange(3.0)

    @pax.pure
    def f(a, b, c):
        return a, b, c

    a, b, c = f(x, 3, "s")
    assert a is x and b == 3 and c == "s"


# -- mutations do not leak ------------------------------------------------------------------


MUTATIONS = [
    ("rebind_array", lambda m: setattr(m, "count", m.count + 5)),
    ("new_static", lambda m: setattr(m, "tag", "t")),
    ("new_array", lambda m: setattr(m, "extra", jnp.ones(2))),
    ("delete", lambda m: delattr(m, "fc")),
    ("replace_submodule", lambda m: setattr(m, "fc", pax.Linear(1, 3))),
    ("mutate_submodule", lambda m: setattr(m.fc, "weight", jnp.zeros((1, 1)))),
    ("call", lambda m: m(2.0)),
    ("method", lambda m: m.bump(3)),
]


@pytest.mark.parametrize("mutate", [c[1] for c in MUTATIONS], ids=[c[0] for c in MUTATIONS])
def test_mutations_inside_pure_do_not_leak(mutate):
    net = Counter()
    before, fc_before = state(net), state(net.fc)

    @pax.pure
    def f(m):
        mutate(m)
        return m

    out = f(net)
    assert state(net) == before and state(net.fc) == fc_before
    assert int(net.count) == 0
    assert out is not net
    assert state(out) != before or state(out.fc) != fc_before  # the copy did change


def test_mutating_a_module_that_is_not_an_argument_raises():
    captured = Counter()

    @pax.pure
    def f(m):
        captured.count = m.count  # a closure is not copied: still immutable
        return m

    with pytest.raises(ValueError, match="pax.pure"):
        f(Counter())


def test_modules_in_containers_are_mutable_copies():
    a, b = Counter(), Counter()

    @pax.pure
    def f(pair, mapping):
        pair[0].count = jnp.array(7)
        mapping["b"].count = jnp.array(8)
        return pair, mapping

    (a2, _), d = f((a, 1), {"b": b})
    assert int(a2.count) == 7 and int(d["b"].count) == 8
    assert int(a.count) == 0 and int(b.count) == 0


def test_returned_modules_are_immutable():
    @pax.pure
    def f(m):
        m.count = m.count + 1
        return m

    out = f(Counter())
    with pytest.raises(ValueError, match="immutable outside `pax.pure`"):
        out.count = jnp.array(0)
    with pytest.raises(ValueError, match="immutable outside `pax.pure`"):
        out.fc.weight = jnp.zeros((1, 1))
    with pytest.raises(ValueError, match="pax.pure"):
        del out.fc


def test_exception_inside_pure_leaves_caller_and_state_clean():
    net = Counter()
    before = state(net)

    @pax.pure
    def f(m):
        m.count = m.count + 1
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        f(net)
    assert state(net) == before
    with pytest.raises(ValueError, match="pax.pure"):
        net.count = jnp.array(1)  # no mutability left behind
    with pytest.raises(ValueError, match="pax.pure"):
        pax.Linear(1, 1).weight = jnp.zeros((1, 1))


# -- nesting and modules created inside --------------------------------------------------


def test_nested_pure():
    net = Counter()

    @pax.pure
    def inner(m):
        m.count = m.count + 100
        m.inner_tag = "inner"
        return m

    @pax.pure
    def outer(m):
        changed = inner(m)
        assert int(m.count) == 0 and not hasattr(m, "inner_tag")  # inner did not leak
        m.count = m.count + 1  # still mutable after the inner call returned
        with pytest.raises(ValueError, match="pax.pure"):
            changed.count = jnp.array(0)  # inner's result is immutable
        return m, changed

    m, changed = outer(net)
    assert int(m.count) == 1 and int(changed.count) == 100 and changed.inner_tag == "inner"
    assert int(net.count) == 0


def test_modules_created_inside_pure_are_mutable_there_and_frozen_after():
    @pax.pure
    def make():
        m = Counter(start=3)
        m.count = m.count * 2
        m.fc.bias = jnp.ones(1)
        m.note = "made inside"
        return m

    m = make()
    assert int(m.count) == 6 and m.note == "made inside"
    np.testing.assert_array_equal(m.fc.bias, [1.0])
    with pytest.raises(ValueError, match="pax.pure"):
        m.note = "again"
    with pytest.raises(ValueError, match="pax.pure"):
        m.fc.bias = jnp.zeros(1)


def test_pure_under_jit_and_jit_under_pure():
    @jax.jit
    def step(m, x):
        return pax.purecall(m, x)

    m, y = step(Counter(), jnp.array(2.0))
    assert int(m.count) == 1
    np.testing.assert_allclose(y, 2.0)

    @pax.pure
    def twice(m, x):
        m.count = m.count + 1
        m2, _ = step(m, x)
        with pytest.raises(ValueError, match="pax.pure"):
            m2.count = jnp.array(0)  # a module made by a transform is not an argument
        return m2

    assert int(twice(Counter(), jnp.array(1.0)).count) == 2


def test_pure_of_a_module_or_bound_method():
    net = Counter()
    assert float(pax.pure(net)(jnp.array(3.0))) == 3.0
    assert int(net.count) == 0
    assert int(pax.pure(net.bump)(4)) == 40
    assert int(net.count) == 0


# -- purecall, module_and_value, % -----------------------------------------------------------


def test_purecall_returns_updated_module_and_output():
    net = Counter()
    net2, y = pax.purecall(net, jnp.array(2.0), step=3)
    assert int(net2.count) == 3 and int(net.count) == 0
    np.testing.assert_allclose(y, 6.0)
    with pytest.raises(ValueError, match="pax.pure"):
        net2.count = jnp.array(0)


def test_purecall_matches_a_batch_norm_reference():
    bn = pax.BatchNorm1D(2, decay_rate=0.5)
    x = jnp.array([[1.0, 2.0], [3.0, 8.0]])
    bn2, y = pax.purecall(bn, x)
    mean, var = np.asarray(x).mean(0), np.asarray(x).var(0)
    np.testing.assert_allclose(
        y, (np.asarray(x) - mean) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-5
    )
    # zero-debiased averages: the first update takes the batch statistics
    np.testing.assert_allclose(bn2.ema_mean.averages, mean.reshape(1, 1, 2), rtol=1e-6)
    np.testing.assert_allclose(bn2.ema_var.averages, var.reshape(1, 1, 2), rtol=1e-6)
    assert float(bn.ema_mean.debias) == 0.0 and float(bn2.ema_mean.debias) == 0.5  # 1 - 0.5**1
    np.testing.assert_array_equal(bn.ema_mean.averages, np.zeros((1, 1, 2)))  # unchanged


def test_purecall_rejects_non_modules():
    with pytest.raises(TypeError, match="purecall expects a pax module"):
        pax.purecall(lambda x: x, 1.0)


def test_module_and_value_with_a_module():
    net = Counter()
    net2, y = pax.module_and_value(net)(jnp.array(1.5), step=2)
    assert int(net2.count) == 2 and int(net.count) == 0
    np.testing.assert_allclose(y, 3.0)


def test_module_and_value_with_a_bound_method():
    net = Counter()
    net2, y = pax.module_and_value(net.bump)(5)
    assert isinstance(net2, Counter)
    assert int(net2.count) == 5 and int(y) == 50
    assert int(net.count) == 0


def test_module_and_value_under_jit():
    f = jax.jit(lambda m, x: pax.module_and_value(m.bump)(x))
    net2, y = f(Counter(), jnp.array(2))
    assert int(net2.count) == 2 and int(y) == 20


def test_module_and_value_rejects_a_module_without_call():
    with pytest.raises(TypeError, match="has no `__call__`"):
        pax.module_and_value(Holder(w=jnp.ones(1)))


@pytest.mark.parametrize(
    "args, expected_count, expected_y",
    [((jnp.array(2.0),), 1, 2.0), ((jnp.array(2.0), 3), 3, 6.0)],
    ids=["single", "tuple_spreads"],
)
def test_mod_operator(args, expected_count, expected_y):
    net = Counter()
    arg = args[0] if len(args) == 1 else args
    net2, y = net % arg
    assert int(net2.count) == expected_count and int(net.count) == 0
    np.testing.assert_allclose(y, expected_y)


def test_mod_operator_in_a_loop_threads_state():
    net = Counter()
    for _ in range(3):
        net, y = net % jnp.array(1.0)
    assert int(net.count) == 3
    np.testing.assert_allclose(y, 3.0)
