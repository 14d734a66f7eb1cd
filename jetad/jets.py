"""Jet constituent formats: one module that converts and validates them all.

jetad's canonical layout is the one of the public top-tagging dataset and of
:func:`jetad.datasets.generate_jets`: a zero-padded, pT-ordered float array of
shape ``(n_jets, n_constituents, 4)`` with columns ``("E", "px", "py", "pz")``.
Every transformer also accepts

* zero-padded arrays with other ``columns``, at least ``("pt", "eta", "phi")``
  (``"y"`` is accepted as a synonym of ``"eta"`` for massless constituents, the
  EnergyFlow convention; further columns such as a particle id are ignored);
* lists (or object arrays) of variable-length ``(n_i, n_columns)`` arrays;
* awkward arrays, either jagged numeric ``n_jets * var * n_columns`` or jagged
  records, vector's ``Momentum4D``/``Momentum3D`` arrays included (after
  ``vector.register_awkward()``). Records whose fields hold every name of
  ``columns`` are read as those columns; otherwise the columns are inferred
  from the fields, in any of vector's coordinate names (``px``/``x``,
  ``py``/``y``, ``pz``/``z``, ``E``/``e``/``energy``/``t``, ``pt``/``rho``,
  ``eta``, ``phi``, ``mass``/``m``/``M``/``tau``): four-momenta
  ``(E, px, py, pz)`` first, else ``(pt, eta, phi)`` with the mass if present.
  Other vector coordinate systems (e.g. ``theta``, or ``px, py, pz, mass``)
  are converted with vector itself. In a plain (non-vector) record without an
  ``x`` field, ``y`` keeps jetad's meaning, the rapidity.

A padded entry is one whose energy (``E`` layouts) or transverse momentum
(``pt`` layouts) is zero.
"""

import numbers
import sys
from typing import NamedTuple

import numpy as np

__all__ = [
    "P4_COLUMNS",
    "PTETAPHI_COLUMNS",
    "as_padded",
    "as_ptetaphi",
    "flat_ptetaphi",
    "jet_four_momenta",
    "jet_mass",
    "p4s_from_ptetaphi",
    "ptetaphi_from_p4s",
    "wrap_phi",
]

P4_COLUMNS = ("E", "px", "py", "pz")
PTETAPHI_COLUMNS = ("pt", "eta", "phi")
_KNOWN_COLUMNS = {"E", "px", "py", "pz", "pt", "eta", "y", "phi", "m", "mass", "pid"}
#: Largest magnitude accepted: jets are stored and imaged in float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Relative tolerance of the ``E >= |p|`` check (float32 rounding of massless constituents).
_MASS_SHELL_RTOL = 1e-4


class _ComplexInputError(TypeError, ValueError):
    """Complex input: refused, since a float conversion would drop the imaginary part.

    A ``TypeError`` that is also a ``ValueError``, the type scikit-learn's
    estimator checks expect for complex data.
    """


