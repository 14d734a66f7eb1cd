"""jetad.datasets.load_root on small ROOT files written here with uproot."""

import sys

import awkward as ak
import numpy as np
import pytest
import uproot  # the [root] extra, part of the test install

from jetad.datasets import load_root
from jetad.datasets._root import _refs_array

# --------------------------------------------------------------------------- events

_COLLECTIONS = {  # collection -> (transverse-momentum field, extra field)
    "EFlowTrack": ("PT", "Mass"),
    "EFlowPhoton": ("ET", "E"),
    "EFlowNeutralHadron": ("ET", "E"),
}


def _f32(x):
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def _p4(pt, eta, phi, mass=None, energy=None):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    if energy is None:
        m = 0.0 if mass is None else mass
        energy = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    return np.stack([energy, px, py, pz], axis=-1)


def _events(n_events=6, seed=0):
    """Events with two separated jets of EFlow candidates each, plus one stray candidate.

    Returns the per-collection jagged fields, the jets, and for every event and jet
    the expected float64 four-momenta of its constituents.
    """
    rng = np.random.default_rng(seed)
    colls = {c: {k: [] for k in ("PT", "Eta", "Phi", "X", "fUniqueID")} for c in _COLLECTIONS}
    jets = {k: [] for k in ("PT", "Eta", "Phi", "Mass")}
    refs, expected = [], []
    for _ in range(n_events):
        axes = [(rng.uniform(-1, 1), rng.uniform(-3, 3))]
        axes.append((axes[0][0] + rng.choice([-1.5, 1.5]), axes[0][1] + rng.choice([-2, 2])))
        uid = 1
        ev = {c: {k: [] for k in colls[c]} for c in colls}
        ev_jets, ev_refs = [], []
        for j, (eta0, phi0) in enumerate([*axes, (axes[0][0] + 3.0, axes[0][1] + 3.14)]):
            n = rng.integers(3, 8) if j < 2 else 1  # the third "jet" is a stray candidate
            p4s, uids = [], []
            for _ in range(n):
                coll = rng.choice(list(_COLLECTIONS))
                pt = _f32(rng.exponential(20) + 1)
                eta = _f32(eta0 + rng.uniform(-0.25, 0.25))
                phi = _f32(((phi0 + rng.uniform(-0.25, 0.25)) + np.pi) % (2 * np.pi) - np.pi)
                if _COLLECTIONS[coll][1] == "Mass":
                    extra = _f32(0.13957)
                    p4 = _p4(pt, eta, phi, mass=extra)
                else:
                    extra = _f32(pt * np.cosh(eta) * 1.0001)  # E >= |p|
                    p4 = _p4(pt, eta, phi, energy=extra)
                for key, v in zip(("PT", "Eta", "Phi", "X"), (pt, eta, phi, extra), strict=True):
                    ev[coll][key].append(v)
                ev[coll]["fUniqueID"].append(uid | (1 << 24))  # process-id bits above 24
                uids.append(uid)
                uid += 1
                p4s.append(p4)
            if j < 2:
                p4s = np.array(p4s)
                tot = p4s.sum(axis=0)
                pt_j = np.hypot(tot[1], tot[2])
                ev_jets.append((pt_j, np.arcsinh(tot[3] / pt_j), np.arctan2(tot[2], tot[1]),
                                np.sqrt(max(tot[0] ** 2 - np.sum(tot[1:] ** 2), 0)), p4s))
                ev_refs.append(uids[::-1])
        order = np.argsort([-jet[0] for jet in ev_jets])  # Delphes jets are pT-ordered
        for key, i in zip(("PT", "Eta", "Phi", "Mass"), range(4), strict=True):
            jets[key].append([ev_jets[k][i] for k in order])
        refs.append([ev_refs[k] for k in order])
        expected.append([ev_jets[k][4] for k in order])
        for c in colls:
            for key in colls[c]:
                colls[c][key].append(ev[c][key])
    return colls, jets, refs, expected


