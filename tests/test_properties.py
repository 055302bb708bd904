"""Property tests (hypothesis) over randomly generated module trees (SPEC §1, §3, §4).

A *spec* is a plain description of a module tree: nested modules (plain, parameter
and state modules, some frozen), lists, tuples and dicts, raw arrays (jax and
numpy, float32 and int32, shapes up to 3x3), ``TrainVar``/``StateVar``/``RandomState``,
static fields (ints, strings, bools, None, tuples and lists of ints, a tuple holding a
list, small dicts of ints) and ``EmptyNode``.
``build(spec, seed)`` turns a spec into a module; two builds of one spec have the
same structure and different values. ``expected_leaves(spec)`` is an independent
oracle: the key path of every leaf and whether it is trainable.

The plain, deterministic regression tests at the end pin the bugs these
properties found.
"""

import copy
import os
import pickle
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pax

GetAttrKey = jax.tree_util.GetAttrKey
SequenceKey = jax.tree_util.SequenceKey
DictKey = jax.tree_util.DictKey

# Deterministic by default (the same examples on every run, no example database in
# the worktree); PAX_PROPERTY_SCALE=10 PAX_PROPERTY_RANDOM=1 PAX_PROPERTY_DEPTH=3
# explores further.
SCALE = float(os.environ.get("PAX_PROPERTY_SCALE", "1"))
DEPTH = int(os.environ.get("PAX_PROPERTY_DEPTH", "2"))  # nesting of the generated trees
SETTINGS = dict(
    deadline=None,
    database=None,
    derandomize=not os.environ.get("PAX_PROPERTY_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


# -- the module classes the specs are built from ---------------------------------------


def _set_attributes(module, attributes, name, training):
    pax.Module.__init__(module, name=name, training=training)
    for attr, value in attributes:
        setattr(module, attr, value)


class Node(pax.Module):
    """Sets the given ``(name, value)`` attributes in order; nothing of its own trainable."""

    trainable_names: tuple[str, ...] = ()

    def __init__(self, attributes=(), name=None, training=True):
        _set_attributes(self, attributes, name, training)


class PNode(pax.ParameterModule):
    """All its raw-array attributes are trainable."""

    def __init__(self, attributes=(), name=None, training=True):
        _set_attributes(self, attributes, name, training)


class SNode(pax.StateModule):
    """None of its raw-array attributes is trainable."""

    def __init__(self, attributes=(), name=None, training=True):
        _set_attributes(self, attributes, name, training)


_NODE_CLASSES: dict[tuple[str, ...], type] = {}


def node_class(trainable) -> type:
    """The ``Node`` subclass whose ``parameters`` names ``trainable`` (cached, and
    a global of this file so that pickle finds it)."""
    key = tuple(sorted(trainable))
    if not key:
        return Node
    cls = _NODE_CLASSES.get(key)
    if cls is None:
        cls_name = "Node_" + "_".join(key)
        cls = type(
            cls_name,
            (Node,),
            {
                "parameters": pax.parameters_method(*key),
                "trainable_names": key,
                "__module__": __name__,
                "__qualname__": cls_name,
            },
        )
        globals()[cls_name] = cls
        _NODE_CLASSES[key] = cls
    return cls


def module_class(kind: str, trainable) -> type:
    if kind == "param":
        return PNode
    if kind == "state":
        return SNode
    return node_class(trainable)


# -- specs ------------------------------------------------------------------------------
# ("arr", shape, dtype, backend) | ("tvar", arr) | ("svar", arr) | ("rvar", seed)
# | ("static", value)
# | ("empty",) | ("list", items) | ("tuple", items) | ("dict", ((key, item), ...))
# | ("mod", kind, trainable_names, frozen, name, training, ((attr, item), ...))

ATTRS = ("a", "b", "c", "d", "e")
DICT_KEYS = ("k0", "k1", "x")

shapes = st.lists(st.integers(1, 3), max_size=2).map(tuple)
arr_specs = st.tuples(
    st.just("arr"),
    shapes,
    st.sampled_from(["float32", "float32", "int32"]),
    st.sampled_from(["jnp", "jnp", "np"]),
)
static_values = st.one_of(
    st.integers(-3, 3),
    st.sampled_from(["s", "relu", ""]),
    st.none(),
    st.booleans(),
    st.lists(st.integers(0, 3), max_size=3).map(tuple),
    st.lists(st.integers(0, 3), max_size=3),
    st.tuples(st.integers(0, 3), st.lists(st.integers(0, 3), max_size=2)),
    st.dictionaries(st.sampled_from(DICT_KEYS), st.integers(0, 3), max_size=2),
)


def _contains(spec, tags) -> bool:
    tag = spec[0]
    if tag in tags:
        return True
    if tag in ("list", "tuple"):
        return any(_contains(s, tags) for s in spec[1])
    if tag == "dict":
        return any(_contains(s, tags) for _, s in spec[1])
    if tag == "mod":
        return any(_contains(s, tags) for _, s in spec[6])
    return False


@st.composite
def value_specs(draw, depth: int):
    tags = ["arr", "arr", "tvar", "svar", "rvar", "static", "static", "empty"]
    if depth > 0:
        tags += ["list", "tuple", "dict", "mod", "mod"]
    tag = draw(st.sampled_from(tags))
    if tag == "arr":
        return draw(arr_specs)
    if tag in ("tvar", "svar"):
        return (tag, draw(arr_specs))
    if tag == "rvar":
        return ("rvar", draw(st.integers(0, 3)))
    if tag == "static":
        return ("static", draw(static_values))
    if tag == "empty":
        return ("empty",)
    if tag in ("list", "tuple"):
        return (tag, tuple(draw(st.lists(value_specs(depth - 1), max_size=3))))
    if tag == "dict":
        keys = draw(st.lists(st.sampled_from(DICT_KEYS), unique=True, max_size=3))
        return ("dict", tuple((k, draw(value_specs(depth - 1))) for k in keys))
    return draw(module_specs(depth - 1))


@st.composite
def module_specs(draw, depth: int = DEPTH):
    names = draw(st.lists(st.sampled_from(ATTRS), unique=True, max_size=4))
    attrs = tuple((n, draw(value_specs(depth))) for n in names)
    kind = draw(st.sampled_from(["node", "node", "node", "param", "state"]))
    trainable: frozenset = frozenset()
    if kind == "node" and names:
        trainable = frozenset(draw(st.sets(st.sampled_from(names))))
    frozen = draw(st.sampled_from([False, False, False, True]))
    name = draw(st.sampled_from([None, None, "net"]))
    training = draw(st.booleans())
    return ("mod", kind, trainable, frozen, name, training, attrs)


def build(spec, seed: int = 0):
    """The module (or value) described by ``spec``; values drawn from ``seed``."""
    return _build(spec, np.random.default_rng(seed))


def _build(spec, rng):
    tag = spec[0]
    if tag == "arr":
        _, shape, dtype, backend = spec
        if dtype == "float32":
            x = np.array(rng.standard_normal(shape), dtype=np.float32)
        else:
            x = np.array(rng.integers(-5, 5, size=shape), dtype=np.int32)
        return x if backend == "np" else jnp.asarray(x)
    if tag == "tvar":
        return pax.TrainVar(_build(spec[1], rng))
    if tag == "svar":
        return pax.StateVar(_build(spec[1], rng))
    if tag == "rvar":
        return pax.RandomState(spec[1] + int(rng.integers(0, 100)))
    if tag == "static":
        return copy.deepcopy(spec[1])
    if tag == "empty":
        return pax.EmptyNode()
    if tag == "list":
        return [_build(s, rng) for s in spec[1]]
    if tag == "tuple":
        return tuple(_build(s, rng) for s in spec[1])
    if tag == "dict":
        return {k: _build(s, rng) for k, s in spec[1]}
    _, kind, trainable, frozen, name, training, attrs = spec
    cls = module_class(kind, trainable)
    module = cls([(a, _build(s, rng)) for a, s in attrs], name=name, training=training)
    return pax.freeze_parameters(module) if frozen else module


def expected_leaves(spec, path: str = "", frozen: bool = False, raw_trainable: bool = False):
    """Yield ``(keystr path, trainable)`` for every leaf of ``build(spec)`` (the oracle)."""
    tag = spec[0]
    if tag == "arr":
        yield path, raw_trainable and not frozen
    elif tag == "tvar":
        yield path + ".value", not frozen
    elif tag in ("svar", "rvar"):
        yield path + ".value", False
    elif tag in ("list", "tuple"):
        for i, s in enumerate(spec[1]):
            yield from expected_leaves(s, f"{path}[{i}]", frozen, raw_trainable)
    elif tag == "dict":
        for k, s in spec[1]:
            yield from expected_leaves(s, f"{path}[{k!r}]", frozen, raw_trainable)
    elif tag == "mod":
        _, kind, trainable, is_frozen, _, _, attrs = spec
        for attr, s in attrs:
            yield from expected_leaves(
                s, f"{path}.{attr}", frozen or is_frozen, kind == "param" or attr in trainable
            )


# -- helpers -------------------------------------------------------------------------------


def keystr(path) -> str:
    return jax.tree_util.keystr(tuple(path))


def follow(root, path):
    """The object reached from ``root`` by the keys of ``path``."""
    obj = root
    for key in path:
        if isinstance(key, GetAttrKey):
            obj = obj.__dict__[key.name] if isinstance(obj, pax.Module) else getattr(obj, key.name)
        elif isinstance(key, SequenceKey):
            obj = obj[key.idx]
        elif isinstance(key, DictKey):
            obj = obj[key.key]
        else:
            raise AssertionError(f"unexpected key {key!r}")
    return obj


def same_structure_and_identical_leaves(a, b) -> bool:
    la, da = jax.tree_util.tree_flatten(a)
    lb, db = jax.tree_util.tree_flatten(b)
    return da == db and len(la) == len(lb) and all(x is y for x, y in zip(la, lb))


def assert_same_values(a, b) -> None:
    la, da = jax.tree_util.tree_flatten(a)
    lb, db = jax.tree_util.tree_flatten(b)
    assert da == db, f"structures differ:\n{da}\n{db}"
    for x, y in zip(la, lb):
        assert type(np.asarray(x).dtype) is type(np.asarray(y).dtype)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
        assert np.asarray(x).dtype == np.asarray(y).dtype


def is_float(x) -> bool:
    return jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)


def describe(value: Any) -> Any:
    """A deep, plain-Python snapshot of a module tree, static fields included."""
    if isinstance(value, pax.Module):
        d = value.__dict__
        layout = d["_pax_layout"]
        return (
            "module",
            type(value),
            tuple(
                sorted(
                    (n, describe(v)) for n, v in d.items() if n not in ("_pax_layout", "_pax_cache")
                )
            ),
            tuple((n, describe(v)) for n, v in layout.statics),
            layout.children,
        )
    if isinstance(value, pax.BaseVar):
        return ("var", type(value), describe(value.value))
    if isinstance(value, (jax.Array, np.ndarray)):
        x = np.asarray(value)
        return ("array", type(value).__name__, x.dtype.str, x.shape, x.tobytes())
    if isinstance(value, list):
        return ("list", tuple(describe(v) for v in value))
    if isinstance(value, tuple):
        return ("tuple", tuple(describe(v) for v in value))
    if isinstance(value, dict):
        # (sorted: JAX rebuilds dicts in sorted key order, as for any pytree)
        return ("dict", tuple(sorted((k, describe(v)) for k, v in value.items())))
    if isinstance(value, pax.EmptyNode):
        return ("empty",)
    return ("static", type(value), copy.deepcopy(value))


def all_modules(module) -> list[pax.Module]:
    out = [module]
    for sub in module.submodules():
        out.extend(all_modules(sub))
    return out


def own_attrs(module) -> list[str]:
    return [n for n in module.__dict__ if not n.startswith("_")]


def lists_in(value) -> Iterator[list]:
    """Every list inside ``value`` (through lists, tuples and dicts; not modules)."""
    if isinstance(value, list):
        yield value
        for v in value:
            yield from lists_in(v)
    elif isinstance(value, tuple):
        for v in value:
            yield from lists_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from lists_in(v)


# -- 1. flatten / unflatten with keys --------------------------------------------------------


@settings(max_examples=examples(40), **SETTINGS)
@given(module_specs(), st.integers(0, 2**16))
def test_flatten_with_path_round_trip(spec, seed):
    m = build(spec, seed)
    pairs, treedef = jax.tree_util.tree_flatten_with_path(m)
    leaves = [x for _, x in pairs]
    assert treedef == jax.tree_util.tree_structure(m)
    assert leaves == [] or all(a is b for a, b in zip(leaves, jax.tree_util.tree_leaves(m)))

    back = jax.tree_util.tree_unflatten(treedef, leaves)
    assert type(back) is type(m)
    assert back == m
    assert same_structure_and_identical_leaves(back, m)
    assert back.pytree_attributes == m.pytree_attributes
    assert back.name == m.name and back.training == m.training

    paths = [keystr(p) for p, _ in pairs]
    assert len(set(paths)) == len(paths), paths
    assert sorted(paths) == sorted(p for p, _ in expected_leaves(spec))
    for path, leaf in pairs:
        assert keystr(path).startswith(".")
        assert isinstance(path[0], GetAttrKey) and path[0].name in m.pytree_attributes
        assert follow(m, path) is leaf, keystr(path)

    # two builds of one spec: equal treedefs, different leaves
    other = build(spec, seed + 1)
    assert jax.tree_util.tree_structure(other) == treedef
    assert hash(other) == hash(m)


# -- 2. parameters() partitions the leaves -----------------------------------------------------


@settings(max_examples=examples(40), **SETTINGS)
@given(module_specs(), st.integers(0, 2**16))
def test_parameters_partition_the_leaves(spec, seed):
    m = build(spec, seed)
    expected = dict(expected_leaves(spec))
    all_pairs = {keystr(p): x for p, x in jax.tree_util.tree_flatten_with_path(m)[0]}
    params = m.parameters()
    assert type(params) is type(m)
    trainable = {keystr(p): x for p, x in jax.tree_util.tree_flatten_with_path(params)[0]}

    # the trainable leaves are the module's own leaf objects, at the same paths
    assert set(trainable) <= set(all_pairs)
    for path, x in trainable.items():
        assert x is all_pairs[path], path
    # ... exactly those the oracle calls trainable; the rest are EmptyNode in params
    assert {p for p, t in expected.items() if t} == set(trainable)
    assert set(all_pairs) - set(trainable) == {p for p, t in expected.items() if not t}
    assert (~m) == params
    assert pax.select_parameters(m) == params

    # every non-trainable leaf became an EmptyNode of the same structure
    assert (m | params) == m
    assert m.update_parameters(params) == m
    zeros = m.map(jnp.zeros_like)
    merged = zeros | params
    for path, x in jax.tree_util.tree_flatten_with_path(merged)[0]:
        if keystr(path) in trainable:
            assert x is trainable[keystr(path)]
        else:
            assert not np.asarray(x).any()

    # frozen: nothing trainable
    assert jax.tree_util.tree_leaves(pax.freeze_parameters(m).parameters()) == []

    # pax.grad of a sum of the float leaves: same structure as parameters()
    def loss(mod):
        floats = [jnp.sum(x) for x in jax.tree_util.tree_leaves(mod) if is_float(x)]
        return jnp.zeros(()) + sum(floats)

    grads = pax.grad(loss, allow_int=True)(m)
    assert type(grads) is type(m)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(params)
    for (path, g), p in zip(
        jax.tree_util.tree_flatten_with_path(grads)[0], jax.tree_util.tree_leaves(params)
    ):
        assert g.shape == p.shape, keystr(path)
        if is_float(p):
            np.testing.assert_array_equal(np.asarray(g), np.ones(p.shape, np.float32))


# -- 3. state_dict and pickle round trips ----------------------------------------------------


def _bump(x):
    return x + np.asarray(1, dtype=np.asarray(x).dtype)


@settings(max_examples=examples(40), **SETTINGS)
@given(module_specs(), st.integers(0, 2**16), st.booleans())
def test_state_dict_and_pickle_round_trip(spec, seed, call_vars_first):
    m = build(spec, seed)
    if call_vars_first:
        m.vars()  # caches variable views on the module object

    # state_dict of changed values, loaded into a fresh module of the same structure
    sd = jax.tree_util.tree_map(_bump, m.state_dict())
    fresh = build(spec, seed + 1)
    loaded = fresh.load_state_dict(sd)
    assert type(loaded) is type(m)
    assert_same_values(loaded, m.map(_bump))
    assert loaded.parameters().pytree_attributes == m.parameters().pytree_attributes
    assert jax.tree_util.tree_structure(loaded.parameters()) == jax.tree_util.tree_structure(
        m.parameters()
    )
    # loading the module's own state dict gives back the very same leaves
    assert fresh.load_state_dict(m.state_dict()) == m
    # the state dict holds the module's own arrays (dicts sort their keys: compare ids)
    assert sorted(map(id, jax.tree_util.tree_leaves(m.state_dict()))) == sorted(
        map(id, jax.tree_util.tree_leaves(m))
    )

    # pickle
    back = pickle.loads(pickle.dumps(m))
    assert type(back) is type(m)
    assert_same_values(back, m)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(m)
    assert describe(back) == describe(m)
    assert jax.tree_util.tree_structure(back.parameters()) == jax.tree_util.tree_structure(
        m.parameters()
    )
    # the unpickled module is a working, immutable module with its own variables
    with pytest.raises(ValueError, match="pax.pure"):
        back.zz = 1
    assert len(list(back.vars())) == len(jax.tree_util.tree_leaves(m))


# -- 4. pax.pure never changes its inputs ----------------------------------------------------

OPS = (
    "set_new",
    "replace",
    "delete",
    "append",
    "append_deep",
    "dict_set",
    "var_assign",
    "vars_assign",
    "swap",
)


def mutate(module, ops) -> None:
    """Apply the mutations ``ops`` to ``module`` (a copy, inside ``pax.pure``)."""
    for op, i, j in ops:
        modules = all_modules(module)
        mod = modules[i % len(modules)]
        attrs = own_attrs(mod)
        attr = attrs[j % len(attrs)] if attrs else None
        if op == "set_new":
            setattr(mod, f"new{j}", jnp.full((j % 3 + 1,), float(j)))
        elif op == "replace" and attr is not None:
            setattr(mod, attr, jnp.zeros((j % 3 + 1,)))
        elif (
            op == "delete"
            and attr is not None
            and attr not in getattr(type(mod), "trainable_names", ())
        ):
            # (deleting an attribute `parameters_method` names is an error by design)
            delattr(mod, attr)
        elif op == "append":
            for name in attrs:
                if isinstance(mod.__dict__[name], list):
                    mod.__dict__[name].append(jnp.ones(2) if j % 2 else 7)
                    break
        elif op == "append_deep":  # every list anywhere in the tree, in place
            for sub in modules:
                for name in own_attrs(sub):
                    for lst in list(lists_in(sub.__dict__[name])):
                        lst.append(9)
        elif op == "dict_set":
            for name in attrs:
                if isinstance(mod.__dict__[name], dict):
                    mod.__dict__[name][f"new{j}"] = jnp.ones(1)
                    break
        elif op == "var_assign":
            for leaf in jax.tree_util.tree_leaves(
                [mod.__dict__[n] for n in attrs],
                is_leaf=lambda x: isinstance(x, (pax.BaseVar, pax.Module)),
            ):
                if isinstance(leaf, pax.TrainVar):
                    leaf.assign(_bump(leaf.value))
                elif isinstance(leaf, pax.StateVar):
                    leaf.value = _bump(leaf.value)
        elif op == "vars_assign":
            vc = mod.vars()
            vc.assign([_bump(t) for t in vc.tensors()])
        elif op == "swap" and len(attrs) >= 2:
            a, b = attrs[j % len(attrs)], attrs[(j + 1) % len(attrs)]
            va, vb = mod.__dict__[a], mod.__dict__[b]
            setattr(mod, a, vb)
            setattr(mod, b, va)


ops_lists = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=5
)


