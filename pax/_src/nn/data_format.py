"""Where the channels are: the one mapping from the ``data_format`` spellings users pass
to the channel axis pax computes with.

Inside pax there is one notion, channels last or channels first. Users may spell it
as haiku's ``GroupNorm`` does (``"channels_last"``, ``"N...C"``), or as PAX 0.5's and
Objax's batch norms do (``"NWC"``, ``"NHWC"``...); a layer accepts the generic names
and the ones of its own rank, and keeps the spelling it was given.

>>> channel_axis("BatchNorm1D", "NCW", BATCH_NORM_1D)
1
>>> channel_axis("GroupNorm", "channels_last", GROUP_NORM)
-1
"""

from collections.abc import Collection

CHANNELS_LAST = -1
CHANNELS_FIRST = 1

# every spelling pax understands -> the channel axis of a full-rank input
_AXIS = {
    "channels_last": CHANNELS_LAST,
    "channels_first": CHANNELS_FIRST,
    "N...C": CHANNELS_LAST,
    "NC...": CHANNELS_FIRST,
    "NWC": CHANNELS_LAST,
    "NCW": CHANNELS_FIRST,
    "NHWC": CHANNELS_LAST,
    "NCHW": CHANNELS_FIRST,
}

_GENERIC = ("channels_last", "channels_first")
# the spellings each layer accepts
BATCH_NORM_1D = (*_GENERIC, "NWC", "NCW")
BATCH_NORM_2D = (*_GENERIC, "NHWC", "NCHW")
GROUP_NORM = (*_GENERIC, "N...C", "NC...")


def channel_axis(layer: str, data_format: str, accepted: Collection[str]) -> int:
    """The channel axis (``-1`` or ``1``) that ``data_format`` names; ``ValueError``
    naming the accepted spellings when ``layer`` does not accept it."""
    if data_format not in accepted:
        raise ValueError(
            f"{layer}: `data_format` must be one of {sorted(accepted)}, got {data_format!r}."
        )
    return _AXIS[data_format]
