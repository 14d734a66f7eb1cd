"""jetad.datasets without Pythia: I/O, the top-tagging reader, cards, detector response."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jetad.datasets import (
    KINDS,
    _io,
    apply_detector_response,
    default_card,
    detector_response,
    generate_jets,
    load_jets,
    load_top_tagging,
    save_jets,
)
from jetad.datasets._cards import pythia_settings, resolve_card


def _random_jets(rng, n=7, m=20):
    X = np.zeros((n, m, 4), dtype=np.float32)
    k = rng.integers(1, m, size=n)
    for i in range(n):
        p = rng.normal(size=(k[i], 3)) * 10
        X[i, : k[i], 1:] = p
        X[i, : k[i], 0] = np.linalg.norm(p, axis=1)
    return X


# --------------------------------------------------------------------------- import


def test_import_does_not_load_generators():
    code = ("import sys, jetad.datasets; "
            "print(int('pythia8mc' in sys.modules), int('fastjet' in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))), check=True)
    assert out.stdout.split() == ["0", "0"]


# --------------------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path, rng):
    X = _random_jets(rng)
    y = np.arange(len(X)) % 2
    info = {"kind": "test", "seed": np.int64(3), "eff": np.float32(0.5), "arr": np.arange(3),
            "nested": {"a": (1, 2)}}
    path = tmp_path / "sub" / "jets.h5"
    assert save_jets(path, X, info=info, y=y) == str(path)
    X2, info2 = load_jets(path)
    assert X2.dtype == np.float32 and np.array_equal(X2, X)
    np.testing.assert_array_equal(info2.pop("y"), y)
    assert info2 == {"kind": "test", "seed": 3, "eff": 0.5, "arr": [0, 1, 2],
                     "nested": {"a": [1, 2]}}
    # no temporary files left behind
    assert sorted(os.listdir(path.parent)) == ["jets.h5"]


def test_save_without_info_or_labels(tmp_path, rng):
    X = _random_jets(rng).astype(np.float64)
    save_jets(tmp_path / "a.h5", X)
    X2, info = load_jets(tmp_path / "a.h5")
    assert info == {} and X2.dtype == np.float32
    np.testing.assert_allclose(X2, X.astype(np.float32))


@pytest.mark.parametrize("bad", [np.zeros((3, 4)), np.zeros((3, 5, 3))])
def test_save_rejects_bad_shapes(tmp_path, bad):
    with pytest.raises(ValueError, match="shape"):
        save_jets(tmp_path / "x.h5", bad)


def test_save_rejects_bad_labels_and_info(tmp_path, rng):
    X = _random_jets(rng)
    with pytest.raises(ValueError, match="y must have shape"):
        save_jets(tmp_path / "x.h5", X, y=np.zeros(len(X) + 1))
    with pytest.raises(TypeError, match="integer labels"):
        save_jets(tmp_path / "x.h5", X, y=np.full(len(X), 0.5))
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        save_jets(tmp_path / "x.h5", X, info={"f": object()})
    assert not os.listdir(tmp_path)


def test_atomic_write_leaves_no_partial_file(tmp_path, rng, monkeypatch):
    X = _random_jets(rng)
    path = tmp_path / "jets.h5"

    def broken(f, X):
        f.create_dataset("X", data=X[:1])
        raise RuntimeError("disk full")

    monkeypatch.setattr(_io, "_create_X", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_jets(path, X)
    assert os.listdir(tmp_path) == []
    # an existing file stays intact when overwriting fails
    monkeypatch.undo()
    save_jets(path, X, info={"v": 1})
    monkeypatch.setattr(_io, "_create_X", broken)
    with pytest.raises(RuntimeError):
        save_jets(path, X[:2], info={"v": 2})
    assert os.listdir(tmp_path) == ["jets.h5"]
    X2, info = load_jets(path)
    assert info == {"v": 1} and np.array_equal(X2, X)


def test_load_missing_file(tmp_path):
    path = tmp_path / "nope.h5"
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        load_jets(path)


def test_load_corrupt_file(tmp_path, rng):
    path = tmp_path / "corrupt.h5"
    path.write_bytes(b"this is not HDF5" * 100)
    with pytest.raises(ValueError, match="corrupt.h5"):
        load_jets(path)
    # a truncated jetad file
    good = tmp_path / "good.h5"
    save_jets(good, _random_jets(rng, n=200, m=50))
    data = good.read_bytes()
    trunc = tmp_path / "truncated.h5"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises((ValueError, OSError), match="truncated.h5"):
        load_jets(trunc)


def test_load_foreign_hdf5(tmp_path):
    import h5py

    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a jetad jet file"):
        load_jets(path)


def test_load_refuses_unfinished_generation_file(tmp_path):
    path = tmp_path / "gen.h5.partial"
    _io.create_partial(str(path), {"seed": 1}, 200)
    with open(path, "rb"):
        pass
    import h5py

    with h5py.File(path, "r+") as f:
        f.attrs["info"] = "{}"
    with pytest.raises(ValueError, match="unfinished"):
        load_jets(path)


def test_partial_state_detects_corruption(tmp_path):
    path = tmp_path / "gen.h5.partial"
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="Delete it"):
        _io.read_partial_state(str(path))


# --------------------------------------------------------------------------- top tagging


def _top_tagging_frame(n=23, n_const=200, seed=0):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    cols = {}
    p4 = rng.normal(size=(n, n_const, 4)).astype(np.float32)
    for i in range(n_const):
        for j, c in enumerate(("E", "PX", "PY", "PZ")):
            cols[f"{c}_{i}"] = p4[:, i, j]
    for c in ("truthE", "truthPX", "truthPY", "truthPZ"):
        cols[c] = rng.normal(size=n)
    cols["ttv"] = np.zeros(n, dtype=np.int64)
    cols["is_signal_new"] = rng.integers(0, 2, size=n)
    return pd.DataFrame(cols), p4


@pytest.mark.parametrize("fmt", ["fixed", "table"])
def test_load_top_tagging(tmp_path, fmt):
    pytest.importorskip("tables")
    df, p4 = _top_tagging_frame()
    path = tmp_path / f"train_{fmt}.h5"
    df.to_hdf(path, key="table", mode="w", format=fmt)
    X, y = load_top_tagging(path, chunk_size=5)
    assert X.shape == (23, 200, 4) and X.dtype == np.float32
    np.testing.assert_array_equal(X, p4)
    np.testing.assert_array_equal(y, df["is_signal_new"].to_numpy())
    assert y.dtype == np.int64
    # subsets of rows and constituents, full bunch
    b = load_top_tagging(path, n_jets=6, start=10, n_constituents=30, chunk_size=4,
                         return_X_y=False)
    np.testing.assert_array_equal(b.data, p4[10:16, :30])
    np.testing.assert_array_equal(b.target, df["is_signal_new"].to_numpy()[10:16])
    np.testing.assert_allclose(b.truth, df[["truthE", "truthPX", "truthPY", "truthPZ"]]
                               .to_numpy()[10:16])
    assert b.ttv.tolist() == [0] * 6


def test_load_top_tagging_reads_only_needed_columns(tmp_path, monkeypatch):
    """The fixed-format reader slices the block arrays (no full-frame read)."""
    pd = pytest.importorskip("pandas")
    df, p4 = _top_tagging_frame(n=12, n_const=5)
    # interleave an unused column between constituents
    df.insert(3, "junk", np.ones(12))
    path = tmp_path / "f.h5"
    df.to_hdf(path, key="table", mode="w")
    monkeypatch.setattr(pd, "read_hdf", lambda *a, **k: pytest.fail("pandas used"))
    X, y = load_top_tagging(path, n_jets=7)
    np.testing.assert_array_equal(X, p4[:7])


def test_load_top_tagging_errors(tmp_path):
    pd = pytest.importorskip("pandas")
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        load_top_tagging(tmp_path / "missing.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.h5"):
        load_top_tagging(bad)
    other = tmp_path / "other.h5"
    pd.DataFrame({"a": [1.0, 2.0]}).to_hdf(other, key="table", mode="w")
    with pytest.raises(ValueError, match="E_0"):
        load_top_tagging(other)
    with pytest.raises(ValueError, match="no key"):
        load_top_tagging(other, key="jets")
    df, _ = _top_tagging_frame(n=3, n_const=2)
    nolabel = tmp_path / "nolabel.h5"
    df.drop(columns="is_signal_new").to_hdf(nolabel, key="table", mode="w")
    with pytest.raises(ValueError, match="is_signal_new"):
        load_top_tagging(nolabel)
    with pytest.raises(ValueError, match="n_constituents"):
        df.to_hdf(tmp_path / "ok.h5", key="table", mode="w")
        load_top_tagging(tmp_path / "ok.h5", n_constituents=3)
    with pytest.raises(ValueError, match="chunk_size"):
        load_top_tagging(tmp_path / "ok.h5", chunk_size=0)


# --------------------------------------------------------------------------- cards


def test_cards():
    assert set(KINDS) == {"qcd", "top", "qcd_lowpt", "aachen", "heidelberg",
                          "zprime_dark_light"}
    card = default_card("top")
    card["pt_min"] = 0.0
    assert default_card("top")["pt_min"] == 550.0  # defaults are copied
    assert default_card("qcd_lowpt")["pt_max"] == 300.0
    s = pythia_settings(resolve_card("top"), seed=7)
    assert "Top:gg2ttbar = on" in s and "PartonLevel:MPI = off" in s
    assert "24:onIfAny = 1 2 3 4 5" in s and "Random:seed = 7" in s
    assert "PhaseSpace:pTHatMin = 450.0" in s
    hv = pythia_settings(resolve_card("aachen", {"mzprime": 800}))
    assert "4900023:m0 = 800.0" in hv and "4900111:mayDecay = off" in hv
    hb = pythia_settings(resolve_card("zprime_dark_light"))
    assert "4900211:mayDecay = on" in hb
    assert "HiddenValley:gg2DvDvbar = on" in pythia_settings(resolve_card("heidelberg"))
    over = resolve_card("qcd", {"extra_settings": ["PartonLevel:ISR = off"], "mpi": True})
    assert pythia_settings(over)[-1] == "PartonLevel:ISR = off"
    assert "PartonLevel:MPI = on" in pythia_settings(over)


def test_card_errors():
    with pytest.raises(ValueError, match="Unknown jet kind"):
        default_card("wprime")
    with pytest.raises(TypeError, match="Unknown generation parameter"):
        resolve_card("qcd", {"mzprime": 1.0})
    with pytest.raises(TypeError, match="must be a number"):
        resolve_card("qcd", {"pt_min": "550"})
    with pytest.raises(TypeError, match="must be a bool"):
        resolve_card("qcd", {"mpi": 1})
    with pytest.raises(ValueError, match="pt_min < pt_max"):
        resolve_card("qcd", {"pt_min": 700.0})
    with pytest.raises(ValueError, match="m_pi_dark"):
        resolve_card("aachen", {"m_pi_dark": 50.0})


def test_generate_jets_argument_errors():
    with pytest.raises(ValueError, match="Unknown jet kind"):
        generate_jets("wprime", 10)
    with pytest.raises(ValueError, match="n_jets"):
        generate_jets("qcd", 0)
    with pytest.raises(TypeError, match="n_jets"):
        generate_jets("qcd", 1.5)
    with pytest.raises(ValueError, match="n_jobs"):
        generate_jets("qcd", 10, n_jobs=0)
    with pytest.raises(TypeError, match="Unknown generation parameter"):
        generate_jets("qcd", 10, pt_mni=3.0)


# ------------------------------------------------------------------ detector response


def _particles(pid, pt, eta, phi, mass=0.0, charge=None, event=None):
    pid = np.asarray(pid)
    pt, eta, phi = (np.broadcast_to(np.asarray(a, float), pid.shape) for a in (pt, eta, phi))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    if charge is None:
        charge = np.where(np.isin(np.abs(pid), (211, 321, 2212, 11, 13)), np.sign(pid), 0.0)
        charge = np.where(np.isin(np.abs(pid), (11, 13)), -charge, charge)
    event = np.zeros(pid.shape, int) if event is None else np.asarray(event)
    return px, py, pz, e, pid, charge, event


def test_response_photon_tower_and_neutrinos():
    args = _particles([22, 12, 22], [100.0, 50.0, 40.0], [0.3, 0.3, 0.30001], [1.0, 1.0, 1.0])
    p4, ev, kind = apply_detector_response(*args, np.random.default_rng(0), return_kind=True)
    # both photons land in one ECAL cell, the neutrino is invisible
    assert p4.shape == (1, 4) and kind.tolist() == [1] and ev.tolist() == [0]
    e_in = args[3][0] + args[3][2]
    assert abs(p4[0, 0] - e_in) < 0.05 * e_in
    pt = np.hypot(p4[0, 1], p4[0, 2])
    eta = np.arcsinh(p4[0, 3] / pt)
    assert abs(eta - 0.3) < 0.0174 and abs(np.arctan2(p4[0, 2], p4[0, 1]) - 1.0) < np.deg2rad(1)


def test_response_tracks_efficiency_and_resolution():
    n = 4000
    args = _particles(np.full(n, 211), 10.0, 0.1, np.linspace(-3, 3, n), mass=0.1396,
                      event=np.arange(n))
    p4, ev, kind = apply_detector_response(*args, np.random.default_rng(1), return_kind=True)
    tracks = kind == 0
    assert 0.93 < tracks.sum() / n < 0.97  # 95 % efficiency at |eta| < 1.5, pT > 1
    pt = np.hypot(p4[tracks, 1], p4[tracks, 2])
    assert abs(pt.mean() - 10.0) < 0.1
    assert 0.04 < pt.std() / 10.0 < 0.08  # sqrt(0.06^2 + (1.3e-3 * 10)^2) = 6.1 %
    # untracked pions end up in HCAL towers (or below threshold)
    assert set(np.unique(kind[~tracks])) <= {2}
    assert np.all(np.diff(ev) >= 0)


def test_response_reproducible_and_event_structure():
    rng = np.random.default_rng(3)
    n = 600
    pid = rng.choice([22, 211, -211, 130, 2112, 11, 13, 14], size=n)
    args = _particles(pid, rng.exponential(5.0, n) + 0.2, rng.uniform(-2.5, 2.5, n),
                      rng.uniform(-np.pi, np.pi, n), event=np.sort(rng.integers(0, 5, n)))
    a = apply_detector_response(*args, np.random.default_rng(7))
    b = apply_detector_response(*args, np.random.default_rng(7))
    c = apply_detector_response(*args, np.random.default_rng(8))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    p4, ev = a
    assert set(np.unique(ev)) <= set(range(5))
    # no muons in the calorimeter, no neutrinos: visible energy is roughly conserved
    vis = ~np.isin(np.abs(pid), (14,))
    e_in = np.bincount(args[6][vis], weights=args[3][vis], minlength=5)
    e_out = np.bincount(ev, weights=p4[:, 0], minlength=5)
    np.testing.assert_allclose(e_out, e_in, rtol=0.25)
    assert np.all(p4[:, 0] > 0)
    assert np.all(p4[:, 0] ** 2 >= (p4[:, 1:] ** 2).sum(1) * (1 - 1e-9))


def test_response_empty_input():
    empty = [np.zeros(0)] * 4 + [np.zeros(0, int), np.zeros(0), np.zeros(0, int)]
    p4, ev = apply_detector_response(*empty, np.random.default_rng(0))
    assert p4.shape == (0, 4) and ev.shape == (0,)


def test_info_json_helper_rejects_non_string_keys():
    with pytest.raises(TypeError, match="keys"):
        _io._dumps({1: 2})
    assert json.loads(_io._dumps({"a": np.float64(1.5)})) == {"a": 1.5}


def test_detector_response_is_a_deprecated_alias():
    args = _particles([22, 211, 130], [100.0, 20.0, 30.0], [0.3, -0.5, 1.0], [1.0, 2.0, -2.0])
    with pytest.warns(FutureWarning, match="apply_detector_response"):
        old = detector_response(*args, np.random.default_rng(5), return_kind=True)
    new = apply_detector_response(*args, np.random.default_rng(5), return_kind=True)
    for a, b in zip(old, new, strict=True):
        np.testing.assert_array_equal(a, b)
