"""What programs written for pax3 0.5 rely on: its pickles, its keys, its
``load_state_dict`` of buffers, its float16 loss scale, and clear errors (issue 17)."""

import functools
import importlib
import os
import pickle
import re
import threading

import jax
import jax.numpy as jnp
import jmp
import numpy as np
import opax
import pytest
from helpers import tree_allclose

import pax

DATA = os.path.join(os.path.dirname(__file__), "data")

# -- pickles written by pax3 0.5.10 (tests/data/make_pax3_0_5_checkpoint.py) -----------


class Net(pax.Module):
    """The model of make_pax3_0_5_checkpoint.py, written for pax."""

    def __init__(self):
        super().__init__()
        self.encoder = pax.Sequential(pax.Linear(3, 4), pax.BatchNorm1D(4), pax.Linear(4, 4))
        self.lstm = pax.LSTM(4, 5)
        self.head = pax.Linear(5, 2)

    def __call__(self, x):
        h = jax.nn.relu(self.encoder(x))
        state = self.lstm.initial_state(x.shape[0])
        state, h = self.lstm(state, h[:, -1])
        return self.head(h)


def loss_fn(net, x, y):
    net, y_hat = pax.purecall(net, x)
    loss = jnp.mean((y_hat - y) ** 2)
    return loss, (loss, net)


@pytest.fixture(scope="module")
def pax3_record():
    with open(os.path.join(DATA, "pax3_0_5_checkpoint.pkl"), "rb") as f:
        return pickle.load(f)


def assert_leaves_equal(tree, expected_leaves, rtol=0.0, atol=0.0):
    leaves = jax.tree_util.tree_leaves(tree)
    assert len(leaves) == len(expected_leaves)
    for leaf, expected in zip(leaves, expected_leaves):
        np.testing.assert_allclose(np.asarray(leaf), expected, rtol=rtol, atol=atol)


def test_the_file_was_written_by_pax3_0_5(pax3_record):
    assert pax3_record["pax_version"] == "0.5.10"
    assert pax3_record["jax_version"] == "0.5.0"


def test_pax3_model_state_dict_loads_and_training_continues(pax3_record):
    net = Net().load_state_dict(pax3_record["model_state_dict"])
    assert_leaves_equal(net, pax3_record["expected_model_leaves"])
    optimizer = opax.adam(1e-2).init(net.parameters())
    optimizer = optimizer.load_state_dict(pax3_record["optimizer_state_dict"])
    assert_leaves_equal(optimizer, pax3_record["expected_optimizer_leaves"])

    # the next step gives what PAX's own next step gave
    update_fn = jax.jit(pax.build_update_fn(loss_fn))
    net, optimizer, loss = update_fn(net, optimizer, pax3_record["x"], pax3_record["y"])
    np.testing.assert_allclose(loss, pax3_record["next_step_loss"], rtol=1e-5)
    leaves = jax.tree_util.tree_flatten_with_path(net)[0]
    assert len(leaves) == len(pax3_record["next_step_model_leaves"])
    for (path, leaf), expected in zip(leaves, pax3_record["next_step_model_leaves"]):
        # the bias in front of BatchNorm has a zero gradient up to rounding noise, which
        # Adam divides by its equally tiny second moment: it moves by noise (~1e-2)
        noise = jax.tree_util.keystr(path) == ".encoder.modules[0].bias"
        np.testing.assert_allclose(leaf, expected, rtol=1e-4, atol=2e-2 if noise else 1e-6)


def test_pax3_optimizer_state_names_pax3_empty_node():
    # what makes the optimizer's pickle need the alias (found with pickletools)
    with open(os.path.join(DATA, "pax3_0_5_checkpoint.pkl"), "rb") as f:
        assert b"pax._src.core.base" in f.read()
    assert pickle.loads(b"cpax._src.core.base\nEmptyNode\n)R.") == pax.EmptyNode()