def _check_real_input(X, name="X"):
    """Refuse what a float conversion would silently change; return ``np.asarray(X)``.

    Masked arrays are refused (a float conversion drops the mask), and so are
    booleans, strings and bytes (numeric strings included), complex numbers,
    dates and object arrays holding any of those.

    Parameters
    ----------
    X : array-like
    name : str, default="X"
        Name of the argument, for the error message.

    Returns
    -------
    X : ndarray
        Without a copy where ``X`` already is an ndarray.

    Raises
    ------
    TypeError
        For the inputs above (:class:`_ComplexInputError` for complex ones).
    """
    if isinstance(X, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a masked array: jetad does not honour masks (a conversion would use "
            f"the masked values); pass {name}.filled(0) or drop the masked entries"
        )
    arr = np.asarray(X)
    kind = arr.dtype.kind
    if kind == "O":
        for value in arr.flat:
            _check_real_scalar(value, name)
    elif kind == "c":
        raise _ComplexInputError(
            f"Complex data not supported: {name} has dtype {arr.dtype} and the imaginary "
            f"part would be dropped"
        )
    elif kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _check_real_scalar(value, name):
    if isinstance(value, (str, bytes, bool, np.bool_, np.str_, np.bytes_)):
        raise TypeError(f"{name} must hold real numbers, got an element {value!r} of type "
                        f"{type(value).__name__}")
    if isinstance(value, (complex, np.complexfloating)):
        raise _ComplexInputError(f"Complex data not supported: {name} holds {value!r}")
    if isinstance(value, numbers.Integral) and abs(int(value)) > FLOAT32_MAX:
        raise ValueError(f"{name} holds the integer {value} beyond the float32 range")


def _check_float32_range(X, name="X"):
    """Refuse values that a float32 cast would turn into infinity.

    Raises
    ------
    ValueError
        If ``|X|`` exceeds the float32 maximum (about 3.4e38) somewhere.
    """
    X = np.asarray(X)
    if X.dtype.kind == "f" and X.dtype.itemsize > 4 and X.size:
        big = np.abs(X) > FLOAT32_MAX
        if np.any(big):
            raise ValueError(
                f"{name} contains {int(big.sum())} value(s) beyond the float32 range "
                f"(|x| > {FLOAT32_MAX:.4g}), e.g. {X[big].flat[0]!r}: they would become inf"
            )


def wrap_phi(phi):
    """Wrap azimuthal angles into ``[-pi, pi)``.

    Parameters
    ----------
    phi : float or array-like
        Angles in radians, any range.

    Returns
    -------
    wrapped : float or ndarray of float64
        ``phi`` shifted by a multiple of ``2 pi`` into ``[-pi, pi)``; a
        scalar for a scalar input.

    Examples
    --------
    >>> from jetad.jets import wrap_phi
    >>> float(wrap_phi(3.5)), float(wrap_phi(-3.5)), float(wrap_phi(3.141592653589793))
    (-2.7831853071795862, 2.7831853071795862, -3.141592653589793)
    """
    wrapped = (np.asarray(phi, dtype=np.float64) + np.pi) % (2.0 * np.pi) - np.pi
    # round-off can give exactly pi for inputs just below -pi (mod returns the divisor)
    return np.where(wrapped >= np.pi, -np.pi, wrapped)[()]


def ptetaphi_from_p4s(p4s):
    """Transverse momentum, pseudorapidity and azimuth of four-momenta.

    Parameters
    ----------
    p4s : array-like of shape (..., 4)
        Four-momenta with columns ``(E, px, py, pz)``.

    Returns
    -------
    ptetaphi : ndarray of shape (..., 3)
        ``(pt, eta, phi)`` with ``phi`` in ``(-pi, pi]``. Entries with zero
        transverse momentum (padding) get ``eta = phi = 0``.
    """
    p4s = np.asarray(p4s, dtype=np.float64)
    px, py, pz = p4s[..., 1], p4s[..., 2], p4s[..., 3]
    # sqrt of the squares (SIMD, and bit-identical to the compiled JetImager kernel);
    # hypot only where the squares overflow (|p| > ~1e154)
    pt = np.sqrt(px * px + py * py)
    overflow = np.isinf(pt) & np.isfinite(px) & np.isfinite(py)
    if np.any(overflow):
        pt[overflow] = np.hypot(px[overflow], py[overflow])
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1.0)), 0.0)
    phi = np.where(pt > 0, np.arctan2(py, px), 0.0)
    return np.stack([pt, eta, phi], axis=-1)


def p4s_from_ptetaphi(ptetaphi, mass=0.0):
    """Four-momenta ``(E, px, py, pz)`` from ``(pt, eta, phi)``.

    Parameters
    ----------
    ptetaphi : array-like of shape (..., 3)
        Transverse momentum, pseudorapidity and azimuth.
    mass : float or array-like broadcastable to ``ptetaphi[..., 0]``, default=0.0
        Particle masses.

    Returns
    -------
    p4s : ndarray of shape (..., 4)
    """
    ptetaphi = np.asarray(ptetaphi, dtype=np.float64)
    pt, eta, phi = ptetaphi[..., 0], ptetaphi[..., 1], ptetaphi[..., 2]
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + np.asarray(mass, dtype=np.float64) ** 2)
    return np.stack([energy, px, py, pz], axis=-1)


