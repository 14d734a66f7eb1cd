"""Every bad input is refused with a clear error (issue 14): one regression test per defect."""

import json
import os
import signal
import subprocess
import sys
import time

import awkward as ak
import h5py
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import jetad.detectors as detectors
from jetad import JetImager, LundPlane
from jetad.datasets import _io, load_jets, load_top_tagging, save_jets
from jetad.datasets._cards import pythia_settings, resolve_card
from jetad.jets import as_padded, jet_mass
from jetad.metrics import image_concentration

F32_MAX = float(np.finfo(np.float32).max)
DETECTORS = [getattr(detectors, name) for name in detectors.__all__
             if name.endswith("Detector") and name != "BaseNeuralDetector"]


@pytest.fixture
def imgs():
    rng = np.random.default_rng(0)
    return (rng.random((32, 1600)) / 800).astype(np.float32)


def _small(cls, **kwargs):
    return cls(max_epochs=1, batch_size=16, random_state=0, device="cpu", **kwargs)


def _jets(n=6, m=5, seed=0):
    rng = np.random.default_rng(seed)
    X = np.zeros((n, m, 4))
    p = rng.normal(size=(n, m - 1, 3)) * 10
    X[:, :-1, 1:] = p
    X[:, :-1, 0] = np.linalg.norm(p, axis=-1) * 1.01
    return X


# --------------------------------------------------------------------- #1 float32 overflow
@pytest.mark.parametrize("cls", DETECTORS)
def test_1_fit_refuses_values_beyond_float32(cls, imgs):
    X = imgs.astype(np.float64)
    X[0, 0] = 1e39
    with pytest.raises(ValueError, match="float32"):
        _small(cls).fit(X)


def test_1_scoring_refuses_values_beyond_float32(imgs):
    det = _small(detectors.AEDetector).fit(imgs)
    X = imgs.astype(np.float64)
    X[3, 7] = -1e39
    for method in ("score_samples", "decision_function", "predict", "anomaly_score",
                   "encode", "reconstruct"):
        with pytest.raises(ValueError, match="float32"):
            getattr(det, method)(X)


# --------------------------------------------------------------------- #2 diverging training
def test_2_diverged_training_is_an_error(imgs):
    det = _small(detectors.AEDetector, lr=1e6)
    with pytest.raises(ValueError, match="not finite.*lr"):
        det.fit(imgs)
    assert not hasattr(det, "offset_")
    with pytest.raises(NotFittedError):
        det.predict(imgs)
    for lr in (0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="lr"):
            _small(detectors.AEDetector, lr=lr).fit(imgs)


# --------------------------------------------------------------------- #4 negative strides
def test_4_negative_strides(imgs):
    det = _small(detectors.AEDetector).fit(imgs[::-1])
    ref = _small(detectors.AEDetector).fit(np.ascontiguousarray(imgs[::-1]))
    np.testing.assert_array_equal(det.offset_, ref.offset_)
    flipped = imgs[:, ::-1]
    np.testing.assert_array_equal(det.score_samples(flipped),
                                  det.score_samples(np.ascontiguousarray(flipped)))
    det.reconstruct(imgs[::-2].reshape(-1, 1, 40, 40)[:, :, ::-1])


# --------------------------------------------------------------------- #15 dtypes
@pytest.mark.parametrize("make", [
    lambda X: X > 0.0005,
    lambda X: X.astype(str),
    lambda X: X.astype(complex),
    lambda X: np.ma.masked_array(X, mask=X > 0.001),
    lambda X: X.astype(object).astype(str).astype(object),
], ids=["bool", "str", "complex", "masked", "object-str"])
def test_15_detectors_refuse_non_real_input(make, imgs):
    with pytest.raises(TypeError, match="X"):
        _small(detectors.AEDetector).fit(make(imgs))
    det = _small(detectors.AEDetector).fit(imgs)
    with pytest.raises(TypeError, match="X"):
        det.score_samples(make(imgs))


