"""Reading and writing jet samples (HDF5 via h5py).

File layout (``jetad_format = 1``):

* dataset ``X``: float32 ``(n_jets, n_constituents, 4)``, gzip-compressed;
* optional dataset ``y``: integer labels;
* attribute ``info``: JSON string with the provenance dictionary;
* attribute ``columns``: the constituent columns, ``"E,px,py,pz"``.

Every write is atomic: the file is written under a temporary name in the same
folder and moved into place with :func:`os.replace`, so a crash never leaves a
truncated file at ``path``.

Writers of one ``path`` (:func:`save_jets`, :func:`generate_jets`) hold an
exclusive lock on it, through a hidden ``.<name>.lock`` file that is removed
when the write ends, successfully or not. A writer killed with SIGKILL can
leave its lock file and its hidden ``.<name>.XXXXXXXX.tmp`` temporary file
behind; the next writer of the same ``path`` removes both (an unused lock file
holds no lock: the kernel releases it with the process).

Reading refuses files whose contents are not what :func:`save_jets` writes
(see :func:`load_jets`), soft or external HDF5 links, and datasets that
declare far more data than the file stores.
"""

import contextlib
import json
import numbers
import os
import re

import numpy as np

from ..jets import _check_float32_range, _check_real_input
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
    X = _check_real_input(X)  # TypeError for masked, bool, complex, strings
    if X.ndim != 3 or X.shape[2] != 4:
        raise ValueError(
            f"X must have shape (n_jets, n_constituents, 4) with columns (E, px, py, pz), "
            f"got shape {X.shape}"
        )
    if X.dtype.kind not in "iuf":
        raise TypeError(f"X must be numeric, got dtype {X.dtype}")
    if X.shape[0] == 0:
        raise ValueError("X has 0 jets; at least one jet is required")
    _check_contents(X, "X")
    return np.ascontiguousarray(X, dtype=np.float32)


def _check_contents(X, name):
    """Finite, within float32, no negative energy (column 0)."""
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinity")
    _check_float32_range(X, name)
    if np.any(X[..., 0] < 0):
        raise ValueError(f"{name} contains negative energy (column E)")


def _check_y(y, n_jets):
    y = _check_real_input(y, "y")
    if y.shape != (n_jets,):
        raise ValueError(f"y must have shape ({n_jets},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"y must contain integer labels, got dtype {y.dtype}")
    return y


def _create_X(f, X):
    n, m, _ = X.shape
    if X.size == 0:  # jets without constituents: h5py cannot chunk an empty axis
        return f.create_dataset("X", data=X)
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

    Raises
    ------
    TypeError
        If ``X`` is boolean, complex, a string or masked array, or ``y`` is
        not integer-valued.
    ValueError
        If ``X`` has the wrong shape, no jets, NaN or infinite values, values
        beyond the float32 range or a negative energy; if ``info`` has a
        ``"y"`` key (reserved for the labels on load).
    """
    h5py = _h5py()
    X = _check_X(X)
    if y is not None:
        y = _check_y(y, X.shape[0])
    if isinstance(info, dict) and "y" in info:
        raise ValueError("info must not have a 'y' key: load_jets returns the labels there; "
                         "pass the labels as y")
    info_json = _dumps(info or {})
    path = os.fspath(path)
    with _writer_lock(path), atomic_path(path) as tmp:
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


#: A dataset may declare at most this many times the bytes the file stores (and
#: at least _MIN_GUARDED_BYTES) before load_jets refuses to allocate it.
_MAX_EXPANSION = 1000
_MIN_GUARDED_BYTES = 256 * 2**20


def _dataset(f, name, path):
    """``f[name]`` if it is a dataset stored in the file itself, else a ValueError."""
    h5py = _h5py()
    link = f.get(name, getlink=True)
    if not isinstance(link, h5py.HardLink):
        raise ValueError(f"{path!r}: {name!r} is a {type(link).__name__} (soft or external "
                         f"link); jetad files store their data in the file itself")
    ds = f[name]
    if not isinstance(ds, h5py.Dataset):
        raise ValueError(f"{path!r}: {name!r} is a {type(ds).__name__}, not a dataset")
    nbytes = int(np.prod(ds.shape, dtype=np.float64) * ds.dtype.itemsize)
    if nbytes > max(_MIN_GUARDED_BYTES, _MAX_EXPANSION * ds.id.get_storage_size()):
        raise ValueError(
            f"{path!r}: {name!r} declares {nbytes / 2**30:.1f} GiB but the file stores "
            f"{ds.id.get_storage_size()} bytes of it; refusing to allocate (corrupt or "
            f"crafted file?)"
        )
    return ds


def _read_checked(f, path):
    """Read and validate ``X``, ``info`` and the optional ``y`` of an open jet file."""
    ds = _dataset(f, "X", path)
    if ds.ndim != 3 or ds.shape[2] != 4:
        raise ValueError(f"{path!r}: X must have shape (n_jets, n_constituents, 4), got "
                         f"{ds.shape}")
    if ds.dtype.kind != "f":
        raise ValueError(f"{path!r}: X must be float (float32), got dtype {ds.dtype}")
    X = np.asarray(ds[...], dtype=np.float32)
    _check_contents(X, f"{path!r}: X")
    raw = f.attrs["info"]
    try:
        info = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path!r}: the 'info' attribute is not JSON: {exc}") from exc
    if not isinstance(info, dict):
        raise ValueError(f"{path!r}: the 'info' attribute must be a JSON object, got "
                         f"{type(info).__name__}")
    if "y" in info:
        raise ValueError(f"{path!r}: the 'info' attribute must not have a 'y' key (reserved "
                         f"for the labels)")
    if "y" in f:
        ds = _dataset(f, "y", path)
        if ds.shape != (len(X),) or ds.dtype.kind not in "iu":
            raise ValueError(f"{path!r}: y must be integer labels of shape ({len(X)},), got "
                             f"shape {ds.shape}, dtype {ds.dtype}")
        info["y"] = ds[...]
    return X, info


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
        If ``path`` is not a readable jetad file or an unfinished generation
        file; if ``X`` is not a float ``(n_jets, n_constituents, 4)`` dataset
        with finite values and non-negative energies, ``y`` not integer labels
        of one per jet, or ``info`` not a JSON object; if ``X`` or ``y`` is a
        soft or external link, or declares much more data than the file
        stores (a guard against allocating gigabytes for a small crafted file).
    """
    path = os.fspath(path)
    f = _open_for_reading(path)
    try:
        try:
            return _read_checked(f, path)
        except (OSError, KeyError) as exc:
            raise ValueError(f"{path!r} could not be read (corrupt?): {exc}") from exc
    finally:
        f.close()


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


def _lock_path(path):
    path = os.path.abspath(os.fspath(path))
    return os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".lock")


