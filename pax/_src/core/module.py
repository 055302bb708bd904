"""``pax.Module``: a class whose instances are JAX pytrees.

Attributes holding arrays, modules, or lists/tuples/dicts of them are pytree
children; every other attribute is static data stored in the treedef. A module
is a value: outside :func:`pax.pure` (and ``__init__``) its attributes cannot be
rebound, and every JAX transform hands back new modules.

A module's fields are what ``__init__`` assigns. Class-level annotations
(``weight: jax.Array``) are PEP 526 declarations of those instance attributes, for
readers and type checkers; pax builds nothing from them (tests/test_annotations.py
checks that every layer has the attributes its classes annotate).
"""

import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

import jax

from .context import STATE
from .errors import ImmutableModuleError, StructureMismatchError
from .freezing import freeze_aware, is_freeze_aware, is_frozen
from .guards import (
    MSG_IMMUTABLE,
    MSG_IMMUTABLE_DEL,
    MSG_MUTATED_IN_SCAN,
    assert_no_sharing,
    holds_tracer,
)
from .layout import (
    CHILD,
    INTERNAL_KEYS,
    LAYOUT_KEY,
    MIXED,
    STATIC,
    Layout,
    check_not_hiding_nodes,
    classify,
    plain_dict,
)
from .leaks import record_traced_value
from .mutation import initialising, is_open, opened
from .node import EmptyNode, PaxNode, blank_instance, is_empty, is_node
from .replaced_methods import METHODS_KEY, class_with_replaceable_methods, merged_methods
from .variable import is_variable
from .vars_hooks import vars_provider

T = TypeVar("T", bound="Module")

_DEFAULT_STATICS = {"_name": None, "_training": True}
_DEFAULT_LAYOUT = Layout({"_name": STATIC, "_training": STATIC}, _DEFAULT_STATICS)
# entries of a PAX 0.5 module's __dict__ that pax does not keep (its pytree bookkeeping)
_PAX3_INTERNALS = frozenset({"_pytree_attributes", "_mixed_pytree_attributes"})


# classes whose class attributes passed `_check_class_attributes` (at first construction)
_CHECKED_CLASSES: "weakref.WeakSet[type]" = weakref.WeakSet()


class _ModuleMeta(type):
    """Runs ``__init__`` with the new module mutable, then freezes and checks it."""

    def __call__(cls, *args, **kwargs):
        _check_class_once(cls)
        module = cls.__new__(cls, *args, **kwargs)
        if not isinstance(module, cls):
            return module
        with initialising(module):
            module.__init__(*args, **kwargs)
        return module


def _check_class_once(cls: type) -> None:
    if cls not in _CHECKED_CLASSES:
        # PAX 0.5 raised here, at construction (not at class definition)
        for klass in cls.__mro__:
            if klass is Module:
                break
            _check_class_attributes(klass)
        _CHECKED_CLASSES.add(cls)


def construct(cls: type[T], fill: Callable[[T], None]) -> T:
    """A new ``cls`` module set up by ``fill(module)`` in place of ``cls.__init__``, with
    the checks of ``cls(...)``: how a named constructor (``Stack.from_sequential``)
    builds a module from parts it already has.

    >>> import pax
    >>> def fill(m):
    ...     pax.Module.__init__(m, name="built")
    ...     m.size = 3
    >>> m = construct(pax.Module, fill)
    >>> m.name, m.size
    ('built', 3)
    """
    _check_class_once(cls)
    module = cast(T, Module.__new__(cls))
    with initialising(module):
        fill(module)
    return module