def _check_columns(columns):
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise TypeError(f"columns must be a sequence of column names, got {columns!r}")
    columns = tuple(columns)
    unknown = set(columns) - _KNOWN_COLUMNS
    if unknown:
        raise ValueError(
            f"Unknown constituent columns {sorted(unknown)}; known columns are "
            f"{sorted(_KNOWN_COLUMNS)}"
        )
    if len(set(columns)) != len(columns):
        raise ValueError(f"columns contains duplicates: {columns!r}")
    has_p4 = set(P4_COLUMNS) <= set(columns)
    has_pt = "pt" in columns and "phi" in columns and ("eta" in columns or "y" in columns)
    if not (has_p4 or has_pt):
        raise ValueError(
            f"columns {columns!r} must contain either {P4_COLUMNS} or ('pt', 'eta', 'phi')"
        )
    return columns


class _Layout(NamedTuple):
    """Where a column layout keeps the coordinates (column indices, None if absent)."""

    p4: list | None  # indices of E, px, py, pz
    pt: int | None
    eta: int | None  # "eta", or "y" for massless constituents
    phi: int | None
    mass: int | None  # "m" or "mass"


def _layout(columns):
    """Validate ``columns`` and locate the coordinates; four-momenta take precedence."""
    columns = _check_columns(columns)
    if set(P4_COLUMNS) <= set(columns):
        return _Layout([columns.index(c) for c in P4_COLUMNS], None, None, None, None)
    eta = "eta" if "eta" in columns else "y"
    mass = next((c for c in ("m", "mass") if c in columns), None)
    return _Layout(None, columns.index("pt"), columns.index(eta), columns.index("phi"),
                   None if mass is None else columns.index(mass))


#: vector's coordinate names (every spelling vector accepts) -> jetad's column names.
_VECTOR_NAMES = {"px": "px", "x": "px", "py": "py", "y": "py", "pz": "pz", "z": "pz",
                 "E": "E", "e": "E", "energy": "E", "t": "E", "pt": "pt", "rho": "pt",
                 "eta": "eta", "phi": "phi", "mass": "mass", "m": "mass", "M": "mass",
                 "tau": "mass"}


def _is_awkward(X):
    # vector's awkward arrays are ak.Array subclasses defined in vector's modules
    ak = sys.modules.get("awkward")
    return (ak is not None and isinstance(X, ak.Array)) or (
        type(X).__module__.startswith("awkward"))


def _is_vector(X):
    """An awkward array with a vector behaviour (``Momentum4D``, ``Vector3D``, ...)."""
    return any(type(k).__module__.split(".")[0] == "vector" for k in type(X).__mro__) or (
        type(X).__module__.split(".")[0] == "vector")


def _infer_record_columns(fields, vector_semantics):
    """Map record fields to jetad columns: ``(fields to read, columns)`` or None."""
    found = {}
    for field in fields:
        if field == "y" and not vector_semantics:
            name = "y"  # rapidity, jetad's (EnergyFlow's) meaning
        else:
            name = _VECTOR_NAMES.get(field, field if field in _KNOWN_COLUMNS else None)
        if name is not None:
            found.setdefault(name, field)
    if set(P4_COLUMNS) <= set(found):
        columns = P4_COLUMNS
    elif {"pt", "phi"} <= set(found) and ({"eta", "y"} & set(found)):
        eta = "eta" if "eta" in found else "y"
        columns = ("pt", eta, "phi") + (("mass",) if "mass" in found else ())
    else:
        return None
    return tuple(found[c] for c in columns), columns


