"""Flat constituents -> jetad's padded, pT-ordered ``(E, px, py, pz)`` arrays.

Shared by the readers of external formats (ROOT, EnergyFlow, JetNet): each
reader turns its own layout into one flat ``(n, 4)`` four-momentum array plus
the number of constituents of every jet, and this module orders, truncates,
pads and checks them.
"""

import numbers

import numpy as np

from ..jets import p4s_from_ptetaphi

__all__ = ["check_max_jets", "check_n_constituents", "check_p4", "pad_jets",
           "p4_from_pt_eta_phi"]

# relative slack of the E >= |p| check: inputs stored as float32 (ROOT, HDF5)
# give |p| a rounding error of a few 1e-7 relative
_ENERGY_RTOL = 1e-5


def check_n_constituents(n_constituents):
    """Validate ``n_constituents`` (a positive integer or ``None``)."""
    if n_constituents is None:
        return None
    if (isinstance(n_constituents, bool) or not isinstance(n_constituents, numbers.Integral)
            or n_constituents < 1):
        raise ValueError(f"n_constituents must be a positive integer or None, "
                         f"got {n_constituents!r}")
    return int(n_constituents)


def check_max_jets(max_jets):
    """Validate ``max_jets`` (a non-negative integer or ``None``)."""
    if max_jets is None:
        return None
    if isinstance(max_jets, bool) or not isinstance(max_jets, numbers.Integral) or max_jets < 0:
        raise ValueError(f"max_jets must be a non-negative integer or None, got {max_jets!r}")
    return int(max_jets)


def p4_from_pt_eta_phi(pt, eta, phi, *, mass=None, energy=None):
    """Four-momenta ``(E, px, py, pz)`` from ``(pt, eta, phi)`` and a mass or an energy.

    Parameters
    ----------
    pt, eta, phi : ndarray of shape (n,)
        Transverse momentum, pseudorapidity, azimuth.
    mass : ndarray of shape (n,), optional
        Masses (massless if neither ``mass`` nor ``energy`` is given).
    energy : ndarray of shape (n,), optional
        Energies, used as they are (checked by :func:`check_p4`).

    Returns
    -------
    p4 : ndarray of shape (n, 4), float64
    """
    ptetaphi = np.stack([np.asarray(pt, dtype=np.float64), np.asarray(eta, dtype=np.float64),
                         np.asarray(phi, dtype=np.float64)], axis=-1)
    p4 = p4s_from_ptetaphi(ptetaphi, mass=0.0 if mass is None else mass)
    if energy is not None:
        p4[:, 0] = np.asarray(energy, dtype=np.float64)
    return p4


def check_p4(p4, name):
    """Reject non-finite four-momenta and energies below ``|p|``, naming the source.

    Parameters
    ----------
    p4 : ndarray of shape (n, 4)
    name : str
        What the energies were read from (a branch, a dataset), for the message.
    """
    if not np.all(np.isfinite(p4)):
        raise ValueError(f"{name}: the four-momenta contain NaN or infinity")
    p = np.sqrt(np.sum(p4[:, 1:] ** 2, axis=1))
    bad = p4[:, 0] < p * (1.0 - _ENERGY_RTOL) - 1e-6
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: {int(bad.sum())} constituent(s) have an energy below their momentum "
            f"|p| (first: E={p4[i, 0]:.6g}, |p|={p[i]:.6g}); E must be >= |p|"
        )


def pad_jets(counts, p4, n_constituents):
    """Order constituents by pT inside each jet, keep the leading ones and zero-pad.

    Parameters
    ----------
    counts : ndarray of shape (n_jets,)
        Number of constituents of each jet; ``p4`` holds them jet after jet.
    p4 : ndarray of shape (counts.sum(), 4)
        Four-momenta ``(E, px, py, pz)``.
    n_constituents : int or None
        Width of the output; ``None``: the largest multiplicity (at least 1).

    Returns
    -------
    X : ndarray of shape (n_jets, n_constituents, 4), float32
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_jets = len(counts)
    width = n_constituents if n_constituents is not None else max(
        int(counts.max()) if n_jets else 0, 1)
    X = np.zeros((n_jets, width, 4), dtype=np.float32)
    if len(p4) == 0:
        return X
    jet = np.repeat(np.arange(n_jets), counts)
    pt = np.hypot(p4[:, 1], p4[:, 2])
    order = np.lexsort((-pt, jet))  # by jet, then decreasing pT
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(jet)) - starts[jet]  # jet[order] == jet: ranks follow the sort
    keep = rank < width
    X[jet[keep], rank[keep]] = p4[order][keep]
    return X
