"""The incremental-decoding protocol: ``pax.nn.init_cache`` and ``update_site`` on every
autoregressive layer, on ``pax.nets.Transformer``, on a user's module mixing them and
inside ``pax.Stack``. Stepping one position at a time under ``jax.jit`` (one
``pax.scan``) reproduces the full-sequence output."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tree_allclose

import pax
from pax._src.nn.attention import MultiHeadAttention
from pax._src.nn.masked import MaskedConv1D

TOL = {"rtol": 2e-5, "atol": 2e-5}


def normal(seed: int, shape) -> jax.Array:
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def key(i: int) -> jax.Array:
    return jax.random.PRNGKey(i)


def _step(module, inputs):
    return pax.module_and_value(module.update_site)(*inputs)


@jax.jit
def decode(cached, *sequences):
    """Feed ``sequences`` (each ``(N, T, ...)``) one position at a time: one scan."""
    return pax.scan(_step, cached, sequences, time_major=False)


# -- every layer: steps equal the full call ------------------------------------------------

ATTENTION = {
    "mha": {},
    "gqa_rope": {"num_kv_heads": 2, "rope_base": 100.0},
}


@pytest.mark.parametrize("options", list(ATTENTION))
def test_causal_attention_steps_equal_full_call(options):
    mha = MultiHeadAttention(4, 2, 1.0, causal=True, rng_key=key(0), **ATTENTION[options])
    x = normal(1, (3, 7, 8))
    cached = pax.nn.init_cache(mha, 3, max_length=9)  # longer than the sequence
    final, ys = decode(cached, x)
    tree_allclose(ys, mha(x, x, x), **TOL)
    assert int(final.position) == 7
    assert jax.tree_util.tree_structure(final) == jax.tree_util.tree_structure(cached)


def test_causal_attention_with_padding_mask_equals_full_call():
    mha = MultiHeadAttention(2, 4, 1.0, causal=True, num_kv_heads=1, rng_key=key(0))
    x = normal(2, (3, 6, 8))
    tokens = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 0, 1, 1, 0, 1]], bool)
    _, ys = decode(pax.nn.init_cache(mha, 3, max_length=6), x, jnp.asarray(tokens))
    tree_allclose(ys, mha(x, x, x, tokens[:, None, None, :]), **TOL)


@pytest.mark.parametrize("cell_cls", [pax.LSTM, pax.GRU, pax.VanillaRNN])
def test_recurrent_cell_steps_equal_its_scan(cell_cls):
    cell = cell_cls(3, 5, rng_key=key(0))
    xs = normal(3, (2, 6, 3))
    final, ys = decode(pax.nn.init_cache(cell, 2), xs)
    state, expected = pax.scan(cell, cell.initial_state(2), xs, time_major=False)
    tree_allclose(ys, expected, **TOL)
    tree_allclose(final.cache, state, **TOL)
    assert cell.cache is None  # the caller's cell is unchanged


def test_transformer_steps_equal_full_call():
    net = pax.nets.Transformer(8, 2, 2, 0.1, rng_key=key(0))  # PAX 0.5's model
    h = normal(4, (3, 6, 8))
    _, ys = decode(pax.nn.init_cache(net, 3, max_length=8), h)
    tree_allclose(ys, net.eval()(h), **TOL)  # update_site never applies dropout


def test_steps_under_mixed_precision_equal_the_full_call():
    # update_site and __call__ are both calls under the layers' policies; init_cache is
    # not, so caches and weights stay float32
    net = pax.nets.Transformer(8, 2, 2, 0.1, rng_key=key(0)).eval()
    mp = net.apply(pax.default_mp_policy)
    h = normal(4, (3, 6, 8))
    cached = pax.nn.init_cache(mp, 3, max_length=8)
    final, ys = decode(cached, h)
    full = mp(h)
    assert ys.dtype == full.dtype == jnp.float32
    tree_allclose(ys, full, **TOL)
    assert float(jnp.max(jnp.abs(full - net(h)))) > 1e-4  # bfloat16 did change the values
    floats = [x for x in jax.tree_util.tree_leaves(final) if jnp.issubdtype(x.dtype, jnp.inexact)]
    assert floats and all(x.dtype == jnp.float32 for x in floats)


def test_transformer_with_gqa_rope_rmsnorm_and_padding_steps_equal_full_call():
    options = {"num_kv_heads": 1, "rope_base": 10000.0, "rms_norm": True}
    net = pax.nets.Transformer(8, 2, 2, 0.1, rng_key=key(0), **options)
    assert isinstance(net.layers[0]["attn_layer_norm"], pax.RMSNorm)
    h = normal(4, (3, 6, 8))
    tokens = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 1, 1, 0, 1]], bool)
    _, ys = decode(pax.nn.init_cache(net, 3, max_length=8), h, jnp.asarray(tokens))
    tree_allclose(ys, net.eval()(h, jnp.asarray(tokens)), **TOL)


class Mixed(pax.Module):
    """A user's autoregressive model: masked convolution, LSTM, causal attention."""

    def __init__(self):
        super().__init__()
        self.conv = MaskedConv1D(4, 3, 1, False, in_features=2, rng_key=key(1))
        self.lstm = pax.LSTM(4, 4, rng_key=key(2))
        self.attention = MultiHeadAttention(2, 2, 1.0, causal=True, rng_key=key(3))

    def __call__(self, x):
        h = jnp.tanh(self.conv(x))
        _, h = pax.scan(self.lstm, self.lstm.initial_state(x.shape[0]), h, time_major=False)
        return h + self.attention(h, h, h)

    def update_site(self, x):
        h = jnp.tanh(self.conv.update_site(x))
        h = self.lstm.update_site(h)
        return h + self.attention.update_site(h)


