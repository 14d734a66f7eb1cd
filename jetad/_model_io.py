"""A safe model file: :func:`save_model` and :func:`load_model` (no pickle in the file).

A model file is a zip archive (stored, not compressed) of exactly two members:

``model.json``
    ``{"format": "jetad-model", "format_version": 1, "versions": {...},
    "estimator": <tree>, "tensors": {key: {"dtype", "shape", "path"}}}``: the
    library versions that wrote it, the class path, parameters and fitted state
    of the estimator as JSON (the tree of :mod:`jetad._model_state`), with every
    array replaced by a key of the manifest ``tensors``.
``tensors.safetensors``
    The arrays (network weights, fitted arrays) in the safetensors format: a JSON
    header and raw little-endian buffers, read without running any code.

:func:`load_model` checks the archive's members, the format version, every
array's dtype, shape and finiteness against the manifest, and resolves classes
only from jetad and ``sklearn.pipeline.Pipeline``.
"""

import json
import os
import zipfile
import zlib

import numpy as np
from sklearn.base import BaseEstimator

from ._model_state import ARRAY_DTYPES, Decoder, Encoder

__all__ = ["load_model", "save_model"]

FORMAT_NAME = "jetad-model"
FORMAT_VERSION = 1
_JSON_MEMBER = "model.json"
_TENSOR_MEMBER = "tensors.safetensors"
_MAX_JSON_BYTES = 256 * 2**20
_MAX_TENSOR_BYTES = 64 * 2**30
_PICKLE_HINT = (
    "it looks like a pickle/joblib file: open those with joblib.load, and only if you "
    "trust where they come from (unpickling runs code from the file)"
)


def _versions():
    import sklearn

    import jetad

    out = {"jetad": jetad.__version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return out
    out["torch"] = torch.__version__
    return out


def save_model(estimator, path):
    """Save a jetad estimator to a model file that holds no pickle.

    Parameters are stored as JSON and arrays (network weights, fitted arrays) in
    the safetensors format, so :func:`load_model` can open a file from anyone
    without running code from it. Supported: every jetad detector and
    transformer, :class:`jetad.model_selection.BackgroundOnly`, and
    :class:`sklearn.pipeline.Pipeline` objects of them, fitted or not. The
    optimizer state is not stored (a ``warm_start`` fit after loading restarts
    Adam). The file is written atomically.

    Parameters
    ----------
    estimator : estimator
        The estimator to save.
    path : str or path-like
        Destination; an existing file is replaced.

    Returns
    -------
    path : str
        The path written.

    Raises
    ------
    TypeError
        For an estimator of another class, or a parameter or attribute that is
        not data (e.g. skorch ``callbacks``: set ``callbacks=None`` first).
    ValueError
        For weights or fitted arrays holding NaN or infinite values.

    See Also
    --------
    load_model : Open a model file.

    Examples
    --------
    >>> import os, tempfile
    >>> from jetad import JetImager, load_model, save_model
    >>> path = save_model(JetImager(n_pixels=20),
    ...                   os.path.join(tempfile.mkdtemp(), "imager.jetad"))
    >>> load_model(path).n_pixels
    20
    """
    from safetensors.numpy import save as save_tensors

    from jetad.utils import atomic_path

    if not isinstance(estimator, BaseEstimator):
        raise TypeError(f"estimator must be a scikit-learn estimator, got "
                        f"{type(estimator).__name__}")
    encoder = Encoder()
    tree = encoder.estimator(estimator, type(estimator).__name__)
    doc = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "versions": _versions(),
           "estimator": tree, "tensors": encoder.manifest}
    text = json.dumps(doc, allow_nan=False, indent=1).encode("utf-8")
    blob = save_tensors(encoder.arrays, metadata={"format": FORMAT_NAME})
    path = os.fspath(path)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(_JSON_MEMBER, text)
        zf.writestr(_TENSOR_MEMBER, blob)
    return path


