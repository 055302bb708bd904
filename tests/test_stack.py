"""pax.nn.Stack: n stacked blocks applied with jax.lax.scan, equal to the unrolled
pax.Sequential of the same blocks with the same weights (SPEC §9, issue 9)."""

import functools
import re

import jax
import jax.numpy as jnp
import jmp
import numpy as np
import opax
import pytest
from helpers import tree_allclose

import pax
from pax._src.nn.stack import Stack

KEY = jax.random.PRNGKey(0)
X = jax.random.normal(jax.random.PRNGKey(1), (4, 6), jnp.float32)
RTOL, ATOL = 1e-5, 1e-5  # float32: a scan and the unrolled chain fuse differently
JIT_PURECALL = jax.jit(pax.purecall)  # one function: its compilations are shared


def mlp_block(key):
    return pax.Sequential(pax.Linear(6, 6, rng_key=key), jnp.tanh)


class Residual(pax.Module):
    """``x + fc2(gelu(fc1(norm(x))))``: a transformer-style block."""

    def __init__(self, key):
        super().__init__()
        k1, k2, k3 = jax.random.split(key, 3)
        self.norm = pax.LayerNorm(6, -1, True, True, rng_key=k1)
        self.fc1 = pax.Linear(6, 12, rng_key=k2)
        self.fc2 = pax.Linear(12, 6, rng_key=k3)

    def __call__(self, x):
        return x + self.fc2(jax.nn.gelu(self.fc1(self.norm(x))))


def bn_block(key):
    return pax.Sequential(pax.Linear(6, 6, rng_key=key), pax.BatchNorm1D(6), jnp.tanh)


def dropout_block(key):
    k1, k2 = jax.random.split(key)
    return pax.Sequential(pax.Linear(6, 6, rng_key=k1), pax.Dropout(0.5, rng_key=k2))


BLOCKS = {"mlp": mlp_block, "residual": Residual, "batchnorm": bn_block}


_PAIRS = {}


def pair(make, n=3):
    """A Stack and the Sequential of the same blocks, built independently (once per
    test session: building compiles; the copies are new module objects, so Objax-style
    in-place writes to them stay in the test)."""
    if (make, n) not in _PAIRS:
        seq = pax.Sequential(*[make(k) for k in jax.random.split(KEY, n)])
        _PAIRS[(make, n)] = Stack(make, n, rng_key=KEY), seq
    stack, seq = _PAIRS[(make, n)]
    return stack.copy(), seq.copy()


def unstack(stacked, n):
    return [jax.tree_util.tree_map(lambda leaf, i=i: leaf[i], stacked) for i in range(n)]


def assert_blocks_equal(stack, seq, rtol=RTOL, atol=ATOL):
    """Block i of ``stack`` equals layer i of ``seq`` (structure and leaves; compared
    in numpy, which compiles nothing)."""
    assert len(stack) == len(seq)
    block_def = jax.tree_util.tree_structure(stack.blocks)
    for layer in seq:
        assert jax.tree_util.tree_structure(layer) == block_def
    expected = jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *seq)
    tree_allclose(jax.tree_util.tree_map(np.asarray, stack.blocks), expected, rtol, atol)


def mse(model, x):
    model, y = pax.purecall(model, x)
    loss = jnp.mean(jnp.square(y - 0.5))
    return loss, (loss, model)


# -- construction ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [mlp_block, bn_block, dropout_block])
def test_blocks_are_make_block_of_split_keys(make):
    stack, seq = pair(make)
    for leaf in jax.tree_util.tree_leaves(stack.blocks):
        assert leaf.shape[0] == 3
    assert_blocks_equal(stack, seq, rtol=0, atol=0)


def test_default_key_comes_from_next_rng_key():
    pax.seed_rng_key(3)
    a = Stack(mlp_block, 3)
    pax.seed_rng_key(3)
    b = Stack(mlp_block, 3, rng_key=pax.next_rng_key())
    tree_allclose(a, b, rtol=0, atol=0)
    # typed keys work too
    typed = Stack(mlp_block, 2, rng_key=jax.random.key(0))
    assert typed.blocks[0].weight.shape == (2, 6, 6)


