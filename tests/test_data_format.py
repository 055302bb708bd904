"""One data_format spelling inside pax (nn/data_format.py): every layer with a
data_format accepts haiku's generic names and its own axis letters, and stores the
axis letters, so layers built from either spelling are equal pytrees."""

import jax
import numpy as np
import pytest

import pax
from pax._src.nn.data_format import (
    accepted_data_formats,
    canonical_data_format,
    channel_axis,
    flipped,
    input_axes,
    is_channels_first,
)

KEY = jax.random.PRNGKey(0)

# layer factory, generic spelling, pax's spelling, input shape (3 channels)
CASES = [
    (lambda f: pax.Conv1D(3, 2, 3, data_format=f, rng_key=KEY), "channels_last", "NWC", (2, 5, 3)),
    (lambda f: pax.Conv1D(3, 2, 3, data_format=f, rng_key=KEY), "channels_first", "NCW", (2, 3, 5)),
    (
        lambda f: pax.Conv2D(3, 2, 3, data_format=f, rng_key=KEY),
        "channels_first",
        "NCHW",
        (2, 3, 4, 5),
    ),
    (
        lambda f: pax.Conv1DTranspose(3, 2, 3, stride=2, data_format=f, rng_key=KEY),
        "channels_first",
        "NCW",
        (2, 3, 5),
    ),
    (
        lambda f: pax.Conv2DTranspose(3, 2, 3, data_format=f, rng_key=KEY),
        "channels_last",
        "NHWC",
        (2, 4, 5, 3),
    ),
    (lambda f: pax.BatchNorm1D(3, data_format=f), "channels_first", "NCW", (4, 3, 5)),
    (lambda f: pax.BatchNorm2D(3, data_format=f), "channels_last", "NHWC", (2, 4, 5, 3)),
    (lambda f: pax.GroupNorm(1, 3, data_format=f), "channels_first", "NC...", (2, 3, 4, 5)),
    (lambda f: pax.GroupNorm(3, 3, data_format=f), "channels_last", "N...C", (2, 5, 3)),
]
IDS = [
    "conv1d_last",
    "conv1d_first",
    "conv2d_first",
    "conv1dT_first",
    "conv2dT_last",
    "bn1d_first",
    "bn2d_last",
    "gn_first",
    "gn_last",
]


@pytest.mark.parametrize("make, generic, letters, shape", CASES, ids=IDS)
def test_both_spellings_build_the_same_layer(make, generic, letters, shape):
    a, b = make(generic), make(letters)
    assert a.data_format == b.data_format == letters
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    x = jax.random.normal(jax.random.PRNGKey(1), shape)
    (_, ya), (_, yb) = pax.purecall(a, x), pax.purecall(b, x)
    np.testing.assert_array_equal(np.asarray(ya), np.asarray(yb))
    assert f"data_format={letters}" in repr(a)


@pytest.mark.parametrize(
    "make, wrong",
    [
        (lambda f: pax.Conv2D(3, 2, 3, data_format=f), "NWC"),
        (lambda f: pax.BatchNorm1D(3, data_format=f), "NC..."),
        (lambda f: pax.GroupNorm(1, 3, data_format=f), "NHWC"),
        (lambda f: pax.Conv1D(3, 2, 3, data_format=f), "channels-last"),
        (lambda f: pax.BatchNorm2D(3, data_format=f), None),
    ],
    ids=["conv2d_rank1", "bn1d_any_rank", "gn_rank2", "typo", "none"],
)
def test_a_spelling_of_another_rank_is_a_value_error_naming_the_accepted(make, wrong):
    with pytest.raises(ValueError, match=r"`data_format` must be one of \[.*'channels_last'\]"):
        make(wrong)


@pytest.mark.parametrize(
    "rank, last, first, axes",
    [
        (1, "NWC", "NCW", "(N, W, C)"),
        (2, "NHWC", "NCHW", "(N, H, W, C)"),
        (None, "N...C", "NC...", "(N, ..., C)"),
    ],
)
def test_the_mapping(rank, last, first, axes):
    assert accepted_data_formats(rank) == ("channels_last", "channels_first", last, first)
    assert canonical_data_format("L", "channels_last", spatial_rank=rank) == last
    assert canonical_data_format("L", "channels_first", spatial_rank=rank) == first
    assert canonical_data_format("L", first, spatial_rank=rank) == first
    assert flipped(last) == first and flipped(first) == last
    assert not is_channels_first(last) and is_channels_first(first)
    assert channel_axis(last) == -1 and channel_axis(first) == 1
    assert input_axes(last) == axes
