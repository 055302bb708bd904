"""Atomic file replacement: a reader sees the old file or the new one, never a mix.

The new content goes to a temporary file in the target's folder (same file system,
so the rename is atomic), which is flushed and ``fsync``ed before ``os.replace``
moves it over the target; the folder is then ``fsync``ed so that the rename itself
survives a power loss. A process killed midway leaves the previous file as it was
(and possibly a stale ``.<name>.<random>.tmp`` file beside it, which is never read).
"""

import contextlib
import os
import secrets
from collections.abc import Callable

from .errors import PathLike


def temporary_path(path: str) -> str:
    """A fresh name for a temporary file beside ``path`` (hidden, ending in ``.tmp``)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")


def atomic_write(path: PathLike, write: Callable[[str], None]) -> None:
    """Runs ``write(tmp)`` to fill a new file ``tmp``, then atomically replaces ``path``
    with it. If anything fails, ``path`` is unchanged and ``tmp`` removed.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "f.txt")
    >>> def write(tmp):
    ...     with open(tmp, "w") as f:
    ...         f.write("new")
    >>> atomic_write(target, write)
    >>> with open(target) as f:
    ...     f.read(), os.listdir(os.path.dirname(target))
    ('new', ['f.txt'])
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"pax.save: {path!r} is a directory; give a file path.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"pax.save: the folder {folder!r} does not exist, so {path!r} cannot be "
            f"written; create it first, e.g. os.makedirs({folder!r}, exist_ok=True)."
        )
    tmp = temporary_path(path)
    # O_EXCL: never write into someone else's file; mode 0o666 minus the umask, as open()
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDWR)  # whoever wrote it closed it: flush it to disk here
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Makes a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not support fsync on folders
        pass
    finally:
        os.close(fd)