@pytest.mark.parametrize("n", [0, -1, True, 2.0])
def test_bad_n_raises(n):
    with pytest.raises(ValueError, match="Stack: `n` must be a positive int"):
        Stack(mlp_block, n)


def test_make_block_must_return_a_module():
    with pytest.raises(TypeError, match=r"must return one block, a pax.Module; it returned"):
        Stack(lambda k: jax.random.normal(k, (3,)), 2)
    with pytest.raises(TypeError, match="must be a function"):
        Stack(pax.Linear(2, 2), 2)  # type: ignore[arg-type]


def test_thread_local_randomness_raises_with_the_leaf():
    with pytest.raises(ValueError, match=r"(?s)pax.next_rng_key.*`\(Linear\)\.weight`.*all 3"):
        Stack(lambda k: pax.Linear(4, 4), 3)
    # drawing a key that nothing depends on is fine (LayerNorm initializes to 1 and 0)
    stack = Stack(
        lambda k: pax.Sequential(pax.LayerNorm(4, -1, True, True), pax.Linear(4, 4, rng_key=k)), 3
    )
    w = stack.blocks[1].weight
    assert not np.allclose(w[0], w[1])
    Stack(lambda k: pax.Linear(4, 4), 1)  # one block: nothing to tell apart


def test_objax_variables_and_traced_python_values_raise():
    class Objax(pax.Module):
        def __init__(self, key):
            super().__init__()
            self.w = pax.TrainVar(jax.random.normal(key, (2,)))

    with pytest.raises(TypeError, match="holds an Objax variable"):
        Stack(Objax, 2)

    class Concrete(pax.Module):
        def __init__(self, key):
            super().__init__()
            self.w = jax.random.normal(key, (2,))
            self.positive = bool(self.w[0] > 0)  # a Python value from the key

    with pytest.raises(ValueError, match="runs once for all blocks under `jax.vmap`"):
        Stack(Concrete, 2)