def _resolve_records(X, columns):
    """Awkward records as ``(padded array, columns)``; other input as ``(X, columns)``.

    ``columns`` are kept when every one is a field; otherwise they are
    inferred from the fields (see the module docstring).
    """
    if not _is_awkward(X):
        return X, columns
    import awkward as ak

    fields = ak.fields(X)
    if not fields or all(c in fields for c in columns):
        return X, columns
    vector = _is_vector(X)
    inferred = _infer_record_columns(fields, vector or "x" in fields)
    if inferred is not None:
        read, columns = inferred
        return _records_to_padded(X, read, columns), columns
    if vector:
        try:
            values = {c: getattr(X, c) for c in ("pt", "eta", "phi")}
            values["mass"] = getattr(X, "mass", None)
        except (AttributeError, ValueError, TypeError) as exc:
            raise ValueError(f"vector record array with fields {fields} has no momentum "
                             f"coordinates jetad can read: {exc}") from None
        if values["mass"] is None:
            del values["mass"]
        columns = tuple(values)
        return _records_to_padded(ak.zip(values), columns, columns), columns
    missing = [c for c in columns if c not in fields]
    raise ValueError(
        f"awkward record array has fields {fields}, missing columns {missing}, and its fields "
        f"hold no four-momenta (E, px, py, pz) or (pt, eta, phi) in vector's or jetad's names"
    )


def _records_to_padded(X, fields, columns):
    import awkward as ak

    counts = ak.to_numpy(ak.num(X, axis=1))
    flat = np.stack(
        [_check_real_input(ak.to_numpy(ak.flatten(X[f], axis=None)), f"X[{f!r}]")
         .astype(np.float64) for f in fields],
        axis=-1,
    ) if len(X) else np.zeros((0, len(columns)))
    return _ragged_to_padded(counts, flat, columns)


def _awkward_to_padded(X, columns):
    import awkward as ak

    fields = ak.fields(X)
    if fields:
        missing = [c for c in columns if c not in fields]
        if missing:
            raise ValueError(
                f"awkward record array has fields {fields}, missing columns {missing}"
            )
        return _records_to_padded(X, columns, columns)
    else:
        if X.ndim != 3:
            raise ValueError(
                f"awkward input must be n_jets * var * n_columns, got ndim={X.ndim}"
            )
        counts = ak.to_numpy(ak.num(X, axis=1))
        inner = ak.flatten(X, axis=1)
        flat = _check_real_input(ak.to_numpy(inner)).astype(np.float64)
        if flat.size == 0:
            flat = flat.reshape(0, len(columns))
    return _ragged_to_padded(counts, flat, columns)


def _ragged_to_padded(counts, flat, columns):
    n_jets = len(counts)
    if flat.ndim != 2 or flat.shape[1] != len(columns):
        raise ValueError(
            f"constituents have {flat.shape[-1] if flat.ndim else 0} columns, "
            f"expected {len(columns)} for columns={columns!r}"
        )
    width = max(int(counts.max()) if n_jets else 0, 1)
    out = np.zeros((n_jets, width, len(columns)), dtype=np.float64)
    rows = np.repeat(np.arange(n_jets), counts)
    starts = np.cumsum(counts) - counts
    cols = np.arange(len(flat)) - np.repeat(starts, counts)
    out[rows, cols] = flat
    return out