def test_users_module_mixing_the_layers_steps_equal_full_call():
    net = Mixed()
    x = normal(5, (2, 7, 2))
    cached = pax.nn.init_cache(net, 2, max_length=7)
    assert cached.conv.cache is not None and cached.lstm.cache is not None
    _, ys = decode(cached, x)
    tree_allclose(ys, net(x), **TOL)


def test_stack_of_transformer_blocks_steps_equal_full_call():
    stack = pax.Stack(
        lambda k: pax.nets.Transformer(8, 2, 1, 0.0, rope_base=100.0, rng_key=k), 3, rng_key=key(0)
    )
    h = normal(6, (2, 5, 8))
    tokens = jnp.asarray(np.array([[1, 1, 1, 1, 1], [1, 1, 0, 1, 0]], bool))
    cached = pax.nn.init_cache(stack, 2, max_length=5)
    assert cached.blocks.layers[0]["attention"].key_cache.shape == (3, 2, 5, 2, 4)
    final, ys = decode(cached, h, tokens)
    expected = h
    for block in stack.to_sequential().eval():  # the blocks one after the other
        expected = block(expected, tokens)
    tree_allclose(ys, expected, **TOL)
    np.testing.assert_array_equal(final.blocks.layers[0]["attention"].position, [5, 5, 5])


def test_stack_of_masked_convolutions_steps_equal_full_call():
    stack = pax.Stack(
        lambda k: MaskedConv1D(4, 3, 2, False, in_features=4, rng_key=k), 3, rng_key=key(0)
    )
    x = normal(7, (2, 9, 4))
    _, ys = decode(pax.nn.init_cache(stack, 2), x)
    tree_allclose(ys, stack(x), **TOL)


def test_one_compiled_step_serves_every_position():
    traces = []

    @jax.jit
    def step(model, x):
        traces.append(None)
        return pax.module_and_value(model.update_site)(x)

    net = pax.nets.Transformer(8, 2, 1, 0.0, rng_key=key(0))
    cached = pax.nn.init_cache(net, 2, max_length=6)
    h = normal(8, (2, 6, 8))
    outputs = []
    for t in range(6):
        cached, y = step(cached, h[:, t])
        outputs.append(y)
    assert len(traces) == 1
    tree_allclose(jnp.stack(outputs, axis=1), net.eval()(h), **TOL)


def test_gradients_through_decoding_equal_full_call():
    mha = MultiHeadAttention(2, 2, 1.0, causal=True, num_kv_heads=1, rng_key=key(0))
    x = normal(9, (2, 4, 4))
    target = normal(10, (2, 4, 4))

    def full(m):
        return jnp.sum(m(x, x, x) * target)

    def stepped(m):
        return jnp.sum(decode(pax.nn.init_cache(m, 2, max_length=4), x)[1] * target)

    tree_allclose(pax.grad(stepped)(mha), pax.grad(full)(mha), **TOL)


# -- the cache is state ------------------------------------------------------------------