@settings(max_examples=examples(60), **SETTINGS)
@given(module_specs(), st.integers(0, 2**16), ops_lists)
def test_pure_never_changes_its_inputs(spec, seed, ops):
    m = build(spec, seed)
    before = describe(m)
    leaves_before = jax.tree_util.tree_leaves(m)
    treedef_before = jax.tree_util.tree_structure(m)

    @pax.pure
    def f(mod):
        mutate(mod, ops)
        return mod

    out = f(m)
    assert describe(m) == before
    assert jax.tree_util.tree_structure(m) == treedef_before
    leaves_after = jax.tree_util.tree_leaves(m)
    assert len(leaves_after) == len(leaves_before)
    assert all(a is b for a, b in zip(leaves_after, leaves_before))
    # the caller's module is still immutable
    with pytest.raises(ValueError, match="pax.pure"):
        m.zz = 1
    # what came back is a module whose leaves are all arrays
    assert isinstance(out, pax.Module)
    for path, x in jax.tree_util.tree_flatten_with_path(out)[0]:
        assert isinstance(x, (jax.Array, np.ndarray)), (keystr(path), x)


# -- 5. vars() names every leaf exactly once ---------------------------------------------------


def objax_name(root, path) -> str:
    """The Objax-style name of the leaf at ``path``: ``(Root).a[0](Node).b``."""
    name = f"({type(root).__name__})"
    obj = root
    for key in path:
        if isinstance(obj, pax.BaseVar):
            break  # the `.value` of a variable is not part of its name
        name += keystr((key,))
        obj = follow(obj, (key,))
        if isinstance(obj, pax.Module):
            name += f"({type(obj).__name__})"
    return name


