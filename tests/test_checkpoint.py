"""Checkpoints (SPEC §8): ``pax.save`` / ``pax.load`` of modules, optimizers and arrays.

Round trips of every registry layer, opax optimizer states, Objax-style models and
every leaf kind (bf16/f16, ints, bools, PRNG keys, Python scalars, 0-d and empty
arrays), abstract and sharded ``like``; atomic replacement; mismatches with ``like``
and damaged files raise clear errors and leave ``like`` unchanged. Resuming in a fresh
process and killing a writer are in tests/test_checkpoint_processes.py.
"""

import importlib
import json
import os
import pkgutil
import re
import struct

import jax
import jax.numpy as jnp
import layer_cases
import numpy as np
import opax
import pytest
import safetensors
import safetensors.numpy

import pax
from pax._src.checkpoint import format as ckpt_format
from pax.experimental import load_weights_from_dict, save_weights_to_dict

# -- helpers --------------------------------------------------------------------------


def flat_values(tree):
    """``(path, numpy value or Python scalar, dtype name)`` for every leaf (keys as data)."""
    out = []
    for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
        dtype = str(getattr(x, "dtype", type(x).__name__))
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        out.append((jax.tree_util.keystr(path), x if np.isscalar(x) else np.asarray(x), dtype))
    return out


def assert_same_values(a, b):
    """Same leaf paths, dtypes, leaf types and bit patterns (NaN payloads included)."""
    fa, fb = flat_values(a), flat_values(b)
    assert [(p, d) for p, _, d in fa] == [(p, d) for p, _, d in fb]
    for (path, x, _), (_, y, _) in zip(fa, fb):
        assert type(x) is type(y), path
        if isinstance(x, np.ndarray):
            assert x.shape == y.shape and x.tobytes() == y.tobytes(), path
        else:
            assert x == y, path


def perturbed(tree, seed=0):
    """``tree`` with every array leaf changed (floats noised, ints shifted, bools
    flipped, keys split), computed in numpy to keep it cheap."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    rng = np.random.default_rng(seed)
    out = []
    for x in leaves:
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            out.append(jax.random.split(x.reshape(-1)[0], x.size).reshape(x.shape))
            continue
        y = np.asarray(x)
        if jnp.issubdtype(y.dtype, jnp.floating):
            y = (y + rng.normal(size=y.shape)).astype(y.dtype)
        elif y.dtype == np.bool_:
            y = ~y
        else:
            y = y + np.ones((), y.dtype)
        out.append(jnp.asarray(y))
    return jax.tree_util.tree_unflatten(treedef, out)


def snapshot(tree):
    """The leaves (as objects and as bytes) and the treedef, to check nothing changed."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    values = [
        (p, d, x.tobytes() if isinstance(x, np.ndarray) else x) for p, x, d in flat_values(tree)
    ]
    return treedef, [id(x) for x in leaves], values


def read_bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def ckpt(tmp_path):
    return str(tmp_path / "model.safetensors")


def mlp(seed=0, hidden=8):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return pax.Sequential(
        pax.Linear(3, hidden, rng_key=k1), jax.nn.relu, pax.Linear(hidden, 2, rng_key=k2)
    )


# -- every built-in layer (the registry of tests/layer_cases) -----------------------


def _registry():
    cases = []
    for info in sorted(pkgutil.iter_modules(layer_cases.__path__), key=lambda i: i.name):
        cases.extend(importlib.import_module(f"layer_cases.{info.name}").LAYERS)
    return [pytest.param(case, id=case.id) for case in cases]


@pytest.mark.parametrize("case", _registry())
def test_every_registry_layer_round_trips_into_a_fresh_and_an_abstract_like(case, ckpt):
    fresh = case.make()
    saved = perturbed(fresh)  # other values than a freshly made layer's
    pax.save(ckpt, saved)
    loaded = pax.load(ckpt, like=fresh)
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(fresh)
    assert_same_values(loaded, saved)
    abstract = jax.eval_shape(lambda: fresh)  # jax.ShapeDtypeStruct leaves
    assert_same_values(pax.load(ckpt, like=abstract), saved)


# -- optimizers --------------------------------------------------------------------