# -- equivalence with the Sequential ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_outputs_and_gradients_equal_sequential(name):
    stack, seq = pair(BLOCKS[name])

    @jax.jit
    def run(model, x):
        grads, (loss, model) = pax.grad(mse, has_aux=True)(model, x)
        x_grad = jax.grad(lambda x: mse(model, x)[0])(x)
        return loss, grads, x_grad, model

    s_loss, s_grads, s_x_grad, s_model = run(stack, X)
    q_loss, q_grads, q_x_grad, q_model = run(seq, X)
    np.testing.assert_allclose(s_loss, q_loss, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(s_x_grad, q_x_grad, rtol=RTOL, atol=ATOL)
    assert isinstance(s_grads, Stack)
    assert jax.tree_util.tree_structure(s_grads) == jax.tree_util.tree_structure(stack.parameters())
    assert_blocks_equal(s_grads, q_grads, rtol=1e-4, atol=1e-5)
    assert_blocks_equal(s_model, q_model)  # state (batch-norm statistics) too
    if name == "mlp":  # eagerly, too
        np.testing.assert_allclose(stack.eval()(X), seq.eval()(X), rtol=RTOL, atol=ATOL)


def test_build_update_fn_with_adam_equals_sequential():
    stack, seq = pair(Residual)
    update = jax.jit(pax.build_update_fn(mse))
    models = {"stack": stack, "seq": seq}
    optimizers = {k: opax.adam(1e-2)(m.parameters()) for k, m in models.items()}
    losses = {k: [] for k in models}
    for _ in range(3):
        for k in models:
            models[k], optimizers[k], loss = update(models[k], optimizers[k], X)
            losses[k].append(float(loss))
    np.testing.assert_allclose(losses["stack"], losses["seq"], rtol=1e-5)
    assert losses["stack"][2] < losses["stack"][0]
    assert_blocks_equal(models["stack"], models["seq"], rtol=1e-4, atol=1e-5)


def test_scan_mode_update_fn_and_pure():
    stack, seq = pair(mlp_block)
    step = pax.build_update_fn(mse, scan_mode=True)
    carry = (stack, opax.adam(1e-2)(stack.parameters()))
    (stack2, _), losses = pax.scan(lambda c, _: step(c, X), carry, None, length=3)
    ref = (seq, opax.adam(1e-2)(seq.parameters()))
    (seq2, _), ref_losses = pax.scan(lambda c, _: step(c, X), ref, None, length=3)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    assert_blocks_equal(stack2, seq2, rtol=1e-4, atol=1e-5)

    @pax.pure
    def rescale(model):
        model.blocks = model.blocks.map(lambda x: 2 * x)  # mutate the copy
        return model

    doubled = rescale(stack)
    np.testing.assert_allclose(doubled.blocks[0].weight, 2 * stack.blocks[0].weight)
    assert not np.allclose(doubled(X), stack(X))  # the caller's stack is unchanged


def test_nested_in_a_model_and_extra_arguments():
    class Net(pax.Module):
        def __init__(self):
            super().__init__()
            self.inp = pax.Linear(3, 6, rng_key=jax.random.PRNGKey(5))
            self.body = pair(mlp_block)[0]

        def __call__(self, x):
            return self.body(self.inp(x))

    net = Net()
    x = X[:, :3]
    ref = pax.Sequential(net.inp, *net.body.to_sequential())
    np.testing.assert_allclose(net(x), ref(x), rtol=RTOL, atol=ATOL)
    grads = jax.jit(pax.grad(lambda m: jnp.sum(m(x))))(net)
    assert grads.body.blocks[0].weight.shape == (3, 6, 6)
    assert list(net.vars().keys())[2] == "(Net).body(Stack)[0](Sequential)[0](Linear).weight"

    class Scaled(pax.Module):  # a block taking a second, shared argument
        def __init__(self, key):
            super().__init__()
            self.fc = pax.Linear(6, 6, rng_key=key)

        def __call__(self, x, scale, *, shift=0.0):
            return scale * jnp.tanh(self.fc(x)) + shift

    stack, seq = pair(Scaled)
    expected = X
    for block in seq:
        expected = block(expected, 0.5, shift=1.0)
    np.testing.assert_allclose(stack(X, 0.5, shift=1.0), expected, rtol=RTOL, atol=ATOL)


def test_program_does_not_grow_with_n():
    def program(n):  # the training step's jaxpr, numbers (shapes, n) left out
        stack = jax.eval_shape(lambda: Stack(Residual, n, rng_key=KEY))  # shapes only
        optimizer = jax.eval_shape(lambda s: opax.adam(1e-3)(s.parameters()), stack)
        jaxpr = jax.make_jaxpr(pax.build_update_fn(mse))(stack, optimizer, X)
        return re.sub(r"\s+", " ", re.sub(r"\d+", "#", str(jaxpr)))

    assert program(2) == program(16)


# -- stateful blocks ------------------------------------------------------------------------


def test_batchnorm_statistics_per_block():
    stack, seq = pair(bn_block)
    new_stack, y = pax.purecall(stack, X)
    new_seq, y_ref = pax.purecall(seq, X)
    np.testing.assert_allclose(y, y_ref, rtol=RTOL, atol=ATOL)
    assert isinstance(new_stack, Stack)
    assert_blocks_equal(new_stack, new_seq)
    means = new_stack.blocks[1].ema_mean.averages
    assert not np.allclose(means[0], means[1])  # each block saw its own inputs
    assert float(new_stack.blocks[1].ema_mean.debias[0]) == pytest.approx(0.1)
    # the parameters are not copied through the scan: the same arrays come back
    assert new_stack.blocks[0].weight is stack.blocks[0].weight
    # evaluation mode uses the statistics and changes nothing
    eval_stack, y_eval = pax.purecall(new_stack.eval(), X)
    np.testing.assert_allclose(y_eval, new_seq.eval()(X), rtol=RTOL, atol=ATOL)
    assert eval_stack.blocks[1].ema_mean.averages is new_stack.blocks[1].ema_mean.averages
    # outside pax.pure a training step cannot update the state
    with pytest.raises(ValueError, match="immutable outside `pax.pure`"):
        stack(X)


def test_dropout_key_per_block():
    n = 3
    stack, seq = pair(dropout_block, n=n)

    def mask(block):  # the dropout mask of one call of the block, as 0/1
        drop = block[1]
        _, y = pax.purecall(drop, jnp.ones((4, 6)))
        return np.asarray(y > 0)

    masks = [mask(stack[i]) for i in range(n)]
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    for i in range(n):
        np.testing.assert_array_equal(masks[i], mask(seq[i]))
    # a training call: equal outputs, and each block's key advanced as in the Sequential
    new_stack, y = JIT_PURECALL(stack, X)
    new_seq, y_ref = JIT_PURECALL(seq, X)
    np.testing.assert_allclose(y, y_ref, rtol=RTOL, atol=ATOL)
    assert_blocks_equal(new_stack, new_seq, rtol=0, atol=0)
    keys = new_stack.blocks[1].rng_key
    assert not np.array_equal(keys[0], stack.blocks[1].rng_key[0])
    # a second call draws new masks
    _, y2 = JIT_PURECALL(new_stack, X)
    assert not np.allclose(y, y2)
    # eval mode: no dropout, no change
    np.testing.assert_allclose(stack.eval()(X), seq.eval()(X), rtol=RTOL, atol=ATOL)


def test_train_and_eval_propagate():
    stack, _ = pair(bn_block)
    evaluated = stack.eval()
    assert not evaluated.training
    assert all(not m.training for m in [evaluated.blocks, *evaluated.blocks.modules])
    assert not evaluated[0][1].training and not evaluated.to_sequential().training
    trained = evaluated.train()
    assert trained.training and trained[1][1].training


# -- parameters, freezing, state dicts, mixed precision ------------------------------------


def test_freezing_and_parameters():
    stack, _ = pair(bn_block)
    params = stack.parameters()
    block_params = stack[0].parameters()
    assert [leaf.shape for leaf in jax.tree_util.tree_leaves(params)] == [
        (3, *leaf.shape) for leaf in jax.tree_util.tree_leaves(block_params)
    ]
    frozen = pax.freeze_parameters(stack)
    assert jax.tree_util.tree_leaves(frozen.parameters()) == []
    assert jax.tree_util.tree_leaves(pax.grad(lambda m: jnp.sum(m.eval()(X)))(frozen)) == []
    assert not frozen.vars().subset(is_a=pax.TrainVar)
    restored = pax.unfreeze_parameters(frozen, origin=stack)
    assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(stack)
    assert len(jax.tree_util.tree_leaves(restored.parameters())) == 4


def test_state_dict_round_trip():
    stack, _ = pair(bn_block)
    state = stack.state_dict()
    assert state["blocks"]["modules"][0]["weight"].shape == (3, 6, 6)  # stacked, blocks first
    loaded = stack.map(jnp.zeros_like).load_state_dict(state)
    tree_allclose(loaded, stack, rtol=0, atol=0)
    with pytest.raises(ValueError, match="shape"):
        stack[:2].load_state_dict(state)
    # per-block dicts: through the Sequential
    per_block = stack.to_sequential().state_dict()
    assert per_block["modules"][2]["modules"][0]["weight"].shape == (6, 6)


@pytest.mark.parametrize("where", ["blocks", "everywhere"])
def test_mixed_precision(where):
    policy = jmp.get_policy("params=float32,compute=bfloat16,output=float32")
    stack, seq = pair(mlp_block)

    def half(model):
        if where == "blocks":  # the blocks' own modules (make_block could do it too)
            return model.apply_submodules(lambda m: pax.apply_mp_policy(m, policy))
        return model.apply(lambda m: pax.apply_mp_policy(m, policy))  # also the Stack

    mp_stack, mp_seq = half(stack), half(seq)
    assert "mp_policy=FHF" in repr(mp_stack.blocks[0])

    @jax.jit
    def run(model):
        return model(X), pax.grad(lambda m: jnp.sum(m(X)))(model)

    (y, grads), (y_ref, grads_ref) = run(mp_stack), run(mp_seq)
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, y_ref, rtol=1e-2, atol=1e-2)
    np.testing.assert_allclose(y, seq(X), rtol=5e-2, atol=5e-2)
    assert all(g.dtype == jnp.float32 for g in jax.tree_util.tree_leaves(grads))
    assert_blocks_equal(grads, grads_ref, rtol=5e-2, atol=5e-2)
    assert mp_stack.blocks[0].weight.dtype == jnp.float32
    if where == "everywhere":  # the Stack casts its input to bfloat16, its blocks return float32
        assert "mp_policy=FHF" in repr(mp_stack)
        restored = mp_stack.apply(pax.unwrap_mp_policy)
        assert jax.tree_util.tree_structure(restored) == jax.tree_util.tree_structure(stack)