def _delphes_dict(colls, jets, refs=None, drop=()):
    out = {f"Jet.{k}": ak.values_astype(ak.Array(v), np.float32) for k, v in jets.items()}
    for c, fields in colls.items():
        pt_name, extra = _COLLECTIONS[c]
        for key, values in fields.items():
            name = {"PT": pt_name, "X": extra}.get(key, key)
            dtype = np.uint32 if key == "fUniqueID" else np.float32
            out[f"{c}.{name}"] = ak.values_astype(ak.Array(values), dtype)
    if refs is not None:
        out["Jet.Constituents"] = ak.values_astype(ak.Array(refs), np.int32)
    return {k: v for k, v in out.items() if k not in drop}


def _write_ttree(path, data, name="Delphes"):
    with uproot.recreate(path) as f:
        f.mktree(name, data, counter_name=lambda b: b.split(".")[0] + "_size")
    return str(path)


def _write_rntuple(path, data, name="Delphes"):
    with uproot.recreate(path) as f:
        f.mkrntuple(name, data)
    return str(path)


def _expected_X(jet_lists, width):
    X = np.zeros((len(jet_lists), width, 4), dtype=np.float32)
    for i, p4s in enumerate(jet_lists):
        p4s = p4s[np.argsort(-np.hypot(p4s[:, 1], p4s[:, 2]), kind="stable")][:width]
        X[i, :len(p4s)] = p4s
    return X


@pytest.fixture(scope="module")
def events():
    return _events()


# --------------------------------------------------------------------------- Delphes


def test_delphes_eflow_delta_r_matches_the_input_four_momenta(tmp_path, events):
    colls, jets, _, expected = events
    path = _write_ttree(tmp_path / "delphes.root", _delphes_dict(colls, jets))
    X, info = load_root(path)  # no Jet.Constituents: EFlow candidates matched by delta R
    assert X.dtype == np.float32 and X.shape == (len(expected), 200, 4)
    np.testing.assert_array_equal(X, _expected_X([e[0] for e in expected], 200))
    np.testing.assert_array_equal(info["entry"], np.arange(len(expected)))
    np.testing.assert_array_equal(info["jet_index"], 0)
    np.testing.assert_allclose(info["jet_pt"], [j[0] for j in jets["PT"]], rtol=1e-6)
    assert info["layout"] == "delphes" and "y" not in info
    # the stray candidate is in no jet: all constituents of both jets, and nothing else
    X_all, info_all = load_root(path, jet_index="all", n_constituents=None, label=1)
    flat = [p for e in expected for p in e]
    assert X_all.shape == (len(flat), max(len(p) for p in flat), 4)
    np.testing.assert_array_equal(X_all, _expected_X(flat, X_all.shape[1]))
    np.testing.assert_array_equal(info_all["jet_index"], np.tile([0, 1], len(expected)))
    np.testing.assert_array_equal(info_all["y"], np.ones(len(flat), dtype=np.int64))


def test_delphes_constituent_references(tmp_path, events):
    colls, jets, refs, expected = events
    # a doubly jagged Jet.Constituents needs an RNTuple; real Delphes files hold TRefArrays
    path = _write_rntuple(tmp_path / "refs.root", _delphes_dict(colls, jets, refs))
    X, info = load_root(path, jet_index=1, n_constituents=4, constituents="refs")
    np.testing.assert_array_equal(X, _expected_X([e[1] for e in expected], 4))
    np.testing.assert_array_equal(info["jet_index"], 1)
    X2, _ = load_root(path, jet_index=1, n_constituents=4, constituents="eflow")
    np.testing.assert_allclose(X2, X, rtol=1e-6, atol=1e-6)
    X3, _ = load_root(path, max_jets=2, step_size=1)  # auto: references; chunked reading
    np.testing.assert_array_equal(X3, _expected_X([e[0] for e in expected[:2]], 200))


def test_trefarray_records_are_understood():
    arr = ak.Array([[{"fName": "", "fSize": 2, "refs": [3, 4 | (1 << 24)]}],
                    [{"fName": "", "fSize": 0, "refs": []}]])
    uids, per_jet = _refs_array(arr, "Jet.Constituents")
    np.testing.assert_array_equal(uids, [3, 4])
    np.testing.assert_array_equal(per_jet, [2, 0])


def test_delphes_unmatched_references_are_an_error(tmp_path, events):
    colls, jets, refs, _ = events
    bad = [[[u + 1000 for u in jet] for jet in ev] for ev in refs]
    path = _write_rntuple(tmp_path / "bad_refs.root", _delphes_dict(colls, jets, bad))
    with pytest.raises(ValueError, match="Jet.Constituents"):
        load_root(path)