OPTIMIZERS = {
    "adam": lambda: opax.adam(1e-2),
    "sgd_momentum": lambda: opax.sgd(1e-2, momentum=0.9),
    "chain_clip_adamw": lambda: opax.chain(
        opax.clip_by_global_norm(1.0), opax.adamw(1e-2, weight_decay=1e-2)
    ),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_states_round_trip_into_a_fresh_optimizer(name, ckpt):
    make_optimizer = OPTIMIZERS[name]
    model = mlp()
    optimizer = perturbed(make_optimizer()(model.parameters()))  # as if it had trained
    pax.save(ckpt, {"model": model, "optimizer": optimizer})

    fresh_model = mlp(seed=1)
    like = {"model": fresh_model, "optimizer": make_optimizer()(fresh_model.parameters())}
    loaded = pax.load(ckpt, like=like)
    assert_same_values(loaded, {"model": model, "optimizer": optimizer})
    assert type(loaded["optimizer"]) is type(like["optimizer"])  # opax builds a class per call


def test_an_sgd_state_does_not_load_into_adam(ckpt):
    model = mlp()
    pax.save(ckpt, opax.sgd(1e-2, momentum=0.9)(model.parameters()))
    with pytest.raises(ValueError, match=r"does not match `like` at `\.transforms\[0\]`"):
        pax.load(ckpt, like=opax.adam(1e-2)(model.parameters()))


# -- Objax style -----------------------------------------------------------------------


class ObjaxNet(pax.Module):
    """Objax-style variables next to a PAX-style layer."""

    def __init__(self, seed):
        super().__init__()
        self.w = pax.TrainVar(jax.random.normal(jax.random.PRNGKey(seed), (3, 4)))
        self.b = pax.TrainVar(jnp.zeros(4))
        self.count = pax.StateVar(jnp.array(0, jnp.int32))
        self.rng = pax.RandomState(seed)
        self.head = pax.Linear(4, 2, rng_key=jax.random.PRNGKey(seed + 1))

    def __call__(self, x):
        self.count.value += 1
        return self.head(jnp.tanh(x @ self.w.value + self.b.value))


class MomentumSGD(pax.Module):
    """An Objax-style optimizer: TrainRefs to the model's variables, momentum state."""

    def __init__(self, vc):
        super().__init__()
        self.refs = pax.ModuleList(pax.TrainRef(v) for v in vc.subset(pax.TrainVar))
        self.momentum = pax.ModuleList(pax.StateVar(jnp.zeros_like(r.value)) for r in self.refs)

    def __call__(self, lr, grads):
        for ref, m, g in zip(self.refs, self.momentum, grads):
            m.value = 0.9 * m.value + g
            ref.value -= lr * m.value


def objax_training(model):
    opt = MomentumSGD(model.vars())
    gv = pax.GradValues(lambda x: jnp.mean(model(x) ** 2), model.vars())

    @pax.Function.with_vars(model.vars() + opt.vars())
    def train_op(x):
        grads, (loss,) = gv(x)
        opt(0.05, grads)
        return loss

    return opt, pax.Jit(train_op)


def test_objax_style_model_round_trips_and_restores_in_place(ckpt, tmp_path):
    model = ObjaxNet(seed=0)
    opt, train_op = objax_training(model)
    x = jax.random.normal(jax.random.PRNGKey(5), (8, 3))
    for _ in range(3):
        train_op(x)
    model.rng.split(1)

    # the module itself, into a freshly built one
    pax.save(ckpt, model)
    loaded = pax.load(ckpt, like=ObjaxNet(seed=1))
    assert isinstance(loaded.w, pax.TrainVar) and isinstance(loaded.rng, pax.RandomState)
    assert int(loaded.count.value) == 3
    vc_model, vc_loaded = model.vars(), loaded.vars()
    assert list(vc_model.keys()) == list(vc_loaded.keys())
    assert_same_values(vc_model.tensors(), vc_loaded.tensors())

    # Objax style: the variables of model and optimizer, restored in place, so that the
    # TrainRefs, GradValues and Jit built on them carry on from the checkpoint
    vc = model.vars() + opt.vars()
    pax.save(tmp_path / "vars", vc.tensors())
    for _ in range(2):
        train_op(x)
    expected = vc.tensors()
    vc.assign(pax.load(tmp_path / "vars", like=vc.tensors()))
    assert int(model.count.value) == 3
    for _ in range(2):
        train_op(x)
    assert_same_values(vc.tensors(), expected)


def test_a_var_collection_itself_is_refused_with_the_in_place_recipe(ckpt):
    with pytest.raises(TypeError, match=re.escape("vc.assign(pax.load(path, like=vc.tensors()))")):
        pax.save(ckpt, {"vc": ObjaxNet(0).vars()})


# -- leaf kinds, dtypes, devices -------------------------------------------------------


def every_leaf_kind():
    return {
        "bf16": jnp.asarray([1.5, -0.0, np.inf, np.nan], jnp.bfloat16),
        "f16": jnp.asarray([[1e-4, 65504.0]], jnp.float16),
        "f64_numpy": np.array([1.0 / 3.0, np.nan]),
        "i8": jnp.asarray([-128, 127], jnp.int8),
        "u32": jnp.asarray([0, 2**32 - 1], jnp.uint32),
        "bool": jnp.asarray([True, False]),
        "zero_d": jnp.asarray(2.5, jnp.float32),
        "empty": jnp.zeros((0, 3), jnp.float32),
        "raw_key": jax.random.PRNGKey(3),  # uint32 key data
        "typed_key": jax.random.key(4),
        "rbg_keys": jax.random.split(jax.random.key(5, impl="rbg"), 3),
        "numpy_scalar": np.float32(0.25),
        "int": 7,
        "big_int": -(2**62),
        "float": 0.1,
        "bool_scalar": True,
        "weak": jnp.asarray(1.0),  # weakly typed (from a Python scalar)
        "none": None,
        "empty_node": pax.EmptyNode(),
    }


def test_every_leaf_kind_round_trips_bit_for_bit(ckpt):
    tree = every_leaf_kind()
    pax.save(ckpt, tree)
    like = jax.tree_util.tree_map(
        lambda x: jnp.zeros_like(x) if isinstance(x, jax.Array) and x.dtype != bool else x,
        every_leaf_kind(),
    )
    loaded = pax.load(ckpt, like=like)
    assert_same_values(loaded, tree)
    assert isinstance(loaded["f64_numpy"], np.ndarray) and isinstance(loaded["int"], int)
    assert isinstance(loaded["numpy_scalar"], np.float32)
    assert loaded["weak"].weak_type and not loaded["zero_d"].weak_type
    assert jax.random.key_impl(loaded["rbg_keys"]) == jax.random.key_impl(tree["rbg_keys"])


def test_an_abstract_like_from_eval_shape(ckpt):
    tree = every_leaf_kind()
    del tree["f64_numpy"], tree["big_int"]  # (x64 is off: eval_shape says 32 bits)
    pax.save(ckpt, tree)
    loaded = pax.load(ckpt, like=jax.eval_shape(lambda: tree))
    for key in ["bf16", "u32", "typed_key", "rbg_keys", "zero_d", "empty"]:
        assert_same_values(loaded[key], tree[key])
    # Python scalars come back as the JAX arrays eval_shape described
    assert loaded["int"].dtype == jnp.int32 and int(loaded["int"]) == 7
    assert loaded["float"].dtype == jnp.float32 and float(loaded["float"]) == np.float32(0.1)
    assert loaded["weak"].weak_type
    pax.save(ckpt, {"int": 2**40})
    with pytest.raises(ValueError, match=r"expected a value that fits in int32 .* 1099511627776"):
        pax.load(ckpt, like=jax.eval_shape(lambda: {"int": 1}))


def test_a_bfloat16_model_round_trips(ckpt):
    def make(seed):
        return jax.tree_util.tree_map(lambda x: x.astype(jnp.bfloat16), mlp(seed))

    model = make(0)
    pax.save(ckpt, model)
    loaded = pax.load(ckpt, like=make(1))
    assert loaded[0].weight.dtype == jnp.bfloat16
    assert_same_values(loaded, model)
    with pytest.raises(ValueError, match="expected dtype float32 .* found dtype bfloat16"):
        pax.load(ckpt, like=mlp(1))


def test_arrays_land_with_the_sharding_of_the_like_leaves(ckpt):
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:8]), ("data",))
    split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    tree = {
        "w": jnp.arange(16.0).reshape(8, 2),
        "b": jnp.arange(3.0),
        "keys": jax.random.split(jax.random.key(0), 8),
    }
    pax.save(ckpt, tree)
    abstract = {
        "w": jax.ShapeDtypeStruct((8, 2), jnp.float32, sharding=split),
        "b": jax.ShapeDtypeStruct((3,), jnp.float32, sharding=replicated),
        "keys": jax.ShapeDtypeStruct((8,), tree["keys"].dtype, sharding=split),
    }
    loaded = pax.load(ckpt, like=abstract)
    assert loaded["w"].sharding == split and loaded["b"].sharding == replicated
    assert loaded["keys"].sharding == split
    assert_same_values(loaded, tree)
    # a concrete like leaf places the same way; on the default device, like jnp.asarray
    on_device_3 = jax.device_put(jnp.zeros(3), jax.devices()[3])
    concrete = pax.load(ckpt, like={**tree, "b": on_device_3})
    assert concrete["b"].devices() == {jax.devices()[3]}
    assert concrete["w"].devices() == {jax.devices()[0]}
    # sharded arrays are saved whole
    pax.save(ckpt, loaded)
    assert_same_values(pax.load(ckpt, like=tree), tree)


