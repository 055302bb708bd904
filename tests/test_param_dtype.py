"""``param_dtype``: layers in float64 and complex128, registry-driven, plus the
initializers, the checks of ``param_dtype``, mixed precision and checkpoints.

Every registry case with parameters builds its layer with ``make_dtype(dtype)``
(``tests/layer_registry.py``); the generic checks below run it in float64 and in
complex128 (with random imaginary parts added to every parameter and complex
inputs), inside :func:`helpers.x64`.
"""

from typing import Any

import jax
import jax.numpy as jnp
import jmp
import numpy as np
import pytest
from helpers import pickled_copy, tree_allclose, x64
from layer_registry import LayerCase, collect_cases

import pax
from pax._src.core.mixed_precision import cast_floating, complex_counterpart
from pax._src.nn.initializers import truncated_normal, variance_scaling

FAMILIES = collect_cases()
DTYPE_CASES = [
    pytest.param(case, id=case.id)
    for cases in FAMILIES.values()
    for case in cases
    if case.make_dtype is not None
]
REFERENCE_CASES = [p for p in DTYPE_CASES if p.values[0].reference is not None]
DTYPES = [
    pytest.param(np.dtype("float64"), id="f64"),
    pytest.param(np.dtype("complex128"), id="c128"),
]
COMPLEX = np.dtype("complex128")


def is_inexact(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)


def inexact_leaves(tree: Any):
    return [x for x in jax.tree_util.tree_leaves(tree) if is_inexact(x)]


# -- models and inputs in a dtype, made once (inside x64) ------------------------------

_MODELS: dict[tuple[str, str], pax.Module] = {}
_INPUTS: dict[tuple[str, str], tuple[Any, ...]] = {}


def with_imaginary_parts(model: pax.Module, seed: int = 0) -> pax.Module:
    """``model`` with ``0.3j * N(0, 1)`` added to every parameter."""
    rng = np.random.default_rng(seed)
    params = jax.tree_util.tree_map(
        lambda p: p + 0.3j * rng.standard_normal(p.shape), model.parameters()
    )
    return model.update_parameters(params)


def model_in(case: LayerCase, dtype: np.dtype) -> pax.Module:
    if (case.id, dtype.name) not in _MODELS:
        assert case.make_dtype is not None
        model = case.make_dtype(dtype)
        _MODELS[(case.id, dtype.name)] = with_imaginary_parts(model) if dtype == COMPLEX else model
    return _MODELS[(case.id, dtype.name)]


def inputs_in(case: LayerCase, dtype: np.dtype) -> tuple[Any, ...]:
    """The case's inputs with float leaves in ``dtype`` (complex: plus ``0.5j * N(0, 1)``);
    integer inputs (token ids) unchanged."""
    if (case.id, dtype.name) not in _INPUTS:
        rng = np.random.default_rng(1)

        def convert(x):
            if not is_inexact(x):
                return x
            x = np.asarray(x).astype(dtype)
            if dtype == COMPLEX:
                x = x + 0.5j * rng.standard_normal(x.shape)
            return jnp.asarray(x)

        _INPUTS[(case.id, dtype.name)] = jax.tree_util.tree_map(convert, case.inputs(0))
    return _INPUTS[(case.id, dtype.name)]


# -- coverage ------------------------------------------------------------------------


def test_every_case_with_parameters_can_be_built_in_a_dtype():
    missing = [
        case.id
        for cases in FAMILIES.values()
        for case in cases
        if case.make_dtype is None
        and jax.tree_util.tree_leaves(jax.eval_shape(case.make).parameters())
    ]
    assert not missing, f"set `make_dtype` on these layer cases: {missing}"


# -- generic checks over the registry -------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DTYPE_CASES)
def test_parameters_and_outputs_have_the_dtype(case: LayerCase, dtype):
    with x64():
        model = model_in(case, dtype)
        params = jax.tree_util.tree_leaves(model.parameters())
        assert params and all(p.dtype == dtype for p in params)
        # float32 inputs into the layer: the output has the promoted dtype
        new_model, out = jax.eval_shape(case.call, model, *case.inputs(0))
        assert all(y.dtype == dtype for y in inexact_leaves(out))
        assert all(p.dtype == dtype for p in jax.tree_util.tree_leaves(new_model.parameters()))
        assert jax.tree_util.tree_structure(new_model) == jax.tree_util.tree_structure(model)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", REFERENCE_CASES)
