"""opax_integration: opax and optax optimizers in both training styles.

For Adam, SGD with momentum and a chain with gradient clipping and weight decay, the
opax optimizer, the same optimizer from optax (through ``from_optax``) and a plain-JAX
reference (the update equations written out on raw arrays) reach the same parameters
after 20 steps, in the PAX style (``pax.build_update_fn``) and in the Objax style
(``vars()``, ``pax.GradValues``, ``opax_integration.Optimizer``, ``pax.Jit``).
"""

import functools
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import opax
import pytest

import pax
from opax_integration import OptaxOptimizer, Optimizer, from_optax

try:
    import optax
except ImportError:  # optax is an optional extra
    optax = None

needs_optax = pytest.mark.skipif(optax is None, reason="optax is not installed")

STEPS = 20
RTOL, ATOL = 2e-5, 2e-6  # float32, after 20 steps
ADAM_LR, SGD_LR, MOMENTUM = 0.05, 0.1, 0.9
CLIP, WEIGHT_DECAY = 0.5, 0.1

# -- data and model ------------------------------------------------------------------------

_rng = np.random.default_rng(0)
XS = jnp.asarray(_rng.normal(size=(STEPS, 16, 3)), jnp.float32)
YS = jnp.asarray(np.sin(2 * np.asarray(XS[..., :2])) + 0.5, jnp.float32)
_k1, _k2 = jax.random.split(jax.random.PRNGKey(1))
BASE_MODEL = pax.Sequential(pax.Linear(3, 8, rng_key=_k1), jnp.tanh, pax.Linear(8, 2, rng_key=_k2))


def fresh_model() -> pax.Sequential:
    """A new copy of BASE_MODEL (its own arrays and its own variable views)."""
    return jax.tree_util.tree_map(jnp.array, BASE_MODEL)


def params_of(model: pax.Sequential) -> list[np.ndarray]:
    return [np.asarray(a) for a in (model[0].weight, model[0].bias, model[2].weight, model[2].bias)]


# -- the plain-JAX reference: raw arrays and the update equations written out ---------------


