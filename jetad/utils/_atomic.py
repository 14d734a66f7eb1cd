"""Atomic file writes: a file at ``path`` is either the old one or the complete new one."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import contextlib
import json
import os
import tempfile

import numpy as np

__all__ = ["atomic_json", "atomic_npz", "atomic_path"]


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; move it to ``path`` on success.

    The temporary file lives in the same folder (so :func:`os.replace` is an
    atomic rename) and gets the usual permissions. On any exception, including
    ``KeyboardInterrupt``, the temporary file is removed and ``path`` is left
    untouched, so an interrupted write never leaves a truncated file.

    Parameters
    ----------
    path : str or path-like
        Final location; its folder is created if needed.

    Yields
    ------
    tmp : str
        The path to write to.

    Examples
    --------
    >>> import os, tempfile
    >>> from jetad.utils import atomic_path
    >>> target = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with atomic_path(target) as tmp, open(tmp, "w") as fh:
    ...     _ = fh.write("done")
    >>> open(target).read()
    'done'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; use the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _json_default(obj):
    """JSON for numpy scalars and arrays (``json.dump``'s ``default``)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{obj!r} of type {type(obj).__name__} is not JSON-serialisable")


def atomic_json(path, obj, *, indent=1):
    """Write ``obj`` as JSON to ``path`` atomically (see :func:`atomic_path`).

    Parameters
    ----------
    path : str or path-like
    obj : object
        JSON-serialisable; numpy scalars and arrays are converted to Python
        numbers and lists.
    indent : int or None, default=1

    Raises
    ------
    TypeError
        If ``obj`` holds a value JSON cannot represent (``path`` is untouched).
    """
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(obj, fh, indent=indent, default=_json_default)


def atomic_npz(path, arrays):
    """Write arrays to a compressed ``.npz`` file atomically (see :func:`atomic_path`).

    Parameters
    ----------
    path : str or path-like
        Written as given (no ``.npz`` is appended).
    arrays : mapping of str to array-like
        Read back with ``np.load(path)[name]``.

    Raises
    ------
    TypeError
        If ``arrays`` is not a mapping.
    """
    if not hasattr(arrays, "items"):
        raise TypeError(f"arrays must be a mapping name -> array, got {type(arrays).__name__}")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **dict(arrays))
