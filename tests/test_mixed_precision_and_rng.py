"""Mixed precision with jmp, and the thread-local random keys (SPEC §1)."""

import threading

import jax
import jax.numpy as jnp
import jmp
import numpy as np
import pytest

import pax


class Probe(pax.Module):
    """Records the dtypes it sees inside ``__call__`` (eager calls only)."""

    def __init__(self, seen):
        super().__init__()
        self.w = jnp.full((3,), 0.5, jnp.float32)
        self.steps = jnp.zeros((), jnp.int32)
        self.seen = seen  # a plain list: static data

    def __call__(self, x):
        self.seen.append((self.w.dtype, x.dtype, self.steps.dtype))
        return self.w * x


POLICIES = [
    (
        "FHF_f16",
        "params=float32,compute=float16,output=float32",
        jnp.float32,
        jnp.float16,
        jnp.float32,
    ),
    (
        "FBF_bf16",
        "params=float32,compute=bfloat16,output=float32",
        jnp.float32,
        jnp.bfloat16,
        jnp.float32,
    ),
    ("HHH", "params=float16,compute=float16,output=float16", jnp.float16, jnp.float16, jnp.float16),
    (
        "FHH",
        "params=float32,compute=bfloat16,output=bfloat16",
        jnp.float32,
        jnp.bfloat16,
        jnp.bfloat16,
    ),
    ("FFF", "params=float32,compute=float32,output=float32", jnp.float32, jnp.float32, jnp.float32),
]


@pytest.mark.parametrize(
    "spec, param_dtype, compute_dtype, output_dtype",
    [p[1:] for p in POLICIES],
    ids=[p[0] for p in POLICIES],
)
def test_apply_mp_policy_dtypes(spec, param_dtype, compute_dtype, output_dtype):
    seen = []
    m = pax.apply_mp_policy(Probe(seen), jmp.get_policy(spec))
    assert m.w.dtype == param_dtype  # weights are stored in the param dtype
    assert m.steps.dtype == jnp.int32  # integer state is never cast
    y = m(jnp.ones(3, jnp.float32))
    assert seen == [(compute_dtype, compute_dtype, jnp.int32)]
    assert y.dtype == output_dtype
    assert m.w.dtype == param_dtype  # and stay so after the call


@pytest.mark.parametrize("compute", [jnp.float16, jnp.bfloat16], ids=["float16", "bfloat16"])
def test_linear_in_half_precision_matches_numpy(compute):
    fc = pax.Linear(8, 4)
    policy = jmp.Policy(param_dtype=jnp.float32, compute_dtype=compute, output_dtype=jnp.float32)
    mp = pax.apply_mp_policy(fc, policy)
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 8))
    y = mp(x)
    assert y.dtype == jnp.float32
    # reference: the inputs rounded to the compute dtype, accumulated in float64
    rounded = [np.asarray(jnp.asarray(a, compute), np.float64) for a in (x, fc.weight, fc.bias)]
    expected = rounded[0] @ rounded[1] + rounded[2]
    tol = 1e-2 if compute == jnp.float16 else 4e-2
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(y, fc(x), rtol=tol, atol=tol)


def test_policy_state_updates_are_cast_back_to_the_param_dtype():
    policy = jmp.get_policy("params=float32,compute=float16,output=float32")
    bn = pax.apply_mp_policy(pax.BatchNorm1D(3), policy)
    bn2, y = pax.purecall(bn, jnp.arange(12.0).reshape(4, 3))
    assert bn2.ema_mean.averages.dtype == jnp.float32
    assert bn2.ema_var.averages.dtype == jnp.float32
    assert bn2.scale.dtype == jnp.float32 and y.dtype == jnp.float32
    assert type(bn2) is type(bn)
    mean = np.arange(12.0).reshape(4, 3).mean(0)  # debiased: the batch mean after one step
    np.testing.assert_allclose(bn2.ema_mean.averages.reshape(3), mean, rtol=1e-3)


class _Scaled(pax.Module):
    def __init__(self):
        super().__init__()
        self.weight = jnp.ones((3,))

    def __call__(self, x):
        return x * self.weight

    @pax.mixed_precision_method
    def scaled_twice(self, x):  # a call, like __call__
        return 2 * x * self.weight

    @pax.mixed_precision_method
    def doubled(self):  # a call that returns a module built from its own weights
        return self.replace(weight=self.weight * 2)

    def weight_dtype(self):  # not a call: runs as it would without the policy
        return self.weight.dtype

    def plain(self, x):
        return x * self.weight


class _ScaledChild(_Scaled):
    def scaled_twice(self, x):  # overrides a call by name: still a call
        return 2 * x * self.weight


HALF_OUT = jmp.get_policy("params=float32,compute=float16,output=float16")