def test_delphes_missing_branch_and_tree(tmp_path, events):
    colls, jets, _, _ = events
    path = _write_ttree(tmp_path / "d.root", _delphes_dict(colls, jets, drop=("Jet.Eta",)))
    with pytest.raises(ValueError, match="'Jet.Eta'"):
        load_root(path)
    with pytest.raises(ValueError, match="no tree 'Events'"):
        load_root(path, tree="Events")
    path = _write_ttree(tmp_path / "u.root",
                        _delphes_dict(colls, jets, drop=("EFlowTrack.fUniqueID",)))
    with pytest.raises(ValueError, match="'EFlowTrack.fUniqueID' not found in tree 'Delphes'"):
        load_root(path, constituents="refs", branches={"candidates": ["EFlowTrack"]})
    with pytest.raises(FileNotFoundError):
        load_root(tmp_path / "nope.root")


def test_delphes_energy_below_momentum_names_the_branch(tmp_path, events):
    colls, jets, _, _ = events
    data = _delphes_dict(colls, jets)
    data["EFlowPhoton.E"] = data["EFlowPhoton.E"] * np.float32(0.5)
    path = _write_ttree(tmp_path / "e.root", data)
    with pytest.raises(ValueError, match="EFlowPhoton.E.*below their momentum"):
        load_root(path)


# --------------------------------------------------------------------------- flat


def _flat_jets(n=9, seed=1):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 12, size=n)
    pt = [_f32(rng.exponential(10, k) + 0.5) for k in counts]
    eta = [_f32(rng.normal(0, 0.3, k)) for k in counts]
    phi = [_f32(rng.uniform(-3, 3, k)) for k in counts]
    energy = [_f32(np.sqrt((p * np.cosh(e)) ** 2 + 0.14**2)) for p, e in zip(pt, eta, strict=True)]
    return pt, eta, phi, energy


_FLAT = {"pt": "part_pt", "eta": "part_eta", "phi": "part_phi", "E": "part_E"}


def _flat_dict(pt, eta, phi, energy, label=None):
    cols = dict(zip(_FLAT.values(), (pt, eta, phi, energy), strict=True))
    out = {k: ak.values_astype(ak.Array([list(v) for v in vals]), np.float32)
           for k, vals in cols.items()}
    if label is not None:
        out["is_signal"] = np.asarray(label, dtype=np.int32)
    return out


def test_flat_layout_one_jet_per_entry(tmp_path):
    pt, eta, phi, energy = _flat_jets()
    labels = np.arange(len(pt)) % 2
    path = _write_ttree(tmp_path / "flat.root", _flat_dict(pt, eta, phi, energy, labels),
                        name="jets")
    X, info = load_root(path, tree="jets", layout="flat", branches=_FLAT, label="is_signal",
                        n_constituents=8)
    expected = [_p4(p, e, f, energy=en) for p, e, f, en in zip(pt, eta, phi, energy, strict=True)]
    np.testing.assert_array_equal(X, _expected_X(expected, 8))
    # every kept constituent is one of the input four-momenta, pT-ordered
    pts = np.hypot(X[..., 1], X[..., 2])
    assert np.all(np.diff(pts, axis=1) <= 1e-4)
    np.testing.assert_array_equal(info["y"], labels)
    np.testing.assert_array_equal(info["entry"], np.arange(len(pt)))
    X2, _ = load_root(path, tree="jets", layout="flat", max_jets=3, step_size=2,
                      branches={"pt": "part_pt", "eta": "part_eta", "phi": "part_phi"})
    massless = [_p4(p, e, f) for p, e, f in zip(pt[:3], eta[:3], phi[:3], strict=True)]
    np.testing.assert_array_equal(X2, _expected_X(massless, 200))