def test_15_detectors_still_accept_object_and_int(imgs):
    _small(detectors.AEDetector).fit(imgs.astype(object))
    _small(detectors.AEDetector).fit((imgs * 1000).astype(np.int32))


@pytest.mark.parametrize("make", [
    lambda X: X.astype(str),
    lambda X: X > 1,
    lambda X: X.astype(complex),
    lambda X: np.ma.masked_array(X, mask=np.zeros_like(X, dtype=bool)),
    lambda X: [jet.astype(str) for jet in X],
    lambda X: X.astype(object).astype(str).astype(object),
], ids=["str", "bool", "complex", "masked", "ragged-str", "object-str"])
def test_15_as_padded_refuses_non_real_input(make):
    with pytest.raises(TypeError, match="X"):
        as_padded(make(_jets()))
    for transformer in (JetImager(n_pixels=8), LundPlane(n_bins=8)):
        with pytest.raises(TypeError, match="X"):
            transformer.transform(make(_jets()))


def test_15_image_concentration_refuses_non_real_input():
    X = np.ones((3, 4))
    for bad in (X.astype(str), X > 0, X.astype(complex)):
        with pytest.raises(TypeError):
            image_concentration(bad)


# --------------------------------------------------------------------- #16 parameters
@pytest.mark.parametrize("cls,params", [
    (detectors.AEDetector, {"latent_dim": 0}),
    (detectors.AEDetector, {"hidden_dim": 0}),
    (detectors.AEDetector, {"latent_dim": -2}),
    (detectors.AEDetector, {"n_filters": 0}),
    (detectors.AEDetector, {"verbose": "loud"}),
    (detectors.AEDetector, {"lr": 0}),
    (detectors.VAEDetector, {"beta_kl": -1}),
    (detectors.VAEDetector, {"latent_dim": 0}),
    (detectors.GMVAEDetector, {"n_filters": 0}),
    (detectors.GMVAEDetector, {"beta_kl": np.nan}),
    (detectors.DVAEDetector, {"hidden_dim": 0}),
    (detectors.DVAEDetector, {"beta_kl": -1.0}),
    (detectors.DVAEDetector, {"lr": np.inf}),
])
def test_16_parameter_constraints(cls, params, imgs):
    name = next(iter(params))
    with pytest.raises(ValueError, match=f"{name} must be"):
        _small(cls, **params).fit(imgs)


# --------------------------------------------------------------------- #8 E < |p|
def test_8_energy_below_momentum_refused():
    X = _jets()
    X[2, 1, 0] = 0.5 * np.linalg.norm(X[2, 1, 1:])
    with pytest.raises(ValueError, match=r"E < \|p\|"):
        as_padded(X)
    with pytest.raises(ValueError, match=r"E < \|p\|"):
        LundPlane(n_bins=8).transform(X)


def test_8_massless_rounding_accepted():
    X = _jets().astype(np.float32)
    X[..., 0] = np.linalg.norm(X[..., 1:], axis=-1) * np.float32(1 - 1e-7)
    as_padded(X)
    ln_kt = ak.flatten(LundPlane(n_bins=8).declusterings(X)["ln_kt"])
    assert np.all(np.isfinite(ln_kt)) and len(ln_kt) == 6 * 3


# --------------------------------------------------------------------- #13 no constituents
def test_13_zero_constituents():
    X = np.zeros((3, 0, 4))
    with pytest.warns(UserWarning, match="3 of 3"):
        out = JetImager(n_pixels=8).transform(X)
    assert out.shape == (3, 64) and not out.any()
    with pytest.warns(UserWarning):
        out = LundPlane(n_bins=8).transform(X)
    assert out.shape == (3, 64) and not out.any()