def test_only_calls_and_declared_methods_follow_the_policy():
    net = pax.apply_mp_policy(_Scaled(), HALF_OUT)
    x = jnp.ones(3)
    assert net(x).dtype == jnp.float16
    assert net.scaled_twice(x).dtype == jnp.float16
    assert net.weight_dtype() == jnp.float32  # weights not cast for a plain method
    assert net.plain(x).dtype == jnp.float32
    child = pax.apply_mp_policy(_ScaledChild(), HALF_OUT)
    assert child.scaled_twice(x).dtype == jnp.float16
    assert child.plain(x).dtype == jnp.float32


def test_mixed_precision_method_rejects_what_is_not_a_function():
    with pytest.raises(TypeError, match="plain method"):
        pax.mixed_precision_method(staticmethod(lambda x: x))
    with pytest.raises(TypeError, match="plain method"):
        pax.mixed_precision_method(property(lambda self: 1))


def test_modules_returned_by_methods_keep_the_param_dtype():
    # output=float16 applies to computed arrays; a module a call returns holds weights
    net = pax.apply_mp_policy(_Scaled(), HALF_OUT)
    assert net(jnp.ones(3)).dtype == jnp.float16
    doubled = net.doubled()
    assert doubled.weight.dtype == jnp.float32 and type(doubled) is type(net)
    np.testing.assert_array_equal(doubled.weight, np.full(3, 2.0, np.float32))
    seq = pax.apply_mp_policy(pax.Sequential(pax.Linear(3, 3), jax.nn.relu), HALF_OUT)
    new = seq.set(1, pax.Linear(3, 3))
    assert new[0].weight.dtype == jnp.float32 and new[1].weight.dtype == jnp.float32
    stack = pax.apply_mp_policy(pax.Stack(lambda k: pax.Linear(3, 3, rng_key=k), 2), HALF_OUT)
    assert stack.to_sequential()[1].weight.dtype == jnp.float32


def test_update_site_is_a_call_under_a_policy():
    policy = jmp.get_policy("params=float32,compute=float16,output=float16")
    lstm = pax.apply_mp_policy(pax.LSTM(3, 4), policy)
    cached = pax.nn.init_cache(lstm, 2)
    assert cached.cache.hidden.dtype == jnp.float32  # init_cache is not a call
    cached, y = pax.module_and_value(cached.update_site)(jnp.ones((2, 3)))
    assert y.dtype == jnp.float16
    assert cached.cache.hidden.dtype == jnp.float32  # state goes back to param_dtype


def test_mp_module_under_jit_and_grad():
    policy = jmp.get_policy("params=float32,compute=float16,output=float32")
    mp = pax.apply_mp_policy(pax.Linear(3, 2), policy)
    x = jnp.ones((4, 3))
    np.testing.assert_allclose(jax.jit(lambda m, x: m(x))(mp, x), mp(x), rtol=1e-3)
    grads = pax.grad(lambda m, x: jnp.sum(m(x)))(mp, x)
    assert grads.weight.dtype == jnp.float32
    np.testing.assert_allclose(grads.weight, np.full((3, 2), 4.0), rtol=1e-3)
    np.testing.assert_allclose(grads.bias, np.full((2,), 4.0), rtol=1e-3)
    assert jax.tree_util.tree_structure(mp) == jax.tree_util.tree_structure(
        pax.apply_mp_policy(pax.Linear(3, 2), policy)
    )


def test_apply_mp_policy_leaves_the_original_and_submodules_alone():
    policy = jmp.get_policy("params=float16,compute=float16,output=float16")
    fc = pax.Linear(2, 2)
    net = pax.Sequential(fc)
    mp_fc = pax.apply_mp_policy(fc, policy)
    assert fc.weight.dtype == jnp.float32 and type(fc) is pax.Linear
    mp_net = pax.apply_mp_policy(net, policy)
    assert mp_net[0].weight.dtype == jnp.float32  # the submodule keeps its own (no) policy
    assert mp_fc.weight.dtype == jnp.float16
    assert "mp_policy=HHH" in mp_fc.summary()


def test_unwrap_mp_policy():
    fc = pax.Linear(3, 3)
    policy = jmp.get_policy("params=float32,compute=float16,output=float32")
    mp = pax.apply_mp_policy(fc, policy)
    assert isinstance(mp, pax.Linear)
    plain = pax.unwrap_mp_policy(mp)
    assert type(plain) is pax.Linear
    assert plain == fc  # float32 params: the very same arrays
    assert plain.summary() == fc.summary()
    x = jnp.ones((1, 3))
    assert plain(x).dtype == jnp.float32
    np.testing.assert_array_equal(plain(x), fc(x))


def test_unwrap_without_a_policy_raises():
    with pytest.raises(ValueError, match="has no mixed-precision policy to unwrap"):
        pax.unwrap_mp_policy(pax.Linear(1, 1))


