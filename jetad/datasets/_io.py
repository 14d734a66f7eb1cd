"""Reading and writing jet samples (HDF5 via h5py).

File layout (``jetad_format = 1``):

* dataset ``X``: float32 ``(n_jets, n_constituents, 4)``, gzip-compressed;
* optional dataset ``y``: integer labels;
* attribute ``info``: JSON string with the provenance dictionary;
* attribute ``columns``: the constituent columns, ``"E,px,py,pz"``.

Every write is atomic: the file is written under a temporary name in the same
folder and moved into place with :func:`os.replace`, so a crash never leaves a
truncated file at ``path``.
"""

import contextlib
import json
import numbers
import os

import numpy as np

from ..utils import atomic_path

__all__ = ["load_jets", "save_jets"]

FORMAT_VERSION = 1
_COLUMNS = "E,px,py,pz"


def _jsonable(obj):
    """Recursively convert numpy scalars/arrays and tuples to JSON types."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"info keys must be strings, got {k!r}")
            out[k] = _jsonable(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"info value {obj!r} of type {type(obj).__name__} is not JSON-serialisable")


def _dumps(info):
    return json.dumps(_jsonable(info), sort_keys=True)


def _check_X(X):
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[2] != 4:
        raise ValueError(
            f"X must have shape (n_jets, n_constituents, 4) with columns (E, px, py, pz), "
            f"got shape {X.shape}"
        )
    if not np.issubdtype(X.dtype, np.number):
        raise TypeError(f"X must be numeric, got dtype {X.dtype}")
    return np.ascontiguousarray(X, dtype=np.float32)


def _create_X(f, X):
    n, m, _ = X.shape
    return f.create_dataset("X", data=X, chunks=(max(1, min(n, 1024)), max(m, 1), 4),
                            compression="gzip", compression_opts=4, shuffle=True)


def save_jets(path, X, info=None, y=None):
    """Write jets (and optional labels and provenance) to an HDF5 file, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination file; its folder is created if needed. An existing file is
        replaced (only once the new file is complete).
    X : array-like of shape (n_jets, n_constituents, 4)
        Constituents ``(E, px, py, pz)``; stored as float32.
    info : dict, optional
        JSON-serialisable provenance (numpy scalars and arrays are converted).
    y : array-like of shape (n_jets,), optional
        Integer labels.

    Returns
    -------
    path : str
        The written path.
    """
    h5py = _h5py()
    X = _check_X(X)
    if y is not None:
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
        if not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
                y = y.astype(np.int64)
            else:
                raise TypeError(f"y must contain integer labels, got dtype {y.dtype}")
    info_json = _dumps(info or {})
    path = os.fspath(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["jetad_format"] = FORMAT_VERSION
            f.attrs["columns"] = _COLUMNS
            f.attrs["info"] = info_json
            f.attrs["complete"] = True
            _create_X(f, X)
            if y is not None:
                f.create_dataset("y", data=y)
    return path


def _h5py():
    import h5py

    return h5py


def _open_for_reading(path):
    h5py = _h5py()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such jet file: {path!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path!r} is not a readable HDF5 file (corrupt or truncated?): "
                         f"{exc}") from exc
    if "X" in f and not bool(f.attrs.get("complete", True)):
        f.close()
        raise ValueError(
            f"{path!r} is an unfinished generation file; rerun generate_jets with the "
            f"same arguments to complete it"
        )
    if "X" not in f or "info" not in f.attrs:
        f.close()
        raise ValueError(f"{path!r} is not a jetad jet file (no 'X' dataset or 'info' "
                         f"attribute); use load_top_tagging for the top-tagging format")
    return f


def load_jets(path):
    """Read a jet file written by :func:`save_jets` or :func:`generate_jets`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    X : ndarray of shape (n_jets, n_constituents, 4), float32
        Constituents ``(E, px, py, pz)``, pT-ordered and zero-padded.
    info : dict
        Provenance stored with the file (for generated samples: kind, seed,
        generation parameters, events generated, selection efficiency,
        package versions). Labels, when stored, are in ``info["y"]``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a readable jetad file, or an unfinished generation
        file.
    """
    path = os.fspath(path)
    f = _open_for_reading(path)
    try:
        try:
            X = f["X"][...]
            info = json.loads(f.attrs["info"])
            if "y" in f:
                info["y"] = f["y"][...]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path!r} could not be read (corrupt?): {exc}") from exc
    finally:
        f.close()
    return X, info


# ---------------------------------------------------------------------------
# Resumable generation files (used by generate_jets)
# ---------------------------------------------------------------------------


def partial_path(path):
    """Name of the in-progress file of a resumable generation run."""
    return os.fspath(path) + ".partial"


def read_partial_state(path):
    """Settings and chunk bookkeeping of an in-progress generation file.

    Returns
    -------
    state : dict with keys ``settings`` (dict), ``chunk_stats`` (list) and
        ``n_rows`` (int).
    """
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            settings = json.loads(f.attrs["settings"])
            stats = json.loads(f.attrs["chunk_stats"])
            n_rows = f["X"].shape[0]
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(
            f"Cannot resume from {path!r}: the in-progress file is unreadable (corrupt, "
            f"probably interrupted during a write): {exc}. Delete it to start again."
        ) from exc
    expected = sum(s["n_jets"] for s in stats)
    if expected != n_rows:
        raise ValueError(
            f"Cannot resume from {path!r}: it holds {n_rows} jets but its bookkeeping says "
            f"{expected}; delete it to start again."
        )
    return {"settings": settings, "chunk_stats": stats, "n_rows": n_rows}


def create_partial(path, settings, n_constituents):
    """Create an empty in-progress generation file (atomically)."""
    h5py = _h5py()
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["jetad_format"] = FORMAT_VERSION
            f.attrs["columns"] = _COLUMNS
            f.attrs["complete"] = False
            f.attrs["settings"] = _dumps(settings)
            f.attrs["chunk_stats"] = "[]"
            f.create_dataset("X", shape=(0, n_constituents, 4), maxshape=(None, n_constituents, 4),
                             chunks=(1024, n_constituents, 4), dtype=np.float32,
                             compression="gzip", compression_opts=4, shuffle=True)


def append_chunk(path, X, stats):
    """Append one finished chunk and its statistics to an in-progress file."""
    h5py = _h5py()
    with h5py.File(path, "r+") as f:
        d = f["X"]
        n = d.shape[0]
        d.resize(n + len(X), axis=0)
        d[n:] = X
        chunk_stats = json.loads(f.attrs["chunk_stats"])
        chunk_stats.append(_jsonable(stats))
        f.attrs["chunk_stats"] = json.dumps(chunk_stats, sort_keys=True)
        f.flush()


def finalize_partial(partial, path, info):
    """Mark an in-progress file complete, attach ``info`` and move it to ``path``."""
    h5py = _h5py()
    with h5py.File(partial, "r+") as f:
        f.attrs["info"] = _dumps(info)
        f.attrs["complete"] = True
    os.replace(partial, os.fspath(path))


def read_partial_X(path):
    """All jets written so far to an in-progress file."""
    h5py = _h5py()
    with h5py.File(path, "r") as f:
        return f["X"][...]


def read_settings(path):
    """Generation settings stored in a finished generated file (``None`` if absent)."""
    f = _open_for_reading(path)
    try:
        raw = f.attrs.get("settings")
        return None if raw is None else json.loads(raw)
    finally:
        f.close()


@contextlib.contextmanager
def generation_lock(path):
    """Exclusive lock for generating ``path`` (one writer per output file).

    Another process already generating the same file is waited for (a warning
    says so); afterwards the caller finds the finished file and loads it.
    Uses ``fcntl.flock`` (released automatically if the process dies); a no-op
    where ``fcntl`` is unavailable.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = os.path.abspath(os.fspath(path))
    lock = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            import warnings

            warnings.warn(f"another process is generating {path!r}; waiting for it to finish",
                          stacklevel=3)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