# --------------------------------------------------------------------- #14 huge momenta
def test_14_huge_constituents_refused():
    X = _jets() * 1e200
    with pytest.raises(ValueError, match="float32"):
        as_padded(X)
    with pytest.raises(ValueError, match="float32"):
        jet_mass(X)
    with pytest.raises(ValueError, match="float32"):
        LundPlane(n_bins=8).transform(X)
    big = _jets() * 1e37  # within float32: finite results
    assert np.all(np.isfinite(jet_mass(big)))
    ln_kt = ak.flatten(LundPlane(n_bins=8).declusterings(big)["ln_kt"])
    assert np.all(np.isfinite(ln_kt)) and len(ln_kt) == 6 * 3
    assert np.all(np.isfinite(image_concentration(np.full((2, 4), 1e150))))


# --------------------------------------------------------------------- #5 labels
def _fixed_frame(path, labels):
    pd = pytest.importorskip("pandas")
    cols = {}
    for i in range(2):
        for c in ("E", "PX", "PY", "PZ"):
            cols[f"{c}_{i}"] = np.ones(len(labels))
    cols["is_signal_new"] = np.asarray(labels, dtype=np.float64)
    pd.DataFrame(cols).to_hdf(path, key="table", mode="w")


@pytest.mark.parametrize("labels,match", [([0, np.nan, 1], "nan"), ([0, 0.7, 1], "0.7"),
                                          ([0, 2, 1], "0 or 1"), ([0, -1, 1], "0 or 1")])
def test_5_top_tagging_labels(tmp_path, labels, match):
    _fixed_frame(tmp_path / "t.h5", labels)
    with pytest.raises(ValueError, match=match):
        load_top_tagging(tmp_path / "t.h5")


def test_5_top_tagging_good_labels(tmp_path):
    _fixed_frame(tmp_path / "t.h5", [0, 1, 1])
    assert load_top_tagging(tmp_path / "t.h5")[1].tolist() == [0, 1, 1]


# --------------------------------------------------------------------- #17 top tagging
@pytest.mark.parametrize("n", [0, -2, 2.5, True, "2"])
def test_17_top_tagging_n_constituents(tmp_path, n):
    _fixed_frame(tmp_path / "t.h5", [0, 1])
    with pytest.raises((TypeError, ValueError), match="n_constituents"):
        load_top_tagging(tmp_path / "t.h5", n_constituents=n)


def test_17_top_tagging_missing_block_items(tmp_path):
    path = tmp_path / "t.h5"
    _fixed_frame(path, [0, 1])
    with h5py.File(path, "r+") as f:
        del f["table/block0_items"]
    with pytest.raises(ValueError, match="block0_items"):
        load_top_tagging(path)


# --------------------------------------------------------------------- #6, #17, #19 load_jets
def _write_raw(path, X, info="{}", y=None, **attrs):
    with h5py.File(path, "w") as f:
        f.attrs["jetad_format"] = 1
        f.attrs["info"] = info
        if isinstance(X, dict):
            f.create_group("X")
        else:
            f.create_dataset("X", data=X)
        if y is not None:
            f.create_dataset("y", data=y)
        for k, v in attrs.items():
            f.attrs[k] = v


@pytest.mark.parametrize("X,y,match", [
    (np.array([b"a", b"b"]), None, "X"),
    (np.ones((3, 4)), None, "X must have shape"),
    (np.float32(1.0), None, "X must have shape"),
    (np.ones((3, 2, 4), dtype=np.int8), None, "X must be float"),
    (np.ones((3, 2, 5), dtype=np.float32), None, "X must have shape"),
    (np.ones((3, 2, 4), dtype=np.float32), np.zeros(7, dtype=np.int64), "y"),
    (np.ones((3, 2, 4), dtype=np.float32), np.zeros(3, dtype=np.float64), "y"),
    (np.ones((3, 2, 4), dtype=np.float32), np.array([b"a"] * 3), "y"),
    ({}, None, "X"),
])
def test_6_load_jets_validates_contents(tmp_path, X, y, match):
    path = tmp_path / "bad.h5"
    _write_raw(path, X, y=y)
    with pytest.raises(ValueError, match=match):
        load_jets(path)


