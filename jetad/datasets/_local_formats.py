"""Readers of EnergyFlow- and JetNet-layout constituent arrays from local files.

Both layouts are converted to jetad's canonical padded, pT-ordered
``(n_jets, n_constituents, 4)`` float32 ``(E, px, py, pz)`` arrays.

* **EnergyFlow** (``energyflow.datasets.qg_jets``, Komiske, Metodiev, Thaler,
  arXiv:1810.05165, Zenodo 3164691 / 3066475): ``.npz`` files with ``X`` of
  shape ``(n_jets, max_num_particles, 4)``, particles as ``(pt, y, phi, pid)``
  -- transverse momentum, *rapidity*, azimuth and PDG id -- zero-padded, and
  ``y`` the labels (quark = 1, gluon = 0). Masses come from the PDG id, as
  EnergyFlow's ``pids2ms`` / ``p4s_from_ptyphipids`` do.
* **JetNet** (``jetnet.datasets.JetNet``, Kansal et al., arXiv:2106.11535,
  Zenodo 6975118 / 6975117): HDF5 files with ``particle_features`` of shape
  ``(n_jets, 30 or 150, 4)`` = ``(etarel, phirel, ptrel, mask)`` and
  ``jet_features`` of shape ``(n_jets, 4)`` = ``(pt, eta, mass,
  num_particles)``, where ``etarel = eta - eta_jet``, ``phirel = phi -
  phi_jet`` and ``ptrel = pt / pt_jet``. Absolute momenta are made as JetNet's
  ``relEtaPhiPt_to_cartesian`` does: massless particles with ``pt = ptrel *
  pt_jet``, ``eta = etarel + eta_jet``, ``phi = phirel + phi_jet``. The jet
  azimuth is not stored; ``jet_phi`` (default 0) sets it.
"""

import os

import numpy as np

from ..jets import wrap_phi
from ._padding import check_max_jets, check_n_constituents, check_p4, pad_jets

__all__ = ["load_energyflow", "load_jetnet"]

# GeV, |PDG id| -> mass; the stable final-state particles of the EnergyFlow
# samples (values of EnergyFlow's PARTICLE_MASSES, from Pythia 8's tables).
# Unknown ids are massless, as in EnergyFlow's pids2ms.
_PDG_MASSES = {
    11: 5.11e-4, 13: 0.10566, 22: 0.0, 111: 0.13498, 130: 0.49761, 211: 0.13957,
    310: 0.49761, 321: 0.49368, 2112: 0.93957, 2212: 0.93827, 3122: 1.11568,
    3222: 1.18937, 3312: 1.32171, 3322: 1.31486, 3334: 1.67245,
}
_JETNET_PARTICLE_COLUMNS = ("etarel", "phirel", "ptrel", "mask")
_JETNET_JET_COLUMNS = ("pt", "eta", "mass", "num_particles")


def _pid_masses(pids):
    abspid = np.abs(np.rint(pids)).astype(np.int64)
    keys = np.array(sorted(_PDG_MASSES), dtype=np.int64)
    values = np.array([_PDG_MASSES[k] for k in keys])
    pos = np.clip(np.searchsorted(keys, abspid), 0, len(keys) - 1)
    return np.where(keys[pos] == abspid, values[pos], 0.0)


def _check_path(path, what):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such {what} file: {path!r}")
    return path


