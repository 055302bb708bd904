"""The errors ``pax.save`` and ``pax.load`` raise, with messages that say how to fix them."""

import os

PathLike = str | os.PathLike[str]


def show_path(path: str) -> str:
    """A leaf or node path as shown in messages (the root has the empty path)."""
    return f"`{path}`" if path else "the root of the tree"


def corrupt(file: PathLike, detail: str) -> ValueError:
    """The file is not a readable checkpoint: truncated, overwritten or damaged."""
    return ValueError(
        f"pax.load: {os.fspath(file)!r} is truncated or corrupt and cannot be loaded: "
        f"{detail}. Nothing was loaded; restore the file from a good copy or save it again."
    )


def mismatch(file: PathLike, path: str, expected: str, found: str) -> ValueError:
    """The checkpoint is sound but does not fit ``like`` at ``path``."""
    return ValueError(
        f"pax.load: the checkpoint {os.fspath(file)!r} does not match `like` at "
        f"{show_path(path)}: expected {expected} (in `like`), found {found} "
        f"(in the file). Build `like` the way the saved tree was built (same layers, "
        f"sizes, dtypes and optimizer), or load a checkpoint of this model."
    )


def unsupported_leaf(path: str, detail: str) -> TypeError:
    """``pax.save`` met a leaf it cannot store."""
    return TypeError(
        f"pax.save cannot store the leaf at {show_path(path)}: {detail}. A checkpoint "
        f"holds arrays (jax or numpy), typed PRNG keys (jax.random.key) and Python "
        f"int/float/bool leaves; keep other values as static fields of a module, or "
        f"leave them out of the saved tree."
    )
