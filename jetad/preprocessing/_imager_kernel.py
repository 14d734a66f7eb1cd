"""Compiled jet-image kernel (numba) for zero-padded four-momentum arrays.

:class:`~jetad.preprocessing.JetImager` sends zero-padded ``(E, px, py, pz)``
ndarrays here, in chunks of jets, through three steps:

1. ``_flatten`` (compiled) validates every value and packs the real
   constituents: ``pt = sqrt(px**2 + py**2)``, ``pz / pt``, ``px``, ``py`` and the
   leading constituent of each jet;
2. NumPy's SIMD ufuncs take the transcendentals, ``eta = arcsinh(pz / pt)`` and
   ``phi = arctan2(py, px)`` (several times faster than scalar libm calls);
3. ``_pixelate`` (compiled) centres, rotates, flips and bins each jet with the
   arithmetic of the vectorised NumPy path of ``_imager.py``, in the same order.

The NumPy path stays the one for every other input and the reference the
tests compare against, bit for bit. A jet that fails validation is only flagged: the caller then re-runs
the NumPy validation, which raises the detailed error.
"""

import math

import numba
import numpy as np

__all__ = ["image_kernel"]

_CENTER_CODES = {"centroid": 0, "leading": 1, "none": 2}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_ROUND_SCALE = 1e9
_CHUNK = 4096

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def _round9(v):
    # np.round(v, 9) for float64: multiply, round half to even, divide
    return np.rint(v * _ROUND_SCALE) / _ROUND_SCALE


@_jit
def _wrap(v):
    # jetad.jets.wrap_phi on a scalar; fmod returns its argument unchanged when it
    # already lies in [0, 2 pi), so that common case skips it with the same result
    a = v + math.pi
    if not (0.0 <= a < 2.0 * math.pi):
        a = a % (2.0 * math.pi)
    w = a - math.pi
    return -math.pi if w >= math.pi else w


@_jit
def _flatten(X, cols, mass_rtol, check_range, pt, ratio, px_out, py_out, counts, lead):
    """Validate ``X`` and pack its real constituents; return the first invalid jet or -1."""
    n, m, n_col = X.shape
    flat = X.reshape(n, m * n_col)
    ie, ix, iy, iz = cols[0], cols[1], cols[2], cols[3]
    k = 0
    for j in range(n):
        bad = False
        for t in range(m * n_col):
            v = flat[j, t]
            bad |= (v - v) != 0  # NaN or infinity; written so that the loop vectorises
            if check_range:
                bad |= abs(v) > _FLOAT32_MAX
        if bad:
            return j
        first = k
        lead_pt = -1.0
        lead[j] = -1
        for base in range(0, m * n_col, n_col):
            e = np.float64(flat[j, base + ie])
            px = np.float64(flat[j, base + ix])
            py = np.float64(flat[j, base + iy])
            pz = np.float64(flat[j, base + iz])
            if e == 0.0 and px == 0.0 and py == 0.0 and pz == 0.0:
                continue  # padding
            pt2 = px * px + py * py
            if e < 0.0 or e < math.sqrt(pt2 + pz * pz) * (1.0 - mass_rtol):
                return j
            if e > 0.0 and pt2 > 0.0:
                p = math.sqrt(pt2)
                pt[k] = p
                ratio[k] = pz / p
                px_out[k] = px
                py_out[k] = py
                if p > lead_pt:
                    lead_pt = p
                    lead[j] = k
                k += 1
        counts[j] = k - first
    return -1


@_jit
def _centroid(pt, x, y, lo, hi, inv):
    sx = 0.0
    for i in range(lo, hi):
        sx += pt[i] * x[i]
    sy = 0.0
    for i in range(lo, hi):
        sy += pt[i] * y[i]
    return sx * inv, sy * inv


@_jit
def _rotate(pt, x, y, lo, hi, cx, cy):
    """Turn the principal axis about ``(cx, cy)`` (the centroid) to +phi."""
    cxx = 0.0
    cyy = 0.0
    cxy = 0.0
    for i in range(lo, hi):
        dx = x[i] - cx
        dy = y[i] - cy
        wdx = pt[i] * dx
        cxx += wdx * dx
        cyy += pt[i] * dy * dy
        cxy += wdx * dy
    theta = 0.5 * math.atan2(2.0 * cxy, cxx - cyy)
    sin_t = math.sin(theta)
    cos_t = math.cos(theta)
    for i in range(lo, hi):
        xi = x[i]
        yi = y[i]
        x[i] = xi * sin_t - yi * cos_t
        y[i] = xi * cos_t + yi * sin_t