def test_6_load_jets_refuses_nan(tmp_path):
    X = np.ones((3, 2, 4), dtype=np.float32)
    X[1, 1, 2] = np.nan
    _write_raw(tmp_path / "nan.h5", X)
    with pytest.raises(ValueError, match="NaN"):
        load_jets(tmp_path / "nan.h5")


@pytest.mark.parametrize("info", ["[1, 2]", "not json", '"text"'])
def test_17_load_jets_info_must_be_a_json_object(tmp_path, info):
    _write_raw(tmp_path / "i.h5", np.ones((2, 2, 4), dtype=np.float32), info=info)
    with pytest.raises(ValueError, match="info"):
        load_jets(tmp_path / "i.h5")


def test_19_load_jets_refuses_external_links(tmp_path):
    target = tmp_path / "target.h5"
    save_jets(target, _jets())
    path = tmp_path / "link.h5"
    with h5py.File(path, "w") as f:
        f.attrs["info"] = "{}"
        f["X"] = h5py.ExternalLink(str(target), "/X")
    with pytest.raises(ValueError, match="link"):
        load_jets(path)
    with h5py.File(path, "w") as f:
        f.attrs["info"] = "{}"
        f.create_dataset("data", data=np.ones((2, 2, 4), np.float32))
        f["X"] = h5py.SoftLink("/data")
    with pytest.raises(ValueError, match="link"):
        load_jets(path)