def test_mixed_precision_with_stateful_blocks_keeps_the_state():
    policy = jmp.get_policy("params=float32,compute=bfloat16,output=float32")
    stack, seq = pair(bn_block, n=2)
    mp_stack = stack.apply(lambda m: pax.apply_mp_policy(m, policy))
    mp_seq = seq.apply(lambda m: pax.apply_mp_policy(m, policy))
    new_stack, y = JIT_PURECALL(mp_stack, X)
    new_seq, y_ref = JIT_PURECALL(mp_seq, X)
    np.testing.assert_allclose(y, y_ref, rtol=1e-2, atol=1e-2)
    assert_blocks_equal(new_stack, new_seq, rtol=1e-2, atol=1e-2)
    assert new_stack.blocks[1].ema_mean.averages.dtype == jnp.float32


# -- Objax-style variables ------------------------------------------------------------------


def test_vars_are_named_per_block_like_the_sequential():
    stack, seq = pair(bn_block)
    vc, ref = stack.vars(), seq.vars()
    assert [k.replace("(Stack)", "(Sequential)", 1) for k in vc.keys()] == list(ref.keys())
    assert "(Stack)[2](Sequential)[1](BatchNorm1D).ema_mean(EMA).averages" in vc
    for (name, v), w in zip(vc.items(), ref.values()):
        assert isinstance(v, pax.TrainVar) == isinstance(w, pax.TrainVar), name
        np.testing.assert_array_equal(v.value, w.value)
    assert len(vc.subset(is_a=pax.TrainVar)) == len(ref.subset(is_a=pax.TrainVar))
    assert (
        stack.vars()["(Stack)[1](Sequential)[0](Linear).weight"]
        is vc["(Stack)[1](Sequential)[0](Linear).weight"]
    )
    text = str(vc)
    assert "(Stack)[0](Sequential)[0](Linear).weight" in text and "+Total(24)" in text


