"""Argument checks shared by the layers."""

import operator
from typing import Any

import numpy as np


def is_integer(value: Any) -> bool:
    """Whether ``value`` is an integer of any integer type (``int``, ``np.int64``, a 0-d
    integer array: what ``operator.index`` takes), other than a bool.

    >>> import numpy as np
    >>> is_integer(np.int64(3)), is_integer(True), is_integer(3.0)
    (True, False, False)
    """
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _positive_int(layer: str, arg: str, value: Any) -> int:
    """``value`` as a Python ``int`` if it is a positive integer of any integer type
    (``int``, ``np.int64``, a 0-d integer array: whatever ``operator.index`` takes)
    other than a bool; ``ValueError`` otherwise."""
    if is_integer(value) and operator.index(value) > 0:
        return operator.index(value)
    raise ValueError(f"{layer}: `{arg}` must be a positive int, got {value!r}.")


def check_positive_ints(layer: str, **values: object) -> None:
    """Raise ``ValueError`` unless every value is a positive integer (any integer type,
    such as ``np.int64``, but not a bool or a float).

    >>> check_positive_ints("Linear", in_dim=3, out_dim=0)
    Traceback (most recent call last):
    ...
    ValueError: Linear: `out_dim` must be a positive int, got 0.
    """
    for arg, value in values.items():
        _positive_int(layer, arg, value)


def positive_ints(layer: str, **values: object) -> tuple[int, ...]:
    """The values as Python ``int``\\ s, in order, after :func:`check_positive_ints`, so
    that a layer built from ``np.int64`` sizes has the treedef of one built from ints.

    >>> import numpy as np
    >>> positive_ints("Linear", in_dim=np.int64(3), out_dim=4)
    (3, 4)
    """
    return tuple(_positive_int(layer, arg, value) for arg, value in values.items())
