"""pax.nets: the ResNets against dm-haiku's ``hk.nets.ResNet`` (parameter counts of
every depth; outputs with copied weights in train and eval mode), BatchNorm state,
a few training steps; the Transformer against a haiku reference with copied
weights, its causal mask, padding mask, dropout and a toy copy task."""

import math

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import opax
import pytest
from helpers import tree_allclose
from layer_registry import key

import pax
from pax._src.nets.resnet import (
    BlockGroup,
    ResNet,
    ResNet18,
    ResNet34,
    ResNet50,
    ResNet101,
    ResNet152,
    ResNet200,
    ResnetBlock,
)
from pax._src.nets.transformer import Transformer
from pax._src.nn.embed import Embed

# -- ResNet ------------------------------------------------------------------------------

# torchvision's counts for 18 and 50 are 11,689,512 and 25,557,032; haiku's are the same.
RESNETS = [  # class, trainable parameters with 3 input channels and 1000 classes (haiku's)
    (ResNet18, 11_689_512),
    (ResNet34, 21_797_672),
    (ResNet50, 25_557_032),
    (ResNet101, 44_549_160),
    (ResNet152, 60_192_808),
    (ResNet200, 64_673_832),
]


def _num_elements(tree) -> int:
    return sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree))


def _build(make, seed=0):
    """``make()`` without compiling its random initializers (XLA compiles one program
    per weight shape, seconds each on a busy CPU): the structure comes from
    ``jax.eval_shape(make)``, the ``weight`` leaves from numpy (normal, variance
    1 / fan_in), the other leaves (norms, BatchNorm state) from ``jax.jit(make)``
    restricted to them, so XLA drops the random number generation."""
    paths, treedef = jax.tree_util.tree_flatten_with_path(jax.eval_shape(make))
    is_weight = [path[-1] == jax.tree_util.GetAttrKey("weight") for path, _ in paths]

    def others():
        leaves = jax.tree_util.tree_leaves(make())
        return [leaf for leaf, w in zip(leaves, is_weight) if not w]

    rest = iter(jax.jit(others)())
    rng = np.random.default_rng(seed)
    leaves = [
        (rng.standard_normal(s.shape) / math.sqrt(math.prod(s.shape[:-1]))).astype(s.dtype)
        if w
        else next(rest)
        for (_, s), w in zip(paths, is_weight)
    ]
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(x) for x in leaves])


@pytest.mark.parametrize("cls, expected", RESNETS, ids=lambda v: getattr(v, "__name__", ""))
def test_resnet_builds_and_runs_with_shapes_only(cls, expected):
    """Every depth, traced with shapes only (jax.eval_shape: no memory, no compilation):
    the parameter count of (3 channels, 1000 classes), and train/eval forwards."""
    net = jax.eval_shape(lambda: cls(3, 1000))
    assert _num_elements(net.parameters()) == expected
    blocks = tuple(len(group.blocks) for group in net.block_groups)
    assert blocks == ResNet.CONFIGS[cls.depth]["blocks_per_group"]
    x = jax.ShapeDtypeStruct((2, 3, 16, 16), jnp.float32)
    for mode in (net, net.eval()):
        new_net, y = jax.eval_shape(pax.purecall, mode, x)
        assert y.shape == (2, 1000)
        assert jax.tree_util.tree_structure(new_net) == jax.tree_util.tree_structure(mode)


@pytest.mark.parametrize(
    "cls, hk_cls", [(ResNet18, hk.nets.ResNet18), (ResNet50, hk.nets.ResNet50)]
)
def test_resnet_parameter_count_matches_haiku(cls, hk_cls):
    ours = _num_elements(jax.eval_shape(lambda: cls(3, 1000).parameters()))
    hk_net = hk.transform_with_state(lambda x: hk_cls(1000)(x, is_training=True))
    image = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
    hk_params, _ = jax.eval_shape(hk_net.init, key(0), image)
    assert ours == _num_elements(hk_params)