def ref_loss(params: list[jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    w1, b1, w2, b2 = params
    return jnp.mean((jnp.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2)


class AdamState(NamedTuple):
    count: jax.Array
    mu: list[jax.Array]
    nu: list[jax.Array]


def adam_direction(state: AdamState, grads, b1=0.9, b2=0.999, eps=1e-8):
    count = state.count + 1
    mu = [b1 * m + (1 - b1) * g for m, g in zip(state.mu, grads)]
    nu = [b2 * v + (1 - b2) * g * g for v, g in zip(state.nu, grads)]
    direction = [
        (m / (1 - b1**count)) / (jnp.sqrt(v / (1 - b2**count)) + eps) for m, v in zip(mu, nu)
    ]
    return direction, AdamState(count, mu, nu)


def ref_adam(params, grads, state):
    direction, state = adam_direction(state, grads)
    return [p - ADAM_LR * d for p, d in zip(params, direction)], state


def ref_sgd_momentum(params, grads, trace):
    trace = [g + MOMENTUM * t for g, t in zip(grads, trace)]
    return [p - SGD_LR * t for p, t in zip(params, trace)], trace


def ref_clip_adamw(params, grads, state):
    norm = jnp.sqrt(sum(jnp.sum(g * g) for g in grads))
    grads = [g * jnp.minimum(1.0, CLIP / norm) for g in grads]
    direction, state = adam_direction(state, grads)
    return [p - ADAM_LR * (d + WEIGHT_DECAY * p) for p, d in zip(params, direction)], state


def adam_init(params):
    return AdamState(jnp.zeros((), jnp.int32), [0 * p for p in params], [0 * p for p in params])


def _ref_case(name: str):
    if name == "adam":
        return ref_adam, adam_init
    if name == "sgd_momentum":
        return ref_sgd_momentum, lambda params: [0 * p for p in params]
    return ref_clip_adamw, adam_init


@functools.lru_cache(maxsize=None)
def reference(name: str) -> list[np.ndarray]:
    """The parameters after STEPS reference steps of optimizer ``name``."""
    update, init = _ref_case(name)

    @jax.jit
    def step(params, state, x, y):
        grads = jax.grad(ref_loss)(params, x, y)
        return update(params, grads, state)

    params = [jnp.asarray(p) for p in params_of(BASE_MODEL)]
    state = init(params)
    for i in range(STEPS):
        params, state = step(params, state, XS[i], YS[i])
    return [np.asarray(p) for p in params]


# -- the optimizers under test ------------------------------------------------------------


def opax_transformation(name: str) -> Callable[[Any], Any]:
    if name == "adam":
        return opax.adam(ADAM_LR)
    if name == "sgd_momentum":
        return opax.sgd(SGD_LR, momentum=MOMENTUM)
    return opax.chain(
        opax.clip_by_global_norm(CLIP), opax.adamw(ADAM_LR, weight_decay=WEIGHT_DECAY)
    )


def optax_transformation(name: str) -> Any:
    if name == "adam":
        return optax.adam(ADAM_LR)
    if name == "sgd_momentum":
        return optax.sgd(SGD_LR, momentum=MOMENTUM)
    return optax.chain(
        optax.clip_by_global_norm(CLIP), optax.adamw(ADAM_LR, weight_decay=WEIGHT_DECAY)
    )


def transformation(name: str, path: str) -> Callable[[Any], Any]:
    """An opax-style factory (params -> optimizer module) for ``name`` along ``path``."""
    if path == "opax":
        return opax_transformation(name)
    return from_optax(optax_transformation(name))


CASES = ["adam", "sgd_momentum", "clip_adamw"]
PATHS = ["opax", pytest.param("optax", marks=needs_optax)]


def assert_params_close(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL)


def test_the_reference_moves_and_clips():
    """The cases are not trivial: parameters move, and the clipping case clips."""
    start = params_of(BASE_MODEL)
    for name in CASES:
        moved = max(np.abs(a - b).max() for a, b in zip(reference(name), start))
        assert moved > 0.05, name
    grads = jax.grad(ref_loss)([jnp.asarray(p) for p in start], XS[0], YS[0])
    assert float(jnp.sqrt(sum(jnp.sum(g * g) for g in grads))) > 2 * CLIP


# -- PAX style: pax.build_update_fn ---------------------------------------------------------


def mse_loss(model, x, y):
    loss = jnp.mean((model(x) - y) ** 2)
    return loss, (loss, model)


UPDATE_FN = jax.jit(pax.build_update_fn(mse_loss))


def train_pax_style(optimizer_factory: Callable[[Any], Any]):
    model = fresh_model()
    optimizer = optimizer_factory(model.parameters())
    for i in range(STEPS):
        model, optimizer, _ = UPDATE_FN(model, optimizer, XS[i], YS[i])
    return model, optimizer


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", CASES)
def test_pax_style_matches_the_reference(name, path):
    model, _ = train_pax_style(transformation(name, path))
    assert_params_close(params_of(model), reference(name))


# -- Objax style: vars(), GradValues, Optimizer, Jit ------------------------------------------


def objax_trainer(model: pax.Sequential, opt: Optimizer, jit: bool = True, with_lr: bool = False):
    """The Objax-style train op for ``model`` and ``opt``."""

    def loss(x, y):
        return jnp.mean((model(x) - y) ** 2)

    gv = pax.GradValues(loss, model.vars())

    def train_op(x, y, lr=None):
        grads, (value,) = gv(x, y)
        if with_lr:
            opt(grads, lr=lr)
        else:
            opt(grads)
        return value

    return pax.Jit(train_op, model.vars() + opt.vars()) if jit else train_op


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", CASES)
def test_objax_style_matches_the_reference(name, path):
    model = fresh_model()
    tx = opax_transformation(name) if path == "opax" else optax_transformation(name)
    opt = Optimizer(tx, model.vars())  # an optax transformation is bridged automatically
    train_op = objax_trainer(model, opt)
    losses = [float(train_op(XS[i], YS[i])) for i in range(STEPS)]
    assert losses[-1] < losses[0]
    assert_params_close(params_of(model), reference(name))


def test_objax_state_survives_jit_calls_and_eager_calls():
    """Steps under pax.Jit, then eager steps, then pax.Jit again: the optimizer state
    carries over, and it equals the state of the same opax optimizer trained PAX style."""
    model = fresh_model()
    opt = Optimizer(opax.adam(ADAM_LR), model.vars())
    jitted, eager = objax_trainer(model, opt), objax_trainer(model, opt, jit=False)
    for i in range(STEPS):
        (eager if 8 <= i < 11 else jitted)(XS[i], YS[i])
        assert int(opt.transformation.transforms[0].count) == i + 1
    assert_params_close(params_of(model), reference("adam"))
    _, pax_optimizer = train_pax_style(opax.adam(ADAM_LR))
    ours = jax.tree_util.tree_leaves(opt.transformation)
    theirs = jax.tree_util.tree_leaves(pax_optimizer)
    assert len(ours) == len(theirs) == 9  # count, then mu and nu of 4 arrays
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    # the state is in opt.vars(), with its opax path as name
    names = list(opt.vars().keys())
    assert "(Optimizer).state['transforms[0].count']" in names
    assert sum(name.startswith("(Optimizer).refs[") for name in names) == 4


def test_objax_lr_argument_multiplies_the_updates_under_jit():
    """Objax passes the learning rate at each call: build the transformation with
    learning_rate=1 and give `lr` (a traced argument of the compiled step)."""
    model = fresh_model()
    opt = Optimizer(opax.adam(1.0), model.vars())
    train_op = objax_trainer(model, opt, with_lr=True)
    for i in range(STEPS):
        train_op(XS[i], YS[i], lr=jnp.float32(ADAM_LR))
    assert_params_close(params_of(model), reference("adam"))


def test_objax_optimizer_trains_only_the_train_vars():
    bn = pax.BatchNorm1D(2)
    vc = bn.vars()
    assert len(vc.subset(is_not=pax.TrainVar)) > 0  # moving averages: not trained
    opt = Optimizer(opax.sgd(1.0, momentum=0.0), vc)
    assert len(opt.refs) == 2
    before = np.asarray(bn.ema_mean.averages)
    opt([jnp.ones((1, 1, 2)), jnp.full((1, 1, 2), 2.0)])
    np.testing.assert_allclose(bn.scale, 1.0 - 1.0)
    np.testing.assert_allclose(bn.offset, -2.0)
    np.testing.assert_array_equal(bn.ema_mean.averages, before)


def test_objax_optimizer_updates_shared_variables_once():
    w = pax.TrainVar(jnp.ones(3))
    vc = pax.VarCollection({"a": w, "b": w, "ref": pax.TrainRef(w)})
    opt = Optimizer(opax.sgd(0.5, momentum=0.0), vc)
    assert len(opt.refs) == 1
    opt([jnp.ones(3)])
    np.testing.assert_allclose(w.value, 0.5)


# -- the optax bridge as an opax optimizer ---------------------------------------------------


@needs_optax
def test_optax_bridge_in_an_opax_style_update():
    """`optimizer, updates = pax.purecall(optimizer, grads, params=params)`, and opax's own
    `opax.apply_gradients` (which insists on an opax GradientTransformation)."""
    grad_fn = jax.jit(jax.grad(lambda m, x, y: mse_loss(m, x, y)[0]))

    model_a = model_b = fresh_model()
    opt_a = from_optax(optax_transformation("adam"))(model_a.parameters())
    opt_b = from_optax(optax_transformation("adam"))(model_b.parameters())
    assert isinstance(opt_a, opax.GradientTransformation) and isinstance(opt_a, pax.Module)
    for i in range(STEPS):
        grads = grad_fn(model_a, XS[i], YS[i])
        params = model_a.parameters()
        opt_a, updates = pax.purecall(opt_a, grads.parameters(), params=params)
        model_a = model_a.update_parameters(opax.apply_updates(params, updates))
        model_b, opt_b = opax.apply_gradients(model_b, opt_b, grad_fn(model_b, XS[i], YS[i]))
    assert_params_close(params_of(model_a), reference("adam"))
    assert_params_close(params_of(model_b), reference("adam"))


@needs_optax
def test_optax_gradient_transformation_inside_an_opax_chain():
    """With negate=False an optax gradient-to-gradient transformation (clipping) goes
    inside opax.chain, before opax's learning-rate scaling."""
    chain = opax.chain(
        from_optax(optax.clip_by_global_norm(CLIP), negate=False),
        opax.adamw(ADAM_LR, weight_decay=WEIGHT_DECAY),
    )
    model, _ = train_pax_style(chain)
    assert_params_close(params_of(model), reference("clip_adamw"))


@needs_optax
def test_optax_state_is_not_trainable_and_survives_jit():
    model = fresh_model()
    optimizer = from_optax(optax.adam(ADAM_LR))(model.parameters())
    assert jax.tree_util.tree_leaves(optimizer.parameters()) == []
    assert len(jax.tree_util.tree_leaves(optimizer)) == 9
    for i in range(3):
        model, optimizer, _ = UPDATE_FN(model, optimizer, XS[i], YS[i])
    assert int(optimizer.opt_state[0].count) == 3


# -- errors ---------------------------------------------------------------------------------


def snapshot(model: pax.Module, opt: Optimizer) -> list[np.ndarray]:
    return [np.asarray(x) for x in params_of(model) + jax.tree_util.tree_leaves(opt.transformation)]


def assert_unchanged(before: list[np.ndarray], after: list[np.ndarray]) -> None:
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


@pytest.fixture()
def model_and_opt():
    model = fresh_model()
    opt = Optimizer(opax.adam(ADAM_LR), model.vars())
    opt([jnp.ones_like(r.value) for r in opt.refs])  # a non-trivial state
    return model, opt


def test_error_grads_that_do_not_match_the_variables(model_and_opt):
    model, opt = model_and_opt
    before = snapshot(model, opt)
    grads = [jnp.ones_like(r.value) for r in opt.refs]
    with pytest.raises(ValueError, match="trains 4 variables but got 3 gradients"):
        opt(grads[:3])
    name = re.escape("`(Sequential)[2](Linear).weight`")
    with pytest.raises(ValueError, match=rf"gradient 2 has the shape \(2, 8\).*{name}.*\(8, 2\)"):
        opt(grads[:2] + [grads[2].T] + grads[3:])
    with pytest.raises(TypeError, match="a list of gradients"):
        opt(jnp.ones(3))
    with pytest.raises(TypeError, match=r"opt\(grads, lr=lr\)"):
        opt(0.1, grads)  # Objax's order
    # GradValues with input gradients first: one too many
    gv = pax.GradValues(lambda x: jnp.sum(model(x)), model.vars(), input_argnums=(0,))
    g, _ = gv(XS[0])
    with pytest.raises(ValueError, match="input_argnums"):
        opt(g)
    assert_unchanged(before, snapshot(model, opt))


def test_error_bad_transformations():
    vc = fresh_model().vars()
    with pytest.raises(TypeError, match=r"already built .*not `opax.adam\(1e-3\)\(params\)`"):
        Optimizer(opax.adam(1e-3)(vc.tensors()), vc)
    with pytest.raises(TypeError, match="opax optimizer factory"):
        Optimizer("adam", vc)
    with pytest.raises(TypeError, match="returning a int, not a module"):
        Optimizer(lambda params: 3, vc)
    with pytest.raises(TypeError, match=r"VarCollection, e.g. `model.vars\(\)`"):
        Optimizer(opax.adam(1e-3), fresh_model())
    with pytest.raises(ValueError, match="no trainable variable"):
        Optimizer(opax.adam(1e-3), pax.VarCollection({"s": pax.StateVar(jnp.ones(2))}))


@needs_optax
def test_error_from_optax_needs_an_optax_transformation():
    with pytest.raises(TypeError, match="opax transformations need no bridge"):
        from_optax(opax.adam(1e-3))
    with pytest.raises(TypeError, match="opax transformations need no bridge"):
        from_optax(opax.adam(1e-3)([jnp.ones(2)]))
    with pytest.raises(TypeError, match=r"expects an optax.GradientTransformation .*got a str"):
        from_optax("adam")
    with pytest.raises(TypeError, match="optax.GradientTransformation"):
        OptaxOptimizer(lambda p: p, [jnp.ones(2)])


def test_error_failed_jit_step_leaves_model_and_state_unchanged(model_and_opt):
    model, opt = model_and_opt
    before = snapshot(model, opt)

    def bad_step(x):
        grads, _ = pax.GradValues(lambda x: jnp.sum(model(x)), model.vars())(x)
        opt(grads[::-1])  # shapes do not match the variables
        return 0.0

    with pytest.raises(ValueError, match="gradient 0 has the shape"):
        pax.Jit(bad_step, model.vars() + opt.vars())(XS[0])
    assert_unchanged(before, snapshot(model, opt))


def test_error_jit_without_the_optimizer_vars_names_the_state(model_and_opt):
    model, opt = model_and_opt
    before = snapshot(model, opt)
    gv = pax.GradValues(lambda x: jnp.sum(model(x)), model.vars())

    def step(x):
        grads, _ = gv(x)
        opt(grads)
        return 0.0

    with pytest.raises(ValueError, match=r"StateVar `\(Optimizer\).state\['transforms"):
        pax.Jit(step, model.vars())(XS[0])  # forgot `+ opt.vars()`
    assert_unchanged(before, snapshot(model, opt))


# -- optax stays optional ---------------------------------------------------------------------


def test_pax_and_opax_integration_work_without_optax():
    code = textwrap.dedent(
        """
        import sys
        import pax, opax_integration
        # `import pax` loads neither optax nor opax_integration's optimizers
        loaded = sorted(m for m in sys.modules if m.startswith(("optax", "opax_integration")))
        assert loaded == ["opax_integration"], loaded
        sys.modules["optax"] = None  # `import optax` now raises ImportError
        import jax.numpy as jnp, opax
        from opax_integration import Optimizer, from_optax
        model = pax.Linear(2, 1)
        opt = Optimizer(opax.sgd(0.1), model.vars())
        opt([jnp.ones((2, 1)), jnp.ones(1)])
        try:
            from_optax(object())
        except ImportError as err:
            assert "pip install pax3[optax]" in str(err), err
        else:
            raise AssertionError("from_optax worked without optax")
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_lazy_names_are_listed():
    import opax_integration

    names: dict[str, Any] = {n: getattr(opax_integration, n) for n in opax_integration.__all__}
    assert names["Optimizer"] is Optimizer
    assert set(opax_integration.__all__) <= set(dir(opax_integration))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        opax_integration.nope  # noqa: B018


def test_opax_patch_is_an_explicit_call_not_an_import_hook():
    import opax.schedule
    import opax.transform

    from opax_integration import jax_compat
    from pax._src import opax_compat

    assert jax_compat.clip is opax_compat.clip and jax_compat.install is opax_compat.install
    assert not any("opax" in type(f).__name__.lower() for f in sys.meta_path)
    for module in (opax.transform, opax.schedule):
        assert module.jnp.clip is jax_compat.clip
    jax_compat.install()  # again: nothing changes
    assert opax.transform.jnp.clip is jax_compat.clip
    np.testing.assert_array_equal(
        np.asarray(jax_compat.clip(jnp.arange(4.0), a_min=1.0, a_max=2.0)), [1.0, 1.0, 2.0, 2.0]
    )
