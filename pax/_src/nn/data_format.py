"""Where the channels are: the one mapping from the ``data_format`` spellings users pass
to the one spelling pax keeps.

Inside pax a data format is written with axis letters, as ``jax.lax`` and PAX 0.5 write
it: ``"NWC"``/``"NCW"`` for one spatial axis, ``"NHWC"``/``"NCHW"`` for two, and
``"N...C"``/``"NC..."`` for any number (``GroupNorm``). Users may also pass haiku's
generic ``"channels_last"``/``"channels_first"``; :func:`canonical_data_format` maps every
accepted spelling to the layer's own, which is what the layer stores, so equal layers
have equal treedefs whichever spelling built them.

>>> canonical_data_format("Conv1D", "channels_first", spatial_rank=1)
'NCW'
>>> canonical_data_format("GroupNorm", "channels_last", spatial_rank=None)
'N...C'
>>> channel_axis("NCHW"), channel_axis("N...C"), input_axes("NCW")
(1, -1, '(N, C, W)')
"""

_SPATIAL_AXES = {None: "...", 1: "W", 2: "HW"}
_GENERIC = {"channels_last": False, "channels_first": True}


def _spelling(spatial_rank: int | None, channels_first: bool) -> str:
    spatial = _SPATIAL_AXES[spatial_rank]
    return f"NC{spatial}" if channels_first else f"N{spatial}C"


def accepted_data_formats(spatial_rank: int | None) -> tuple[str, ...]:
    """The spellings a layer with ``spatial_rank`` spatial axes (``None``: any number)
    accepts: the generic names and its own channels-last and channels-first names.

    >>> accepted_data_formats(2)
    ('channels_last', 'channels_first', 'NHWC', 'NCHW')
    """
    return (*_GENERIC, _spelling(spatial_rank, False), _spelling(spatial_rank, True))


def canonical_data_format(layer: str, data_format: str, *, spatial_rank: int | None) -> str:
    """``data_format`` in the axis letters of a layer with ``spatial_rank`` spatial axes;
    a ``ValueError`` naming the accepted spellings when ``layer`` does not accept it."""
    accepted = accepted_data_formats(spatial_rank)
    if not isinstance(data_format, str) or data_format not in accepted:
        raise ValueError(
            f"{layer}: `data_format` must be one of {sorted(accepted)}, got {data_format!r}."
        )
    if data_format in _GENERIC:
        return _spelling(spatial_rank, _GENERIC[data_format])
    return data_format


def is_channels_first(data_format: str) -> bool:
    """Whether a canonical ``data_format`` puts the channels right after the batch axis."""
    return data_format[1] == "C"


def channel_axis(data_format: str) -> int:
    """The channel axis of a full-rank input: ``1`` (channels first) or ``-1``."""
    return 1 if is_channels_first(data_format) else -1


def flipped(data_format: str) -> str:
    """The other data format of the same rank (``"NWC"`` <-> ``"NCW"``).

    >>> flipped("NHWC"), flipped("NC...")
    ('NCHW', 'N...C')
    """
    spatial = data_format[2:] if is_channels_first(data_format) else data_format[1:-1]
    return f"N{spatial}C" if is_channels_first(data_format) else f"NC{spatial}"


def input_axes(data_format: str) -> str:
    """The axis names of a batched input, for error messages: ``"(N, H, W, C)"``."""
    names = data_format.replace("...", ".")
    return "(" + ", ".join("..." if c == "." else c for c in names) + ")"