def remove_stale_temps(path):
    """Remove the temporary files of :func:`atomic_path` left for ``path`` by killed writers.

    Call only while holding the writer lock of ``path`` (every jetad writer of
    ``path`` holds it, so any such file belongs to a dead process).
    """
    path = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(path)
    # mkstemp names: "." + base + "." + 8 random characters + ".tmp"
    pattern = re.compile(r"\." + re.escape(base) + r"\.[A-Za-z0-9_]{8}\.tmp")
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if pattern.fullmatch(name):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, name))


def _acquire(lock, waiting):
    """Open and flock ``lock``; retry when another writer removed the file meanwhile."""
    import fcntl

    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if waiting is not None:
                    waiting()
                    waiting = None
                fcntl.flock(fd, fcntl.LOCK_EX)
            # the previous holder unlinks the file before unlocking: a lock taken on an
            # unlinked file excludes nobody, so start again on the current file
            with contextlib.suppress(FileNotFoundError):
                if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                    return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


@contextlib.contextmanager
def _writer_lock(path, waiting=None):
    """Exclusive lock of the writers of ``path``; removes the lock file when done.

    Inside the lock, stale temporary files of ``path`` are removed first. Uses
    ``fcntl.flock`` (released by the kernel if the process dies); a no-op where
    ``fcntl`` is unavailable.
    """
    try:
        import fcntl  # noqa: F401
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock = _lock_path(path)
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    fd = _acquire(lock, waiting)
    try:
        remove_stale_temps(path)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(lock)
        os.close(fd)


@contextlib.contextmanager
def generation_lock(path):
    """Exclusive lock for generating ``path`` (one writer per output file).

    Another process already generating the same file is waited for (a warning
    says so); afterwards the caller finds the finished file and loads it.
    Stale temporary files of ``path`` and of its ``.partial`` file are removed;
    the ``.lock`` file is removed when the run ends, successfully or not.
    """
    path = os.path.abspath(os.fspath(path))

    def waiting():
        import warnings

        warnings.warn(f"another process is generating {path!r}; waiting for it to finish",
                      stacklevel=7)  # generate_jets

    with _writer_lock(path, waiting):
        remove_stale_temps(partial_path(path))
        yield