def as_padded(X, columns=P4_COLUMNS):
    """Validate constituents and return them as a zero-padded float64 array.

    Parameters
    ----------
    X : array-like of shape (n_jets, n_constituents, n_columns), list of arrays, or awkward array
        Jet constituents in any of the formats described in :mod:`jetad.jets`.
    columns : sequence of str, default=("E", "px", "py", "pz")
        Names of the columns of ``X`` (field names for awkward records).

    Returns
    -------
    X : ndarray of shape (n_jets, n_constituents, n_columns), dtype float64
        Zero-padded constituents, columns in the order of ``columns`` (for
        awkward records without those fields: of the columns inferred from
        the fields, see :mod:`jetad.jets`).

    Raises
    ------
    ValueError
        If there are no jets, the array is not 3-D, the number of columns does
        not match ``columns``, values are NaN, infinite or beyond the float32
        range (``|x|`` > 3.4e38: jets are stored and imaged in float32), a
        transverse momentum, energy or mass is negative, or a four-momentum
        has ``E < |p|`` by more than a relative ``1e-4`` (float32 rounding of
        massless constituents is accepted).
    TypeError
        If ``X`` is of an unsupported type, a masked array (masks are not
        honoured: fill or drop the masked entries), or holds booleans,
        strings (numeric ones too) or complex numbers.
    """
    X, columns = _resolve_records(X, _check_columns(columns))
    columns = _check_columns(columns)
    if _is_awkward(X):
        out = _awkward_to_padded(X, columns)
    elif isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype == object):
        jets = []
        for i, jet in enumerate(X):
            jet = _check_real_input(jet, f"X[{i}]").astype(np.float64)
            if jet.ndim == 1 and jet.size == 0:
                jet = jet.reshape(0, len(columns))
            if jet.ndim != 2:
                raise ValueError(
                    f"jet {i} has shape {jet.shape}; each jet must be a 2-D "
                    f"(n_constituents, {len(columns)}) array"
                )
            jets.append(jet)
        if not jets:
            raise ValueError("Found 0 jets; at least one jet is required")
        counts = np.array([len(j) for j in jets])
        bad = [j.shape[1] for j in jets if j.shape[1] != len(columns)]
        if bad:
            raise ValueError(
                f"constituents have {bad[0]} columns, expected {len(columns)} for "
                f"columns={columns!r}"
            )
        out = _ragged_to_padded(counts, np.concatenate(jets, axis=0), columns)
    else:
        if isinstance(X, (numbers.Number, str)) or X is None:
            raise TypeError(f"Expected an array of jet constituents, got {type(X).__name__}")
        try:
            out = _check_real_input(X).astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Could not convert input of type {type(X).__name__} to a float array: {exc}"
            ) from exc
        if out.ndim != 3:
            raise ValueError(
                f"Expected a 3-D array of shape (n_jets, n_constituents, {len(columns)}), "
                f"got a {out.ndim}-D array of shape {out.shape}"
            )
        if out.shape[2] != len(columns):
            raise ValueError(
                f"constituents have {out.shape[2]} columns, expected {len(columns)} for "
                f"columns={columns!r}"
            )
    if out.shape[0] == 0:
        raise ValueError("Found 0 jets; at least one jet is required")
    _check_values(out, columns)
    return out


def _check_values(out, columns):
    """Finite, within float32, no negative pT/E/mass, no four-momentum with ``E < |p|``."""
    if not np.all(np.isfinite(out)):
        raise ValueError("Input contains NaN or infinity")
    _check_float32_range(out)
    for name in ("pt", "E", "m", "mass"):
        if name in columns and np.any(out[..., columns.index(name)] < 0):
            label = {"pt": "transverse momentum", "E": "energy"}.get(name, "mass")
            raise ValueError(f"Input contains negative {label} ('{name}' column)")
    if set(P4_COLUMNS) <= set(columns):
        energy = out[..., columns.index("E")]
        p = np.sqrt(sum(out[..., columns.index(c)] ** 2 for c in ("px", "py", "pz")))
        bad = energy < p * (1.0 - _MASS_SHELL_RTOL)
        if np.any(bad):
            jet = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"Input contains {int(bad.sum())} constituent(s) with E < |p| (negative "
                f"squared mass, beyond float32 rounding), the first in jet {jet}"
            )