@settings(max_examples=examples(40), **SETTINGS)
@given(module_specs(), st.integers(0, 2**16))
def test_vars_names_every_leaf_once(spec, seed):
    m = build(spec, seed)
    pairs = jax.tree_util.tree_flatten_with_path(m)[0]
    vc = m.vars()
    variables = list(vc)
    assert len(variables) == len(pairs)
    assert len(vc) == len(variables)  # no variable has two names (no sharing)
    names = list(vc.keys())
    assert len(set(names)) == len(names)

    by_id: dict[int, list[str]] = {}
    for name, var in vc.items():
        by_id.setdefault(id(var.value), []).append(name)
    for path, leaf in pairs:
        assert by_id.get(id(leaf), []) == [objax_name(m, path)], keystr(path)

    # the kind of each variable follows parameters()
    trainable_ids = {id(x) for x in jax.tree_util.tree_leaves(m.parameters())}
    for name, var in vc.items():
        assert isinstance(var, pax.TrainVar) == (id(var.value) in trainable_ids), name

    # vars() is stable: the same variable objects each time
    assert all(a is b for a, b in zip(m.vars().values(), vc.values()))


# -- 6. jax.jit and tree_map keep the structure ----------------------------------------------


@settings(max_examples=examples(25), **SETTINGS)
@given(module_specs(), st.integers(0, 2**16))
def test_jit_identity_and_tree_map_keep_structure(spec, seed):
    m = build(spec, seed)
    out = jax.jit(lambda mod: mod)(m)
    assert type(out) is type(m)
    assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(m)
    assert_same_values(out, m)
    assert describe(out.parameters().map(np.asarray)) == describe(m.parameters().map(np.asarray))

    mapped = jax.tree_util.tree_map(lambda x: x, m)
    assert mapped == m
    assert describe(mapped) == describe(m)
    assert m.copy() == m
    assert m.apply(lambda mod: mod) == m
    assert pax.unfreeze_parameters(pax.freeze_parameters(m), origin=m) == m
    assert jax.tree_util.tree_structure(m.eval().train()) == jax.tree_util.tree_structure(m.train())