def test_assignment_through_the_var_collection():
    stack, _ = pair(mlp_block)
    before = stack.blocks[0].weight
    vc = stack.vars()
    w1 = vc["(Stack)[1](Sequential)[0](Linear).weight"]
    assert w1.value is w1.value  # reading twice gives the same object
    w1.assign(jnp.zeros((6, 6)))
    weight = stack.blocks[0].weight  # written into the stacked array, in place
    np.testing.assert_array_equal(weight[1], 0)
    np.testing.assert_array_equal(weight[0], before[0])
    np.testing.assert_array_equal(weight[2], before[2])
    vc.assign([t + 1 for t in vc.tensors()])
    np.testing.assert_allclose(stack.blocks[0].weight[1], 1)
    np.testing.assert_allclose(stack.blocks[0].bias, 1)
    with pytest.raises(ValueError, match="TrainVar.value is read-only"):
        w1.value = jnp.ones((6, 6))
    with pytest.raises(ValueError, match="expected shape"):
        w1.assign(jnp.ones((6, 7)))
    with pytest.raises(ValueError, match=r"share one array of shape \(3, 6, 6\)"):
        w1.assign(jnp.ones((2, 6, 6)), check=False)
    with pytest.raises(ValueError, match="share one array"):
        with stack.vars().replicate():
            pass
    assert stack.blocks[0].weight.shape == (3, 6, 6)  # the failed replicate undid itself