def _check_array(arr, name, ncols):
    arr = np.asarray(arr)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[2] not in ncols:
        raise ValueError(f"{name} must have shape (n_jets, n_particles, "
                         f"{' or '.join(map(str, ncols))}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    return arr.astype(np.float64)


def load_energyflow(path, *, n_constituents=200, max_jets=None, masses="pid", x_key="X",
                    y_key="y"):
    """Load EnergyFlow-layout jets ``(pt, y, phi, pid)`` from a ``.npz`` or ``.npy`` file.

    The layout of ``energyflow.datasets.qg_jets`` (Komiske, Metodiev, Thaler,
    arXiv:1810.05165): ``X`` of shape ``(n_jets, max_num_particles, 4)`` with
    particles as ``(pt, y, phi, pid)`` (transverse momentum, rapidity,
    azimuth, PDG id), zero-padded (``pt = 0``), and labels ``y`` (quark = 1,
    gluon = 0). Three-column ``(pt, y, phi)`` arrays are read as massless.

    Parameters
    ----------
    path : str or path-like
        ``.npz`` archive with arrays ``x_key`` (and optionally ``y_key``), or a
        ``.npy`` file holding the particle array alone.
    n_constituents : int or None, default=200
        Width of the output (pT-leading constituents kept, zero-padded);
        ``None``: the largest multiplicity in the file.
    max_jets : int, optional
        Read only the first ``max_jets`` jets.
    masses : {"pid", "massless"}, default="pid"
        ``"pid"``: particle masses from the PDG id (unknown ids massless), so
        ``E = sqrt(pt^2 + m^2) cosh y``, ``pz = sqrt(pt^2 + m^2) sinh y``.
        ``"massless"``: ``m = 0`` (rapidity = pseudorapidity).
    x_key, y_key : str, default="X", "y"
        Names of the particle and label arrays in a ``.npz`` file.

    Returns
    -------
    X : ndarray of shape (n_jets, n_constituents, 4), float32
        Constituents ``(E, px, py, pz)``, pT-ordered and zero-padded.
    info : dict
        ``source``, ``format`` (``"energyflow"``), ``masses``; labels, when the
        file has them, in ``info["y"]`` (int64), as :func:`load_jets` does.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the arrays are missing, have the wrong shape, or hold NaN/inf or
        negative transverse momenta.
    TypeError
        If an array is not numeric.
    """
    path = _check_path(path, "EnergyFlow")
    n_constituents = check_n_constituents(n_constituents)
    max_jets = check_max_jets(max_jets)
    if masses not in ("pid", "massless"):
        raise ValueError(f"masses must be 'pid' or 'massless', got {masses!r}")
    arr, y = _read_energyflow(path, x_key, y_key)
    if max_jets is not None:
        arr = arr[:max_jets]
        y = None if y is None else y[:max_jets]
    arr = _check_array(arr, f"{path!r}[{x_key!r}]", (3, 4))
    pt, rap, phi = arr[..., 0], arr[..., 1], arr[..., 2]
    if np.any(pt < 0):
        raise ValueError(f"{path!r}[{x_key!r}]: negative transverse momentum (column pt)")
    real = pt > 0
    m = _pid_masses(arr[..., 3][real]) if (masses == "pid" and arr.shape[2] == 4) else 0.0
    mt = np.sqrt(pt[real] ** 2 + m**2)
    p4 = np.stack([mt * np.cosh(rap[real]), pt[real] * np.cos(phi[real]),
                   pt[real] * np.sin(phi[real]), mt * np.sinh(rap[real])], axis=-1)
    check_p4(p4, f"{path!r}[{x_key!r}]")
    X = pad_jets(real.sum(axis=1), p4, n_constituents)
    info = {"source": path, "format": "energyflow", "masses": masses}
    if y is not None:
        info["y"] = _labels(y, len(X), f"{path!r}[{y_key!r}]")
    return X, info


def _read_energyflow(path, x_key, y_key):
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"{path!r} is not a readable .npz/.npy file: {exc}") from exc
    if isinstance(loaded, np.ndarray):
        return loaded, None
    with loaded:
        if x_key not in loaded:
            raise ValueError(f"{path!r} has no array {x_key!r}; arrays: {sorted(loaded)}")
        return loaded[x_key], (loaded[y_key] if y_key in loaded else None)


def _jet_phi(jet_phi, n):
    phi = np.asarray(jet_phi, dtype=np.float64)
    if phi.ndim == 0:
        phi = np.full(n, float(phi))
    elif phi.shape[0] >= n and phi.ndim == 1:
        phi = phi[:n]
    else:
        raise ValueError(f"jet_phi must be a number or an array of {n} azimuths, "
                         f"got shape {phi.shape}")
    if not np.all(np.isfinite(phi)):
        raise ValueError("jet_phi contains NaN or infinity")
    return phi


def _labels(y, n, name):
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.mod(y, 1) == 0):
        raise TypeError(f"{name} must hold integer labels, got {y.dtype}")
    return y.astype(np.int64)


def _read_jetnet(path, particle_key, jet_key):
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False), None
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path!r} is not a readable HDF5 file: {exc}") from exc
    with f:
        if particle_key not in f:
            raise ValueError(f"{path!r} has no dataset {particle_key!r}; datasets: {list(f)}")
        jets = f[jet_key][...] if jet_key in f else None
        return f[particle_key][...], jets