# -- sharing raises ----------------------------------------------------------------------------


@settings(max_examples=examples(30), **SETTINGS)
@given(module_specs(), st.integers(0, 2**16), st.integers(0, 100))
def test_sharing_a_leaf_or_submodule_raises(spec, seed, pick):
    m = build(spec, seed)
    leaves = jax.tree_util.tree_leaves(m)
    subs = all_modules(m)[1:]
    candidates = leaves + subs
    if not candidates:
        return
    shared = candidates[pick % len(candidates)]
    if not isinstance(shared, pax.Module):
        # (set_attribute works on a copy, whose submodules are new objects: a
        # submodule of `m` put back into the copy is not shared with it)
        with pytest.raises(ValueError, match="appears twice"):
            m.set_attribute("shared", [shared])
    with pytest.raises(ValueError, match="appears twice"):
        Node([("x", m), ("y", {"k": shared})])


# -- regression tests for what the properties found ---------------------------------------------
# Each is the shrunk example of a property failure, written out by hand.


def test_sharing_a_submodule_in_init_raises():
    sub = Node([("w", jnp.ones(2))])
    with pytest.raises(ValueError, match="appears twice"):
        Node([("a", sub), ("b", [sub])])


def test_sharing_an_empty_submodule_in_init_raises():
    sub = Node()
    with pytest.raises(ValueError, match="appears twice"):
        Node([("a", sub), ("b", {"k": sub})])