def load_model(path):
    """Open a model file written by :func:`save_model`.

    No code from the file is run: classes are taken only from jetad and
    ``sklearn.pipeline.Pipeline``, parameters are validated, and every array is
    checked against the file's manifest (dtype, shape) and for NaN or infinite
    values. Neural detectors are rebuilt as ``fit`` builds them and get the saved
    weights; they load on the device they were saved from, or on the CPU when
    CUDA is not available.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_model`.

    Returns
    -------
    estimator : estimator
        The estimator, fitted if it was saved fitted; it scores exactly as the
        saved one.

    Raises
    ------
    ValueError
        For a file that is not a jetad model file (a pickle or joblib file, a
        truncated or tampered archive), of an unsupported format version, naming
        a class outside the allowlist, or holding arrays of the wrong dtype or
        shape or with NaN or infinite values.

    See Also
    --------
    save_model : Write a model file.
    """
    doc, arrays = _read_archive(os.fspath(path))
    if doc.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a jetad model file (format {doc.get('format')!r})")
    version = doc.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path} has model format version {version!r}; this jetad reads "
                         f"version {FORMAT_VERSION}")
    _check_arrays(doc.get("tensors"), arrays, path)
    decoder = Decoder(arrays)
    try:
        estimator = decoder.estimator(doc.get("estimator"), "estimator")
    except (KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise ValueError(f"{path}: malformed model file ({type(exc).__name__}: {exc})") from None
    unused = sorted(set(arrays) - decoder.used)
    if unused:
        raise ValueError(f"{path}: tensors {unused} are not referenced by model.json")
    return estimator


def _refuse_constant(name):
    raise ValueError(f"model.json holds the non-standard JSON constant {name}")


def _unique_keys(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"model.json repeats the key {key!r}")
        out[key] = value
    return out


def _read_archive(path):
    """``(model.json as dict, arrays)`` of the archive at ``path``; ValueError if malformed."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as load_tensors

    with open(path, "rb") as f:
        head = f.read(2)
    if not zipfile.is_zipfile(path):
        hint = _PICKLE_HINT if head[:1] == b"\x80" else "not a zip archive, or truncated"
        raise ValueError(f"{path} is not a jetad model file: {hint}")
    try:
        with zipfile.ZipFile(path) as zf:
            members = _check_members(zf, path)
            text = zf.read(members[_JSON_MEMBER])
            blob = zf.read(members[_TENSOR_MEMBER])
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise ValueError(f"{path} is a damaged or truncated model file: {exc}") from None
    try:
        doc = json.loads(text.decode("utf-8"), parse_constant=_refuse_constant,
                         object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: model.json is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: model.json must hold a JSON object")
    try:
        arrays = load_tensors(blob)
    except SafetensorError as exc:
        raise ValueError(f"{path}: tensors.safetensors is not a valid safetensors file "
                         f"({exc})") from None
    return doc, arrays


def _check_members(zf, path):
    infos = zf.infolist()
    names = [info.filename for info in infos]
    expected = {_JSON_MEMBER, _TENSOR_MEMBER}
    if len(names) != len(set(names)) or set(names) != expected:
        raise ValueError(f"{path}: a jetad model file holds exactly {sorted(expected)}, "
                         f"this one holds {names}")
    members = {}
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{path}: {info.filename} uses an unsupported compression")
        limit = _MAX_JSON_BYTES if info.filename == _JSON_MEMBER else _MAX_TENSOR_BYTES
        if info.file_size > limit:
            raise ValueError(f"{path}: {info.filename} is larger than {limit} bytes")
        members[info.filename] = info
    return members


def _check_arrays(manifest, arrays, path):
    """Every array matches its manifest entry (dtype, shape) and is finite."""
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: model.json has no tensor manifest")
    if set(manifest) != set(arrays):
        missing = sorted(set(manifest) - set(arrays))
        extra = sorted(set(arrays) - set(manifest))
        raise ValueError(f"{path}: tensors.safetensors does not match the manifest "
                         f"(missing {missing}, unexpected {extra})")
    for key, entry in manifest.items():
        arr = arrays[key]
        where = entry.get("path", key) if isinstance(entry, dict) else key
        if not isinstance(entry, dict) or entry.get("dtype") not in ARRAY_DTYPES:
            raise ValueError(f"{path}: invalid manifest entry for {where}")
        if arr.dtype.name != entry["dtype"]:
            raise ValueError(f"{path}: {where} has dtype {arr.dtype}, the manifest says "
                             f"{entry['dtype']}")
        if list(arr.shape) != entry.get("shape"):
            raise ValueError(f"{path}: {where} has shape {list(arr.shape)}, the manifest "
                             f"says {entry.get('shape')}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"{path}: {where} holds NaN or infinite values (a diverged or "
                             "corrupted model); refusing to load it")