def test_pax3_pickled_modules_load_and_run(pax3_record):
    reference = Net().load_state_dict(pax3_record["model_state_dict"])
    modules = pax3_record["modules"]
    assert type(modules["encoder"][1]) is pax.BatchNorm1D
    for name in ("encoder", "lstm", "head"):
        # equal to pax's own modules: the same treedef and the same arrays
        tree_allclose(modules[name], getattr(reference, name), 0, 0)
    x = jnp.asarray(pax3_record["x"])
    enc = modules["encoder"].eval()
    np.testing.assert_allclose(enc(x), reference.encoder.eval()(x), rtol=1e-6)
    state = modules["lstm"].initial_state(2)
    _, h = pax.purecall(modules["lstm"], state, x[:, 0, :] @ jnp.ones((3, 4)))
    _, h_ref = pax.purecall(reference.lstm, state, x[:, 0, :] @ jnp.ones((3, 4)))
    np.testing.assert_allclose(h[1], h_ref[1], rtol=1e-6)
    # immutable like any pax module, and its parameters train
    with pytest.raises(ValueError, match="immutable|Cannot"):
        modules["head"].bias = jnp.zeros(2)
    grads, _ = pax.grad(lambda m, v: (jnp.sum(m(v)), m), has_aux=True)(
        modules["head"], jnp.ones((1, 5))
    )
    np.testing.assert_array_equal(grads.weight, np.ones((5, 2)))  # d sum(v @ w) / dw
    np.testing.assert_array_equal(grads.bias, np.ones(2))


PAX3_LAYERS = [
    "Conv1D",
    "Conv2D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "BatchNorm2D",
    "LayerNorm",
    "GroupNorm",
    "Embed",
    "GRU",
    "VanillaRNN",
    "MultiHeadAttention",
    "Dropout",
    "Identity",
    "RngSeq",
    "nets.Transformer",
    "_src.nets.resnet.ResnetBlock",
    "_src.nets.resnet.BlockGroup",
]


def pax_class(name):
    module_path, _, class_name = f"pax.{name}".rpartition(".")
    return getattr(importlib.import_module(module_path), class_name)


@pytest.mark.parametrize("index", range(len(PAX3_LAYERS)), ids=PAX3_LAYERS)
def test_pax3_pickled_layer_equals_pax_layer_and_gives_pax3_output(pax3_record, index):
    name, args, kwargs, module, inputs, expected = pax3_record["layers"][index]
    cls = pax_class(name)
    assert name == PAX3_LAYERS[index] and type(module) is cls
    fresh = cls(*args, **kwargs)
    if "." in name:
        # PAX left the submodules of its nets unnamed, pax names them: the same arrays
        shapes = functools.partial(jax.tree_util.tree_map, np.shape)
        assert shapes(module.state_dict()) == shapes(fresh.state_dict())
    else:
        # the same treedef as the layer built by pax (PAX-only fields dropped, pax's added)
        assert jax.tree_util.tree_structure(module) == jax.tree_util.tree_structure(fresh)
    module = module.eval()
    if name == "RngSeq":
        _, key = pax.module_and_value(module.next_rng_key)()
        assert key.shape == (2,)
        return
    if isinstance(module, (pax.GRU, pax.VanillaRNN)):
        state = module.initial_state(inputs[0].shape[0])
        output = pax.purecall(module, state, *inputs)[1][1]
    else:
        output = pax.purecall(module, *inputs)[1]
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


def test_pax3_pickled_layers_do_not_advance_the_key_sequence(pax3_record):
    pax.seed_rng_key(5)
    with open(os.path.join(DATA, "pax3_0_5_checkpoint.pkl"), "rb") as f:
        pickle.load(f)
    key = pax.next_rng_key()
    pax.seed_rng_key(5)
    np.testing.assert_array_equal(key, pax.next_rng_key())


def test_pax_modules_pickle_round_trip():
    net = Net()
    again = pickle.loads(pickle.dumps(net))
    assert jax.tree_util.tree_structure(again) == jax.tree_util.tree_structure(net)
    tree_allclose(again, net, 0, 0)


# -- seeding: the keys PAX 0.5.10 gives (recorded with make_pax3_0_5_checkpoint.py) -----

PAX3_KEYS = {
    0: [[0, 906691060], [0, 413654000], [0, 813847340]],
    1: [[0, 144272510], [0, 611178003], [0, 909925048]],
    42: [[0, 686579304], [0, 119540832], [0, 26855093]],
    2024: [[0, 504756066], [0, 195105372], [0, 781967832]],
}


@pytest.mark.parametrize("seed", sorted(PAX3_KEYS))
def test_seed_rng_key_gives_pax3_keys(seed):
    pax.seed_rng_key(seed)
    keys = [np.asarray(pax.next_rng_key()).tolist() for _ in range(3)]
    assert keys == PAX3_KEYS[seed]