def test_regression_frozen_variables_break_merge():
    m = pax.freeze_parameters(Node([("a", pax.StateVar(jnp.ones(())))]))
    assert jax.tree_util.tree_structure(m.parameters()) == jax.tree_util.tree_structure(
        pax.freeze_parameters(Node([("a", pax.EmptyNode())]))
    )
    merged = m | m.parameters()
    assert merged.a.value is m.a.value
    assert m.update_parameters(m.parameters()) == m


def test_regression_frozen_variables_break_grad():
    net = Node(
        [
            ("backbone", pax.freeze_parameters(Node([("v", pax.TrainVar(jnp.ones(2)))]))),
            ("head", PNode([("w", jnp.ones(2))])),
        ]
    )

    def loss(m):
        return jnp.sum(m.backbone.v.value * m.head.w)

    grads = pax.grad(loss)(net)
    np.testing.assert_array_equal(grads.head.w, np.ones(2))
    assert isinstance(grads.backbone.v, pax.EmptyNode)


def test_regression_frozen_trainvar_is_state_in_vars():
    m = pax.freeze_parameters(Node([("v", pax.TrainVar(jnp.ones(2))), ("w", jnp.ones(2))]))
    assert jax.tree_util.tree_leaves(m.parameters()) == []
    vc = m.vars()
    assert not isinstance(vc["(Node).w"], pax.TrainVar)  # the raw array: state (right)
    assert not isinstance(vc["(Node).v"], pax.TrainVar)  # the TrainVar: frozen too
    assert pax.Grad(lambda: jnp.sum(m.v.value * m.w), vc)() == []


