"""pax.debug.find_constants, and the captured-constants warning of
pax.build_update_fn and pax.Jit."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import opax
import pytest

import pax
from pax._src.debug.constants import (
    DEFAULT_CONSTANT_WARNING_BYTES,
    CapturedConstantsWarning,
    Constant,
    ConstantsCheck,
    find_constants,
    get_constant_warning_bytes,
    set_constant_warning_bytes,
)

X = jnp.ones((4, 8))
Y = jnp.zeros((4, 2))


def make_model(key=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(key))
    return pax.Sequential(pax.Linear(8, 16, rng_key=k1), jax.nn.relu, pax.Linear(16, 2, rng_key=k2))


def mse(model, x, y):
    loss = jnp.mean((model(x) - y) ** 2)
    return loss, (loss, model)


@pytest.fixture
def threshold():
    """Set the warning threshold for one test; restored afterwards."""
    previous = get_constant_warning_bytes()
    yield set_constant_warning_bytes
    set_constant_warning_bytes(previous)


def leaf_constants(model, origin):
    """The constants a model's leaves give, largest first, as find_constants names them."""
    leaves = jax.tree_util.tree_flatten_with_path(model)[0]
    out = [
        Constant(
            tuple(x.shape),
            str(x.dtype),
            x.nbytes,
            origin,
            type(model).__name__,
            jax.tree_util.keystr(p),
        )
        for p, x in leaves
    ]
    return sorted(out, key=lambda c: -c.nbytes)


# -- find_constants ------------------------------------------------------------------------------


def test_loss_closing_over_a_model_is_found_and_named():
    model = make_model()

    def loss(x, y):
        return mse(model, x, y)[0]

    found = find_constants(loss, X, Y)
    assert found == leaf_constants(model, "closure 'model'")
    assert [c.nbytes for c in found] == [512, 128, 64, 8]
    assert found[0].where == "closure 'model': Sequential.modules[0].weight"
    assert found.total_bytes == sum(x.nbytes for x in jax.tree_util.tree_leaves(model))
    report = str(found)
    assert report.splitlines()[0].split() == [
        "float32[8,16]",
        "512",
        "B",
        "closure",
        "'model':",
        "Sequential.modules[0].weight",
    ]
    assert report.splitlines()[-1] == "4 constant(s), 712 B in all"


def test_idiomatic_steps_capture_nothing():
    model = make_model()
    assert find_constants(lambda m, x, y: mse(m, x, y)[0], model, X, Y) == []
    optimizer = opax.adam(1e-3)(model.parameters())
    update_fn = pax.build_update_fn(mse)
    found = find_constants(update_fn, model, optimizer, X, Y)
    assert found == [] and str(found) == "no constants"


GLOBAL_MODEL = make_model(1)
GLOBAL_TABLE = np.arange(12, dtype=np.float32).reshape(3, 4)


def predict_with_global(x):
    return GLOBAL_MODEL(x)


def test_globals_numpy_arrays_and_helpers_are_named():
    def loss(x):
        return predict_with_global(x).sum() + jnp.sum(GLOBAL_TABLE)

    found = find_constants(loss, X)
    where = {c.where for c in found}
    assert (
        "global 'predict_with_global' > global 'GLOBAL_MODEL': Sequential.modules[0].weight"
        in where
    )
    assert "global 'GLOBAL_TABLE'" in where
    table = next(c for c in found if c.where == "global 'GLOBAL_TABLE'")
    assert (table.shape, table.dtype, table.nbytes) == ((3, 4), "float32", 48)


def test_partial_bound_method_module_and_nested_jit():
    model = make_model()
    assert find_constants(functools.partial(mse, model), X, Y) == leaf_constants(
        model, "partial argument 0"
    )
    assert find_constants(model, X) == leaf_constants(model, "self")
    assert find_constants(model.__call__, X) == leaf_constants(model, "self")
    inner = jax.jit(lambda x: model(x))
    assert find_constants(lambda x: inner(x) * 2, X) == leaf_constants(
        model, "closure 'inner' > closure 'model'"
    )


def test_constants_made_while_tracing_have_no_origin():
    found = find_constants(lambda x: x @ np.ones((8, 3), np.float32), X)
    assert len(found) == 1 and found[0].origin is None
    assert "made while tracing" in str(found[0])


def test_modules_in_containers_and_objax_functions():
    models = [make_model(2), make_model(3)]
    found = find_constants(lambda x: models[1](x), X)
    assert found[0].where == "closure 'models'[1]: Sequential.modules[0].weight"
    m = make_model(4)
    f = pax.Function(lambda x: m(x), m.vars())
    assert find_constants(f, X)[0].where == "closure 'm': Sequential.modules[0].weight"


# -- the warning of build_update_fn ---------------------------------------------------------


def distill_loss_closing_over(teacher):
    def loss_fn(model, x, y):
        loss = jnp.mean((model(x) - teacher(x)) ** 2)
        return loss, (loss, model)

    return loss_fn