def _perturbed(param_shapes, seed):
    """Random O(1) weights (numpy) for haiku parameters given by shape, so that no
    branch is zero (haiku zero-inits the logits and the last BatchNorm scale of
    bottleneck blocks)."""
    rng = np.random.default_rng(seed)
    out = {}
    for module, leaves in sorted(param_shapes.items()):
        out[module] = {}
        for name, v in sorted(leaves.items()):
            z = rng.standard_normal(v.shape).astype(np.float32)
            if name == "w":
                z = z / math.sqrt(math.prod(v.shape[:-1]))
            elif name == "scale":
                z = 1.0 + 0.2 * z
            else:
                z = 0.2 * z
            out[module][name] = jnp.asarray(z)
    return out


def _haiku_conv(m, p):
    return m.replace(weight=p["w"].reshape(m.weight.shape))


def _haiku_bn(m, p):
    return m.replace(
        scale=p["scale"].reshape(m.scale.shape), offset=p["offset"].reshape(m.offset.shape)
    )


def _load_haiku_block_group(group, params, prefix):
    """Copy the weights of haiku's ``BlockGroup`` at ``prefix`` into ours."""
    blocks = []
    for j, block in enumerate(group.blocks):
        p = f"{prefix}block_{j}/~/"
        changes = {
            "layers": tuple(
                (_haiku_conv(c, params[f"{p}conv_{k}"]), _haiku_bn(b, params[f"{p}batchnorm_{k}"]))
                for k, (c, b) in enumerate(block.layers)
            )
        }
        if block.use_projection:
            changes["proj_conv"] = _haiku_conv(block.proj_conv, params[p + "shortcut_conv"])
            changes["proj_batchnorm"] = _haiku_bn(
                block.proj_batchnorm, params[p + "shortcut_batchnorm"]
            )
        blocks.append(block.replace(**changes))
    return group.replace(blocks=blocks)


def _load_haiku_resnet(net, params, prefix="res_net/~/"):
    """Copy the weights of haiku's ``ResNet`` into ours."""
    logits = params[prefix + "logits"]
    return net.replace(
        initial_conv=_haiku_conv(net.initial_conv, params[prefix + "initial_conv"]),
        initial_batchnorm=_haiku_bn(net.initial_batchnorm, params[prefix + "initial_batchnorm"]),
        block_groups=[
            _load_haiku_block_group(group, params, f"{prefix}block_group_{i}/~/")
            for i, group in enumerate(net.block_groups)
        ],
        logits=net.logits.replace(weight=logits["w"], bias=logits["b"]),
    )


def _haiku_init(fn, x):
    """Random O(1) haiku parameters and the zero initial state (haiku's moving
    averages start at zero: hidden, average and counter), without compiling
    haiku's random initializers."""
    hk_fn = hk.transform_with_state(fn)
    param_shapes, state_shapes = jax.eval_shape(hk_fn.init, key(0), x)
    state = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), state_shapes)
    return hk_fn, _perturbed(param_shapes, seed=2), state


def _batch_norm_state(net):
    """The moving averages of two BatchNorm layers of a ResNet."""
    bn = net.block_groups[1].blocks[0].layers[0][1]
    return [net.initial_batchnorm.ema_mean.averages, bn.ema_var.averages]


def _haiku_batch_norm_state(state, prefix="res_net/~/"):
    """The same two moving averages in haiku's state."""
    bn = prefix + "block_group_1/~/block_0/~/batchnorm_0"
    return [
        state[prefix + "initial_batchnorm/~/mean_ema"]["average"],
        state[bn + "/~/var_ema"]["average"],
    ]


def _nchw_images(seed, shape):
    x = jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)
    return x, x.transpose(0, 2, 3, 1)


