"""Layer sizes: any integer (``np.int64``, ``np.int32``, ``np.uint8``, a 0-d integer
array) is accepted and stored as a Python ``int``; bools, floats and non-positive
values are rejected with the same message as before."""

import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax
from pax._src.nn.validation import check_positive_ints, positive_ints

# family -> a builder taking a function applied to every size argument
FAMILIES: dict[str, Callable[[Callable[[int], Any]], pax.Module]] = {
    "Linear": lambda n: pax.Linear(n(3), n(4)),
    "Conv1D": lambda n: pax.Conv1D(
        n(4), n(6), n(3), stride=n(2), rate=n(1), padding=n(1), feature_group_count=n(2)
    ),
    "Conv2D": lambda n: pax.Conv2D(n(2), n(3), (n(3), n(1)), stride=(n(1), n(2))),
    "Conv2DTranspose": lambda n: pax.Conv2DTranspose(n(2), n(3), n(3), stride=n(2)),
    "BatchNorm2D": lambda n: pax.BatchNorm2D(n(3)),
    "LayerNorm": lambda n: pax.LayerNorm(n(3)),
    "GroupNorm": lambda n: pax.GroupNorm(n(2), n(4)),
    "Embed": lambda n: pax.Embed(n(5), n(3)),
    "LSTM": lambda n: pax.LSTM(n(2), n(3)),
    "GRU": lambda n: pax.GRU(n(2), n(3)),
    "VanillaRNN": lambda n: pax.VanillaRNN(n(2), n(3)),
    "MultiHeadAttention": lambda n: pax.MultiHeadAttention(n(2), n(3), 1.0),
    "Stack": lambda n: pax.Stack(lambda key: pax.Linear(n(2), n(2), rng_key=key), n(3)),
    "Transformer": lambda n: pax.nets.Transformer(n(4), n(2), n(1), 0.0),
    "ResNet": lambda n: pax.nets.ResNet(
        n(3),
        (n(1),) * 4,
        n(10),
        bottleneck=False,
        channels_per_group=(n(4),) * 4,
        use_projection=(False, True, True, True),
        initial_conv_config={"out_features": n(4)},
    ),
}
INTEGER_TYPES = [
    pytest.param(np.int64, id="int64"),
    pytest.param(np.int32, id="int32"),
    pytest.param(np.uint8, id="uint8"),
    pytest.param(lambda v: np.asarray(v, np.int16), id="0d_array"),
]


def _statics(module: pax.Module) -> list:
    """Every static attribute value of ``module`` and its submodules (a flat list)."""
    values = []
    for sub in jax.tree_util.tree_leaves(module, is_leaf=lambda x: isinstance(x, pax.Module)):
        if not isinstance(sub, pax.Module):
            continue
        for name, value in vars(sub).items():
            if name.startswith("_pax"):
                continue
            if isinstance(value, pax.Module):
                values.extend(_statics(value))
            elif not isinstance(value, (jax.Array, list, dict)):
                values.append(value)
    return values


def _flat(values: list) -> list:
    out = []
    for v in values:
        out.extend(_flat(list(v)) if isinstance(v, tuple) else [v])
    return out


@pytest.mark.parametrize("integer", INTEGER_TYPES)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_numpy_integers_are_sizes_stored_as_ints(family, integer):
    build = FAMILIES[family]
    plain = jax.eval_shape(lambda: build(int))  # shapes only: nothing is drawn
    converted = jax.eval_shape(lambda: build(integer))
    assert jax.tree_util.tree_structure(converted) == jax.tree_util.tree_structure(plain)
    assert repr(converted) == repr(plain)
    assert converted.summary() == plain.summary()
    numpy_values = [
        v for v in _flat(_statics(converted)) if isinstance(v, (np.generic, np.ndarray))
    ]
    assert not numpy_values, f"numpy values stored on the module: {numpy_values}"


def test_linear_from_numpy_sizes_has_the_treedef_of_ints():
    a = pax.Linear(np.int64(4), 8, rng_key=jax.random.PRNGKey(0))
    b = pax.Linear(4, 8, rng_key=jax.random.PRNGKey(0))
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    assert type(a.in_dim) is int and a(jnp.ones((1, 4))).shape == (1, 8)


BAD_SIZES = [
    pytest.param(True, "True", id="bool"),
    pytest.param(np.bool_(True), "np.True_", id="numpy_bool"),
    pytest.param(2.0, "2.0", id="float"),
    pytest.param(np.float32(2.0), "np.float32(2.0)", id="numpy_float"),
    pytest.param(0, "0", id="zero"),
    pytest.param(np.int64(-1), "np.int64(-1)", id="negative_numpy"),
    pytest.param("3", "'3'", id="str"),
]

FIRST_SIZE = {
    "Linear": ("Linear", "in_dim"),
    "Conv1D": ("Conv1D", "in_features"),
    "BatchNorm2D": ("BatchNorm2D", "num_channels"),
    "LayerNorm": ("LayerNorm", "num_channels"),
    "GroupNorm": ("GroupNorm", "groups"),
    "Embed": ("Embed", "vocab_size"),
    "LSTM": ("LSTM", "input_dim"),
    "GRU": ("GRU", "input_dim"),
    "VanillaRNN": ("VanillaRNN", "input_dim"),
    "MultiHeadAttention": ("MultiHeadAttention", "num_heads"),
    "Transformer": ("Transformer", "dim"),
    "ResNet": ("ResNet", "input_channels"),
}


@pytest.mark.parametrize("bad, shown", BAD_SIZES)
@pytest.mark.parametrize("family", sorted(FIRST_SIZE))
def test_bools_floats_and_non_positive_sizes_are_rejected(family, bad, shown):
    layer, arg = FIRST_SIZE[family]
    calls = iter([bad])

    def first_bad(v):  # the first size argument is `bad`, the others plain ints
        return next(calls, v)

    message = rf"^{layer}: `{arg}` must be a positive int, got {re.escape(shown)}\.$"
    with pytest.raises(ValueError, match=message):
        FAMILIES[family](first_bad)


def test_positive_ints_and_check_positive_ints():
    assert positive_ints("Layer", a=np.int64(2), b=np.uint8(3), c=4) == (2, 3, 4)
    assert all(type(v) is int for v in positive_ints("Layer", a=np.int64(2)))
    check_positive_ints("Layer", a=np.int32(1))
    with pytest.raises(ValueError, match=r"Layer: `b` must be a positive int, got 1.5."):
        check_positive_ints("Layer", a=1, b=1.5)
