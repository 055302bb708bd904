"""``pax.ConvPadding``: the named padding modes of convolutions."""

import enum
from typing import Any


class ConvPadding(str, enum.Enum):
    """The padding modes of convolution layers (a ``str`` enum, so
    ``ConvPadding.SAME == "SAME"``; layers also accept the strings, any case).

    >>> import pax
    >>> pax.ConvPadding.SAME == "SAME", pax.ConvPadding("VALID") is pax.ConvPadding.VALID
    (True, True)
    >>> normalize_padding("same")
    'SAME'
    """

    SAME = "SAME"
    VALID = "VALID"

    def __str__(self) -> str:
        return self.value


def normalize_padding(padding: Any) -> Any:
    """``"SAME"``/``"VALID"`` for a ``ConvPadding`` or a string (any case); other
    values (explicit ``(low, high)`` pairs, ints) are returned unchanged."""
    if isinstance(padding, ConvPadding):
        return padding.value
    if isinstance(padding, str):
        upper = padding.upper()
        if upper not in ConvPadding.__members__:
            raise ValueError(
                f"Unknown padding {padding!r}: use 'SAME', 'VALID' (pax.ConvPadding) or "
                f"explicit (low, high) pairs."
            )
        return upper
    return padding