def test_a_new_thread_starts_with_pax3_keys_of_seed_42():
    keys = []
    thread = threading.Thread(target=lambda: keys.append(pax.next_rng_key().tolist()))
    thread.start()
    thread.join()
    assert keys == [PAX3_KEYS[42][0]]


def test_next_rng_key_inside_jit_leaks_no_tracer():
    @jax.jit
    def f(x):
        return x + jax.random.uniform(pax.next_rng_key())  # drawn once, while tracing

    pax.seed_rng_key(42)
    a, b = f(1.0), f(1.0)  # the second call runs the compiled function: no draw
    assert float(a) == float(b)
    # the generator moved by exactly the one draw made while tracing, and what it hands
    # out afterwards is a concrete key (the thread-local state holds no tracer)
    key = pax.next_rng_key()
    assert not isinstance(key, jax.core.Tracer)
    assert np.asarray(key).tolist() == PAX3_KEYS[42][1]


# -- load_state_dict: a buffer takes the saved shape, a parameter does not ----------------


class Attention(pax.Module):
    def __init__(self):
        super().__init__()
        self.fc = pax.Linear(2, 2)
        self.attn_log = jnp.zeros((1,))  # non-trainable: its shape depends on the data


def test_load_state_dict_takes_the_saved_shape_of_a_buffer():
    saved = Attention().replace(attn_log=jnp.arange(6.0).reshape(2, 3)).state_dict()
    fresh = Attention()
    loaded = fresh.load_state_dict(saved)
    np.testing.assert_array_equal(loaded.attn_log, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(loaded.fc.weight, saved["fc"]["weight"])
    assert fresh.attn_log.shape == (1,)  # the caller's model unchanged


def test_load_state_dict_keeps_parameter_shapes_strict():
    fresh = Attention()
    saved = fresh.state_dict()
    saved["fc"]["weight"] = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match=r"`\.fc\.weight` has shape \(3, 2\).*expects \(2, 2\)"):
        fresh.load_state_dict(saved)


def test_pax_load_keeps_buffer_shapes_strict(tmp_path):
    path = str(tmp_path / "ckpt.safetensors")
    pax.save(path, Attention().replace(attn_log=jnp.zeros((2, 3))))
    with pytest.raises(ValueError, match="attn_log"):
        pax.load(path, like=Attention())


# -- a float16 dynamic loss scale, as PAX 0.5's mnist_mixed_precision.py used ------------

HALF = jmp.Policy(compute_dtype=jnp.float16, param_dtype=jnp.float32, output_dtype=jnp.float32)


def mp_net():
    net = pax.Sequential(pax.Linear(3, 8), jax.nn.relu, pax.Linear(8, 1))
    return net.apply(lambda m: pax.apply_mp_policy(m, HALF) if isinstance(m, pax.Linear) else m)


def scaled_loss_fn(net, x, y, loss_scale):
    net, y_hat = pax.purecall(net, x)
    loss = jnp.mean((y_hat - y) ** 2)
    return loss_scale.scale(loss), (loss, net)


@jax.jit
def mp_step(net, optimizer, loss_scale, x, y):
    grads, (loss, net) = pax.grad(scaled_loss_fn, has_aux=True)(net, x, y, loss_scale)
    net, optimizer, loss_scale = pax.experimental.apply_scaled_gradients(
        net, optimizer, loss_scale, grads
    )
    return net, optimizer, loss_scale, loss


@pytest.mark.parametrize(
    "make_scale", [pax.experimental.DynamicLossScale, jmp.DynamicLossScale], ids=["pax", "jmp"]
)
def test_float16_dynamic_loss_scale_training_loop(make_scale):
    net = mp_net()
    optimizer = opax.sgd(1e-2)(net.parameters())
    loss_scale = make_scale(jmp.half_dtype()(2**14), period=2)
    x = jnp.linspace(-1, 1, 12).reshape(4, 3)
    y = jnp.sum(x, axis=1, keepdims=True)
    scales, losses = [], []
    for _ in range(5):
        net, optimizer, loss_scale, loss = mp_step(net, optimizer, loss_scale, x, y)
        assert loss_scale.loss_scale.dtype == jnp.float16
        scales.append(float(loss_scale.loss_scale))
        losses.append(float(loss))
    # grows after each `period` finite steps, until 2**16 would overflow float16
    assert scales == [2**14, 2**15, 2**15, 2**15, 2**15]
    assert losses[-1] < losses[0]
    # an overflowing step is skipped and the scale halved
    huge = jnp.full_like(x, 6e4)
    before = net
    net, optimizer, loss_scale, _ = mp_step(net, optimizer, loss_scale, huge, y)
    assert float(loss_scale.loss_scale) == 2**14
    assert loss_scale.loss_scale.dtype == jnp.float16
    tree_allclose(net, before, 0, 0)