def test_bottleneck_resnet_matches_haiku_with_copied_weights():
    """A small bottleneck ResNet (identity and projection shortcuts, all strides).
    With odd image sizes at every stage, haiku's SAME padding is PAX's symmetric
    padding, so the nets agree in train mode, and so do the updated BatchNorm
    statistics (haiku with PAX's decay rate 0.9); eval mode changes nothing."""
    cfg = dict(
        blocks_per_group=(1, 1, 1, 1),
        bottleneck=True,
        channels_per_group=(16, 32, 32, 64),
        use_projection=(False, True, True, True),
    )

    def haiku_fn(x):
        net = hk.nets.ResNet(
            num_classes=4,
            bn_config={"decay_rate": 0.9},
            initial_conv_config={"output_channels": 16},
            **cfg,
        )
        return net(x, is_training=True)

    x, x_nhwc = _nchw_images(1, (2, 3, 33, 33))
    hk_net, params, state = _haiku_init(haiku_fn, x_nhwc)

    @jax.jit
    def run_pax(net, x):
        net, y = pax.purecall(net, x)
        eval_net, y_eval = pax.purecall(net.eval(), x)
        return net, y, eval_net, y_eval

    def make():
        return ResNet(3, num_classes=4, initial_conv_config={"out_features": 16}, **cfg)

    net0 = _load_haiku_resnet(_build(make), params)
    net, y, eval_net, y_eval = run_pax(net0, x)
    y_hk, state = jax.jit(hk_net.apply)(params, state, None, x_nhwc)
    tree_allclose(y, y_hk, rtol=1e-4, atol=1e-5)
    ours = [a.reshape(-1) for a in _batch_norm_state(net)]
    theirs = [a.reshape(-1) for a in _haiku_batch_norm_state(state)]
    tree_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    for before, after in zip(_batch_norm_state(net0), _batch_norm_state(net)):
        assert not np.allclose(before, after)
    # eval mode uses the moving averages, which after one (debiased) update are the
    # statistics of that batch: the same outputs; and it changes nothing
    tree_allclose(y_eval, y, rtol=1e-4, atol=1e-5)
    tree_allclose(eval_net, net.eval(), rtol=0, atol=0)


def test_basic_block_group_matches_haiku_with_copied_weights():
    """Two basic blocks (ResNet18/34): a strided one with a projection, then a plain one."""

    def haiku_fn(x):
        group = hk.nets.ResNet.BlockGroup(
            channels=16,
            num_blocks=2,
            stride=2,
            bn_config={"decay_rate": 0.9},
            resnet_v2=False,
            bottleneck=False,
            use_projection=True,
            name="group",
        )
        return group(x, is_training=True, test_local_stats=False)

    x, x_nhwc = _nchw_images(2, (2, 8, 9, 9))
    hk_net, params, state = _haiku_init(haiku_fn, x_nhwc)
    group = _build(lambda: BlockGroup(8, 16, 2, stride=2, bottleneck=False, use_projection=True))
    group = _load_haiku_block_group(group, params, "group/~/")
    _, y = jax.jit(pax.purecall)(group, x)
    y_hk, _ = jax.jit(hk_net.apply)(params, state, None, x_nhwc)
    assert y.shape == (2, 16, 5, 5)
    tree_allclose(y, y_hk.transpose(0, 3, 1, 2), rtol=1e-4, atol=1e-5)


def test_resnet18_training_lowers_loss():
    """A few adam steps on 8 tiny images (4 classes) lower the loss."""
    x = jnp.asarray(np.random.default_rng(3).standard_normal((8, 3, 16, 16)), jnp.float32)
    labels = jnp.arange(8) % 4

    def loss_fn(net, x, labels):
        net, logits = pax.purecall(net, x)
        log_p = jax.nn.log_softmax(logits)
        loss = -jnp.mean(jnp.take_along_axis(log_p, labels[:, None], axis=1))
        return loss, (loss, net)

    net0 = _build(lambda: ResNet18(3, 4, rng_key=key(4)))
    net, optimizer = net0, opax.adam(1e-3)(net0.parameters())
    update_fn = jax.jit(pax.build_update_fn(loss_fn))
    losses = []
    for _ in range(5):
        net, optimizer, loss = update_fn(net, optimizer, x, labels)
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0], losses
    for before, after in zip(_batch_norm_state(net0), _batch_norm_state(net)):
        assert not np.allclose(before, after)