def flat_ptetaphi(X, columns=P4_COLUMNS, *, return_mass=False, return_p4=False):
    """Validate jets and return their real constituents as flat coordinate arrays.

    The one place where a column layout is turned into coordinates: every
    transformer of :mod:`jetad.preprocessing` goes through it.

    Parameters
    ----------
    X : constituents
        Any format of :func:`as_padded`.
    columns : sequence of str, default=("E", "px", "py", "pz")
        Column names of ``X``. If both four-momentum and ``(pt, eta, phi)``
        columns are present, the four-momenta are used.
    return_mass : bool, default=False
        Also return the constituent masses.
    return_p4 : bool, default=False
        Also return the constituent four-momenta.

    Returns
    -------
    mask : ndarray of bool, shape (n_jets, n_constituents)
        True for real constituents: ``E > 0`` and ``pt > 0`` for four-momentum
        layouts, ``pt > 0`` otherwise.
    pt, eta, phi : ndarray of shape (n,)
        Coordinates of the ``n = mask.sum()`` real constituents, jet after
        jet (row-major order of ``mask``); ``phi`` in ``(-pi, pi]`` when
        computed from four-momenta, as given otherwise.
    mass : ndarray of shape (n,)
        Only with ``return_mass=True``: from the ``m``/``mass`` column, from
        the four-momenta (``sqrt(max(E^2 - p^2, 0))``), or zero.
    p4 : ndarray of shape (n, 4)
        Only with ``return_p4=True``: ``(E, px, py, pz)``, the given columns or
        :func:`p4s_from_ptetaphi` of ``(pt, eta, phi)`` and ``mass``.

    Examples
    --------
    >>> import numpy as np
    >>> from jetad.jets import flat_ptetaphi
    >>> jets = np.array([[[100.0, 0.5, 0.1], [0.0, 0.0, 0.0]], [[50.0, -1.0, 3.0], [5.0, 0.0, 0.0]]])
    >>> mask, pt, eta, phi = flat_ptetaphi(jets, columns=("pt", "eta", "phi"))
    >>> mask.sum(axis=1), pt
    (array([1, 2]), array([100.,  50.,   5.]))
    """
    X, columns = _resolve_records(X, _check_columns(columns))
    layout = _layout(columns)
    Xp = as_padded(X, columns)
    if layout.p4 is not None:
        idx = layout.p4
        p4_all = Xp if idx == list(range(Xp.shape[-1])) else Xp[..., idx]
        mask = (p4_all[..., 0] > 0) & (p4_all[..., 1] ** 2 + p4_all[..., 2] ** 2 > 0)
        p4 = p4_all[mask]
        pt, eta, phi = np.moveaxis(ptetaphi_from_p4s(p4), -1, 0)
        if return_mass:
            mass = np.sqrt(np.clip(p4[:, 0] ** 2 - np.sum(p4[:, 1:] ** 2, axis=1), 0.0, None))
    else:
        mask = Xp[..., layout.pt] > 0
        pt, eta, phi = (Xp[..., i][mask] for i in (layout.pt, layout.eta, layout.phi))
        mass = Xp[..., layout.mass][mask] if layout.mass is not None else np.zeros(len(pt))
        if return_p4:
            p4 = p4s_from_ptetaphi(np.stack([pt, eta, phi], axis=-1), mass)
    out = (mask, pt, eta, phi)
    if return_mass:
        out += (mass,)
    if return_p4:
        out += (p4,)
    return out


def as_ptetaphi(X, columns=P4_COLUMNS):
    """Constituent ``(pt, eta, phi)`` and padding mask from any supported format.

    Parameters
    ----------
    X : constituents
        See :func:`as_padded`.
    columns : sequence of str, default=("E", "px", "py", "pz")

    Returns
    -------
    pt, eta, phi : ndarray of shape (n_jets, n_constituents)
        Padded entries have ``pt = eta = phi = 0``.
    mask : ndarray of bool, shape (n_jets, n_constituents)
        True for real constituents (see :func:`flat_ptetaphi`).
    """
    mask, *flat = flat_ptetaphi(X, columns)
    padded = np.zeros((3,) + mask.shape)
    for out, values in zip(padded, flat, strict=True):
        out[mask] = values
    return padded[0], padded[1], padded[2], mask


def jet_four_momenta(X, columns=P4_COLUMNS):
    """Sum of the constituent four-momenta of each jet.

    Returns
    -------
    p4 : ndarray of shape (n_jets, 4)
        ``(E, px, py, pz)`` of each jet. Constituents given as ``(pt, eta, phi)``
        are taken massless unless a ``m``/``mass`` column is present.
    """
    X, columns = _resolve_records(X, _check_columns(columns))
    layout = _layout(columns)
    if layout.p4 is not None:
        p4 = as_padded(X, columns)[..., layout.p4]
    else:
        mask, *_, flat_p4 = flat_ptetaphi(X, columns, return_p4=True)
        p4 = np.zeros(mask.shape + (4,))
        p4[mask] = flat_p4
    return p4.sum(axis=1)


def jet_mass(X, columns=P4_COLUMNS):
    """Invariant mass of each jet from its constituents (GeV if inputs are in GeV)."""
    p4 = jet_four_momenta(X, columns)
    m2 = p4[:, 0] ** 2 - np.sum(p4[:, 1:] ** 2, axis=1)
    return np.sqrt(np.clip(m2, 0.0, None))
