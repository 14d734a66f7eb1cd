"""generate_jets with Pythia 8 + FastJet: physics sanity, reproducibility, resuming, dask."""

import os

import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from jetad.datasets import _generate, _io, generate_jets, load_jets  # noqa: E402
from jetad.jets import jet_mass  # noqa: E402


def _jet_kinematics(X):
    p = X.astype(np.float64).sum(axis=1)
    pt = np.hypot(p[:, 1], p[:, 2])
    eta = np.arcsinh(p[:, 3] / pt)
    return pt, eta


def _n_const(X):
    return (X[:, :, 0] > 0).sum(axis=1)


def _check_layout(X, n_jets, pt_range):
    assert X.shape == (n_jets, 200, 4) and X.dtype == np.float32
    filled = X[:, :, 0] > 0
    # zero padding only at the end, pT-ordered constituents
    assert np.all(filled[:, :-1] | ~filled[:, 1:])
    assert np.all(X[~filled] == 0)
    cpt = np.hypot(X[:, :, 1], X[:, :, 2])
    assert np.all(np.diff(cpt, axis=1)[filled[:, 1:]] <= 1e-4)
    assert np.all(_n_const(X) >= 1) and np.all(_n_const(X) <= 200)
    pt, eta = _jet_kinematics(X)
    assert pt.min() >= pt_range[0] * (1 - 1e-5) and pt.max() <= pt_range[1] * (1 + 1e-5)
    assert np.all(np.abs(eta) < 2.0)


# --------------------------------------------------------------------------- physics


def test_top_and_qcd_samples(qcd_jets, top_jets):
    _check_layout(qcd_jets, 4000, (550.0, 650.0))
    _check_layout(top_jets, 2000, (550.0, 650.0))
    m_top, m_qcd = np.median(jet_mass(top_jets)), np.median(jet_mass(qcd_jets))
    assert 150.0 < m_top < 200.0
    assert m_qcd < 120.0
    # tops: most jets in the top-mass window, QCD: few
    in_window = lambda X: np.mean((jet_mass(X) > 140) & (jet_mass(X) < 200))  # noqa: E731
    assert in_window(top_jets) > 0.6 and in_window(qcd_jets) < 0.25
    # top jets have more constituents (three-prong decay)
    assert _n_const(top_jets).mean() > _n_const(qcd_jets).mean() + 5


def test_particle_level_has_more_constituents():
    det = generate_jets("qcd", 100, random_state=11, progress=False)
    part = generate_jets("qcd", 100, random_state=11, level="particle", progress=False)
    _check_layout(part, 100, (550.0, 650.0))
    assert _n_const(part).mean() > _n_const(det).mean() + 5


def test_dark_jet_kinds():
    """aachen (semi-visible) is sparser than QCD, zprime_dark_light (fully visible, light-quark
    meson decays) denser, heidelberg (F_v -> q q_v, mesons mostly to b bbar) a little denser,
    all with leading jets at 150-300 GeV."""
    n = 150
    out = {}
    for kind in ("qcd_lowpt", "aachen", "zprime_dark_light", "heidelberg"):
        X, info = generate_jets(kind, n, random_state=5, progress=False, return_info=True)
        _check_layout(X, n, (150.0, 300.0))
        assert 0.05 < info["selection_efficiency"] < 0.9
        out[kind] = _n_const(X).mean()
    assert out["aachen"] < out["qcd_lowpt"] - 2
    assert out["zprime_dark_light"] > out["qcd_lowpt"] + 8
    assert out["qcd_lowpt"] < out["heidelberg"] < out["zprime_dark_light"] - 5


def test_card_overrides_are_applied():
    X, info = generate_jets("qcd", 20, random_state=1, progress=False, return_info=True,
                            pt_min=600.0, n_constituents=50)
    assert X.shape == (20, 50, 4)
    pt, _ = _jet_kinematics(X)
    assert pt.min() >= 600.0 * (1 - 1e-5)
    assert info["card"]["pt_min"] == 600.0 and info["card"]["n_constituents"] == 50
    # a narrow window: many batches select nothing, which must work too
    X = generate_jets("qcd", 2, random_state=0, chunk_size=1, progress=False, pt_min=645.0)
    assert X.shape == (2, 200, 4) and _jet_kinematics(X)[0].min() >= 645.0 * (1 - 1e-5)


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_same_output_different_seed_different():
    a, info = generate_jets("top", 25, random_state=3, progress=False, return_info=True)
    b = generate_jets("top", 25, random_state=3, progress=False)
    c = generate_jets("top", 25, random_state=4, progress=False)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert info["seed"] == 3 and info["kind"] == "top" and info["n_jets"] == 25
    assert info["n_events"] >= 25
    assert info["selection_efficiency"] == pytest.approx(25 / info["n_events"])
    assert 0.05 < info["selection_efficiency"] < 0.5
    assert info["versions"]["pythia8mc"] and info["versions"]["fastjet"]
    assert info["versions"]["jetad"] and info["versions"]["numpy"] == np.__version__
    assert any("Top:gg2ttbar" in s for s in info["pythia_settings"])
    assert info["sigma_gen_pb"] > 0


def test_n_jobs_does_not_change_output():
    kw = dict(random_state=21, chunk_size=10, progress=False)
    one = generate_jets("qcd", 30, n_jobs=1, **kw)
    two = generate_jets("qcd", 30, n_jobs=2, **kw)
    assert np.array_equal(one, two)


def test_dask_backend():
    pytest.importorskip("distributed")
    from dask.distributed import Client, LocalCluster
    from joblib import parallel_config

    kw = dict(random_state=8, chunk_size=8, progress=False)
    ref = generate_jets("qcd", 16, n_jobs=1, **kw)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        with parallel_config(backend="dask"):
            X = generate_jets("qcd", 16, n_jobs=2, **kw)
    assert np.array_equal(X, ref)