def test_float16_loss_scale_step_matches_unscaled_sgd():
    net = mp_net()
    x = jnp.linspace(-1, 1, 12).reshape(4, 3)
    y = jnp.sum(x, axis=1, keepdims=True)
    scale = pax.experimental.DynamicLossScale(jnp.float16(2**10))
    stepped, _, _, _ = mp_step(net, opax.sgd(1e-2)(net.parameters()), scale, x, y)
    grads = pax.grad(scaled_loss_fn, has_aux=True)(net, x, y, jmp.NoOpLossScale())[0]
    expected = jax.tree_util.tree_map(lambda p, g: p - 1e-2 * g, net.parameters(), grads)
    tree_allclose(stepped.parameters(), expected, rtol=1e-3, atol=1e-5)


def test_pax_dynamic_loss_scale_adjust_keeps_float16_under_jit():
    scale = pax.experimental.DynamicLossScale(jnp.float16(8.0), period=1, factor=2)
    assert isinstance(scale, jmp.DynamicLossScale)
    adjust = jax.jit(lambda s, finite: s.adjust(finite))
    lowered = adjust(scale, jnp.array(False))
    assert lowered.loss_scale.dtype == jnp.float16 and float(lowered.loss_scale) == 4.0
    assert lowered.min_loss_scale.dtype == scale.min_loss_scale.dtype  # kept through jit
    assert float(adjust(scale, jnp.array(True)).loss_scale) == 16.0


# -- clear errors, the caller's model unchanged --------------------------------------------


def test_explain_retraces_rejects_a_non_callable():
    with pytest.raises(TypeError, match="explain_retraces wraps a function, got 3"):
        pax.debug.explain_retraces(3)


def test_load_state_dict_names_the_first_differing_path():
    net = pax.Sequential(pax.Linear(1, 2), pax.Linear(2, 2))
    weight = net[1].weight
    longer = pax.Sequential(pax.Linear(1, 2), pax.Linear(2, 2), pax.Linear(2, 2))
    with pytest.raises(ValueError, match=r"`\.modules` has 2 entries in the module, 3 in the"):
        net.load_state_dict(longer.state_dict())
    nested = {"modules": ({"weight": np.zeros((1, 2)), "bias": np.zeros(2)}, {"w": 1})}
    with pytest.raises(ValueError, match=r"`\.modules\[1\]`: missing \['bias', 'weight'\]"):
        net.load_state_dict(nested)
    bad = net.state_dict()
    bad["modules"][1]["weight"] = {"x": 1}
    with pytest.raises(ValueError, match=r"`\.modules\[1\]\.weight` should be an array"):
        net.load_state_dict(bad)
    as_list = net.state_dict()
    as_list["modules"] = list(as_list["modules"])
    with pytest.raises(ValueError, match=r"`\.modules` is a tuple in the module, a list"):
        net.load_state_dict(as_list)
    assert net[1].weight is weight


@pytest.mark.parametrize("seed", ["x", 1.5, True, [1, 2]])
def test_rng_seq_rejects_a_seed_that_is_not_an_int_or_key(seed):
    with pytest.raises(TypeError, match="`seed` must be an int or a key"):
        pax.RngSeq(seed=seed)


@pytest.mark.parametrize("seed", [3, np.int64(3), jnp.array(3), jax.random.PRNGKey(3)], ids=str)
def test_rng_seq_accepts_int_seeds_and_keys(seed):
    assert np.asarray(pax.RngSeq(seed=seed)._rng_key).tolist() == [0, 3]


def test_save_into_a_missing_folder_names_the_folder(tmp_path):
    missing = tmp_path / "no_such_folder"
    net = pax.Linear(1, 1)
    with pytest.raises(FileNotFoundError, match=re.escape(f"folder '{missing}' does not exist")):
        pax.save(str(missing / "ckpt.safetensors"), net)
    assert not missing.exists()