def test_19_load_jets_size_guard(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:
        f.attrs["info"] = "{}"
        f.create_dataset("X", shape=(2_000_000_000, 200, 4), dtype=np.float32,
                         chunks=(1024, 200, 4), compression="gzip")
    assert os.path.getsize(path) < 1e6
    with pytest.raises(ValueError, match="GiB"):
        load_jets(path)


# --------------------------------------------------------------------- #18 save_jets
def test_18_save_jets_refuses_bad_values(tmp_path):
    path = tmp_path / "x.h5"
    for bad, exc, match in [(_jets() * 1e39, ValueError, "float32"),
                            (np.where(_jets() > 5, np.nan, _jets()), ValueError, "NaN"),
                            (-_jets(), ValueError, "negative energy"),
                            (_jets().astype(complex), TypeError, "X"),
                            (_jets() > 0, TypeError, "X"),
                            (np.zeros((0, 5, 4)), ValueError, "0 jets")]:
        with pytest.raises(exc, match=match):
            save_jets(path, bad)
    with pytest.raises(ValueError, match="'y'"):
        save_jets(path, _jets(), info={"y": [1, 2]})
    with pytest.raises(TypeError, match="integer labels"):
        save_jets(path, _jets(), y=np.array([0, 1, 0.7, 1, 0, 0]))
    with pytest.raises(TypeError, match="y"):
        save_jets(path, _jets(), y=np.array(["0", "1", "0", "1", "0", "0"]))
    assert not os.path.exists(path)
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------- #7, #20 cards
def test_7_extra_settings_cannot_override_the_seed():
    for cmd in ("Random:seed = 5", "random:SEED=5", "Random:setSeed = off"):
        with pytest.raises(ValueError, match="random_state"):
            resolve_card("qcd", {"extra_settings": [cmd]})
    card = resolve_card("qcd", {"extra_settings": ["PhaseSpace:mHatMin = 10"]})
    assert pythia_settings(card, 3)[-1] == "PhaseSpace:mHatMin = 10"


@pytest.mark.parametrize("kind,key,value", [
    ("qcd", "jet_r", np.nan), ("qcd", "eta_max", np.nan), ("qcd", "pt_min", np.nan),
    ("qcd", "ecm", np.inf), ("qcd", "pthat_max", np.nan), ("aachen", "mzprime", np.nan),
    ("aachen", "prob_vector", np.nan), ("aachen", "m_rho_dark", np.nan),
])
def test_20_card_refuses_nan_and_inf(kind, key, value):
    with pytest.raises(ValueError, match=key):
        resolve_card(kind, {key: value})


@pytest.mark.parametrize("value", [2.7, 2.0, np.float64(3)])
def test_20_integer_card_entries_are_not_truncated(value):
    with pytest.raises(TypeError, match="n_constituents"):
        resolve_card("qcd", {"n_constituents": value})
    assert resolve_card("qcd", {"n_constituents": np.int64(3)})["n_constituents"] == 3


# --------------------------------------------------------------------- #21 lock / temp files
def test_21_generation_lock_is_removed(tmp_path):
    out = tmp_path / "g.h5"
    with _io.generation_lock(out):
        assert os.path.exists(tmp_path / ".g.h5.lock")
    assert os.listdir(tmp_path) == []
    with pytest.raises(RuntimeError):
        with _io.generation_lock(out):
            raise RuntimeError("failed run")
    assert os.listdir(tmp_path) == []


def test_21_generate_jets_leaves_no_lock(tmp_path):
    pytest.importorskip("pythia8mc")
    from jetad.datasets import generate_jets

    out = tmp_path / "g.h5"
    generate_jets("qcd", 3, random_state=1, output=out, progress=False, level="particle")
    assert sorted(os.listdir(tmp_path)) == ["g.h5"]
    with pytest.raises(ValueError):
        generate_jets("qcd", 3, random_state=2, output=out, progress=False, level="particle")
    assert sorted(os.listdir(tmp_path)) == ["g.h5"]


def test_21_killed_save_leaves_a_temp_that_the_next_save_removes(tmp_path):
    out = tmp_path / "k.h5"
    code = (
        "import os, signal, numpy as np, h5py\n"
        "from jetad.datasets import _io\n"
        "real = _io._create_X\n"
        "def killed(f, X):\n"
        "    real(f, X); f.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
        "_io._create_X = killed\n"
        f"_io.save_jets({str(out)!r}, np.ones((4000, 50, 4), np.float32))\n"
    )
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    stale = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(stale) == 1
    save_jets(out, _jets())
    assert sorted(os.listdir(tmp_path)) == ["k.h5"]


# --------------------------------------------------------------------- #23 docstring
def test_23_random_state_none_documented():
    doc = detectors.BaseNeuralDetector.__doc__
    assert "never touched" not in doc
    assert "global" in doc and "np.random" in doc


# --------------------------------------------------------------------- #9, #22 CLI
def _cli(*args):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    return subprocess.run([sys.executable, "-m", "jetad.cli", *args], env=env,
                          capture_output=True, text=True)


@pytest.mark.parametrize("n", ["0", "-3", "abc"])
def test_9_cli_refuses_bad_n_jets(n, tmp_path):
    proc = _cli("generate", "--kind", "qcd", "-n", n, "-o", str(tmp_path / "x.h5"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("jetad generate: error:")


def test_9_cli_failed_run_is_one_line(tmp_path, capsys):
    pytest.importorskip("pythia8mc")
    from jetad.cli import main

    out = str(tmp_path / "q.h5")
    base = ["generate", "--kind", "qcd", "-n", "3", "--level", "particle", "--quiet"]
    assert main(base + ["-o", out, "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(base + ["-o", out, "--seed", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jetad: error: ") and len(err.strip().splitlines()) == 1
    assert "different settings" in err
    with pytest.raises(ValueError, match="different settings"):
        main(base + ["-o", out, "--seed", "2", "--debug"])


def test_9_cli_unwritable_output(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = _cli("generate", "--kind", "qcd", "-n", "2", "--quiet", "--level", "particle",
                "-o", str(blocker / "x.h5"))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("jetad: error: ")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_22_cli_chunk_size(tmp_path, capsys):
    pytest.importorskip("pythia8mc")
    from jetad.cli import main

    out = str(tmp_path / "c.h5")
    assert main(["generate", "--kind", "qcd", "-n", "4", "--chunk-size", "2", "--quiet",
                 "--level", "particle", "-o", out, "--seed", "3"]) == 0
    assert load_jets(out)[1]["chunk_size"] == 2
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--kind", "qcd", "-n", "4", "--chunk-size", "0", "-o", out])
    assert exc.value.code == 2
    capsys.readouterr()


def test_load_jets_round_trip_still_works(tmp_path):
    X = _jets().astype(np.float32)
    save_jets(tmp_path / "ok.h5", X, info={"a": 1}, y=np.arange(6) % 2)
    X2, info = load_jets(tmp_path / "ok.h5")
    np.testing.assert_array_equal(X2, X)
    assert info["a"] == 1 and info["y"].tolist() == [0, 1, 0, 1, 0, 1]
    assert json.loads(json.dumps({k: v for k, v in info.items() if k != "y"}))


def test_lund_plane_empty_last_jet():
    """Found by the property tests: an empty jet after the last non-empty one."""
    X = np.array([[[1.0, 1.0, 0.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]]])
    with pytest.warns(UserWarning):
        out = LundPlane(n_bins=8).transform(X)
    assert out.shape == (2, 64) and not out.any()


def test_18_save_jets_without_constituents(tmp_path):
    """Found by the property tests: (n, 0, 4) gave an h5py chunk-shape error."""
    save_jets(tmp_path / "e.h5", np.zeros((3, 0, 4)))
    X, info = load_jets(tmp_path / "e.h5")
    assert X.shape == (3, 0, 4) and info == {}


def test_14_lund_plane_constituent_along_the_beam():
    """Found by the property tests: E == pz with a tiny pT gave R = inf in FastJet."""
    X = np.array([[[1e20, 6.6e-54, 0.0, 1e20], [1e20, 1e20, 0.0, 0.0]]])
    out = LundPlane(n_bins=8).transform(X)
    assert out.shape == (1, 64) and np.all(np.isfinite(out))


def test_21_lock_excludes_a_second_writer(tmp_path):
    out = tmp_path / "w.h5"
    code = (
        "import os, time\n"
        "from jetad.datasets import _io\n"
        f"with _io._writer_lock({str(out)!r}):\n"
        f"    open({str(tmp_path / 'acquired')!r}, 'w').close()\n"
        "    time.sleep(0.5)\n"
        f"    open({str(tmp_path / 'released')!r}, 'w').close()\n"
    )
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    child = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        while not (tmp_path / "acquired").exists():
            assert child.poll() is None
            time.sleep(0.01)
        with _io._writer_lock(out):
            assert (tmp_path / "released").exists()
    finally:
        child.wait()
    assert sorted(os.listdir(tmp_path)) == ["acquired", "released"]


def test_21_generation_lock_removes_stale_temps_of_its_target_only(tmp_path):
    names = [".g.h5.abcd1234.tmp", ".g.h5.partial.x_y9ABCD.tmp"]
    kept = [".g.h5.partial", ".other.h5.abcd1234.tmp", "g.h5.abcd1234.tmp", ".g.h5.abc.tmp"]
    for name in names + kept:
        (tmp_path / name).write_bytes(b"x")
    with _io.generation_lock(tmp_path / "g.h5"):
        assert sorted(os.listdir(tmp_path)) == sorted(kept + [".g.h5.lock"])
    assert sorted(os.listdir(tmp_path)) == sorted(kept)


def test_15_awkward_refuses_non_real_input():
    jets = [np.array([[2.0, 1, 1, 1]] * 2), np.array([[2.0, 1, 1, 1]])]
    with pytest.raises(TypeError, match="X"):
        as_padded(ak.Array([j > 0 for j in jets]))
    records = ak.zip({c: ak.Array([[1.0, 2.0], [3.0]]) for c in ("pt", "eta")}
                     | {"phi": ak.Array([[True, False], [True]])})
    with pytest.raises(TypeError, match="phi"):
        as_padded(records, columns=("pt", "eta", "phi"))
    assert as_padded(ak.Array(jets)).shape == (2, 2, 4)


def test_9_cli_without_command_is_a_usage_error():
    proc = _cli()
    assert proc.returncode == 2 and "a command is required" in proc.stderr
    assert _cli("--version").returncode == 0
