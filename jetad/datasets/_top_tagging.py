"""Reader for the public top-tagging reference dataset (Kasieczka, Plehn et al.).

The files of Zenodo record 2603256 (``train.h5``, ``val.h5``, ``test.h5``)
are pandas HDF5 stores with key ``"table"``, written with pandas' default
*fixed* format: a group holding ``axis0`` (column names), ``axis1`` (row
index) and one ``block{k}_items`` / ``block{k}_values`` pair per dtype
(``block{k}_values`` is a 2-D ``(n_rows, n_items)`` array). They load with
``pd.read_hdf(path, key="table")``. Columns: ``E_i, PX_i, PY_i, PZ_i`` for
the 200 constituents ``i = 0..199`` (pT-ordered, zero-padded), ``truthE,
truthPX, truthPY, truthPZ``, ``ttv`` (train/test/validation flag) and
``is_signal_new`` (1 = top, 0 = QCD).

The fixed format is read directly with h5py, rows in chunks and only the
columns needed. Stores in pandas' *table* format are read through
``pandas.read_hdf(..., columns=..., start=..., stop=...)`` (needs PyTables).
"""

import os

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_top_tagging"]

_P4_PREFIXES = ("E", "PX", "PY", "PZ")
_TRUTH = ("truthE", "truthPX", "truthPY", "truthPZ")
_LABEL = "is_signal_new"


def _decode(names):
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _runs(positions):
    """Split sorted positions into contiguous (start, stop) runs."""
    positions = np.asarray(positions)
    if positions.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [positions.size]])
    return [(int(positions[a]), int(positions[b - 1]) + 1) for a, b in zip(starts, stops, strict=True)]


class _FixedFrame:
    """Column-selective, row-chunked reader of a pandas fixed-format frame."""

    def __init__(self, group, path):
        self.path = path
        self.columns = _decode(group["axis0"][...])
        self.n_rows = int(group["axis1"].shape[0])
        self._where = {}
        self._blocks = []
        nblocks = int(group.attrs.get("nblocks", 0)) or sum(
            1 for k in group if k.startswith("block") and k.endswith("_values"))
        for k in range(nblocks):
            missing = [n for n in (f"block{k}_items", f"block{k}_values") if n not in group]
            if missing:
                raise ValueError(f"{path!r} is not a complete pandas fixed-format store: "
                                 f"{missing[0]!r} is missing")
            items = _decode(group[f"block{k}_items"][...])
            ds = group[f"block{k}_values"]
            if ds.shape == (self.n_rows, len(items)):
                transposed = False
            elif ds.shape == (len(items), self.n_rows):
                transposed = True
            else:
                raise ValueError(f"{path!r}: unexpected shape {ds.shape} of block{k}_values")
            self._blocks.append((ds, transposed))
            for j, name in enumerate(items):
                self._where[name] = (k, j)

    def read(self, names, start, stop, dtype):
        """Rows ``[start, stop)`` of columns ``names`` as an (n, len(names)) array."""
        out = np.empty((stop - start, len(names)), dtype=dtype)
        by_block = {}
        for i, name in enumerate(names):
            k, j = self._where[name]
            by_block.setdefault(k, []).append((j, i))
        for k, pairs in by_block.items():
            ds, transposed = self._blocks[k]
            pairs.sort()
            src = np.array([p[0] for p in pairs])
            dst = np.array([p[1] for p in pairs])
            pos = 0
            for a, b in _runs(src):
                if transposed:
                    block = ds[a:b, start:stop].T
                else:
                    block = ds[start:stop, a:b]
                out[:, dst[pos:pos + (b - a)]] = block
                pos += b - a
        return out


def _constituent_columns(columns, n_constituents, path):
    present = set(columns)
    n_avail = 0
    while all(f"{p}_{n_avail}" in present for p in _P4_PREFIXES):
        n_avail += 1
    if n_avail == 0:
        raise ValueError(
            f"{path!r} has no constituent columns E_0, PX_0, PY_0, PZ_0: not a top-tagging "
            f"reference file (columns start with {columns[:5]})"
        )
    if n_constituents is None:
        n_constituents = n_avail
    elif isinstance(n_constituents, bool) or not isinstance(n_constituents, (int, np.integer)):
        raise TypeError(f"n_constituents must be an integer or None, got {n_constituents!r}")
    elif n_constituents < 1:
        raise ValueError(f"n_constituents must be >= 1, got {n_constituents}")
    elif n_constituents > n_avail:
        raise ValueError(f"n_constituents={n_constituents} but {path!r} has only {n_avail}")
    names = [f"{p}_{i}" for i in range(n_constituents) for p in _P4_PREFIXES]
    return names, n_constituents


