"""pax's exception classes (public as ``pax.errors``).

Each subclasses ``ValueError`` (or ``TypeError``), so code written against the
built-in exceptions (``except ValueError``) keeps working; pax itself raises and
catches them by type, never by the text of the message.

>>> import pax
>>> net = pax.Linear(1, 1)
>>> try:
...     net.bias = None
... except pax.errors.ImmutableModuleError as err:
...     isinstance(err, ValueError)
True
"""


class PaxError(Exception):
    """Base class of every exception pax defines.

    >>> import pax
    >>> issubclass(pax.errors.ImmutableModuleError, pax.errors.PaxError)
    True
    """


class ImmutableModuleError(PaxError, ValueError):
    """A module was changed outside ``pax.pure`` (or outside the transform that may
    change it).

    >>> import pax
    >>> try:
    ...     pax.Linear(1, 1).bias = None
    ... except pax.errors.ImmutableModuleError:
    ...     print("use pax.pure")
    use pax.pure
    """


class SharedNodeError(PaxError, ValueError):
    """A module or an array appears twice in one module tree.

    >>> import pax
    >>> fc = pax.Linear(1, 1)
    >>> try:
    ...     pax.Sequential(fc, fc)
    ... except pax.errors.SharedNodeError:
    ...     print("shared")
    shared
    """


class StructureMismatchError(PaxError, ValueError):
    """Two pytrees (modules, state dicts, checkpoints) do not have the same structure.

    >>> import pax
    >>> try:
    ...     pax.assert_structure_equal(pax.Linear(1, 1), pax.Linear(1, 2))
    ... except pax.errors.StructureMismatchError:
    ...     print("different")
    different
    """


class StateDictMismatchError(StructureMismatchError):
    """A state dict does not match the module it is loaded into.

    >>> import pax
    >>> try:
    ...     pax.Linear(1, 1).load_state_dict({})
    ... except pax.errors.StateDictMismatchError:
    ...     print("missing weight and bias")
    missing weight and bias
    """


class LeakedTracerError(PaxError, ValueError):
    """A traced value would escape the JAX transform that made it.

    >>> import jax, jax.numpy as jnp, pax
    >>> leaked = []
    >>> _ = jax.jit(lambda x: leaked.append(x) or x)(jnp.ones(1))  # keeps a tracer
    >>> @pax.pure
    ... def store(m):
    ...     m.seen = leaked[0]
    ...     return m
    >>> try:
    ...     store(pax.Linear(1, 1))
    ... except pax.errors.LeakedTracerError:
    ...     print("leaked tracer")
    leaked tracer
    """


class HiddenNodeError(PaxError, ValueError):
    """A static attribute hides an array or a module that pax cannot see.

    >>> import jax.numpy as jnp, pax
    >>> class Holder:
    ...     def __init__(self, x):
    ...         self.x = x
    >>> class Net(pax.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.holder = Holder(jnp.ones(2))
    >>> try:
    ...     Net()
    ... except pax.errors.HiddenNodeError:
    ...     print("hidden array")
    hidden array
    """
