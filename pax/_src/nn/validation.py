"""Argument checks shared by the layers."""


def check_positive_ints(layer: str, **values: object) -> None:
    """Raise ``ValueError`` unless every value is a positive ``int`` (not a bool).

    >>> check_positive_ints("Linear", in_dim=3, out_dim=0)
    Traceback (most recent call last):
    ...
    ValueError: Linear: `out_dim` must be a positive int, got 0.
    """
    for arg, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{layer}: `{arg}` must be a positive int, got {value!r}.")