class Module(PaxNode, metaclass=_ModuleMeta):
    """The base class of all pax modules. Instances are JAX pytrees.

    >>> import jax, jax.numpy as jnp, pax
    >>> class Counter(pax.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.count = jnp.array(0)
    ...     def __call__(self, x):
    ...         self.count = self.count + 1
    ...         return x
    >>> counter = Counter()
    >>> counter, _ = pax.purecall(counter, 1.0)
    >>> int(counter.count)
    1
    >>> jax.tree_util.tree_leaves(counter)
    [Array(1, dtype=int32, weak_type=True)]
    """

    __slots__ = ("__dict__", "__weakref__")

    def __new__(cls, *args, **kwargs):
        del args, kwargs
        obj = blank_instance(cls)
        d = obj.__dict__
        d.update(_DEFAULT_STATICS)
        d[LAYOUT_KEY] = _DEFAULT_LAYOUT
        return obj

    def __init__(self, *, training: bool = True, name: str | None = None):
        self._name = name
        self._training = training

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _wrap_parameters_for_freezing(cls)
        if getattr(cls, "_pax_opaque", False):
            # no children: the node itself is the treedef's aux data (see OpaqueModule)
            jax.tree_util.register_pytree_node(cls, _flatten_opaque, _unflatten_opaque)
            return
        jax.tree_util.register_pytree_with_keys(
            cls,
            _flatten_with_keys,
            _make_unflatten(cls),
            _flatten,
        )

    # -- attribute protocol ---------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if not is_open(self):
            raise ImmutableModuleError(MSG_IMMUTABLE.format(name=name, module=self._short_repr()))
        d = self.__dict__
        if name in INTERNAL_KEYS or name == "__dict__":
            raise ValueError(f"`{name}` is reserved for pax internals.")
        bodies = STATE.scan_bodies
        if bodies and id(self) in bodies[-1] and holds_tracer(value):
            raise ValueError(MSG_MUTATED_IN_SCAN.format(name=name, module=self._short_repr()))
        if STATE.traced_writes:
            record_traced_value(value)  # checked when the pure call returns (leaks.py)
        descriptor: Any = getattr(type(self), name, None)
        if hasattr(descriptor, "__set__"):
            # a property of the class: run its setter instead of shadowing it
            if isinstance(descriptor, property) and descriptor.fset is None:
                raise AttributeError(
                    f"Cannot set `{name}`: it is a read-only property of "
                    f"{type(self).__qualname__}. (`name` and `training` are set by "
                    f"`super().__init__(name=..., training=...)`, `.train()`, `.eval()`.)"
                )
            descriptor.__set__(self, value)
            return
        kind = classify(self, name, value)
        # Sharing (``self.b = self.a``) is checked on the whole tree when ``__init__``,
        # ``replace`` or ``pax.pure`` returns, so that a swap (``a, b = b, a``) works.
        layout: Layout = d[LAYOUT_KEY]
        d[name] = value
        old_kind = layout.kinds.get(name)
        if old_kind is None or old_kind != kind or kind == STATIC:
            d[LAYOUT_KEY] = layout.with_field(name, kind, d)

    def __delattr__(self, name: str) -> None:
        if not is_open(self):
            raise ImmutableModuleError(
                MSG_IMMUTABLE_DEL.format(name=name, module=self._short_repr())
            )
        d = self.__dict__
        if name not in d or name in INTERNAL_KEYS:
            raise AttributeError(name)
        del d[name]
        layout: Layout = d[LAYOUT_KEY]
        if name in layout.kinds:
            d[LAYOUT_KEY] = layout.without_field(name, d)

    # -- properties -------------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The optional name given at construction."""
        return self.__dict__["_name"]

    @property
    def training(self) -> bool:
        """``True`` in training mode (the default), ``False`` after ``eval()``.

        >>> import pax
        >>> net = pax.Linear(1, 1)
        >>> net.training, net.eval().training
        (True, False)
        """
        return self.__dict__["_training"]

    @property
    def pytree_attributes(self) -> tuple[str, ...]:
        """The names of the attributes that are pytree children, in order (PAX 0.5).

        >>> import pax
        >>> pax.Linear(2, 3).pytree_attributes
        ('weight', 'bias')
        """
        return self.__dict__[LAYOUT_KEY].children

    # -- trainable parameters ----------------------------------------------------
    def parameters(self: T) -> T:
        """A copy in which only trainable leaves remain; the others are ``EmptyNode``.

        A plain ``Module`` has no trainable attributes of its own; its submodules
        contribute their own parameters. Use :func:`pax.parameters_method` to
        declare trainable attributes.
        """
        from .parameters import select_fields

        return select_fields(self, names=(), all_fields=False, submodules=True)

    def update_parameters(self: T, params: T) -> T:
        """A copy whose trainable leaves are taken from ``params``."""
        return merge(self, params.parameters())

    def __invert__(self: T) -> T:
        return self.parameters()

    def vars(self, scope: str = "") -> Any:
        """Objax-style ``pax.VarCollection`` of the variables of this module and its
        submodules (raw-array attributes appear as variable views; see
        ``pax/_src/objax/module_vars.py``).

        >>> import pax
        >>> print(pax.Linear(2, 3).vars())
        (Linear).weight             6 (2, 3)
        (Linear).bias               3 (3,)
        +Total(2)                   9
        """
        provider = vars_provider(type(self))
        if provider is None:
            raise RuntimeError("vars() needs the Objax layer: `import pax` installs it.")
        return provider(self, scope)

    def __or__(self: T, other: T) -> T:
        """Merge: the leaves of ``other`` that are not ``EmptyNode`` win.

        >>> import pax
        >>> a, b = pax.Linear(2, 2), pax.Linear(2, 2)
        >>> (a | b) == b, (b | a) == a
        (True, True)
        """
        return merge(self, other)

    # -- modes ---------------------------------------------------------------------
    def train(self: T) -> T:
        """A copy with this module and all submodules in training mode."""
        return self.apply(lambda m: with_statics(m, {"_training": True}))

    def eval(self: T) -> T:
        """A copy with this module and all submodules in evaluation mode."""
        return self.apply(lambda m: with_statics(m, {"_training": False}))

    # -- copies and functional updates ----------------------------------------
    def copy(self: T) -> T:
        """A new module with the same structure and the same leaves."""
        leaves, treedef = jax.tree_util.tree_flatten(self)
        return jax.tree_util.tree_unflatten(treedef, leaves)

    def replace(self: T, **attributes: Any) -> T:
        """A copy with existing attributes replaced.

        >>> import jax.numpy as jnp, pax
        >>> net = pax.Linear(2, 2).replace(bias=jnp.ones((2,)))
        >>> net.bias.tolist()
        [1.0, 1.0]
        """
        missing = [n for n in attributes if n not in self.__dict__]
        if missing:
            raise ValueError(
                f"{self._short_repr()} has no attribute(s) {missing}; `replace` only "
                f"changes existing attributes. Use `set_attribute(name, value)` to add one."
            )
        return self._mutated_copy(attributes)

    def set_attribute(self: T, name: str, value: Any) -> T:
        """A copy with attribute ``name`` set to ``value`` (it may be new)."""
        return self._mutated_copy({name: value})

    def _mutated_copy(self: T, attributes: dict[str, Any]) -> T:
        module = self.copy()
        with opened(module, refresh=False):
            for name, value in attributes.items():
                setattr(module, name, value)
        return module

    def replace_method(self: T, **methods: Callable) -> T:
        """A copy whose class has the given methods replaced (PAX 0.5).

        The copy is an instance of a subclass made once per class; the methods are
        static data of the copy, so repeated calls with the same functions give equal
        treedefs (no retracing under jit) and no new class.

        >>> import jax.numpy as jnp, pax
        >>> fc = pax.Linear(2, 2)
        >>> doubled = fc.replace_method(__call__=lambda self, x: 2 * (x @ self.weight))
        >>> bool(jnp.allclose(doubled(jnp.ones((1, 2))), 2 * (jnp.ones((1, 2)) @ fc.weight)))
        True
        """
        for name, method in methods.items():
            if not callable(method):
                raise TypeError(f"replace_method: `{name}` must be callable, got {method!r}.")
        return with_statics(
            self,
            {METHODS_KEY: merged_methods(self, methods)},
            cls=class_with_replaceable_methods(type(self)),
        )

    def replace_node(self: T, node: Any, value: Any) -> T:
        """A copy in which the leaf ``node`` (found by identity) is ``value``.

        >>> import jax.numpy as jnp, pax
        >>> net = pax.Sequential(pax.Linear(2, 2), pax.Linear(2, 2))
        >>> net = net.replace_node(net[0].weight, jnp.zeros((2, 3)))
        >>> net[0].weight.shape
        (2, 3)
        """
        leaves, treedef = jax.tree_util.tree_flatten(self, is_leaf=lambda x: x is node)
        count = sum(1 for x in leaves if x is node)
        if count != 1:
            raise ValueError(
                f"`replace_node` expects the node to appear exactly once in "
                f"{self._short_repr()}, but it appears {count} times. Pass a leaf "
                f"taken from this module, e.g. `m.replace_node(m.fc.weight, w)`."
            )
        module = jax.tree_util.tree_unflatten(treedef, [value if x is node else x for x in leaves])
        assert_no_sharing(module)
        return module

    # -- submodules ------------------------------------------------------------------
    def submodules(self) -> list["Module"]:
        """The direct submodules, in attribute order."""
        d = self.__dict__
        out: list[Module] = []
        for name in d[LAYOUT_KEY].children:
            value = d[name]
            if isinstance(value, Module):
                out.append(value)
            elif not isinstance(value, PaxNode):
                out.extend(
                    m
                    for m in jax.tree_util.tree_leaves(value, is_leaf=is_node)
                    if isinstance(m, Module)
                )
        return out

    def apply(self: T, fn: Callable[["Module"], "Module"]) -> T:
        """Apply ``fn`` to every submodule (bottom-up), then to the module itself.

        >>> import jax, pax
        >>> net = pax.Sequential(pax.Linear(1, 1), jax.nn.relu)
        >>> net = net.apply(lambda m: print(type(m).__name__) or m)
        Linear
        Lambda
        Sequential
        """
        return cast(T, fn(self.apply_submodules(fn)))

    def apply_submodules(self: T, fn: Callable[["Module"], "Module"]) -> T:
        """A copy whose submodules (recursively, not the module itself) went through ``fn``."""
        return _map_submodules(self, lambda m: m.apply(fn))

    # -- comparisons ---------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        """Same class, same structure and the very same leaf objects."""
        if self is other:
            return True
        if type(self) is not type(other):
            return False
        a_def: Any  # jaxlib's PyTreeDef has no type stubs
        b_def: Any
        a_leaves, a_def = jax.tree_util.tree_flatten(self)
        b_leaves, b_def = jax.tree_util.tree_flatten(other)
        if a_def != b_def or len(a_leaves) != len(b_leaves):
            return False
        return all(a is b for a, b in zip(a_leaves, b_leaves))

    def __hash__(self) -> int:
        leaves, treedef = jax.tree_util.tree_flatten(self)
        shapes = tuple((getattr(x, "shape", None), str(getattr(x, "dtype", None))) for x in leaves)
        return hash((treedef, shapes))

    # -- calling ----------------------------------------------------------------
    def __mod__(self, args: Any) -> tuple[Any, Any]:
        """``module % x`` is ``pax.module_and_value(module)(x)``; a tuple spreads.

        >>> import jax.numpy as jnp, pax
        >>> net, y = pax.Linear(2, 3) % jnp.ones((1, 2))
        >>> y.shape
        (1, 3)
        """
        from .pure import module_and_value

        if not callable(self):
            raise TypeError(f"{self._short_repr()} has no `__call__`; `%` needs one.")
        if isinstance(args, tuple):
            return module_and_value(self)(*args)
        return module_and_value(self)(args)

    # -- pickling --------------------------------------------------------------------
    def __setstate__(self, state: dict[str, Any]) -> None:
        """``pickle`` fills a new module's ``__dict__``. A module pickled by PAX 0.5 (whose
        ``__dict__`` lists ``_pytree_attributes`` and has no pax layout) is rebuilt by
        setting its attributes as ``__init__`` would, after the converter that
        ``pax/_src/pax3_pickles.py`` installs has mapped PAX's fields to pax's."""
        if LAYOUT_KEY in state or "_pytree_attributes" not in state:
            self.__dict__.update(state)
            return
        if _PAX3_STATE_CONVERTER is not None:
            state = _PAX3_STATE_CONVERTER(type(self), state)
        state = {name: value for name, value in state.items() if name not in _PAX3_INTERNALS}
        with opened(self, check_sharing=False):
            for name, value in state.items():
                setattr(self, name, value)

    # -- state dicts ------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Nested dict of the array leaves: modules become dicts, others ``None``.

        >>> import pax
        >>> sorted(pax.Linear(1, 2).state_dict())
        ['bias', 'weight']
        """
        from .state_dict import module_to_state_dict

        return module_to_state_dict(self)

    def load_state_dict(self: T, state_dict: dict[str, Any]) -> T:
        """A copy with arrays taken from ``state_dict`` (as made by ``state_dict()``)."""
        from .state_dict import module_from_state_dict

        return module_from_state_dict(self, state_dict)

    def map(self: T, fn: Callable[..., Any], *others: Any) -> T:
        """``jax.tree_util.tree_map(fn, self, *others)``.

        >>> import jax.numpy as jnp, pax
        >>> net = pax.Linear(2, 2).map(jnp.zeros_like)
        >>> float(net.weight.sum())
        0.0
        """
        return jax.tree_util.tree_map(fn, self, *others)

    def scan_bugs(self: T) -> T:
        """Check this module and all submodules for shared nodes and hidden fields."""
        assert_no_sharing(self)

        def check(m: Module) -> Module:
            d = m.__dict__
            for name in d[LAYOUT_KEY].names:
                if d[LAYOUT_KEY].kinds[name] == STATIC:
                    check_not_hiding_nodes(m, name, d[name])
            _check_class_attributes(type(m))
            return m

        self.apply(check)
        return self

    # -- printing -------------------------------------------------------------------
    def _repr(self, info: dict[str, Any] | None = None) -> str:
        name = f"({self.name}) " if self.name is not None else ""
        cls_name = type(self).__qualname__
        if not info:
            return f"{name}{cls_name}"
        fields = ", ".join(f"{k}={v}" for k, v in info.items() if v is not None)
        return f"{name}{cls_name}({fields})"

    def __repr__(self) -> str:
        return self._repr()

    def _short_repr(self) -> str:
        try:
            return repr(self)
        except Exception:  # noqa: BLE001 - a broken __repr__ must not hide an error
            return type(self).__qualname__

    def summary(self, return_list: bool = False) -> str | list[str]:
        """A tree view of the module and its submodules.

        >>> import jax, pax
        >>> net = pax.Sequential(pax.Linear(2, 3), jax.nn.relu, pax.Linear(3, 4))
        >>> print(net.summary())
        Sequential
        ├── Linear(in_dim=2, out_dim=3, with_bias=True)
        ├── x => relu(x)
        └── Linear(in_dim=3, out_dim=4, with_bias=True)
        """
        lines = [repr(self)]
        subs = self.submodules()
        for i, sub in enumerate(subs):
            sub_lines = sub.summary(return_list=True)
            last = i + 1 == len(subs)
            first_prefix, rest_prefix = ("└── ", "    ") if last else ("├── ", "│   ")
            lines.append(first_prefix + sub_lines[0])
            lines.extend(rest_prefix + line for line in sub_lines[1:])
        return lines if return_list else "\n".join(lines)


# -- pytree registration ------------------------------------------------------------


def _flatten(module: Module):
    d = module.__dict__
    layout: Layout = d[LAYOUT_KEY]
    return layout.get_children(d), layout


def _flatten_with_keys(module: Module):
    children, layout = _flatten(module)
    return list(zip(layout.child_keys, children)), layout


def _make_unflatten(cls: type[Module]):
    new = super(PaxNode, cls).__new__

    def unflatten(layout: Layout, children):
        return layout.build(new, cls, children)

    return unflatten


jax.tree_util.register_pytree_with_keys(
    Module, _flatten_with_keys, _make_unflatten(Module), _flatten
)


# -- helpers ---------------------------------------------------------------------------


def module_from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """A new ``cls`` instance whose ``__dict__`` is ``d`` (no ``__init__``, no checks):
    how every derived module (a copy with some attributes changed) is made."""
    module = blank_instance(cls)
    module.__dict__.update(d)
    return module


def with_statics(
    module: T, statics: dict[str, Any], cls: type | None = None, drop: tuple[str, ...] = ()
) -> T:
    """A shallow copy with static attributes set (``statics``) or removed (``drop``),
    optionally of another class ``cls`` (no checks)."""
    d = plain_dict(module)
    kinds = dict(d[LAYOUT_KEY].kinds)
    for name in drop:
        d.pop(name, None)
        kinds.pop(name, None)
    d.update(statics)
    kinds.update({name: STATIC for name in statics})
    d[LAYOUT_KEY] = Layout(kinds, d)
    return cast(T, module_from_dict(cls or type(module), d))


def _map_submodules(module: T, fn: Callable[[Module], Module]) -> T:
    """A shallow copy of ``module`` whose direct submodules are replaced by ``fn(sub)``."""
    d = plain_dict(module)
    layout: Layout = d[LAYOUT_KEY]
    for name in layout.children:
        value = d[name]
        if isinstance(value, Module):
            d[name] = fn(value)
        elif not isinstance(value, PaxNode) and layout.kinds[name] in (CHILD, MIXED):
            d[name] = jax.tree_util.tree_map(
                lambda x: fn(x) if isinstance(x, Module) else x, value, is_leaf=is_node
            )
    return module_from_dict(type(module), d)


def _is_merge_leaf(x: Any) -> bool:
    # EmptyNode, and variables (a StateVar in `module` faces an EmptyNode in
    # `module.parameters()`)
    return is_empty(x) or is_variable(x)


def merge(module: T, other: T) -> T:
    """The leaves of ``other`` that are not ``EmptyNode`` replace those of ``module``."""
    a_def: Any  # jaxlib's PyTreeDef has no type stubs
    b_def: Any
    a_leaves, a_def = jax.tree_util.tree_flatten(module, is_leaf=_is_merge_leaf)
    b_leaves, b_def = jax.tree_util.tree_flatten(other, is_leaf=_is_merge_leaf)
    if a_def != b_def:
        from .structure import structure_diff

        raise StructureMismatchError(
            "Cannot merge modules of different structures (a | b, update_parameters):\n"
            + structure_diff(module, other)
        )
    leaves = [a if isinstance(b, EmptyNode) else b for a, b in zip(a_leaves, b_leaves)]
    return jax.tree_util.tree_unflatten(a_def, leaves)


# How a PAX 0.5 module's pickled fields become pax's (`Module.__setstate__`): installed by
# pax/_src/pax3_pickles.py, which knows PAX's classes; the core does not.
_PAX3_STATE_CONVERTER: Callable[[type, dict[str, Any]], dict[str, Any]] | None = None


def set_pax3_state_converter(converter: Callable[[type, dict[str, Any]], dict[str, Any]]) -> None:
    """Install the function that maps a PAX 0.5 module's pickled fields to pax's."""
    global _PAX3_STATE_CONVERTER
    _PAX3_STATE_CONVERTER = converter


def _flatten_opaque(module: Module):
    return (), module


def _unflatten_opaque(module: Module, children: Any) -> Module:
    del children
    return module


def _check_class_attributes(cls: type) -> None:
    """Reject what PAX 0.5 rejected when a subclass is defined: ``__slots__`` (pax
    keeps a module's fields in ``__dict__``) and class attributes holding arrays or
    modules, also inside lists, tuples and dicts (they would not be in the pytree)."""
    if "__slots__" in vars(cls) and cls.__module__ != __name__:
        raise ValueError(
            f"`{cls.__qualname__}` declares `__slots__`, which pax modules do not "
            f"support: a module keeps its fields in `__dict__`, where pax can flatten "
            f"them. Remove `__slots__ = ...` from the class."
        )
    for name, value in vars(cls).items():
        if name.startswith("__") or isinstance(value, type):
            continue
        if not isinstance(value, (list, tuple, dict)) and not is_node(value):
            continue
        found = [
            x
            for x in jax.tree_util.tree_leaves(value, is_leaf=is_node)
            if is_node(x) and not isinstance(x, type)
        ]
        if found:
            kind = "a module" if isinstance(found[0], PaxNode) else "an array"
            where = "is" if found[0] is value else "holds"
            raise ValueError(
                f"Class attribute `{cls.__qualname__}.{name}` {where} {kind}. Class "
                f"attributes are not part of the pytree (not trained, not traced). "
                f"Set it in `__init__` instead: `self.{name} = ...`."
            )


def _wrap_parameters_for_freezing(cls: type) -> None:
    """Make ``parameters()`` of a frozen module (see ``pax.freeze_parameters``) empty,
    whatever ``parameters`` the class defines."""
    method = cls.__dict__.get("parameters")
    if method is None or is_freeze_aware(method):
        return

    def parameters(self):
        if is_frozen(self):
            from .parameters import all_empty

            return all_empty(self)
        return method(self)

    parameters.__doc__ = method.__doc__
    parameters.__name__ = "parameters"
    parameters.__qualname__ = f"{cls.__qualname__}.parameters"
    type.__setattr__(cls, "parameters", freeze_aware(parameters))


class OpaqueModule(Module):
    """A module that is an opaque pytree node: no children, itself the static data.

    For callables that hold references to variables owned by other modules (the
    Objax-style transforms): flattening a model that stores one never reaches
    through it. Attributes are set in ``__init__`` only; equality is identity.
    """

    _pax_opaque = True

    def __setattr__(self, name: str, value: Any) -> None:
        if not is_open(self):
            raise ImmutableModuleError(MSG_IMMUTABLE.format(name=name, module=self._short_repr()))
        self.__dict__[name] = value

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)