def test_cache_is_state_and_the_full_call_ignores_it():
    net = pax.nets.Transformer(8, 2, 1, 0.0, rng_key=key(0))
    cached = pax.nn.init_cache(net, 2, max_length=4)
    attn = cached.layers[0]["attention"]
    assert attn.key_cache.shape == (2, 4, 2, 4) and attn.token_mask.dtype == jnp.bool_
    leaves = jax.tree_util.tree_leaves
    tree_allclose(leaves(cached.parameters()), leaves(net.parameters()), rtol=0, atol=0)
    assert net.layers[0]["attention"].key_cache is None  # the original has no cache
    h = normal(11, (2, 3, 8))
    np.testing.assert_array_equal(cached.eval()(h), net.eval()(h))
    # a non-causal attention gets no cache
    mha = pax.nn.init_cache(MultiHeadAttention(2, 2, 1.0, rng_key=key(0)), 2, max_length=4)
    assert mha.key_cache is None


# -- past max_length ----------------------------------------------------------------------


def test_past_max_length_raises_eagerly_and_gives_nan_under_jit():
    mha = MultiHeadAttention(2, 2, 1.0, causal=True, rng_key=key(0))
    cached = pax.nn.init_cache(mha, 1, max_length=2)
    x = jnp.ones((1, 4))
    for _ in range(2):
        cached, y = pax.module_and_value(cached.update_site)(x)
    with pytest.raises(
        ValueError,
        match=r"cache holds max_length=2 positions and this step is at position 2\. Build a "
        r"longer cache",
    ):
        pax.module_and_value(cached.update_site)(x)
    # traced: the position is unknown; the outputs are NaN and the cache stays
    after, y = jax.jit(lambda m, x: pax.module_and_value(m.update_site)(x))(cached, x)
    assert bool(jnp.all(jnp.isnan(y)))
    tree_allclose(after.key_cache, cached.key_cache, rtol=0, atol=0)
    tree_allclose(after.value_cache, cached.value_cache, rtol=0, atol=0)
    # so a scan past the end shows NaN from that position on
    _, ys = decode(pax.nn.init_cache(mha, 1, max_length=2), jnp.ones((1, 4, 4)))
    assert bool(jnp.all(jnp.isfinite(ys[:, :2]))) and bool(jnp.all(jnp.isnan(ys[:, 2:])))


# -- errors ---------------------------------------------------------------------------------


def test_update_site_without_a_cache_raises():
    for model, x in [
        (MultiHeadAttention(2, 2, 1.0, causal=True, rng_key=key(0)), jnp.ones((1, 4))),
        (pax.LSTM(2, 3, rng_key=key(0)), jnp.ones((1, 2))),
        (pax.nets.Transformer(4, 2, 1, 0.0, rng_key=key(0)), jnp.ones((1, 4))),
    ]:
        with pytest.raises(ValueError, match=r"update_site needs a cache: build one first with"):
            pax.module_and_value(model.update_site)(x)


def test_non_causal_attention_has_no_step():
    mha = MultiHeadAttention(2, 2, 1.0, rng_key=key(0))
    with pytest.raises(ValueError, match=r"this attention is not causal.*causal=True"):
        pax.module_and_value(mha.update_site)(jnp.ones((1, 4)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"batch_size": 2},
            r"\(causal attention\) caches the keys.*pass it, `init_cache\(model, batch",
        ),
        ({"batch_size": None, "max_length": 4}, r"needs a `batch_size` \(got None\)"),
        ({"batch_size": 2, "max_length": 0}, r"`max_length` must be a positive int, got 0"),
        ({"batch_size": 0, "max_length": 4}, r"`batch_size` must be a positive int, got 0"),
    ],
)
def test_init_cache_argument_errors(kwargs, match):
    net = pax.nets.Transformer(4, 2, 1, 0.0, rng_key=key(0))
    with pytest.raises(ValueError, match=match):
        pax.nn.init_cache(net, **kwargs)


def test_step_input_errors_leave_the_model_unchanged():
    mha = MultiHeadAttention(2, 2, 1.0, causal=True, rng_key=key(0))
    cached = pax.nn.init_cache(mha, 2, max_length=3)
    with pytest.raises(ValueError, match=r"expects one position of input, shape \(2, 4\)"):
        pax.module_and_value(cached.update_site)(jnp.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"expects a `mask` of shape \(2,\)"):
        pax.module_and_value(cached.update_site)(jnp.ones((2, 4)), jnp.ones((2, 3), bool))
    net = pax.nn.init_cache(pax.nets.Transformer(4, 2, 1, 0.0, rng_key=key(0)), 2, max_length=3)
    with pytest.raises(ValueError, match=r"Transformer.update_site expects one position"):
        pax.module_and_value(net.update_site)(jnp.ones((2, 1, 4)))
    assert int(cached.position) == 0 and int(net.layers[0]["attention"].position) == 0
    with pytest.raises(ValueError, match="pax.pure"):  # it mutates the cache
        cached.update_site(jnp.ones((2, 4)))