def test_forward_matches_numpy(case: LayerCase, dtype):
    assert case.reference is not None
    with x64():
        model, args = model_in(case, dtype), inputs_in(case, dtype)
        _, out = case.call(model, *args)
        expected = case.reference(model, *args)
    for y, y_ref in zip(inexact_leaves(out), jax.tree_util.tree_leaves(expected)):
        assert y.dtype == dtype and np.asarray(y_ref).dtype == dtype
    tree_allclose(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DTYPE_CASES)
def test_gradients_match_finite_differences(case: LayerCase, dtype):
    """``pax.grad`` of the real loss ``sum(c * |y|^2)``. For a complex parameter
    ``p = a + ib`` JAX returns ``dL/da - i dL/db``, so the derivative along a
    direction ``v`` is ``Re(sum(grad * v))``; checked along real and imaginary ``v``."""
    with x64():
        model, args = model_in(case, dtype), inputs_in(case, dtype)
        out = jax.eval_shape(case.call, model, *args)[1]
        rng = np.random.default_rng(100)
        weights = [rng.standard_normal(y.shape) for y in inexact_leaves(out)]

        def loss(m):
            _, out = case.call(m, *args)
            return sum(jnp.sum(w * jnp.abs(y) ** 2) for y, w in zip(inexact_leaves(out), weights))

        grads = jax.jit(pax.grad(loss))(model)
        params = model.parameters()
        assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(params)
        assert all(g.dtype == dtype for g in jax.tree_util.tree_leaves(grads))

        eps = 1e-6
        units = [1.0, 1j] if dtype == COMPLEX else [1.0]
        directions = []
        for seed, unit in enumerate(units):
            rng = np.random.default_rng(seed)
            directions.append(
                jax.tree_util.tree_map(
                    lambda p, u=unit, r=rng: u * r.standard_normal(p.shape), params
                )
            )

        @jax.jit
        def central_differences(params, directions):  # one compilation for all points
            def at(step, v):
                return loss(
                    model.update_parameters(
                        jax.tree_util.tree_map(lambda p, d: p + step * d, params, v)
                    )
                )

            return [(at(eps, v) - at(-eps, v)) / (2 * eps) for v in directions]

        for fd, v in zip(central_differences(params, directions), directions):
            leaves = zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(v))
            analytic = sum(np.real(np.sum(np.asarray(g) * d)) for g, d in leaves)
            np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DTYPE_CASES)
def test_state_dict_round_trip(case: LayerCase, dtype):
    with x64():
        model = model_in(case, dtype)
        shift = 1 + 1j if dtype == COMPLEX else 1.0
        state = jax.tree_util.tree_map(
            lambda x: np.asarray(x) + shift if jnp.issubdtype(x.dtype, jnp.complexfloating) else x,
            model.state_dict(),
        )
        state = jax.tree_util.tree_map(
            lambda x: np.asarray(x) + 1.0 if jnp.issubdtype(x.dtype, jnp.floating) else x, state
        )
        loaded = model.load_state_dict(state)  # every array leaf is replaced
        assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(model)
        for a, b in zip(jax.tree_util.tree_leaves(loaded), jax.tree_util.tree_leaves(model)):
            assert a.dtype == b.dtype
        tree_allclose(loaded.state_dict(), state, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DTYPE_CASES)