def test_build_update_fn_warns_once_with_the_fix():
    assert get_constant_warning_bytes() == DEFAULT_CONSTANT_WARNING_BYTES == 1 << 20
    teacher = pax.Linear(8, 40_000)  # 1.4 MiB of weights closed over
    model = pax.Linear(8, 40_000)
    update_fn = jax.jit(pax.build_update_fn(distill_loss_closing_over(teacher)))
    optimizer = opax.sgd(1e-3)(model.parameters())
    with pytest.warns(CapturedConstantsWarning) as record:
        model, optimizer, _ = update_fn(model, optimizer, X, Y)
        model, optimizer, _ = update_fn(model, optimizer, X[:2], Y[:2])  # a new trace
    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith(
        "pax.build_update_fn: the loss function "
        "`distill_loss_closing_over.<locals>.loss_fn` reads 1.4 MiB of arrays"
    )
    assert "closure 'teacher': Linear.weight" in message
    assert "Fix: pass the model as an argument" in message
    assert "update_fn(model, optimizer, x, y, teacher)" in message
    assert record[0].filename == __file__  # points at the loss function


def test_build_update_fn_idiomatic_and_small_do_not_warn(threshold):
    model = make_model()
    optimizer = opax.adam(1e-3)(model.parameters())
    threshold(0)  # any captured byte would warn
    jax.jit(pax.build_update_fn(mse))(model, optimizer, X, Y)
    scan_fn = pax.build_update_fn(mse, scan_mode=True)
    pax.scan(lambda c, _: scan_fn(c, X, Y), (model, optimizer), None, length=2)
    # a closed-over model under the threshold
    threshold(DEFAULT_CONSTANT_WARNING_BYTES)
    closing = pax.build_update_fn(distill_loss_closing_over(make_model(5)))
    jax.jit(closing)(model, optimizer, X, Y)


def test_the_check_skips_calls_outside_transforms(threshold):
    threshold(0)
    teacher = make_model(5)
    check = ConstantsCheck(lambda x: teacher(x), "t", "s", "i", "f")
    check(make_model())  # concrete arguments: an eager call, nothing is compiled
    assert not check.warned
    with pytest.warns(CapturedConstantsWarning, match="t: s reads 712 B of arrays that are not i"):
        jax.jit(lambda m: check(m) or 0)(make_model())
    assert check.warned


def test_threshold_setting(threshold):
    teacher = make_model(6)
    threshold(100)
    with pytest.warns(CapturedConstantsWarning, match="712 B of arrays"):
        jax.jit(pax.build_update_fn(distill_loss_closing_over(teacher)))(
            make_model(), opax.sgd(0.1)(make_model().parameters()), X, Y
        )
    threshold(None)
    jax.jit(pax.build_update_fn(distill_loss_closing_over(teacher)))(
        make_model(), opax.sgd(0.1)(make_model().parameters()), X, Y
    )
    for bad in (-1, 1.5, "1MiB"):
        with pytest.raises(ValueError, match="number of bytes >= 0 or None"):
            set_constant_warning_bytes(bad)


# -- the warning of pax.Jit --------------------------------------------------------------------


def test_jit_warns_once_for_variables_not_in_vc(threshold):
    threshold(100)
    model, other = make_model(7), make_model(8)

    @pax.Function.with_vars(model.vars())
    def f(x):
        return model(x) + other(x)

    jitted = pax.Jit(f)
    with pytest.warns(CapturedConstantsWarning) as record:
        jitted(X)
        jitted(X[:2])
    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith("pax.Jit: the compiled function")
    assert "that are not in its `vc`" in message
    assert "closure 'other': Sequential.modules[0].weight" in message
    assert "closure 'model'" not in message  # its variables are inputs
    assert "add their variables to `vc`" in message


def test_jit_with_every_variable_in_vc_does_not_warn(threshold):
    threshold(0)
    model = pax.Sequential(pax.Linear(2, 4), jax.nn.relu, pax.Linear(4, 1))
    bn = pax.BatchNorm1D(2)
    opt_vars = model.vars()

    class SGD(pax.Module):
        def __init__(self, vc):
            super().__init__()
            self.refs = pax.ModuleList(pax.TrainRef(v) for v in vc.subset(pax.TrainVar))

        def __call__(self, lr, grads):
            for ref, g in zip(self.refs, grads):
                ref.value -= lr * g

    opt = SGD(opt_vars)
    gv = pax.GradValues(lambda x, y: jnp.mean((model(bn(x)) - y) ** 2), model.vars() + bn.vars())

    @pax.Function.with_vars(model.vars() + bn.vars() + opt.vars())
    def train_op(x, y):
        grads, (loss,) = gv(x, y)
        opt(0.1, grads)
        return loss

    train_op = pax.Jit(train_op)
    x = jnp.ones((8, 2))
    train_op(x, x[:, :1])
    pax.Jit(model)(x)