def load_top_tagging(path, *, n_jets=None, start=0, chunk_size=100_000, key="table",
                     n_constituents=None, return_X_y=True):
    """Load the public top-tagging reference dataset (pandas HDF5 format).

    Parameters
    ----------
    path : str or path-like
        One of the reference files (``train.h5``, ``val.h5``, ``test.h5``) or
        any pandas HDF5 store with the same columns.
    n_jets : int, optional
        Read only this many jets (from row ``start``); default all.
    start : int, default=0
        First row to read.
    chunk_size : int, default=100_000
        Rows read per step (bounds the temporary memory).
    key : str, default="table"
        Key of the pandas store.
    n_constituents : int, optional
        Keep the leading ``n_constituents`` (default: all in the file, 200).
    return_X_y : bool, default=True
        Return ``(X, y)``; otherwise a :class:`~sklearn.utils.Bunch` with
        ``data``, ``target``, ``truth`` (top four-momentum ``(E, px, py, pz)``
        or ``None``), ``ttv`` (or ``None``) and ``columns``.

    Returns
    -------
    X : ndarray of shape (n_jets, n_constituents, 4), float32
        Constituents ``(E, px, py, pz)``, pT-ordered, zero-padded.
    y : ndarray of shape (n_jets,), int64
        ``is_signal_new``: 1 for top jets, 0 for QCD.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not readable HDF5 or lacks the expected columns, a
        label is not exactly 0 or 1 (NaN, 0.7, 2), or ``n_constituents`` is
        below 1 or above the number in the file.
    TypeError
        If ``n_constituents`` is not an integer.
    """
    import h5py

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such top-tagging file: {path!r}")
    for name, value, minimum in (("start", start, 0), ("chunk_size", chunk_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if n_jets is not None and (isinstance(n_jets, bool) or not isinstance(n_jets, (int, np.integer))
                               or n_jets < 0):
        raise ValueError(f"n_jets must be a non-negative integer or None, got {n_jets!r}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path!r} is not a readable HDF5 file (corrupt?): {exc}") from exc
    with f:
        if key not in f:
            raise ValueError(f"{path!r} has no key {key!r}; keys: {list(f)}")
        group = f[key]
        is_table = isinstance(group, h5py.Group) and isinstance(group.get("table"), h5py.Dataset)
        if is_table:
            return _load_table_format(path, key, n_jets, start, chunk_size, n_constituents,
                                      return_X_y)
        if not (isinstance(group, h5py.Group) and "axis0" in group and "axis1" in group):
            raise ValueError(f"{path!r}[{key!r}] is not a pandas DataFrame store")
        frame = _FixedFrame(group, path)
        return _assemble(frame.columns, frame.n_rows, frame.read, path, n_jets, start,
                         chunk_size, n_constituents, return_X_y)


def _load_table_format(path, key, n_jets, start, chunk_size, n_constituents, return_X_y):
    from ..utils import import_optional

    pd = import_optional("pandas")
    import_optional("tables")
    with pd.HDFStore(path, mode="r") as store:
        storer = store.get_storer(key)
        n_rows = int(storer.nrows)
        columns = list(storer.non_index_axes[0][1]) if storer.non_index_axes else []

    def read(names, a, b, dtype):
        df = pd.read_hdf(path, key=key, columns=list(names), start=a, stop=b)
        return df[list(names)].to_numpy(dtype=dtype)

    return _assemble(columns, n_rows, read, path, n_jets, start, chunk_size, n_constituents,
                     return_X_y)


def _labels(raw, first_row, path):
    """``is_signal_new`` values as int64, refusing anything but exactly 0 and 1."""
    bad = ~np.isin(raw, (0.0, 1.0))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{path!r}: {int(bad.sum())} label(s) of {_LABEL!r} are not 0 or 1, e.g. "
            f"{float(raw[i])} in row {first_row + i}"
        )
    return raw.astype(np.int64)


def _assemble(columns, n_rows, read, path, n_jets, start, chunk_size, n_constituents,
              return_X_y):
    names, n_const = _constituent_columns(columns, n_constituents, path)
    if _LABEL not in columns:
        raise ValueError(f"{path!r} has no label column {_LABEL!r}")
    stop = n_rows if n_jets is None else min(n_rows, start + n_jets)
    start = min(start, stop)
    n = stop - start
    X = np.empty((n, n_const, 4), dtype=np.float32)
    y = np.empty(n, dtype=np.int64)
    has_truth = all(c in columns for c in _TRUTH)
    has_ttv = "ttv" in columns
    truth = np.empty((n, 4)) if (has_truth and not return_X_y) else None
    ttv = np.empty(n, dtype=np.int64) if (has_ttv and not return_X_y) else None
    for a in range(start, stop, chunk_size):
        b = min(a + chunk_size, stop)
        X[a - start:b - start] = read(names, a, b, np.float32).reshape(b - a, n_const, 4)
        y[a - start:b - start] = _labels(read([_LABEL], a, b, np.float64)[:, 0], a, path)
        if truth is not None:
            truth[a - start:b - start] = read(list(_TRUTH), a, b, np.float64)
        if ttv is not None:
            ttv[a - start:b - start] = read(["ttv"], a, b, np.float64)[:, 0].astype(np.int64)
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, truth=truth, ttv=ttv, columns=("E", "px", "py", "pz"),
                 source=path)