def test_deprecated_detector_keyword_maps_onto_level():
    kw = dict(random_state=3, progress=False)
    with pytest.warns(FutureWarning, match="level='particle'"):
        old = generate_jets("qcd", 20, detector=False, **kw)
    assert np.array_equal(old, generate_jets("qcd", 20, level="particle", **kw))
    for detector, level in ((True, "detector"), (False, "particle")):
        with pytest.warns(FutureWarning, match="'detector' parameter"):
            assert _generate._check_level("detector", detector) == level
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="contradicts"):
        generate_jets("qcd", 2, detector=True, level="particle", **kw)
    with pytest.warns(FutureWarning), pytest.raises(TypeError, match="bool"):
        generate_jets("qcd", 2, detector="yes", **kw)
    with pytest.raises(ValueError, match="level must be one of"):
        generate_jets("qcd", 2, level="parton", **kw)


def test_files_with_the_old_detector_setting_still_load(tmp_path, monkeypatch):
    import json

    import h5py

    path = str(tmp_path / "old.h5")
    kw = dict(random_state=2, chunk_size=10, progress=False, output=path)
    X, info = generate_jets("qcd", 20, level="particle", return_info=True, **kw)
    assert info["level"] == "particle" and "detector" not in info
    with h5py.File(path, "r+") as f:  # what files written before the rename hold
        for attr in ("settings", "info"):
            old = json.loads(f.attrs[attr])
            old["detector"] = old.pop("level") == "detector"
            f.attrs[attr] = json.dumps(old)
    monkeypatch.setattr(_generate, "_generate_chunk", None)  # must load, not regenerate
    X2, info2 = generate_jets("qcd", 20, level="particle", return_info=True, **kw)
    assert np.array_equal(X2, X) and info2["level"] == "particle" and "detector" not in info2
    with pytest.raises(ValueError, match="level: stored 'particle', requested 'detector'"):
        generate_jets("qcd", 20, **kw)


def test_cli_level_and_deprecated_no_detector(tmp_path, capsys):
    from jetad.cli import main

    new, old = str(tmp_path / "new.h5"), str(tmp_path / "old.h5")
    base = ["generate", "--kind", "qcd", "-n", "5", "--seed", "7", "--quiet"]
    assert main(base + ["-o", new, "--level", "particle"]) == 0
    with pytest.warns(FutureWarning, match="--level particle"):
        assert main(base + ["-o", old, "--no-detector"]) == 0
    (X_new, info_new), (X_old, info_old) = load_jets(new), load_jets(old)
    assert np.array_equal(X_new, X_old) and info_new["level"] == info_old["level"] == "particle"
    with pytest.raises(SystemExit):
        main(base + ["-o", old, "--no-detector", "--level", "detector"])
    with pytest.raises(SystemExit):
        main(base + ["-o", old, "--level", "parton"])
    capsys.readouterr()


# --------------------------------------------------------------------------- files


def test_output_resume_after_interruption(tmp_path, monkeypatch):
    path = str(tmp_path / "qcd.h5")
    kw = dict(random_state=4, chunk_size=10, progress=False, output=path)
    calls = []
    real_chunk = _generate._generate_chunk
    real_append = _io.append_chunk

    def spy(*args):
        calls.append(args[4])
        return real_chunk(*args)

    def interrupted(p, X, stats):
        if stats["chunk"] == 2:
            raise KeyboardInterrupt
        real_append(p, X, stats)

    monkeypatch.setattr(_generate, "_generate_chunk", spy)
    monkeypatch.setattr(_io, "append_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_jets("qcd", 30, **kw)
    assert not os.path.exists(path)  # nothing final written
    assert _io.read_partial_state(_io.partial_path(path))["n_rows"] == 20
    with pytest.raises(ValueError, match="unfinished"):
        load_jets(_io.partial_path(path))

    # a different seed must not resume
    with pytest.raises(ValueError, match="seed"):
        generate_jets("qcd", 30, **{**kw, "random_state": 5})

    monkeypatch.setattr(_io, "append_chunk", real_append)
    calls.clear()
    X, info = generate_jets("qcd", 30, return_info=True, **kw)
    assert calls == [2]  # only the missing chunk was generated
    assert not os.path.exists(_io.partial_path(path))
    ref = generate_jets("qcd", 30, random_state=4, chunk_size=10, progress=False)
    assert np.array_equal(X, ref)
    X2, info2 = load_jets(path)
    assert np.array_equal(X2, ref)
    assert info2["n_jets"] == 30 and len(info2["chunks"]) == 3 and info2["seed"] == 4
    assert info2["n_events"] == sum(c["n_events"] for c in info2["chunks"])

    # complete file: same settings -> loaded, not regenerated; other settings -> error
    calls.clear()
    X3 = generate_jets("qcd", 30, **kw)
    assert calls == [] and np.array_equal(X3, ref)
    X4 = generate_jets("qcd", 30, **{**kw, "random_state": None})  # reuses the file's seed
    assert calls == [] and np.array_equal(X4, ref)
    with pytest.raises(ValueError, match="different settings.*pt_min"):
        generate_jets("qcd", 30, pt_min=560.0, **kw)
    with pytest.raises(ValueError, match="different settings"):
        generate_jets("qcd", 30, **{**kw, "level": "particle"})


def test_output_refuses_foreign_file(tmp_path, rng):
    from jetad.datasets import save_jets

    path = tmp_path / "mine.h5"
    save_jets(path, np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="mine.h5"):
        generate_jets("qcd", 2, random_state=0, output=path, progress=False)