def test_resnet_state_dict_uses_pax_names():
    net = _build(lambda: ResNet18(3, 10))
    sd = net.state_dict()
    assert sorted(sd) == ["block_groups", "initial_batchnorm", "initial_conv", "logits"]
    first, projecting = sd["block_groups"][0]["blocks"][0], sd["block_groups"][1]["blocks"][0]
    assert sorted(projecting) == ["layers", "proj_batchnorm", "proj_conv"]
    assert sorted(first) == ["layers"]  # no projection: the attributes are None
    assert len(first["layers"]) == 2 and sorted(first["layers"][0][0]) == ["weight"]
    assert first["layers"][0][0]["weight"].shape == (3, 3, 64, 64)  # HWIO, as PAX 0.5
    other = _build(lambda: ResNet18(3, 10), seed=1).load_state_dict(sd)
    tree_allclose(other, net, rtol=0, atol=0)


def test_resnet_summary_and_repr():
    net = jax.eval_shape(lambda: ResNet18(3, 10))
    lines = net.summary(return_list=True)
    assert lines[0] == "ResNet18(input_channels=3, num_classes=10)"
    assert sum("ResnetBlock(" in line for line in lines) == 8
    assert sum("BlockGroup(" in line for line in lines) == 4
    assert any("(fc) Linear(in_dim=512, out_dim=10" in line for line in lines)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ResNet(3, (2, 2, 2), 10), "blocks_per_group` must have one entry per block"),
        (lambda: ResNet(3, (1,) * 4, 10, channels_per_group=(8, 8)), "channels_per_group"),
        (lambda: ResNet(3, (1,) * 4, 10, use_projection=(True,)), "use_projection"),
        (lambda: ResNet18(0, 10), "input_channels` must be a positive int"),
        (lambda: ResNet18(3, 10, initial_conv_config={"data_format": "NHWC"}), "NCHW"),
        (lambda: ResnetBlock(8, 6, 1, True, bottleneck=True), "divisible by 4"),
        (lambda: ResnetBlock(8, 16, 1, False, bottleneck=False), "Set use_projection=True"),
        (
            lambda: jax.eval_shape(  # group 0 is built before group 1 fails: shapes only
                lambda: ResNet(3, (1,) * 4, 10, use_projection=(True, False, True, True))
            ),
            r"without a projection shortcut must keep the shape .* stride=2",
        ),
    ],
)
def test_resnet_argument_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_resnet_input_shape_error_also_under_jit():
    net = _build(
        lambda: ResNet(
            3,
            (1, 1, 1, 1),
            2,
            bottleneck=False,
            channels_per_group=(8, 8, 8, 8),
            use_projection=(False, True, True, True),
            initial_conv_config={"out_features": 8},
        )
    ).eval()
    nhwc = jnp.zeros((1, 16, 16, 3))
    for fn in (net, jax.jit(net)):
        with pytest.raises(ValueError, match=r"expects NCHW inputs .* got shape \(1, 16, 16, 3\)"):
            fn(nhwc)


# -- Transformer ----------------------------------------------------------------------


def _haiku_transformer_fn(num_heads, num_layers):
    """haiku's transformer example (pre-norm GPT-2 stack), without dropout."""

    def fn(h, mask):
        dim = h.shape[-1]
        for i in range(num_layers):
            ln = hk.LayerNorm(-1, True, True, name=f"ln_attn_{i}")
            attn = hk.MultiHeadAttention(
                num_heads,
                dim // num_heads,
                w_init=hk.initializers.VarianceScaling(),
                name=f"attn_{i}",
            )
            x = ln(h)
            h = h + attn(x, x, x, mask=mask)
            x = hk.LayerNorm(-1, True, True, name=f"ln_dense_{i}")(h)
            x = hk.Linear(4 * dim, name=f"fc1_{i}")(x)
            h = h + hk.Linear(dim, name=f"fc2_{i}")(jax.nn.gelu(x))
        return hk.LayerNorm(-1, True, True, name="ln_out")(h)

    return hk.without_apply_rng(hk.transform(fn))