def test_save_load_round_trip(case: LayerCase, dtype, tmp_path):
    path = tmp_path / "model.safetensors"
    with x64():
        model = model_in(case, dtype)
        pax.save(path, model)
        loaded = pax.load(path, like=jax.eval_shape(lambda: case.make_dtype(dtype)))
        assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(model)
        for a, b in zip(jax.tree_util.tree_leaves(loaded), jax.tree_util.tree_leaves(model)):
            assert a.dtype == b.dtype
        tree_allclose(loaded, model, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", DTYPE_CASES)
def test_pickle_round_trip(case: LayerCase, dtype):
    with x64():
        model = model_in(case, dtype)
        restored = pickled_copy(model)
        assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(model)
        tree_allclose(restored, model, rtol=0, atol=0)
        assert repr(restored) == repr(model)


@pytest.mark.parametrize("case", DTYPE_CASES)
def test_mixed_precision_keeps_complex_parameters_complex(case: LayerCase):
    """A complex128 layer under a float32/bfloat16 policy: complex64 weights, complex64
    compute and outputs, never a real dtype."""
    policy = jmp.Policy(
        param_dtype=jnp.float32, compute_dtype=jnp.bfloat16, output_dtype=jnp.float32
    )
    with x64():
        model, args = model_in(case, COMPLEX), inputs_in(case, COMPLEX)
        mp_model = model.apply(lambda m: pax.apply_mp_policy(m, policy))
        for p in jax.tree_util.tree_leaves(mp_model.parameters()):
            assert p.dtype == jnp.complex64
        _, expected = case.call(model, *args)

        def loss(m):
            return sum(jnp.sum(jnp.abs(y) ** 2) for y in inexact_leaves(case.call(m, *args)[1]))

        (new_model, out), grads = jax.jit(lambda m: (case.call(m, *args), pax.grad(loss)(m)))(
            mp_model
        )
        for y, y_ref in zip(inexact_leaves(out), inexact_leaves(expected)):
            assert y.dtype == jnp.complex64
            np.testing.assert_allclose(y, y_ref, rtol=1e-3, atol=1e-3)
        for p in jax.tree_util.tree_leaves(new_model.parameters()):
            assert p.dtype == jnp.complex64
        for g in jax.tree_util.tree_leaves(grads):
            assert g.dtype == jnp.complex64 and bool(jnp.all(jnp.isfinite(g)))


# -- initializers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, part",
    [
        ("float32", "float32"),
        ("complex64", "float32"),
        ("float64", "float64"),
        ("complex128", "float64"),
    ],
)
def test_initializers_keep_the_variance_in_every_dtype(dtype, part):
    n = 100_000
    with x64():
        normal = truncated_normal(0.5)(jax.random.PRNGKey(0), (n,), dtype)
        scaled = variance_scaling(2.0)(jax.random.PRNGKey(1), (8, n // 8), dtype)  # fan_in 8
    for w, variance in ((normal, 0.25), (scaled, 0.25)):
        assert w.dtype == dtype
        w = np.asarray(w).ravel()
        assert np.real(w).dtype == part
        np.testing.assert_allclose(np.mean(np.abs(w) ** 2), variance, rtol=0.02)
        np.testing.assert_allclose(np.mean(w), 0.0, atol=0.01)
        # each part is truncated at two of its (untruncated) standard deviations
        part_std = np.sqrt(variance / 2 if np.iscomplexobj(w) else variance) / 0.87962566
        assert 1.9 * part_std < np.max(np.abs(np.real(w))) <= 2 * part_std * (1 + 1e-6)
        if np.iscomplexobj(w):  # split evenly over the real and imaginary parts
            np.testing.assert_allclose(np.var(w.real), variance / 2, rtol=0.03)
            np.testing.assert_allclose(np.var(w.imag), variance / 2, rtol=0.03)
            assert abs(np.corrcoef(w.real, w.imag)[0, 1]) < 0.02


def test_truncated_normal_complex_mean_goes_to_the_real_part():
    w = np.asarray(truncated_normal(0.1, mean=1.0)(jax.random.PRNGKey(0), (10_000,), "complex64"))
    np.testing.assert_allclose(np.mean(w.real), 1.0, atol=0.01)
    np.testing.assert_allclose(np.mean(w.imag), 0.0, atol=0.01)


def test_default_and_jax_initializers_draw_complex_weights():
    fc = pax.Linear(16, 1024, param_dtype=jnp.complex64, rng_key=jax.random.PRNGKey(0))
    w = np.asarray(fc.weight)
    assert w.dtype == np.complex64 and np.std(w.imag) > 0
    np.testing.assert_allclose(np.mean(np.abs(w) ** 2), 1 / 16, rtol=0.05)
    lecun = pax.Linear(16, 8, w_init=jax.nn.initializers.lecun_normal(), param_dtype="complex64")
    assert lecun.weight.dtype == jnp.complex64 and float(jnp.std(lecun.weight.imag)) > 0
    embed = pax.Embed(16, 8, param_dtype=jnp.complex64)
    assert embed.weight.dtype == jnp.complex64 and float(jnp.std(embed.weight.imag)) > 0
    mha = pax.MultiHeadAttention(2, 4, 1.0, param_dtype=jnp.complex64)
    assert float(jnp.std(mha.query_projection.weight.imag)) > 0


# -- param_dtype validation, repr, x64 ----------------------------------------------

LAYER_BUILDERS = {
    "Linear": lambda **kw: pax.Linear(2, 3, **kw),
    "Conv1D": lambda **kw: pax.Conv1D(2, 3, 3, **kw),
    "Conv2D": lambda **kw: pax.Conv2D(2, 3, 3, **kw),
    "Conv1DTranspose": lambda **kw: pax.Conv1DTranspose(2, 3, 3, **kw),
    "Conv2DTranspose": lambda **kw: pax.Conv2DTranspose(2, 3, 3, **kw),
    "BatchNorm1D": lambda **kw: pax.BatchNorm1D(3, **kw),
    "BatchNorm2D": lambda **kw: pax.BatchNorm2D(3, **kw),
    "LayerNorm": lambda **kw: pax.LayerNorm(3, **kw),
    "GroupNorm": lambda **kw: pax.GroupNorm(1, 3, **kw),
    "Embed": lambda **kw: pax.Embed(4, 3, **kw),
    "LSTM": lambda **kw: pax.LSTM(2, 3, **kw),
    "GRU": lambda **kw: pax.GRU(2, 3, **kw),
    "VanillaRNN": lambda **kw: pax.VanillaRNN(2, 3, **kw),
    "MultiHeadAttention": lambda **kw: pax.MultiHeadAttention(2, 2, 1.0, **kw),
}
BUILDERS = [pytest.param(name, make, id=name) for name, make in LAYER_BUILDERS.items()]


@pytest.mark.parametrize("name, make", BUILDERS)
def test_param_dtype_is_validated(name, make):
    with pytest.raises(ValueError, match=rf"{name}: `param_dtype` must be a floating or complex"):
        make(param_dtype=jnp.int32)
    with pytest.raises(ValueError, match="must be a floating or complex dtype .*got bool"):
        make(param_dtype=bool)
    for not_a_dtype in ("not a dtype", None, jax.lax.Precision.HIGHEST):
        with pytest.raises(
            TypeError, match=rf"{name}: `param_dtype` must be a floating or complex"
        ):
            make(param_dtype=not_a_dtype)
    for wide in (jnp.float64, jnp.complex128):
        with pytest.raises(
            ValueError, match=rf"{name}: `param_dtype=\w+` needs JAX's 64-bit types.*jax_enable_x64"
        ):
            make(param_dtype=wide)


@pytest.mark.parametrize("name, make", BUILDERS)
def test_half_and_complex64_param_dtypes_and_repr(name, make):
    for dtype in (jnp.bfloat16, jnp.float16, jnp.complex64):
        layer = jax.eval_shape(lambda dtype=dtype: make(param_dtype=dtype))  # nothing drawn
        assert {p.dtype for p in jax.tree_util.tree_leaves(layer.parameters())} == {
            jnp.dtype(dtype)
        }
        assert f"param_dtype={jnp.dtype(dtype).name}" in repr(layer)
        assert layer.summary().splitlines()[0].startswith(repr(layer))
    default = jax.eval_shape(make)
    assert "param_dtype" not in repr(default)
    assert {p.dtype for p in jax.tree_util.tree_leaves(default.parameters())} == {
        jnp.dtype("float32")
    }


def test_x64_helper_does_not_leak():
    with x64():
        assert jnp.zeros((), jnp.float64).dtype == jnp.float64
    assert jax.dtypes.canonicalize_dtype(jnp.float64) == jnp.float32
    assert not jax.config.jax_enable_x64


# -- details of complex layers -------------------------------------------------------


def test_complex_batch_norm_keeps_a_real_variance():
    with x64():
        bn = pax.BatchNorm1D(3, param_dtype=jnp.complex128)
        assert bn.ema_mean.averages.dtype == jnp.complex128
        assert bn.ema_var.averages.dtype == jnp.float64
        rng = np.random.default_rng(0)
        x = rng.standard_normal((8, 3)) + 1j * rng.standard_normal((8, 3))
        bn, _ = pax.purecall(bn, jnp.asarray(x))
        mean, var = bn.moving_statistics()
        assert var.dtype == jnp.float64
        np.testing.assert_allclose(mean, x.mean(0), rtol=1e-12)
        np.testing.assert_allclose(var, np.mean(np.abs(x - x.mean(0)) ** 2, 0), rtol=1e-12)
        y = bn.eval()(jnp.asarray(x))
        expected = (x - x.mean(0)) / np.sqrt(np.var(x, 0) + bn.eps)
        np.testing.assert_allclose(y, expected, rtol=1e-10)


@pytest.mark.parametrize(
    "param_dtype, state_dtype",
    [("float32", "float32"), ("bfloat16", "float32"), ("complex64", "complex64")],
)
def test_recurrent_initial_state_dtype_keeps_a_scan_carry_stable(param_dtype, state_dtype):
    lstm = pax.LSTM(2, 3, param_dtype=param_dtype, rng_key=jax.random.PRNGKey(0))
    state = lstm.initial_state(4)
    assert state.hidden.dtype == state_dtype and state.cell.dtype == state_dtype
    xs = jnp.ones((4, 5, 2), jnp.float32)
    _, hs = pax.scan(lstm, state, xs, time_major=False)
    assert hs.shape == (4, 5, 3) and hs.dtype == state_dtype


def test_nets_pass_param_dtype_through():
    net = pax.nets.Transformer(4, 2, 1, 0.0, param_dtype=jnp.complex64)
    assert {p.dtype for p in jax.tree_util.tree_leaves(net.parameters())} == {
        jnp.dtype("complex64")
    }
    resnet = jax.eval_shape(lambda: pax.nets.ResNet18(3, 10, param_dtype=jnp.bfloat16))
    assert {p.dtype for p in jax.tree_util.tree_leaves(resnet.parameters())} == {
        jnp.dtype("bfloat16")
    }
    # the moving statistics of its batch norms stay in float32
    assert resnet.initial_batchnorm.ema_var.averages.dtype == jnp.float32


# -- mixed precision on complex arrays ----------------------------------------------


def test_complex_counterpart_and_cast_floating():
    assert complex_counterpart(jnp.float64) == jnp.complex128
    for half in (jnp.float32, jnp.float16, jnp.bfloat16):
        assert complex_counterpart(half) == jnp.complex64
    tree = {
        "c": np.ones(2, np.complex128),
        "f": np.ones(2, np.float64),
        "i": np.ones(2, np.int32),
        "s": 1.5,
    }
    cast = cast_floating(tree, jnp.bfloat16)
    assert cast["c"].dtype == np.complex64 and cast["f"].dtype == jnp.bfloat16
    assert cast["i"].dtype == np.int32 and cast["s"] == 1.5


def test_complex_layer_under_a_double_precision_policy():
    with x64():
        policy = jmp.get_policy("params=float64,compute=float64,output=float64")
        fc = pax.apply_mp_policy(pax.Linear(2, 3, param_dtype=jnp.complex64), policy)
        assert fc.weight.dtype == jnp.complex128
        assert fc(jnp.ones((1, 2), jnp.float32)).dtype == jnp.complex128
        unwrapped = pax.unwrap_mp_policy(fc)
        assert unwrapped.weight.dtype == jnp.complex128


# -- checkpoints: complex128 is stored as real and imaginary parts --------------------


def test_save_and_load_complex128_leaves(tmp_path):
    path = tmp_path / "c.safetensors"
    with x64():
        rng = np.random.default_rng(0)
        tree = {
            "array": jnp.asarray(rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))),
            "scalar": np.asarray(1.5 - 2j),
            "numpy": (rng.standard_normal(4) - 1j * rng.standard_normal(4)).astype(np.complex128),
            "complex64": jnp.ones(2, jnp.complex64) * (1 + 2j),
        }
        pax.save(path, tree)
        like = jax.tree_util.tree_map(np.zeros_like, tree)
        like["array"] = jnp.zeros((2, 3), jnp.complex128)
        loaded = pax.load(path, like=like)
        for name, value in tree.items():
            assert loaded[name].dtype == value.dtype and type(loaded[name]) is type(like[name])
            np.testing.assert_array_equal(loaded[name], value)
        with pytest.raises(ValueError, match=r"expected dtype complex64 .* found dtype complex128"):
            pax.load(path, like={**like, "array": jnp.zeros((2, 3), jnp.complex64)})
