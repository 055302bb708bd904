"""The safetensors library, imported when a checkpoint is first written or read, so
that ``import pax`` works without it."""

from types import ModuleType

# the dtypes a safetensors file holds (safetensors 0.8), by their numpy names
SUPPORTED_DTYPES = frozenset(
    "bool int8 uint8 int16 uint16 int32 uint32 int64 uint64 float16 bfloat16 float32 "
    "float64 complex64 float8_e4m3fn float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz "
    "float8_e8m0fnu".split()
)


def safetensors() -> ModuleType:
    """The ``safetensors`` package (with ``safetensors.numpy`` imported)."""
    try:
        import safetensors
        import safetensors.numpy  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "pax.save and pax.load write safetensors files and need the `safetensors` "
            "package: pip install 'safetensors>=0.8'"
        ) from err
    return safetensors