def test_a_weakly_typed_module_field_stays_weak(ckpt):
    class Counter(pax.Module):
        def __init__(self):
            super().__init__()
            self.count = jnp.array(0)  # weak int32, as PAX users write it

    counter = Counter().replace(count=jnp.array(5))
    pax.save(ckpt, counter)
    loaded = pax.load(ckpt, like=Counter())
    assert loaded.count.weak_type and int(loaded.count) == 5


# -- atomic replacement ------------------------------------------------------------------


def test_saving_over_a_checkpoint_replaces_it_and_leaves_no_temporary_files(ckpt):
    pax.save(ckpt, {"w": jnp.zeros(3)})
    pax.save(ckpt, {"w": jnp.ones(5), "step": 2})
    loaded = pax.load(ckpt, like={"w": jnp.zeros(5), "step": 0})
    assert loaded["step"] == 2 and loaded["w"].tolist() == [1.0] * 5
    assert os.listdir(os.path.dirname(ckpt)) == ["model.safetensors"]


def test_a_failed_write_leaves_the_previous_checkpoint_and_no_temporary_file(ckpt, monkeypatch):
    pax.save(ckpt, {"w": jnp.zeros(3)})
    before = read_bytes(ckpt)

    def broken(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.numpy, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        pax.save(ckpt, {"w": jnp.ones(3)})
    monkeypatch.undo()
    assert read_bytes(ckpt) == before
    assert os.listdir(os.path.dirname(ckpt)) == ["model.safetensors"]


def test_the_file_is_a_plain_safetensors_file_keyed_by_leaf_paths(ckpt):
    model = mlp()
    pax.save(ckpt, {"model": model, "step": 3})
    tensors = safetensors.numpy.load_file(ckpt)
    assert sorted(tensors) == sorted(
        ["['model'].modules[0].weight", "['model'].modules[0].bias"]
        + ["['model'].modules[2].weight", "['model'].modules[2].bias", "['step']"]
    )
    np.testing.assert_array_equal(tensors["['model'].modules[0].weight"], model[0].weight)
    with safetensors.safe_open(ckpt, framework="np") as f:
        metadata = f.metadata()
    assert metadata["pax.format"] == "pax.checkpoint" and metadata["pax.format_version"] == "1"
    structure = json.loads(metadata["pax.structure"])
    assert structure["nodes"][:3] == [
        ["", "dict"],
        ["['model']", "Sequential"],
        [
            "['model'].modules",
            "tuple",
        ],
    ]
    step = structure["leaves"][-1]
    assert step["path"] == "['step']" and step["kind"] == "int" and step["dtype"] == "int64"
    assert isinstance(step["crc32"], int)


# -- mismatches with `like` -------------------------------------------------------------


class MyLinear(pax.Module):
    """The fields of a Linear, another type."""

    def __init__(self, seed):
        super().__init__()
        self.weight = jax.random.normal(jax.random.PRNGKey(seed), (3, 8))
        self.bias = jnp.zeros(8)


MISMATCHES = [
    (
        "shape",
        lambda: mlp(hidden=16),
        "at `['model'].modules[0].weight`: expected shape (3, 16) (in `like`), "
        "found shape (3, 8) (in the file)",
    ),
    (
        "dtype",
        lambda: jax.tree_util.tree_map(lambda x: x.astype(jnp.float16), mlp()),
        "at `['model'].modules[0].weight`: expected dtype float16 (in `like`), "
        "found dtype float32 (in the file)",
    ),
    (
        "missing_layer",
        lambda: pax.Sequential(*mlp().modules, pax.Linear(2, 2)),
        "at `['model'].modules[3]`: expected a node of type Linear (in `like`), "
        "found nothing (in the file)",
    ),
    (
        "extra_layer",
        lambda: pax.Sequential(mlp()[0]),
        "at `['model'].modules[1]`: expected nothing (in `like`), "
        "found a node of type Lambda (in the file)",
    ),
    (
        "layer_type",
        lambda: pax.Sequential(MyLinear(0), jax.nn.relu, mlp()[2]),
        "at `['model'].modules[0]`: expected a node of type MyLinear (in `like`), "
        "found a node of type Linear (in the file)",
    ),
    (
        "no_bias",
        lambda: pax.Sequential(pax.Linear(3, 8, with_bias=False), jax.nn.relu, mlp()[2]),
        "at `['model'].modules[0].bias`: expected nothing (in `like`), found a leaf (in the file)",
    ),
]


@pytest.mark.parametrize(
    "make_like, message", [m[1:] for m in MISMATCHES], ids=[m[0] for m in MISMATCHES]
)
def test_a_mismatch_names_the_first_path_and_both_values(make_like, message, ckpt):
    pax.save(ckpt, {"model": mlp(), "step": 1})
    like = {"model": make_like(), "step": 0}
    before = snapshot(like)
    with pytest.raises(ValueError, match=re.escape(message)):
        pax.load(ckpt, like=like)
    assert snapshot(like) == before  # the caller's tree is untouched


LEAF_MISMATCHES = [
    (
        "key_vs_raw",
        jax.random.key(0),
        jax.random.PRNGKey(0),
        "expected a key<fry> PRNG key array of shape () (in `like`), "
        "found a uint32 array of shape (2,)",
    ),
    (
        "impl",
        jax.random.key(0),
        jax.random.key(0, impl="rbg"),
        "expected dtype key<fry> (in `like`), found dtype key<rbg>",
    ),
    ("int_vs_float", 1, 1.0, "expected a Python int (in `like`), found a Python float"),
    ("int_into_int_array", jnp.zeros((), jnp.int32), 3, None),  # loads (see eval_shape)
    (
        "int_into_float_array",
        jnp.zeros(()),
        3,
        "expected a float32 array of shape () (in `like`), found a Python int",
    ),
    (
        "array_vs_int",
        3,
        jnp.zeros((), jnp.int32),
        "expected a Python int (in `like`), found an int32 array of shape ()",
    ),
    (
        "float_into_int_array",
        jnp.zeros((), jnp.int32),
        2.5,
        "expected an int32 array of shape () (in `like`), found a Python float",
    ),
]


@pytest.mark.parametrize(
    "like, saved, message", [m[1:] for m in LEAF_MISMATCHES], ids=[m[0] for m in LEAF_MISMATCHES]
)
def test_leaf_kinds_must_agree(like, saved, message, ckpt):
    pax.save(ckpt, {"x": saved})
    if message is None:
        assert float(pax.load(ckpt, like={"x": like})["x"]) == float(saved)
        return
    with pytest.raises(ValueError, match=re.escape(f"at `['x']`: {message}")):
        pax.load(ckpt, like={"x": like})


def test_a_mismatch_at_the_root(ckpt):
    pax.save(ckpt, jnp.zeros(3))
    assert pax.load(ckpt, like=jnp.ones(3)).tolist() == [0.0] * 3
    with pytest.raises(ValueError, match="at the root of the tree: expected a node of type list"):
        pax.load(ckpt, like=[jnp.ones(3)])


# -- bad input ------------------------------------------------------------------------------


def test_save_refuses_what_it_cannot_store(ckpt, tmp_path):
    with pytest.raises(TypeError, match=r"leaf at `\['s'\]`: it is a str"):
        pax.save(ckpt, {"s": "text"})
    with pytest.raises(TypeError, match="only `like` may be abstract"):
        pax.save(ckpt, jax.ShapeDtypeStruct((2,), jnp.float32))
    with pytest.raises(TypeError, match="does not fit in int64"):
        pax.save(ckpt, [2**70])
    with pytest.raises(TypeError, match=r"leaf at `\[0\]`: its dtype int4 is not one safet"):
        pax.save(ckpt, [jnp.zeros(2, jnp.int4)])

    @jax.jit
    def inside(x):
        pax.save(ckpt, x)
        return x

    with pytest.raises(TypeError, match="it is a tracer, so pax.save was called inside"):
        inside(jnp.zeros(2))
    with pytest.raises(IsADirectoryError, match="is a directory"):
        pax.save(tmp_path, jnp.zeros(2))
    with pytest.raises(FileNotFoundError):
        pax.save(tmp_path / "no" / "such" / "folder.safetensors", jnp.zeros(2))
    assert not os.path.exists(ckpt)


def test_load_refuses_a_missing_file_a_foreign_file_and_a_newer_format(ckpt, tmp_path):
    with pytest.raises(FileNotFoundError):
        pax.load(tmp_path / "missing", like=jnp.zeros(2))
    with pytest.raises(IsADirectoryError, match="is a directory"):
        pax.load(tmp_path, like=jnp.zeros(2))
    safetensors.numpy.save_file({"": np.zeros(2, np.float32)}, ckpt)
    with pytest.raises(ValueError, match="without pax's metadata .* not written by pax.save"):
        pax.load(ckpt, like=jnp.zeros(2))
    metadata = ckpt_format.encode_metadata({"nodes": [["", "*"]], "leaves": []}, version=2)
    safetensors.numpy.save_file({"": np.zeros(2, np.float32)}, ckpt, metadata=metadata)
    with pytest.raises(ValueError, match="format version 2, newer than the version 1"):
        pax.load(ckpt, like=jnp.zeros(2))
    pax.save(ckpt, jnp.zeros(2))
    with pytest.raises(TypeError, match="`like` has a str at the root"):
        pax.load(ckpt, like="text")


# -- damaged files -----------------------------------------------------------------------


def _small_tree():
    return {"model": mlp(), "key": jax.random.key(1), "step": 4, "scale": 0.5}


def _header_size(data: bytes) -> int:
    return 8 + struct.unpack("<Q", data[:8])[0]


@pytest.fixture
def saved_bytes(ckpt):
    pax.save(ckpt, _small_tree())
    return read_bytes(ckpt)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_a_truncated_file_raises(saved_bytes, ckpt):
    like = _small_tree()
    before = snapshot(like)
    header = _header_size(saved_bytes)
    for size in [
        0,
        5,
        8,
        9,
        header // 2,
        header,
        (header + len(saved_bytes)) // 2,
        len(saved_bytes) - 1,
    ]:
        _write(ckpt, saved_bytes[:size])
        with pytest.raises(ValueError, match="is truncated or corrupt and cannot be loaded"):
            pax.load(ckpt, like=like)
    _write(ckpt, saved_bytes + b"\0")  # or too long
    with pytest.raises(ValueError, match="is truncated or corrupt"):
        pax.load(ckpt, like=like)
    assert snapshot(like) == before


def flipped_bytes(path, positions, rng):
    """Yields after flipping one bit at each position of the file, restoring it after
    (in place: rewriting the whole file each time is slower)."""
    with open(path, "r+b") as f:
        for i in positions:
            f.seek(i)
            original = f.read(1)
            f.seek(i)
            f.write(bytes([original[0] ^ (1 << int(rng.integers(8)))]))
            f.flush()
            yield i
            f.seek(i)
            f.write(original)
            f.flush()


def test_every_flipped_byte_of_the_header_raises(saved_bytes, ckpt):
    like = _small_tree()
    rng = np.random.default_rng(0)
    for _ in flipped_bytes(ckpt, range(_header_size(saved_bytes)), rng):
        with pytest.raises(ValueError, match="pax.load: "):
            pax.load(ckpt, like=like)
    assert read_bytes(ckpt) == saved_bytes


def test_flipped_bytes_inside_an_array_raise_naming_the_array(saved_bytes, ckpt):
    like = _small_tree()
    before = snapshot(like)
    header = _header_size(saved_bytes)
    rng = np.random.default_rng(0)
    positions = [header, len(saved_bytes) - 1, *rng.integers(header, len(saved_bytes), 30)]
    for _ in flipped_bytes(ckpt, positions, rng):
        with pytest.raises(ValueError, match=r"the bytes of `\[.+` do not match their checksum"):
            pax.load(ckpt, like=like)
    assert snapshot(like) == before
    assert_same_values(pax.load(ckpt, like=like), _small_tree())


# -- pax3 0.5's state dicts still work, also through a checkpoint ------------------------


def test_experimental_weight_dicts_round_trip_through_a_checkpoint(ckpt):
    model = perturbed(pax.Sequential(pax.Linear(2, 3), pax.BatchNorm1D(3), jax.nn.relu))
    pax.save(ckpt, save_weights_to_dict(model))
    fresh = pax.Sequential(pax.Linear(2, 3), pax.BatchNorm1D(3), jax.nn.relu)
    weights = pax.load(ckpt, like=save_weights_to_dict(fresh))
    restored = load_weights_from_dict(fresh, weights)
    assert_same_values(restored, model)
    assert_same_values(pax.load(ckpt, like=fresh.state_dict()), model.state_dict())