def _jet_array(jet_features, n, name):
    jets = np.asarray(jet_features)
    if not np.issubdtype(jets.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {jets.dtype}")
    if jets.ndim != 2 or jets.shape[0] != n or jets.shape[1] < 2:
        raise ValueError(f"{name} must have shape ({n}, >=2) with columns (pt, eta, ...), "
                         f"got {jets.shape}")
    if not np.all(np.isfinite(jets[:, :2])):
        raise ValueError(f"{name} contains NaN or infinity")
    return jets.astype(np.float64)


def load_jetnet(path, *, jet_features=None, jet_phi=0.0, n_constituents=200, max_jets=None,
                label=None, particle_key="particle_features", jet_key="jet_features"):
    """Load JetNet-layout jets ``(etarel, phirel, ptrel[, mask])`` from ``.hdf5`` or ``.npy``.

    The layout of the JetNet dataset (Kansal et al., arXiv:2106.11535; the
    ``particle_features`` / ``jet_features`` arrays that
    ``jetnet.datasets.JetNet.getData`` returns): particles ``(etarel,
    phirel, ptrel, mask)`` with ``etarel = eta - eta_jet``, ``phirel = phi -
    phi_jet``, ``ptrel = pt / pt_jet`` and ``mask`` 1 for real particles, 0
    for padding; jets ``(pt, eta, mass, num_particles)``. Particles are made
    massless with ``pt = ptrel * pt_jet``, ``eta = etarel + eta_jet``, ``phi =
    phirel + phi_jet``, as in JetNet's ``relEtaPhiPt_to_cartesian``.

    Parameters
    ----------
    path : str or path-like
        HDF5 file with datasets ``particle_key`` and ``jet_key`` (JetNet's
        ``g.hdf5``, ``t150.hdf5``, ...), or a ``.npy`` file of particle
        features (then ``jet_features`` is required).
    jet_features : array-like of shape (n_jets, >=2), optional
        Jet ``(pt, eta, ...)`` (JetNet's column order); default: the file's
        ``jet_key`` dataset.
    jet_phi : float or array-like of shape (n_jets,), default=0.0
        Jet azimuths (JetNet does not store them).
    n_constituents : int or None, default=200
        Width of the output (pT-leading constituents kept, zero-padded);
        ``None``: the largest multiplicity in the file.
    max_jets : int, optional
        Read only the first ``max_jets`` jets.
    label : int, optional
        Label given to every jet (``info["y"]``); JetNet files hold one jet
        type each and store no labels.
    particle_key, jet_key : str
        Dataset names in the HDF5 file.

    Returns
    -------
    X : ndarray of shape (n_jets, n_constituents, 4), float32
        Constituents ``(E, px, py, pz)``, pT-ordered and zero-padded.
    info : dict
        ``source``, ``format`` (``"jetnet"``), ``jet_pt``, ``jet_eta``,
        ``jet_phi`` (arrays) and, when known, ``jet_mass``; ``y`` if ``label``
        is given.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If an array is missing, has the wrong shape, holds NaN/inf, negative
        ``ptrel`` or jet pT.
    TypeError
        If an array is not numeric or ``label`` is not an integer.
    """
    path = _check_path(path, "JetNet")
    n_constituents = check_n_constituents(n_constituents)
    max_jets = check_max_jets(max_jets)
    particles, jets = _read_jetnet(path, particle_key, jet_key)
    name = f"{path!r}[{particle_key!r}]"
    if jet_features is not None:
        jets, jet_name = jet_features, "jet_features"
    elif jets is None:
        raise ValueError(f"{path!r} has no jet-level features ({jet_key!r}); pass "
                         f"jet_features=(n_jets, >=2) array with columns (pt, eta, ...)")
    else:
        jet_name = f"{path!r}[{jet_key!r}]"
    stop = len(particles) if max_jets is None else min(max_jets, len(particles))
    parts = _check_array(particles[:stop], name, (3, 4))
    jets = np.asarray(jets)
    jets = _jet_array(jets[:stop] if jets.ndim == 2 else jets, stop, jet_name)
    phi_jet = _jet_phi(jet_phi, stop)
    ptrel = parts[..., 2]
    if np.any(ptrel < 0) or np.any(jets[:, 0] < 0):
        raise ValueError(f"{name}: negative ptrel or jet pt")
    real = (parts[..., 3] > 0) if parts.shape[2] == 4 else (ptrel > 0)
    real &= ptrel > 0
    jet = np.nonzero(real)[0]
    pt = ptrel[real] * jets[jet, 0]
    eta = parts[..., 0][real] + jets[jet, 1]
    phi = wrap_phi(parts[..., 1][real] + phi_jet[jet])
    p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)],
                  axis=-1)
    check_p4(p4, name)
    X = pad_jets(real.sum(axis=1), p4, n_constituents)
    info = {"source": path, "format": "jetnet", "jet_pt": jets[:, 0], "jet_eta": jets[:, 1],
            "jet_phi": phi_jet}
    if jets.shape[1] >= 3:
        info["jet_mass"] = jets[:, 2]
    if label is not None:
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise TypeError(f"label must be an integer, got {label!r}")
        info["y"] = np.full(len(X), int(label), dtype=np.int64)
    return X, info