def test_regression_pure_mutating_a_list_inside_a_static_tuple_changes_the_caller():
    m = Node([("c", ([],))])
    treedef = copy.deepcopy(jax.tree_util.tree_structure(m))

    @pax.pure
    def f(mod):
        mod.c[0].append(9)
        return mod

    out = f(m)
    assert out.c == ([9],)
    assert m.c == ([],)
    assert jax.tree_util.tree_structure(m) == treedef


def test_regression_pure_filling_a_list_inside_a_tuple_attribute_makes_a_static_leaf():
    m = Node([("c", (jnp.ones(1), []))])

    @pax.pure
    def f(mod):
        mod.c[1].append(9)
        return mod

    out = f(m)
    leaves = jax.tree_util.tree_leaves(out)
    assert all(isinstance(x, jax.Array) for x in leaves), leaves
    assert jax.jit(lambda mod: mod)(out).c[1] == [9]


def test_regression_init_filling_a_list_inside_a_tuple_attribute_hides_the_array():
    class FillsTuple(pax.Module):
        def __init__(self):
            super().__init__()
            self.blocks = ([],)
            self.blocks[0].append(jnp.ones(2))

    m = FillsTuple()
    assert len(jax.tree_util.tree_leaves(m)) == 1


def test_regression_named_attribute_keeps_a_statevar_untrainable():
    cls = node_class({"s"})
    m = cls([("s", pax.StateVar(jnp.ones(2)))])
    assert jax.tree_util.tree_leaves(m.parameters()) == []


def test_regression_named_attribute_keeps_a_frozen_submodule_frozen():
    cls = node_class({"a"})
    m = cls([("a", pax.freeze_parameters(PNode([("w", jnp.ones(2))])))])
    assert jax.tree_util.tree_leaves(m.a.parameters()) == []
    assert jax.tree_util.tree_leaves(m.parameters()) == []
