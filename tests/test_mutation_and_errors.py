"""The core's mutation entry point (pax/_src/core/mutation.py) and pax.errors."""

import jax.numpy as jnp
import numpy as np
import pytest

import pax
from pax._src.core.mutation import is_open, opened


def test_opened_opens_for_the_block_only_and_keeps_the_module_checked():
    net = pax.Linear(2, 2)
    assert not is_open(net)
    with opened(net):
        assert is_open(net)
        net.bias = jnp.ones((2,))
    assert not is_open(net)
    np.testing.assert_array_equal(np.asarray(net.bias), np.ones(2))
    with pytest.raises(pax.errors.ImmutableModuleError, match="pax.pure"):
        net.bias = jnp.zeros((2,))


def test_opened_leaves_an_already_open_module_open():
    net = pax.Linear(2, 2)
    with opened(net):
        with opened(net):
            pass
        assert is_open(net)
    assert not is_open(net)


def test_opened_closes_on_error_and_raises_the_sharing_error_by_type():
    net = pax.Sequential(pax.Linear(1, 1), pax.Linear(1, 1))
    with pytest.raises(RuntimeError, match="inside"):
        with opened(net):
            raise RuntimeError("inside")
    assert not is_open(net)
    with pytest.raises(pax.errors.SharedNodeError, match="appears twice|shared|twice"):
        with opened(net):
            net.modules = [net.modules[0], net.modules[0]]
    assert not is_open(net)


def test_modules_are_open_inside_pure_and_closed_after():
    seen = []

    @pax.pure
    def touch(m):
        seen.append((is_open(m), is_open(pax.Linear(1, 1))))
        return m

    touch(pax.Linear(1, 1))
    assert seen == [(True, True)]


@pytest.mark.parametrize(
    "error, base",
    [
        (pax.errors.ImmutableModuleError, ValueError),
        (pax.errors.SharedNodeError, ValueError),
        (pax.errors.StructureMismatchError, ValueError),
        (pax.errors.StateDictMismatchError, pax.errors.StructureMismatchError),
        (pax.errors.LeakedTracerError, ValueError),
        (pax.errors.HiddenNodeError, ValueError),
    ],
)
def test_error_classes_keep_the_builtin_base(error, base):
    assert issubclass(error, base)
    assert issubclass(error, pax.errors.PaxError)


def test_errors_are_raised_by_type():
    net = pax.Linear(2, 3)
    with pytest.raises(pax.errors.ImmutableModuleError, match="weight"):
        net.weight = jnp.zeros((2, 3))
    with pytest.raises(pax.errors.ImmutableModuleError, match="weight"):
        del net.weight
    with pytest.raises(pax.errors.StructureMismatchError, match="different structures"):
        pax.assert_structure_equal(net, pax.Linear(2, 3, with_bias=False))
    with pytest.raises(pax.errors.StructureMismatchError, match="merge"):
        _ = net | pax.Linear(2, 3, with_bias=False)
    with pytest.raises(pax.errors.StateDictMismatchError, match="missing"):
        net.load_state_dict({"weight": np.zeros((2, 3), np.float32)})
    with pytest.raises(pax.errors.StateDictMismatchError, match="shape"):
        net.load_state_dict({"weight": np.zeros((3, 3), np.float32), "bias": np.zeros(3)})


def test_immutability_error_inside_an_objax_transform_names_the_transform_once():
    class Counter(pax.Module):
        def __init__(self):
            super().__init__()
            self.count = jnp.array(0)

        def __call__(self):
            self.count = self.count + 1
            return self.count

    counter = Counter()
    inner = pax.Jit(lambda: counter(), pax.VarCollection())
    outer = pax.Jit(lambda: inner(), pax.VarCollection())
    with pytest.raises(pax.errors.ImmutableModuleError) as info:
        outer()
    assert str(info.value).count("This happened inside") == 1
    assert int(counter.count) == 0


def test_opened_with_rollback_restores_the_module_on_error():
    net = pax.Sequential(pax.Linear(1, 1), pax.Linear(1, 1))
    before = dict(net.__dict__)
    with pytest.raises(pax.errors.SharedNodeError):
        with opened(net, rollback=True):
            net.modules = (net.modules[0], net.modules[0])
    assert net.__dict__ == before and not is_open(net)
    with pytest.raises(KeyError):
        with opened(net, rollback=True):
            net.extra = jnp.ones(1)
            raise KeyError("boom")
    assert net.__dict__ == before and not hasattr(net, "extra")


def test_module_list_update_that_shares_a_module_is_rolled_back():
    ml = pax.ModuleList([pax.Linear(1, 1)])
    with pytest.raises(pax.errors.SharedNodeError):
        ml.append(ml[0])
    assert len(ml) == 1