def test_objax_grad_values_per_block():
    stack, seq = pair(mlp_block)
    loss = functools.partial(lambda m, x: jnp.mean(m(x) ** 2))
    g, (v,) = pax.GradValues(lambda x: loss(stack, x), stack.vars())(X)
    g_ref, (v_ref,) = pax.GradValues(lambda x: loss(seq, x), seq.vars())(X)
    np.testing.assert_allclose(v, v_ref, rtol=RTOL)
    assert len(g) == len(g_ref) == 3 * 2
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert not isinstance(stack.blocks[0].weight, jax.core.Tracer)


def test_objax_jit_updates_the_state_in_place():
    stack, seq = pair(bn_block)
    jit_stack, jit_seq = pax.Jit(stack), pax.Jit(seq)
    for _ in range(2):
        y, y_ref = jit_stack(X), jit_seq(X)
    np.testing.assert_allclose(y, y_ref, rtol=RTOL, atol=ATOL)
    assert_blocks_equal(stack, seq)  # both updated in place, Objax style
    averages = stack.blocks[1].ema_mean.averages
    assert not isinstance(averages, jax.core.Tracer)
    assert float(stack.blocks[1].ema_mean.debias[2]) == pytest.approx(1 - 0.9**2)

    # an Objax-style SGD step over the per-block variables equals one over the Sequential
    def sgd(model, vc):
        train = vc.subset(is_a=pax.TrainVar)
        grads = pax.Grad(lambda x: jnp.mean(model.eval()(x) ** 2), train)(X)
        for v, g in zip(train, grads):
            v.assign(v.value - 0.1 * g)

    sgd(stack, stack.vars())
    sgd(seq, seq.vars())
    assert_blocks_equal(stack, seq, rtol=1e-4, atol=1e-5)


# -- conversion, indexing, printing ------------------------------------------------------


def test_conversion_both_ways():
    stack, seq = pair(bn_block)
    back = stack.to_sequential()
    assert isinstance(back, pax.Sequential) and len(back) == 3
    tree_allclose(back, seq, rtol=0, atol=0)
    again = Stack.from_sequential(back)
    assert jax.tree_util.tree_structure(again) == jax.tree_util.tree_structure(stack)
    tree_allclose(again, stack, rtol=0, atol=0)
    assert Stack.from_sequential(list(seq)).n == 3
    # indexing
    tree_allclose(stack[-1], seq[2], rtol=0, atol=0)
    tree_allclose(stack[np.int64(2)], seq[2], rtol=0, atol=0)
    sub = stack[1:3]
    assert isinstance(sub, Stack) and sub.n == 2
    tree_allclose(sub.to_sequential(), seq[1:3], rtol=0, atol=0)
    assert [type(b) for b in stack] == [pax.Sequential] * 3
    with pytest.raises(IndexError, match="out of range"):
        stack[3]
    with pytest.raises(IndexError, match="selects no block"):
        stack[3:1]
    # eval mode and names survive the round trip
    named = Stack.from_sequential(pax.Sequential(*seq, name="body").eval())
    assert named.name == "body" and not named.training
    assert named.to_sequential().name == "body" and not named.to_sequential().training


@pytest.mark.parametrize(
    "odd, match",
    [
        (pax.Linear(6, 5), r"block 2 differs from block 0: `Linear.out_dim` is 5, in block 0 6"),
        (
            pax.Linear(6, 6, with_bias=False),
            r"block 2 .*`Linear.with_bias` is False, in block 0 True",
        ),
        (
            pax.Linear(6, 6).replace(weight=jnp.zeros((6, 6), jnp.float16)),
            r"block 2 .*`Linear.weight` has shape \(6, 6\) and dtype float16, block 0 has "
            r"\(6, 6\) and float32",
        ),
        (pax.Linear(6, 6, name="odd"), r"block 2 .*`Linear.name` is 'odd', in block 0 None"),
        (pax.Lambda(jnp.tanh), r"block 2 .*`Linear` is a Lambda, in block 0 a Linear"),
    ],
)
def test_from_sequential_names_the_first_difference(odd, match):
    seq = pax.Sequential(pax.Linear(6, 6), pax.Linear(6, 6), odd, pax.Linear(6, 5))
    with pytest.raises(ValueError, match=match):
        Stack.from_sequential(seq)