def _haiku_params(net):
    def linear(m):
        return {"w": m.weight, "b": m.bias}

    def ln(m):
        return {"scale": m.scale, "offset": m.offset}

    params = {"ln_out": ln(net.layer_norm_output)}
    for i, layer in enumerate(net.layers):
        attn = layer["attention"]
        params[f"ln_attn_{i}"] = ln(layer["attn_layer_norm"])
        params[f"ln_dense_{i}"] = ln(layer["dense_layer_norm"])
        params[f"attn_{i}/query"] = linear(attn.query_projection)
        params[f"attn_{i}/key"] = linear(attn.key_projection)
        params[f"attn_{i}/value"] = linear(attn.value_projection)
        params[f"attn_{i}/linear"] = linear(attn.output_projection)
        params[f"fc1_{i}"] = linear(layer["dense_block"].fc1)
        params[f"fc2_{i}"] = linear(layer["dense_block"].fc2)
    return params


def _randomized(net, seed):
    """Every float leaf plus O(1) noise, so that biases and norm offsets are not zero."""
    rng = np.random.default_rng(seed)
    leaves, treedef = jax.tree_util.tree_flatten(net)
    new = [
        leaf + 0.3 * rng.standard_normal(leaf.shape).astype(np.float32)
        if leaf.dtype == jnp.float32
        else leaf
        for leaf in leaves
    ]
    return jax.tree_util.tree_unflatten(treedef, new)


# one compilation each, shared by the tests below (same model structure and shapes)
_call = jax.jit(lambda net, h: net(h))  # raises if the call mutates the model
_purecall = jax.jit(pax.purecall)


def _tokens_like(seed):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((2, 6, 8)), jnp.float32)


def test_transformer_matches_haiku_with_copied_weights():
    """Eval mode (no dropout), without and with a padding mask (no row fully masked)."""
    net = _randomized(_build(lambda: Transformer(8, 2, 2, 0.5)), seed=10).eval()
    h = _tokens_like(1)
    mask = jnp.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 1, 0, 1]], bool)
    causal = np.tril(np.ones((1, 1, 6, 6), bool))
    hk_apply = _haiku_transformer_fn(2, 2).apply

    ys = (_call(net, h), jax.jit(lambda net, h, mask: net(h, mask))(net, h, mask))
    expected = jax.jit(lambda p, h, mask: (hk_apply(p, h, causal), hk_apply(p, h, mask)))(
        _haiku_params(net), h, causal & mask[:, None, None, :]
    )
    tree_allclose(ys, expected, rtol=1e-5, atol=1e-5)


def test_transformer_is_causal():
    """Changing position j changes no output before j (eval mode: no dropout)."""
    net = _build(lambda: Transformer(8, 2, 2, 0.5)).eval()
    h, j = _tokens_like(3), 3
    h2 = h.at[:, j].set(_tokens_like(4)[:, j])
    y, y2 = _call(net, h), _call(net, h2)
    np.testing.assert_allclose(y[:, :j], y2[:, :j], rtol=1e-6, atol=1e-6)
    assert not np.allclose(y[:, j:], y2[:, j:], atol=1e-3)


def test_transformer_dropout_in_train_mode_only():
    net = _build(lambda: Transformer(8, 2, 2, 0.5), seed=1)
    h = _tokens_like(6)
    net1, y1 = _purecall(net, h)
    net2, y2 = _purecall(net1, h)
    assert not np.allclose(y1, y2)  # the random sequence advanced: a new dropout mask
    assert not np.array_equal(*(jax.tree_util.tree_leaves(m.rng_seq)[0] for m in (net, net1)))
    # eval mode: no dropout and no state change (`_call` would raise), deterministic
    y_eval = _call(net.eval(), h)
    tree_allclose(_call(net1.eval(), h), y_eval, rtol=0, atol=0)
    assert not np.allclose(y1, y_eval)


