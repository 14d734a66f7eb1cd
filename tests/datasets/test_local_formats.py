"""EnergyFlow- and JetNet-layout loaders on files written here; JetImager vs EnergyFlow orientation."""

import h5py
import numpy as np
import pytest

from jetad import JetImager
from jetad.datasets import load_energyflow, load_jetnet

# --------------------------------------------------------------------------- EnergyFlow


def _qg_like(rng, n=6, m=15):
    """An EnergyFlow qg_jets-like (pt, y, phi, pid) zero-padded array and labels."""
    X = np.zeros((n, m, 4))
    k = rng.integers(1, m, size=n)
    pids = np.array([22, 211, -211, 130, 2112, -2212, 11, 321, 999])
    for i in range(n):
        X[i, :k[i], 0] = rng.exponential(20, k[i]) + 0.5
        X[i, :k[i], 1] = rng.normal(0, 0.3, k[i])
        X[i, :k[i], 2] = rng.uniform(-3, 3, k[i])
        X[i, :k[i], 3] = rng.choice(pids, k[i])
    return X, k, (np.arange(n) % 2).astype(float)


_MASSES = {22: 0.0, 211: 0.13957, 130: 0.49761, 2112: 0.93957, 2212: 0.93827, 11: 5.11e-4,
           321: 0.49368, 999: 0.0}


def _ef_p4(jet, massless=False):
    pt, rap, phi, pid = jet.T
    m = np.zeros_like(pt) if massless else np.array([_MASSES[abs(int(p))] for p in pid])
    mt = np.sqrt(pt**2 + m**2)
    return np.stack([mt * np.cosh(rap), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(rap)],
                    axis=-1)


def _expected(jets, width):
    X = np.zeros((len(jets), width, 4), dtype=np.float32)
    for i, p4 in enumerate(jets):
        p4 = p4[np.argsort(-np.hypot(p4[:, 1], p4[:, 2]), kind="stable")][:width]
        X[i, :len(p4)] = p4
    return X


def test_energyflow_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X_ef, k, y = _qg_like(rng)
    path = tmp_path / "QG_jets.npz"
    np.savez(path, X=X_ef, y=y)
    X, info = load_energyflow(path)
    assert X.shape == (len(X_ef), 200, 4) and X.dtype == np.float32
    np.testing.assert_allclose(X, _expected([_ef_p4(X_ef[i, :k[i]]) for i in range(len(k))], 200),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(info["y"], y.astype(np.int64))
    assert info["format"] == "energyflow" and info["masses"] == "pid"
    # massless: rapidity = pseudorapidity, and jetad's (pt, eta, phi) of the result agree
    X0, _ = load_energyflow(path, masses="massless", n_constituents=None, max_jets=3)
    np.testing.assert_allclose(
        X0, _expected([_ef_p4(X_ef[i, :k[i]], massless=True) for i in range(3)], k[:3].max()),
        rtol=1e-6, atol=1e-6)
    pt = np.hypot(X0[..., 1], X0[..., 2])
    np.testing.assert_allclose(np.sort(pt[0][pt[0] > 0])[::-1],
                               np.sort(X_ef[0, :k[0], 0])[::-1], rtol=1e-6)


def test_energyflow_npy_and_bad_input(tmp_path):
    rng = np.random.default_rng(1)
    X_ef, k, _ = _qg_like(rng)
    np.save(tmp_path / "x.npy", X_ef[..., :3])  # three columns: massless (pt, y, phi)
    X, info = load_energyflow(tmp_path / "x.npy", n_constituents=5)
    np.testing.assert_allclose(
        X, _expected([_ef_p4(X_ef[i, :k[i]], massless=True) for i in range(len(k))], 5),
        rtol=1e-6, atol=1e-6)
    assert "y" not in info
    np.savez(tmp_path / "other.npz", jets=X_ef)
    with pytest.raises(ValueError, match="no array 'X'"):
        load_energyflow(tmp_path / "other.npz")
    bad = X_ef.copy()
    bad[0, 0, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=bad)
    with pytest.raises(ValueError, match="NaN"):
        load_energyflow(tmp_path / "nan.npz")
    bad[0, 0, 1], bad[1, 0, 0] = 0.0, -1.0
    np.savez(tmp_path / "neg.npz", X=bad)
    with pytest.raises(ValueError, match="negative transverse momentum"):
        load_energyflow(tmp_path / "neg.npz")
    np.savez(tmp_path / "shape.npz", X=X_ef[..., :2])
    with pytest.raises(ValueError, match="shape"):
        load_energyflow(tmp_path / "shape.npz")
    np.savez(tmp_path / "str.npz", X=np.array([["a"]]))
    with pytest.raises(TypeError, match="numeric"):
        load_energyflow(tmp_path / "str.npz")
    with pytest.raises(ValueError, match="masses"):
        load_energyflow(tmp_path / "x.npy", masses="pdg")
    with pytest.raises(FileNotFoundError):
        load_energyflow(tmp_path / "missing.npz")


# --------------------------------------------------------------------------- JetNet


def _jetnet_like(rng, n=5, m=30):
    """JetNet-like particle (etarel, phirel, ptrel, mask) and jet (pt, eta, mass, n) arrays."""
    parts = np.zeros((n, m, 4), dtype=np.float32)
    k = rng.integers(2, m, size=n)
    for i in range(n):
        ptrel = rng.dirichlet(np.ones(k[i]))
        parts[i, :k[i]] = np.stack([rng.normal(0, 0.2, k[i]), rng.normal(0, 0.2, k[i]),
                                    ptrel, np.ones(k[i])], axis=-1)
    jets = np.stack([rng.uniform(900, 1100, n), rng.uniform(-2, 2, n), rng.uniform(10, 200, n),
                     k], axis=-1).astype(np.float32)
    return parts, jets, k


def _jetnet_p4(parts, jets, k, phi_jet):
    out = []
    for i in range(len(k)):
        p = parts[i, :k[i]].astype(np.float64)
        pt = p[:, 2] * jets[i, 0]
        eta = p[:, 0] + jets[i, 1]
        phi = p[:, 1] + phi_jet[i]
        out.append(np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi),
                             pt * np.sinh(eta)], axis=-1))
    return out