def test_from_sequential_bad_inputs():
    with pytest.raises(ValueError, match="empty"):
        Stack.from_sequential(pax.Sequential())
    with pytest.raises(TypeError, match="layer 1 is a int"):
        Stack.from_sequential([pax.Linear(2, 2), 3])
    with pytest.raises(TypeError, match="expects a pax.Sequential"):
        Stack.from_sequential(pax.Linear(2, 2))  # type: ignore[arg-type]


def test_blocks_must_preserve_shape():
    stack = Stack(
        lambda k: pax.Linear(6, 6, rng_key=k).replace_method(
            __call__=lambda self, x: jnp.concatenate([x @ self.weight, x], -1)
        ),
        2,
    )
    with pytest.raises(
        ValueError, match=r"(?s)maps float32\[4, 6\] to float32\[4, 12\].*scan carry"
    ):
        stack(X)

    def flip(x):  # float16 <-> float32: no dtype is kept
        return x.astype(jnp.float32 if x.dtype == jnp.float16 else jnp.float16)

    with pytest.raises(ValueError, match=r"maps float16\[4, 6\] to float32\[4, 6\]"):
        Stack(lambda k: pax.Lambda(flip), 3)(X)
    # a first block that only changes the dtype runs apart; the others keep it
    cast = Stack(lambda k: pax.Lambda(lambda x: x.astype(jnp.float16) + 1), 3)
    np.testing.assert_allclose(cast(X), X + 3, rtol=1e-2)
    assert cast(X).dtype == jnp.float16


def test_repr_and_summary():
    stack = jax.eval_shape(lambda: Stack(Residual, 12, rng_key=KEY, name="body"))  # shapes only
    assert repr(stack) == "(body) Stack(n=12, block=Residual)"
    assert stack.summary().splitlines() == [
        "(body) Stack(n=12, block=Residual)",
        "└── 12 × Residual",
        "    ├── LayerNorm(num_channels=6, axis=(-1,), create_scale=True, create_offset=True, "
        "eps=1e-05)",
        "    ├── Linear(in_dim=6, out_dim=12, with_bias=True)",
        "    └── Linear(in_dim=12, out_dim=6, with_bias=True)",
    ]


def test_from_stacked_blocks_is_the_stack_of_those_blocks():
    stack = Stack(lambda k: pax.Linear(6, 6, rng_key=k), 3, rng_key=jax.random.PRNGKey(2))
    again = Stack.from_stacked_blocks(stack.blocks, 3, name="again", training=False)
    assert again.blocks is stack.blocks and again.name == "again" and not again.training
    tree_allclose(again(X), stack(X))
    assert jax.tree_util.tree_structure(again.train().replace(_name=None)) == (
        jax.tree_util.tree_structure(stack)
    )
    seq_out = X
    for i in range(3):
        seq_out = seq_out @ stack.blocks.weight[i] + stack.blocks.bias[i]
    tree_allclose(again(X), seq_out, rtol=1e-5)


def test_from_stacked_blocks_bad_inputs_raise():
    stack = Stack(lambda k: pax.Linear(6, 6, rng_key=k), 3)
    with pytest.raises(TypeError, match="`blocks` must be a pax.Module, got list"):
        Stack.from_stacked_blocks([stack.blocks], 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"3 blocks on its leading axis; `blocks.weight`"):
        Stack.from_stacked_blocks(pax.Linear(6, 6), 3)
    with pytest.raises(ValueError, match="`n` must be a positive int"):
        Stack.from_stacked_blocks(stack.blocks, 0)
