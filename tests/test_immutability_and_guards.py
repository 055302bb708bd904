"""Modules are immutable outside ``pax.pure``; sharing and hidden fields are caught (SPEC §1).

Every error must leave the caller's model exactly as it was.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pax


class Holder(pax.Module):
    """Stores whatever it is given, in the given order."""

    def __init__(self, **attributes):
        super().__init__()
        for name, value in attributes.items():
            setattr(self, name, value)


class Box:
    """A plain Python object: pax cannot see inside it."""

    def __init__(self, value):
        self.value = value


def snapshot(module):
    """What must not change: the treedef, the leaf objects and the attribute names."""
    leaves, treedef = jax.tree_util.tree_flatten(module)
    return treedef, [id(x) for x in leaves], sorted(vars(module))


# -- setattr / delattr outside pax.pure --------------------------------------------------

IMMUTABLE_CASES = [
    ("rebind_array", lambda: pax.Linear(2, 2), "weight", jnp.zeros((2, 2))),
    ("new_attribute", lambda: pax.Linear(2, 2), "extra", 1),
    ("static_attribute", lambda: pax.Linear(2, 2), "in_dim", 5),
    ("submodule", lambda: pax.Sequential(pax.Linear(1, 1)), "modules", ()),
    ("batch_norm_state", lambda: pax.BatchNorm1D(2).ema_mean, "averages", jnp.ones(2)),
]


@pytest.mark.parametrize(
    "make, name, value", [c[1:] for c in IMMUTABLE_CASES], ids=[c[0] for c in IMMUTABLE_CASES]
)
def test_setattr_outside_pure_raises(make, name, value):
    m = make()
    before = snapshot(m)
    with pytest.raises(
        ValueError, match=rf"Cannot set attribute `{name}`.*immutable outside `pax\.pure`"
    ):
        setattr(m, name, value)
    assert snapshot(m) == before


@pytest.mark.parametrize("name", ["weight", "in_dim", "not_there"])
def test_delattr_outside_pure_raises(name):
    fc = pax.Linear(2, 2)
    before = snapshot(fc)
    with pytest.raises(ValueError, match=rf"Cannot delete attribute `{name}`.*`pax\.pure`"):
        delattr(fc, name)
    assert snapshot(fc) == before


def test_error_message_shows_the_fix():
    fc = pax.Linear(2, 2)
    with pytest.raises(ValueError) as info:
        fc.bias = jnp.ones(2)
    message = str(info.value)
    assert "@pax.pure" in message
    assert "module.bias = new_value" in message
    assert "module.replace(bias=new_value)" in message


def test_submodules_of_a_module_are_immutable_too():
    net = pax.Sequential(pax.Linear(2, 2))
    with pytest.raises(ValueError, match="pax.pure"):
        net[0].weight = jnp.zeros((2, 2))


def test_calling_a_stateful_module_outside_pure_raises():
    bn = pax.BatchNorm1D(2)
    before = snapshot(bn)
    with pytest.raises(ValueError, match="Cannot set attribute `averages`.*pax.pure"):
        bn(jnp.ones((3, 2)))
    assert snapshot(bn) == before
    bn2, _ = pax.purecall(bn, jnp.ones((3, 2)))  # the documented way
    assert float(bn2.ema_mean.debias) == pytest.approx(1 - 0.9)  # one update


def test_init_may_mutate_freely():
    class Builder(pax.Module):
        def __init__(self):
            super().__init__()
            self.w = jnp.zeros(2)
            self.w = self.w + 1  # rebind
            self.tmp = "scratch"
            del self.tmp  # delete
            self.fc = pax.Linear(2, 2)
            self.fc = pax.Linear(2, 3)  # replace a submodule
            self.items = [jnp.ones(1)]
            self.kind = "a"
            self.kind = "b"

    m = Builder()
    assert not hasattr(m, "tmp")
    assert m.kind == "b" and m.fc.out_dim == 3
    np.testing.assert_array_equal(m.w, [1.0, 1.0])
    assert [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(m)[0]] == [
        ".w",
        ".fc.weight",
        ".fc.bias",
        ".items[0]",
    ]
    with pytest.raises(ValueError, match="pax.pure"):
        m.kind = "c"


def test_a_failing_init_leaves_no_mutable_state_behind():
    class Broken(pax.Module):
        def __init__(self):
            super().__init__()
            self.w = jnp.ones(1)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        Broken()
    fc = pax.Linear(1, 1)
    with pytest.raises(ValueError, match="pax.pure"):
        fc.weight = jnp.ones((1, 1))


# -- sharing ------------------------------------------------------------------------------


def _shared_module_cases():
    def direct():
        fc = pax.Linear(2, 2)
        return dict(a=fc, b=fc)

    def in_containers():
        fc = pax.Linear(2, 2)
        return dict(a=[fc], b={"k": fc})

    def nested():
        fc = pax.Linear(2, 2)
        return dict(a=pax.Sequential(fc), b=fc)

    def mixed_list():
        fc = pax.Linear(2, 2)
        return dict(a=[fc, jax.nn.relu, fc])

    return [
        ("direct", direct, r"appears twice in Holder: at `\.a` and at `\.b`"),
        (
            "in_containers",
            in_containers,
            r"appears twice in Holder: at `\.a\[0\]` and at `\.b\['k'\]`",
        ),
        ("nested", nested, r"appears twice in Holder: at `\.a\.modules\[0\]` and at `\.b`"),
        ("mixed_list", mixed_list, r"appears twice in Holder: at `\.a\[0\]` and at `\.a\[2\]`"),
    ]


@pytest.mark.parametrize(
    "attributes, match",
    [c[1:] for c in _shared_module_cases()],
    ids=[c[0] for c in _shared_module_cases()],
)
def test_shared_module_raises_at_construction(attributes, match):
    with pytest.raises(ValueError, match=match):
        Holder(**attributes())


def _shared_array_cases():
    x = jnp.ones(3)
    return [
        (
            "direct",
            lambda: dict(a=x, b=x),
            r"at `\.a` and at `\.b` \(shape=\(3,\), dtype=float32\)",
        ),
        ("list", lambda: dict(a=[x, x]), r"at `\.a\[0\]` and at `\.a\[1\]`"),
        ("dict_and_attr", lambda: dict(a={"k": x}, b=x), r"at `\.a\['k'\]` and at `\.b`"),
        ("numpy", lambda: (lambda y: dict(a=y, b=y))(np.ones(2)), r"at `\.a` and at `\.b`"),
    ]


@pytest.mark.parametrize(
    "attributes, match",
    [c[1:] for c in _shared_array_cases()],
    ids=[c[0] for c in _shared_array_cases()],
)
def test_shared_array_raises_at_construction(attributes, match):
    with pytest.raises(ValueError, match="The same array object appears twice in Holder: " + match):
        Holder(**attributes())


def test_shared_array_message_shows_the_fix():
    x = jnp.ones(2)
    with pytest.raises(
        ValueError, match=r"Give each attribute its own array \(e\.g\. `x\.copy\(\)`\)"
    ):
        Holder(a=x, b=x)


def test_equal_but_distinct_arrays_are_not_shared():
    x = jnp.ones(3)
    m = Holder(a=x, b=x.copy(), c=jnp.ones(3))
    assert m.scan_bugs() is m


def test_scan_bugs_finds_a_shared_array_made_by_unflatten():
    m = Holder(a=jnp.ones(2), b=jnp.zeros(2))
    x = jnp.full(2, 7.0)
    shared = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(m), [x, x])
    with pytest.raises(ValueError, match=r"same array object appears twice.*at `\.a` and at `\.b`"):
        shared.scan_bugs()


def test_scan_bugs_finds_a_shared_module_made_by_tree_map():
    m = Holder(a=pax.Linear(2, 2), b=pax.Linear(2, 2))
    one = pax.Linear(2, 2)
    shared = jax.tree_util.tree_map(lambda _: one, m, is_leaf=lambda x: isinstance(x, pax.Linear))
    assert shared.a is shared.b
    with pytest.raises(ValueError, match=r"appears twice in Holder: at `\.a` and at `\.b`"):
        shared.scan_bugs()


def test_replace_that_would_share_raises_and_keeps_the_original():
    m = Holder(a=pax.Linear(2, 2), b=pax.Linear(2, 2))
    before = snapshot(m)
    with pytest.raises(
        ValueError, match=r"appears twice in Holder: at `\.a\.weight` and at `\.b\.weight`"
    ):
        m.replace(b=m.a)  # `replace` works on a copy: the arrays are what is shared
    with pytest.raises(ValueError, match="appears twice"):
        m.replace(b=m.a.weight)
    with pytest.raises(ValueError, match="appears twice"):
        m.replace_node(m.b.bias, m.a.bias)
    assert snapshot(m) == before


def test_sharing_inside_pure_raises_and_the_caller_keeps_its_model():
    m = Holder(a=pax.Linear(2, 2), b=pax.Linear(2, 2))
    before = snapshot(m)

    @pax.pure
    def share(mod):
        mod.b = mod.a
        return mod

    with pytest.raises(ValueError, match=r"appears twice in Holder: at `\.a` and at `\.b`"):
        share(m)
    assert snapshot(m) == before


SHARING_IN_PURE = [
    (
        "module_in_list",
        lambda mod: setattr(mod, "extra", [mod.a]),
        r"at `\.a` and at `\.extra\[0\]`",
    ),
    (
        "array_direct",
        lambda mod: setattr(mod.b, "bias", mod.a.bias),
        r"at `\.a\.bias` and at `\.b\.bias`",
    ),
    (
        "array_in_dict",
        lambda mod: setattr(mod, "extra", {"w": mod.a.weight}),
        r"at `\.a\.weight` and at `\.extra\['w'\]`",
    ),
]


@pytest.mark.parametrize(
    "mutate, match", [c[1:] for c in SHARING_IN_PURE], ids=[c[0] for c in SHARING_IN_PURE]
)
def test_sharing_made_inside_pure_raises_when_the_module_is_returned(mutate, match):
    m = Holder(a=pax.Linear(2, 2), b=pax.Linear(2, 2))
    before = snapshot(m)

    @pax.pure
    def share(mod):
        mutate(mod)
        return mod

    with pytest.raises(ValueError, match="appears twice in Holder: " + match):
        share(m)
    assert snapshot(m) == before


def test_sharing_made_by_a_call_raises_in_purecall():
    class Tie(pax.Module):
        def __init__(self):
            super().__init__()
            self.fc = pax.Linear(2, 2)
            self.w = jnp.zeros((2, 2))

        def __call__(self, x):
            self.w = self.fc.weight  # an attempt at weight tying
            return x

    tie = Tie()
    with pytest.raises(ValueError, match=r"appears twice in .*Tie: at `\.fc\.weight` and at `\.w`"):
        pax.purecall(tie, 1.0)
    with pytest.raises(ValueError, match="appears twice"):
        tie % 1.0


@pytest.mark.parametrize(
    "a, b",
    [(jnp.zeros(2), jnp.ones(2)), (pax.Linear(1, 1), pax.Linear(1, 2))],
    ids=["arrays", "modules"],
)
def test_swapping_attributes_inside_pure_is_fine(a, b):
    m = Holder(a=a, b=b)

    @pax.pure
    def swap(mod):
        mod.a, mod.b = mod.b, mod.a  # shared for a moment, not when returned
        return mod

    swapped = swap(m)
    assert jax.tree_util.tree_leaves(swapped.a)[0] is jax.tree_util.tree_leaves(m.b)[0]
    assert jax.tree_util.tree_leaves(swapped.b)[0] is jax.tree_util.tree_leaves(m.a)[0]
    assert m.a is a and m.b is b


# -- hidden arrays and modules --------------------------------------------------------------


def _hidden_cases():
    return [
        ("object_with_array", lambda: Box(jnp.ones(2)), "a Box that contains an array"),
        (
            "object_with_module",
            lambda: Box(pax.Linear(1, 1)),
            "a Box that contains a Linear module",
        ),
        ("nested_objects", lambda: Box(Box(np.ones(2))), "a Box that contains an array"),
        (
            "partial_with_module",
            lambda: functools.partial(lambda m, x: m(x), pax.Linear(1, 1)),
            "a partial that contains a Linear module",
        ),
        (
            "partial_with_array_keyword",
            lambda: functools.partial(jnp.add, x2=jnp.ones(1)),
            "a partial that contains an array",
        ),
        (
            "bound_method",
            lambda: pax.Linear(1, 1).__call__,
            "a method that contains a Linear module",
        ),
        ("list_with_object", lambda: [1, Box(jnp.ones(1))], "a Box that contains an array"),
    ]


@pytest.mark.parametrize(
    "make_value, match", [c[1:] for c in _hidden_cases()], ids=[c[0] for c in _hidden_cases()]
)
def test_hidden_node_raises_at_construction(make_value, match):
    with pytest.raises(ValueError, match=rf"Attribute `Holder\.hidden` holds {match}"):
        Holder(hidden=make_value())


@pytest.mark.parametrize(
    "make_value, match", [c[1:] for c in _hidden_cases()], ids=[c[0] for c in _hidden_cases()]
)
def test_hidden_node_raises_on_set_attribute_and_in_pure(make_value, match):
    fc = pax.Linear(2, 2)
    before = snapshot(fc)
    with pytest.raises(ValueError, match=rf"holds {match}"):
        fc.set_attribute("hidden", make_value())
    assert snapshot(fc) == before

    @pax.pure
    def hide(mod):
        try:
            mod.hidden = make_value()
        except ValueError:
            pass
        assert not hasattr(mod, "hidden")  # the failed assignment changed nothing
        return mod

    assert snapshot(hide(fc))[0] == before[0]
    assert snapshot(fc) == before


def test_hidden_node_message_shows_the_fix():
    with pytest.raises(ValueError) as info:
        Holder(hidden=Box(jnp.ones(1)))
    message = str(info.value)
    assert "would be dropped from the pytree" in message
    assert "self.hidden = <the array or module>        # right" in message
    assert "self.hidden = SomeObject(<array or module>) # wrong" in message


def test_plain_functions_and_objects_without_arrays_are_fine():
    m = Holder(f=jnp.tanh, g=functools.partial(jnp.sum, axis=0), b=Box(3), w=jnp.ones(1))
    assert m.scan_bugs() is m
    assert len(jax.tree_util.tree_leaves(m)) == 1


def test_configuration_objects_are_static():
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("x",))  # holds an object array
    m = Holder(mesh=mesh, dtype=np.dtype("float32"), device=jax.devices()[0], w=jnp.ones(1))
    assert m.scan_bugs() is m
    assert m.mesh is mesh
    assert len(jax.tree_util.tree_leaves(m)) == 1


@pytest.mark.parametrize(
    "value, kind",
    [(jnp.ones(2), "an array"), (np.zeros(1), "an array"), (pax.Linear(1, 1), "a module")],
)
def test_class_attribute_array_or_module_raises(value, kind):
    class Bad(pax.Module):
        w = value

    # at construction, as PAX 0.5 (every time, not only the first)
    for _ in range(2):
        with pytest.raises(
            ValueError, match=rf"Class attribute `.*Bad\.w` is {kind}.*`self\.w = \.\.\.`"
        ):
            Bad()

    class Child(Bad):  # inherited too
        pass

    with pytest.raises(ValueError, match="Class attribute"):
        Child()


def test_class_attributes_that_are_static_are_fine():
    class Fine(pax.Module):
        scale = 2.0
        activation = staticmethod(jax.nn.relu)
        kind = "fine"

    assert jax.tree_util.tree_leaves(Fine()) == []


def test_scan_bugs_finds_an_array_added_later_to_a_static_list():
    history = []
    m = Holder(history=history, w=jnp.ones(1))
    assert m.scan_bugs() is m
    history.append(jnp.zeros(1))  # in-place, behind pax's back
    with pytest.raises(
        ValueError, match=r"Attribute `Holder\.history` holds a list that contains an array"
    ):
        m.scan_bugs()


def test_scan_bugs_checks_submodules():
    history = []
    net = pax.Sequential(Holder(history=history), pax.Linear(1, 1))
    history.append(jnp.zeros(1))
    with pytest.raises(ValueError, match=r"`Holder\.history`"):
        net.scan_bugs()


# -- PAX 0.5's class-definition guards ---------------------------------------------------


@pytest.mark.parametrize(
    "body, match",
    [
        ("w = jnp.ones(2)", r"Class attribute `Bad.w` is an array"),
        ("w = [jnp.zeros(1), 3]", r"Class attribute `Bad.w` holds an array"),
        ("fc = {'a': pax.Linear(2, 2)}", r"Class attribute `Bad.fc` holds a module"),
        ("__slots__ = ('a',)", r"`Bad` declares `__slots__`.*Remove `__slots__"),
    ],
    ids=["array", "array_in_list", "module_in_dict", "slots"],
)
def test_bad_class_definitions_raise(body, match):
    namespace = {"pax": pax, "jnp": jnp}
    exec(f"class Bad(pax.Module):\n    {body}\n", namespace)
    with pytest.raises(ValueError, match=match):
        namespace["Bad"]()


def test_static_class_attributes_are_fine():
    class Fine(pax.Module):
        sizes = [1, 2]
        activation = staticmethod(jnp.tanh)

    assert Fine().sizes == [1, 2]


# -- a module captured from outside a pax.scan body --------------------------------------


def test_mutating_a_captured_module_inside_scan_raises():
    rng = pax.RngSeq(seed=0)

    @pax.pure
    def sample(rng, xs):
        def body(total, x):
            key = rng.next_rng_key()  # rng is captured, not carried
            return total + x, key

        return pax.scan(body, 0.0, xs)

    with pytest.raises(ValueError, match=r"`_rng_key` of RngSeq inside a `pax.scan` body"):
        sample(rng, jnp.ones(3))
    with pytest.raises(ValueError, match="Pass the module through the scan carry"):
        jax.jit(sample)(rng, jnp.ones(3))
    # the caller's module is unchanged and usable
    np.testing.assert_array_equal(rng._rng_key, pax.RngSeq(seed=0)._rng_key)


def test_carried_modules_and_body_local_modules_may_change_inside_scan():
    @pax.pure
    def sample(rng, xs):
        def body(carry, x):
            rng, total = carry
            rng, key = pax.module_and_value(rng.next_rng_key)()
            local = pax.RngSeq(seed=1)  # created inside the body: free to change
            local, _ = pax.module_and_value(local.next_rng_key)()
            return (rng, total + x), key

        return pax.scan(body, (rng, 0.0), xs)

    (rng, total), keys = jax.jit(sample)(pax.RngSeq(seed=0), jnp.ones(4))
    assert float(total) == 4.0 and len({tuple(np.asarray(k).tolist()) for k in keys}) == 4
