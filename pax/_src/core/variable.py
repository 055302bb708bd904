"""``Variable``: what the core knows about variables (Objax-style ``TrainVar``,
``StateVar``, ``TrainRef``... subclass it in ``pax/_src/objax/variables.py``).

A variable is a pytree node holding one value. The core needs three facts about
it, each declared by its class:

* ``trainable``: ``Module.parameters()`` keeps it (a ``TrainVar``) or drops it;
* ``is_reference``: it aliases a variable stored elsewhere (a ``TrainRef``), so the
  sharing check lets it appear next to the variable it references;
* that it is a variable at all (:func:`is_variable`): ``parameters()``,
  ``a | b`` and ``pax.Stack`` treat it as one leaf.

>>> from pax._src.core.variable import Variable, is_variable, is_trainable
>>> class Weight(Variable):
...     __slots__ = ()
...     trainable = True
>>> is_variable(Weight()), is_trainable(Weight()), is_variable(1.0)
(True, True, False)
"""

from typing import Any, ClassVar

from .node import PaxNode


class Variable(PaxNode):
    """Base class of variables: pytree nodes that hold one value each."""

    __slots__ = ()
    trainable: ClassVar[bool] = False
    is_reference: ClassVar[bool] = False


def is_variable(x: Any) -> bool:
    """``True`` for a variable (trainable or not, reference or not)."""
    return isinstance(x, Variable)


def is_trainable(x: Any) -> bool:
    """``True`` for a variable that ``Module.parameters()`` keeps."""
    return isinstance(x, Variable) and type(x).trainable


def is_reference(x: Any) -> bool:
    """``True`` for a variable that aliases another one stored elsewhere."""
    return isinstance(x, Variable) and type(x).is_reference