@_jit
def _flip(pt, v, lo, hi):
    s = 0.0
    for i in range(lo, hi):
        s += pt[i] * np.sign(v[i])
    if s > 0:
        for i in range(lo, hi):
            v[i] = -v[i]


@_jit
def _pixelate(counts, lead, pt, x, y, h, w, d_eta, d_phi, center, rotate, flip, normalize,
              out):
    """Centre, rotate, flip and bin packed jets into ``out`` (n, h * w) float32 zeros.

    ``x`` and ``y`` hold eta and phi on entry and are overwritten.
    """
    inv_eta = 1.0 / d_eta
    inv_phi = 1.0 / d_phi
    lo = 0
    for j in range(len(counts)):
        hi = lo + counts[j]
        if hi == lo:
            continue
        eta_lead = x[lead[j]]
        phi_lead = y[lead[j]]
        sumw = 0.0
        for i in range(lo, hi):
            y[i] = _wrap(y[i] - phi_lead)
            sumw += pt[i]
        inv = 1.0 / sumw if sumw > 0 else 1.0
        if center == 0:
            cx, cy = _centroid(pt, x, y, lo, hi, inv)
            for i in range(lo, hi):
                x[i] = x[i] - cx
                y[i] = y[i] - cy
        elif center == 1:
            for i in range(lo, hi):
                x[i] = x[i] - eta_lead
        else:
            for i in range(lo, hi):
                y[i] = _wrap(y[i] + phi_lead)
        if rotate:
            cx, cy = (0.0, 0.0) if center == 0 else _centroid(pt, x, y, lo, hi, inv)
            _rotate(pt, x, y, lo, hi, cx, cy)
        for i in range(lo, hi):
            x[i] = _round9(x[i])
            y[i] = _round9(y[i])
        if flip:
            _flip(pt, x, lo, hi)
            _flip(pt, y, lo, hi)
        total = 0.0
        for i in range(lo, hi):
            col = math.floor(x[i] * inv_eta + 0.5 * w)
            row = math.floor(0.5 * h - y[i] * inv_phi)
            if col >= 0 and col < w and row >= 0 and row < h:
                x[i] = row * w + col
                total += pt[i]
            else:
                x[i] = -1.0
        norm = normalize and total > 0
        for i in range(lo, hi):
            if x[i] >= 0:
                out[j, int(x[i])] += np.float32(pt[i] / total if norm else pt[i])
        lo = hi


def image_kernel(X, p4_index, shape, pixel_size, center, rotate, flip, normalize,
                 mass_rtol, out):
    """Images of zero-padded four-momentum jets into ``out``; see the module docstring.

    Parameters
    ----------
    X : ndarray of shape (n_jets, n_constituents, n_columns), float32 or float64
    p4_index : sequence of 4 int
        Columns of ``E, px, py, pz``.
    shape : (int, int)
        Image rows ``H`` and columns ``W``.
    pixel_size : (float, float)
        ``(delta_eta, delta_phi)``.
    center : {"centroid", "leading", "none"}
    rotate, flip, normalize : bool
    mass_rtol : float
        Relative tolerance of the ``E >= |p|`` check.
    out : ndarray of shape (n_jets, H * W), float32, zeros

    Returns
    -------
    n_empty : int
        Jets without real constituents.
    bad_jet : int
        Index of the first jet with an invalid value (NaN/inf, beyond float32,
        negative energy, ``E < |p|``), or -1.
    """
    cols = np.asarray(p4_index, dtype=np.int64)
    h, w = int(shape[0]), int(shape[1])
    check_range = X.dtype.itemsize > 4
    size = min(len(X), _CHUNK) * X.shape[1]
    pt, ratio, px, py = (np.empty(size) for _ in range(4))
    counts = np.zeros(min(len(X), _CHUNK), dtype=np.int64)
    lead = np.zeros_like(counts)
    n_empty = 0
    X = np.ascontiguousarray(X)
    for start in range(0, len(X), _CHUNK):
        block = X[start:start + _CHUNK]
        nb = len(block)
        bad = _flatten(block, cols, float(mass_rtol), check_range, pt, ratio, px, py,
                       counts, lead)
        if bad >= 0:
            return n_empty, start + int(bad)
        n_real = int(counts[:nb].sum())
        eta = np.arcsinh(ratio[:n_real], out=ratio[:n_real])
        phi = np.arctan2(py[:n_real], px[:n_real], out=px[:n_real])
        _pixelate(counts[:nb], lead[:nb], pt, eta, phi, h, w, float(pixel_size[0]),
                  float(pixel_size[1]), _CENTER_CODES[center], bool(rotate), bool(flip),
                  bool(normalize), out[start:start + nb])
        n_empty += int(np.sum(counts[:nb] == 0))
    return n_empty, -1