class CopyModel(pax.Module):
    """Embedding + learned positions -> Transformer -> linear head."""

    parameters = pax.parameters_method("positions")

    def __init__(self, vocab, dim, seq_len):
        super().__init__()
        self.embed = Embed(vocab, dim, rng_key=key(20))
        self.positions = jnp.asarray(
            0.1 * np.random.default_rng(21).standard_normal((seq_len, dim)), jnp.float32
        )
        # no dropout, and one layer: the compilation of the training step dominates
        self.transformer = Transformer(dim, 2, 1, 0.0, rng_key=key(22))
        self.head = pax.Linear(dim, vocab, rng_key=key(23))

    def __call__(self, tokens):
        return self.head(self.transformer(self.embed(tokens) + self.positions))


def test_transformer_learns_a_copy_task():
    """Predict the token two positions earlier."""
    vocab, seq_len, shift = 8, 10, 2
    model = _build(lambda: CopyModel(vocab, 16, seq_len))

    def loss_fn(model, tokens):
        model, logits = pax.purecall(model, tokens)
        log_p = jax.nn.log_softmax(logits[:, shift:])
        targets = tokens[:, :-shift]
        loss = -jnp.mean(jnp.take_along_axis(log_p, targets[..., None], axis=-1))
        return loss, (loss, model)

    optimizer = opax.adam(1e-2)(model.parameters())
    update_fn = jax.jit(pax.build_update_fn(loss_fn))
    data = jnp.asarray(np.random.default_rng(24).integers(0, vocab, (60, 16, seq_len)))
    losses = []
    for tokens in data:
        model, optimizer, loss = update_fn(model, optimizer, tokens)
        losses.append(float(loss))
    assert np.mean(losses[:5]) > 1.8  # about log(8) = 2.08 at the start
    assert np.mean(losses[-5:]) < 0.3, losses


def test_transformer_state_dict_uses_pax_names():
    sd = _build(lambda: Transformer(8, 2, 3, 0.1)).state_dict()
    assert sorted(sd) == ["layer_norm_output", "layers", "rng_seq"]
    assert len(sd["layers"]) == 3
    assert sorted(sd["layers"][0]) == [
        "attention",
        "attn_layer_norm",
        "dense_block",
        "dense_layer_norm",
    ]
    assert sorted(sd["layers"][0]["dense_block"]) == ["fc1", "fc2"]
    assert sd["layers"][0]["dense_block"]["fc1"]["weight"].shape == (8, 32)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Transformer(10, 3, 1, 0.1), r"`dim` \(10\) must be divisible by `num_heads`"),
        (lambda: Transformer(8, 2, 0, 0.1), "num_layers` must be a positive int"),
        (lambda: Transformer(8, 2, 1, 1.0), r"dropout_rate` must be in \[0, 1\)"),
    ],
)
def test_transformer_argument_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "shape, mask_shape, match",
    [
        ((2, 5, 4), None, r"rank 3 \(N, T, D\) with D = 8, got shape \(2, 5, 4\)"),
        ((5, 8), None, r"got shape \(5, 8\)"),
        ((2, 5, 8), (2, 4), r"padding mask of shape \(N, T\) = \(2, 5\), got shape \(2, 4\)"),
    ],
)
def test_transformer_input_errors(shape, mask_shape, match):
    net = jax.eval_shape(lambda: Transformer(8, 2, 1, 0.1)).eval()  # fails before any compute
    mask = None if mask_shape is None else jnp.ones(mask_shape, bool)
    with pytest.raises(ValueError, match=match):
        net(jnp.zeros(shape), mask)