def test_flat_layout_jets_per_event(tmp_path):
    pt, eta, phi, energy = _flat_jets(n=8, seed=2)
    p4 = [_p4(p, e, f, energy=en) for p, e, f, en in zip(pt, eta, phi, energy, strict=True)]
    groups = [[0, 1, 2], [3], [4, 5], [6, 7]]  # jets of four events
    data = {name: ak.values_astype(ak.Array([[list(p4[j][:, c]) for j in g] for g in groups]),
                                   np.float32)
            for c, name in enumerate(("E", "px", "py", "pz"))}
    path = _write_rntuple(tmp_path / "events.root", data, name="events")
    branches = {k: k for k in ("E", "px", "py", "pz")}
    X, info = load_root(path, tree="events", layout="flat", branches=branches, jet_index=1)
    np.testing.assert_array_equal(X, _expected_X([_f32(p4[j]) for j in (1, 5, 7)], 200))
    np.testing.assert_array_equal(info["entry"], [0, 2, 3])
    X_all, info_all = load_root(path, tree="events", layout="flat", branches=branches,
                                jet_index="all")
    assert len(X_all) == 8
    np.testing.assert_array_equal(info_all["jet_index"], [0, 1, 2, 0, 0, 1, 0, 1])


@pytest.mark.parametrize("what, match", [
    ("nan", "'part_pt' contains NaN"),
    ("negative", "'part_pt' contains negative"),
    ("low_energy", "part_E: .*below their momentum"),
    ("structure", "'part_pt' and 'part_E' have different"),
])
def test_flat_bad_values_name_the_branch(tmp_path, what, match):
    pt, eta, phi, energy = _flat_jets()
    if what == "nan":
        pt[2] = pt[2].copy()
        pt[2][0] = np.nan
    elif what == "negative":
        pt[1] = -pt[1]
    elif what == "low_energy":
        energy[3] = energy[3] * 0.9
    else:
        energy[0] = np.append(energy[0], 5.0)
    path = _write_ttree(tmp_path / "bad.root", _flat_dict(pt, eta, phi, energy), name="jets")
    with pytest.raises(ValueError, match=match):
        load_root(path, tree="jets", layout="flat", branches=_FLAT)


def test_flat_wrong_types_and_arguments(tmp_path):
    pt, eta, phi, energy = _flat_jets()
    data = _flat_dict(pt, eta, phi, energy)
    data["part_name"] = ak.Array([["a"] * len(p) for p in pt])
    data["scalar"] = np.ones(len(pt), dtype=np.float32)
    path = _write_rntuple(tmp_path / "types.root", data, name="jets")
    with pytest.raises(TypeError, match="'part_name' is not numeric"):
        load_root(path, tree="jets", layout="flat", branches={**_FLAT, "E": "part_name"})
    with pytest.raises(ValueError, match="branch 'part_ptt' not found"):
        load_root(path, tree="jets", layout="flat", branches={**_FLAT, "pt": "part_ptt"})
    with pytest.raises(ValueError, match="'scalar' must be jagged"):
        load_root(path, tree="jets", layout="flat",
                  branches={"pt": "scalar", "eta": "part_eta", "phi": "part_phi"})
    with pytest.raises(TypeError, match="branches"):
        load_root(path, tree="jets", layout="flat")
    with pytest.raises(ValueError, match="unknown columns"):
        load_root(path, tree="jets", layout="flat", branches={**_FLAT, "charge": "q"})
    with pytest.raises(ValueError, match="either"):
        load_root(path, tree="jets", layout="flat", branches={"pt": "part_pt"})
    with pytest.raises(ValueError, match="layout"):
        load_root(path, tree="jets", layout="nano")
    for kwargs in ({"jet_index": -1}, {"n_constituents": 0},
                   {"delta_r": 0}, {"max_jets": -2}, {"constituents": "all"}):
        with pytest.raises(ValueError):
            load_root(path, tree="jets", layout="flat", branches=_FLAT, **kwargs)
    with pytest.raises(TypeError, match="label"):
        load_root(path, tree="jets", layout="flat", branches=_FLAT, label=1.5)


def test_not_a_root_file_and_missing_uproot(tmp_path, monkeypatch):
    bad = tmp_path / "x.root"
    bad.write_bytes(b"not root at all")
    with pytest.raises(ValueError, match="not a readable ROOT file"):
        load_root(bad)
    monkeypatch.setitem(sys.modules, "uproot", None)
    with pytest.raises(ImportError, match=r"jetad\[root\]"):
        load_root(bad)


def test_import_does_not_load_uproot():
    import subprocess
    from pathlib import Path

    code = "import sys, jetad, jetad.datasets; print(int('uproot' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], check=True)
    assert out.stdout.split() == ["0"]