def test_double_apply_raises():
    policy = jmp.get_policy("params=float32,compute=float16,output=float32")
    mp = pax.apply_mp_policy(pax.Linear(1, 1), policy)
    with pytest.raises(ValueError, match=r"already has a mixed-precision policy.*unwrap_mp_policy"):
        pax.apply_mp_policy(mp, policy)
    again = pax.apply_mp_policy(pax.unwrap_mp_policy(mp), policy)  # unwrap first: fine
    assert "mp_policy=FHF" in again.summary()


@pytest.mark.parametrize(
    "module, policy",
    [
        (lambda: jnp.ones(2), lambda: jmp.get_policy("float32")),
        (lambda: pax.Linear(1, 1), lambda: "float16"),
    ],
    ids=["not_a_module", "not_a_policy"],
)
def test_apply_mp_policy_type_errors(module, policy):
    with pytest.raises(TypeError, match="apply_mp_policy expects"):
        pax.apply_mp_policy(module(), policy())


def test_default_mp_policy_via_apply():
    net = pax.Sequential(pax.Linear(3, 3), jax.nn.relu, pax.BatchNorm1D(3))
    mixed = net.apply(pax.default_mp_policy)
    half = jmp.half_dtype()
    letters = "H" if half in (jnp.float16, jnp.bfloat16) else "?"
    assert mixed.summary().splitlines() == [
        "Sequential",
        f"├── Linear(in_dim=3, out_dim=3, with_bias=True, mp_policy=F{letters}F)",
        "├── x => relu(x)",
        "└── BatchNorm1D(num_channels=3, create_scale=True, create_offset=True, "
        "decay_rate=0.9, eps=1e-05, data_format=NWC, mp_policy=FFF)",
    ]
    assert type(mixed) is pax.Sequential and type(mixed[1]) is pax.Lambda
    float_leaves = [
        x for x in jax.tree_util.tree_leaves(mixed) if jnp.issubdtype(x.dtype, jnp.floating)
    ]
    assert float_leaves and all(x.dtype == jnp.float32 for x in float_leaves)
    mixed2, y = pax.purecall(mixed, jnp.ones((2, 3)))
    assert y.dtype == jnp.float32
    # applying it twice changes nothing
    assert mixed.apply(pax.default_mp_policy).summary() == mixed.summary()


# -- random keys -----------------------------------------------------------------------------------


def test_seed_rng_key_makes_keys_reproducible():
    pax.seed_rng_key(7)
    first = [pax.next_rng_key() for _ in range(3)]
    pax.seed_rng_key(7)
    again = [pax.next_rng_key() for _ in range(3)]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len({tuple(np.asarray(k).tolist()) for k in first}) == 3  # keys differ
    pax.seed_rng_key(8)
    assert not np.array_equal(pax.next_rng_key(), first[0])


def test_next_rng_key_is_a_prng_key():
    key = pax.next_rng_key()
    assert key.shape == jax.random.PRNGKey(0).shape and key.dtype == jnp.uint32
    assert jax.random.normal(key, (2,)).shape == (2,)


def test_layers_built_after_the_same_seed_are_equal():
    pax.seed_rng_key(3)
    a = pax.Linear(4, 4)
    pax.seed_rng_key(3)
    b = pax.Linear(4, 4)
    np.testing.assert_array_equal(a.weight, b.weight)
    c = pax.Linear(4, 4)
    assert not np.array_equal(b.weight, c.weight)


def test_seed_rng_key_accepts_numpy_integers():
    pax.seed_rng_key(np.int64(5))
    a = pax.next_rng_key()
    pax.seed_rng_key(5)
    np.testing.assert_array_equal(a, pax.next_rng_key())


@pytest.mark.parametrize("seed", [1.5, "1", True, np.bool_(True), None, np.float32(1.0)])
def test_seed_rng_key_rejects_non_int(seed):
    with pytest.raises(TypeError, match="seed_rng_key expects an int seed"):
        pax.seed_rng_key(seed)


def _keys_in_thread(seed=None, n=2):
    out = []

    def work():
        if seed is not None:
            pax.seed_rng_key(seed)
        out.extend(np.asarray(pax.next_rng_key()) for _ in range(n))

    t = threading.Thread(target=work)
    t.start()
    t.join()
    return out


def test_rng_is_thread_local():
    pax.seed_rng_key(11)
    main_first = np.asarray(pax.next_rng_key())

    # another thread seeding and drawing does not disturb this thread's sequence
    other = _keys_in_thread(seed=11)
    main_second = np.asarray(pax.next_rng_key())
    pax.seed_rng_key(11)
    expected = [np.asarray(pax.next_rng_key()) for _ in range(2)]
    np.testing.assert_array_equal(main_first, expected[0])
    np.testing.assert_array_equal(main_second, expected[1])
    # the same seed in another thread gives the same sequence
    np.testing.assert_array_equal(other[0], expected[0])
    np.testing.assert_array_equal(other[1], expected[1])


def test_new_threads_start_from_the_same_default_sequence():
    a = _keys_in_thread()
    b = _keys_in_thread()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