def test_jetnet_hdf5_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    parts, jets, k = _jetnet_like(rng)
    path = tmp_path / "t.hdf5"
    with h5py.File(path, "w") as f:
        f["particle_features"] = parts
        f["jet_features"] = jets
    X, info = load_jetnet(path, label=1)
    np.testing.assert_allclose(X, _expected(_jetnet_p4(parts, jets, k, np.zeros(len(k))), 200),
                               rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(info["y"], np.ones(len(k), dtype=np.int64))
    np.testing.assert_allclose(info["jet_mass"], jets[:, 2])
    # the constituent pT sum to the jet pT (ptrel sums to 1 here) and sit at the jet eta
    pt_sum = np.hypot(X[..., 1], X[..., 2]).sum(axis=1)
    np.testing.assert_allclose(pt_sum, jets[:, 0], rtol=1e-5)
    phis = rng.uniform(-3, 3, len(k))
    X2, info2 = load_jetnet(path, jet_phi=phis, n_constituents=10, max_jets=4)
    np.testing.assert_allclose(X2, _expected(_jetnet_p4(parts, jets, k, phis)[:4], 10),
                               rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(info2["jet_phi"], phis[:4])


def test_jetnet_npy_three_columns_and_bad_input(tmp_path):
    rng = np.random.default_rng(3)
    parts, jets, k = _jetnet_like(rng)
    np.save(tmp_path / "p.npy", parts[..., :3])  # no mask: padding is ptrel == 0
    with pytest.raises(ValueError, match="jet_features"):
        load_jetnet(tmp_path / "p.npy")
    X, info = load_jetnet(tmp_path / "p.npy", jet_features=jets[:, :2])
    np.testing.assert_allclose(X, _expected(_jetnet_p4(parts, jets, k, np.zeros(len(k))), 200),
                               rtol=1e-6, atol=1e-4)
    assert "jet_mass" not in info and "y" not in info
    with pytest.raises(ValueError, match=r"jet_features must have shape \(5, >=2\)"):
        load_jetnet(tmp_path / "p.npy", jet_features=jets[:3])
    with pytest.raises(ValueError, match="jet_phi"):
        load_jetnet(tmp_path / "p.npy", jet_features=jets, jet_phi=[0.0, 1.0])
    with pytest.raises(TypeError, match="label"):
        load_jetnet(tmp_path / "p.npy", jet_features=jets, label="top")
    bad = parts.copy()
    bad[0, 0, 2] = -0.1
    with h5py.File(tmp_path / "neg.hdf5", "w") as f:
        f["particle_features"] = bad
        f["jet_features"] = jets
    with pytest.raises(ValueError, match="negative ptrel"):
        load_jetnet(tmp_path / "neg.hdf5")
    with h5py.File(tmp_path / "empty.hdf5", "w") as f:
        f["jets"] = jets
    with pytest.raises(ValueError, match="no dataset 'particle_features'"):
        load_jetnet(tmp_path / "empty.hdf5")


# --------------------------------------------------------------------------- orientation


def _pixelate_index(y, phi, y_c, phi_c, npix, width):
    """(row, col) that energyflow.utils.pixelate gives a particle at (y, phi).

    pixelate (EnergyFlow, utils/image_utils.py) fills ``image[phi_index, y_index]``
    with both indices ``ceil(v / w - 1/2) - ceil(v_c / w - 1/2) + floor(npix / 2)``
    (``w = width / npix``, ``v_c`` the pT centroid): rows grow with phi.
    """
    w = width / npix
    def idx(v, v_c):
        return int(np.ceil(v / w - 0.5) - np.ceil(v_c / w - 0.5) + npix // 2)
    return idx(phi, phi_c), idx(y, y_c)


def test_jet_imager_orientation_against_energyflow_pixelate():
    # one hard constituent at the origin and one soft constituent up (phi > 0) and
    # right (eta > 0): the centroid stays in the central pixel
    npix, d = 33, 0.03
    eta, phi = 0.3, 0.25
    jets = np.array([[[100.0, 0.0, 0.0, 0], [1e-6, eta, phi, 211]]])
    imager = JetImager(columns=("pt", "eta", "phi", "pid"), n_pixels=npix, pixel_size=d,
                       rotate=False, flip=False, normalize=False, output_shape="image")
    image = imager.transform(jets)[0, 0]
    lit = {tuple(int(v) for v in rc) for rc in np.argwhere(image > 0)}
    # jetad: columns grow with eta', rows grow *downwards* in phi' (row 0 = largest phi')
    row, col = int(np.floor(npix / 2 - phi / d)), int(np.floor(eta / d + npix / 2))
    assert (row, col) == (8, 26)
    assert lit == {(16, 16), (row, col)}
    assert row < npix // 2 and col > npix // 2  # upper right in imshow's default view
    # pixelate puts the same constituent in row H-1-row, same column
    centroid = (1e-6 * eta / (100 + 1e-6), 1e-6 * phi / (100 + 1e-6))
    ef_row, ef_col = _pixelate_index(eta, phi, *centroid, npix, npix * d)
    assert (ef_row, ef_col) == (npix - 1 - row, col)
    assert _pixelate_index(0.0, 0.0, *centroid, npix, npix * d) == (16, 16)
