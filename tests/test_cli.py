"""The ``jetad`` command line end to end on small files: train, score, export, generate, benchmark."""

import csv
import json
import os

import numpy as np
import pytest

from jetad import load_model
from jetad.cli import main
from jetad.datasets import load_jets, save_jets

N_JETS = 200
# a tiny AE on 16x16 images: 2 epochs of 200 jets
AE_FLAGS = ["--detector", "AE", "--param", "max_epochs=2", "--param", "batch_size=64",
            "--param", "device=cpu", "--preprocess-param", "n_pixels=16"]


@pytest.fixture(scope="module")
def jets(qcd_jets):
    return qcd_jets[:N_JETS]


@pytest.fixture(scope="module")
def labels():
    return np.arange(N_JETS) % 2


@pytest.fixture(scope="module")
def h5_file(jets, labels, tmp_path_factory):
    return save_jets(tmp_path_factory.mktemp("data") / "qcd.h5", jets, info={"source": "test"},
                     y=labels)


@pytest.fixture(scope="module")
def ae_model(h5_file, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("models") / "ae.jetad")
    assert main(["train", "-i", h5_file, *AE_FLAGS, "-o", path]) == 0
    return path


def _error_line(capsys):
    err = capsys.readouterr().err
    assert err.startswith("jetad: error: ") and len(err.strip().splitlines()) == 1, err
    return err


def _read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}


def _read_h5(path):
    import h5py

    with h5py.File(path, "r") as f:
        return {key: f[key][...] for key in f}, dict(f.attrs)


# --------------------------------------------------------------------------- train / score


def test_train_writes_a_safe_pipeline(ae_model, capsys):
    from sklearn.pipeline import Pipeline

    from jetad import AEDetector, JetImager

    model = load_model(ae_model)
    assert isinstance(model, Pipeline) and [n for n, _ in model.steps] == ["preprocess",
                                                                          "detector"]
    assert isinstance(model[0], JetImager) and model[0].n_pixels == 16
    assert isinstance(model[-1], AEDetector)
    assert model[-1].max_epochs == 2 and model[-1].random_state == 0
    assert len(model[-1].net_.history) == 2  # fitted: 2 epochs


def test_score_hdf5_and_csv_equal_the_model_in_process(ae_model, h5_file, jets, labels, tmp_path,
                                                       capsys):
    model = load_model(ae_model)
    expected = -model.score_samples(jets)  # higher = more anomalous
    np.testing.assert_allclose(expected, model[-1].anomaly_score(model[:-1].transform(jets)),
                               rtol=1e-12)
    h5_out, csv_out = str(tmp_path / "s.h5"), str(tmp_path / "s.csv")
    assert main(["score", ae_model, "-i", h5_file, "-o", h5_out]) == 0
    assert main(["score", ae_model, "-i", h5_file, "-o", csv_out, "--batch-size", "64"]) == 0
    assert f"scored {N_JETS} jets" in capsys.readouterr().out
    columns, attrs = _read_h5(h5_out)
    np.testing.assert_array_equal(columns["score"], expected)
    np.testing.assert_array_equal(columns["label"], labels)
    np.testing.assert_array_equal(columns["jet"], np.arange(N_JETS))
    assert "higher = more anomalous" in attrs["score"] and attrs["model"] == ae_model
    table = _read_csv(csv_out)
    assert list(table) == ["jet", "score", "label"]
    np.testing.assert_allclose(table["score"], expected, rtol=1e-6)  # other batches
    np.testing.assert_array_equal(table["label"], labels)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # atomic writes


def test_default_outputs_under_the_working_directory(h5_file, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "-i", h5_file, *AE_FLAGS, "--max-jets", "100"]) == 0
    model_path = os.path.join("jetad-models", "qcd_AEDetector.jetad")
    assert os.path.isfile(model_path)
    assert main(["score", model_path, "-i", h5_file, "--max-jets", "50"]) == 0
    scores_path = os.path.join("jetad-scores", "qcd_qcd_AEDetector.h5")
    assert _read_h5(scores_path)[0]["score"].shape == (50,)
    out = capsys.readouterr().out
    assert model_path in out and scores_path in out


def test_export_onnx_equals_the_scores(ae_model, h5_file, jets, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    scores_path, onnx_path = str(tmp_path / "s.h5"), str(tmp_path / "ae.onnx")
    assert main(["score", ae_model, "-i", h5_file, "-o", scores_path]) == 0
    assert main(["export", ae_model, "-o", onnx_path]) == 0
    out = capsys.readouterr().out
    assert "(n, 256)" in out and "JetImager" in out and "not part of the ONNX model" in out
    images = load_model(ae_model)[:-1].transform(jets)  # the ONNX model takes images
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    energy = session.run(["energy"], {"images": images.astype(np.float32)})[0]
    np.testing.assert_allclose(energy, _read_h5(scores_path)[0]["score"], rtol=1e-5)


def test_config_with_nested_sampler_params_and_flag_precedence(h5_file, tmp_path, capsys):
    config = tmp_path / "nae.json"
    config.write_text(json.dumps({
        "detector": "NAE",
        "params": {"max_epochs": 1, "nae_iterations": 2, "check_interval": 1, "batch_size": 64,
                   "nae_batch_size": 32, "device": "cpu", "sampler__n_z_steps": 2,
                   "sampler__n_x_steps": 3, "random_state": 5},
        "imager": {"n_pixels": 16, "gaussian_sigma": 1.0},
    }))
    path = str(tmp_path / "nae.jetad")
    assert main(["train", "-i", h5_file, "--config", str(config), "--param",
                 "sampler__n_x_steps=2", "--preprocess-param", "n_pixels=12", "-o", path]) == 0
    model = load_model(path)
    nae = model[-1]
    assert type(nae).__name__ == "NAEDetector" and nae.random_state == 5
    assert nae.sampler.n_z_steps == 2 and nae.sampler.n_x_steps == 2  # the flag wins
    assert model[0].n_pixels == 12 and model[0].gaussian_sigma == 1.0
    assert np.all(np.isfinite(-model.score_samples(load_jets(h5_file)[0][:10])))


def test_lund_preprocessing(h5_file, tmp_path, capsys):
    pytest.importorskip("fastjet")
    path = str(tmp_path / "lund.jetad")
    assert main(["train", "-i", h5_file, *AE_FLAGS[:-2], "--preprocess", "lund",
                 "--preprocess-param", "n_bins=16", "--max-jets", "60", "-o", path]) == 0
    assert type(load_model(path)[0]).__name__ == "LundPlane"


# --------------------------------------------------------------------------- ROOT


def _write_flat_root(path, jets, labels):
    ak = pytest.importorskip("awkward")
    uproot = pytest.importorskip("uproot")
    E, px, py, pz = (jets[..., k].astype(np.float64) for k in range(4))
    filled = E > 0
    pt = np.hypot(px, py)
    cols = {"part_pt": pt, "part_eta": np.arcsinh(np.divide(pz, pt, where=filled,
                                                            out=np.zeros_like(pz))),
            "part_phi": np.arctan2(py, px), "part_E": E}
    data = {name: ak.values_astype(ak.Array([v[f] for v, f in zip(values, filled, strict=True)]),
                                   np.float32)
            for name, values in cols.items()}
    data["is_signal"] = np.asarray(labels, dtype=np.int32)
    with uproot.recreate(path) as f:
        f.mktree("jets", data, counter_name=lambda b: "n_" + b)
    return str(path)


def test_train_and_score_a_root_file(jets, labels, tmp_path, capsys):
    root_file = _write_flat_root(tmp_path / "jets.root", jets, labels)
    branches = json.dumps({"pt": "part_pt", "eta": "part_eta", "phi": "part_phi",
                           "E": "part_E"})
    root_flags = ["-i", root_file, "--tree", "jets", "--layout", "flat", "--branches", branches]
    model_path = str(tmp_path / "root.jetad")
    assert main(["train", *root_flags, *AE_FLAGS, "-o", model_path]) == 0
    assert f"on {N_JETS} jets of {root_file}" in capsys.readouterr().out
    out = str(tmp_path / "s.csv")
    assert main(["score", model_path, *root_flags, "--label", "is_signal", "-o", out]) == 0
    table = _read_csv(out)
    assert list(table) == ["jet", "score", "label", "entry", "jet_index"]
    np.testing.assert_array_equal(table["label"], labels)
    np.testing.assert_array_equal(table["entry"], np.arange(N_JETS))
    # the ROOT jets are the HDF5 jets up to the float32 (pt, eta, phi) round trip
    model = load_model(model_path)
    np.testing.assert_allclose(table["score"], -model.score_samples(jets), rtol=1e-3)
    # --format root reads a file of any name
    os.rename(root_file, tmp_path / "jets.dat")
    flags = [*root_flags[2:], "-i", str(tmp_path / "jets.dat"), "--max-jets", "7"]
    assert main(["score", model_path, *flags, "--format", "root", "-o", out]) == 0
    assert len(_read_csv(out)["score"]) == 7
    assert main(["score", model_path, *flags, "-o", out]) == 1
    assert "--format" in _error_line(capsys)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("config", "match"), [
    ("{not json", "not valid JSON"),
    ('["AE"]', "must hold a JSON object"),
    ('{"detector": "AE", "epochs": 3}', "unknown keys ['epochs']"),
    ('{"detector": "LSTM"}', "unknown detector 'LSTM'"),
    ('{"params": [1, 2]}', "'params' must be a JSON object"),
    ('{"detector": "AE", "params": {"n_layers": 3}}', "n_layers"),
    ('{"detector": "AE", "params": {"max_epochs": -1}}', "max_epochs"),
])
def test_bad_config_is_one_line_and_status_1(config, match, h5_file, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(config)
    assert main(["train", "-i", h5_file, "--config", str(path), "-o",
                 str(tmp_path / "m.jetad")]) == 1
    assert match in _error_line(capsys)
    assert not (tmp_path / "m.jetad").exists()


def test_run_errors_are_one_line_and_status_1(ae_model, h5_file, tmp_path, capsys):
    missing = str(tmp_path / "missing.h5")
    cases = [
        (["train", "-i", missing, *AE_FLAGS], "no such input file"),
        (["train", "-i", h5_file, "--config", str(tmp_path / "none.json")],
         "no such config file"),
        (["train", "-i", h5_file, "--param", "n_layers=2"], "n_layers"),
        (["train", "-i", h5_file, "--label", "y", *AE_FLAGS], "--label"),
        (["score", ae_model, "-i", missing], "no such input file"),
        (["score", str(tmp_path / "none.jetad"), "-i", h5_file], "No such file"),
        (["score", h5_file, "-i", h5_file], "not a jetad model file"),
        (["export", str(tmp_path / "none.jetad")], "No such file"),
    ]
    for argv, match in cases:
        assert main(argv) == 1, argv
        assert match in _error_line(capsys), argv
    with pytest.raises(FileNotFoundError):  # --debug: the traceback, not one line
        main(["score", ae_model, "-i", missing, "--debug"])


def test_the_console_command_exits_1_with_one_line(tmp_path):
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.run([sys.executable, "-m", "jetad.cli", "train", "-i",
                           str(tmp_path / "missing.root")], env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("jetad: error: no such input file")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_bare_detector_is_not_scored_on_jets(ae_model, h5_file, tmp_path, capsys):
    from jetad import save_model

    bare = save_model(load_model(ae_model)[-1], tmp_path / "bare.jetad")
    assert main(["score", bare, "-i", h5_file]) == 1
    assert "not a Pipeline" in _error_line(capsys)
    assert main(["export", bare, "-o", str(tmp_path / "bare.onnx")]) == 0  # images in


@pytest.mark.parametrize("argv", [
    ["train", "-i", "x.h5", "--detector", "LSTM"],
    ["train", "-i", "x.h5", "--param", "max_epochs"],
    ["train"],
    ["score", "m.jetad", "-i", "x.h5", "-o", "scores.txt"],
    ["score", "m.jetad", "-i", "x.h5", "--branches", "[1]"],
    ["score", "m.jetad", "-i", "x.h5", "--jet-index", "-1"],
    ["export"],
    ["generate", "--kind", "qcd", "-n", "2", "--set", "pt_min"],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"jetad {argv[0]}: error:")


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", ["demo", "generate", "train", "score", "export", "benchmark"])
def test_every_command_has_a_description_defaults_and_an_example(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    paragraphs = out.split("\n\n")
    assert paragraphs[1].strip() and not paragraphs[1].startswith("options")  # description
    assert "(default:" in out and f"example:\n\n  jetad {command}" in out


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "generate", "train", "score", "export", "benchmark"):
        assert command in out


# --------------------------------------------------------------------------- benchmark


def test_benchmark_writes_under_the_working_directory(tmp_path, monkeypatch, capsys):
    import jetad._benchmark

    calls = []
    monkeypatch.setattr(jetad._benchmark, "run_benchmark",
                        lambda **kwargs: calls.append(kwargs) or 0)
    monkeypatch.chdir(tmp_path)
    assert main(["benchmark"]) == 0
    assert calls[-1]["output_dir"] == "jetad-benchmark"
    assert main(["benchmark", "--output-dir", "benchmarks/results", "--tasks", "dark,mmd"]) == 0
    assert calls[-1]["output_dir"] == "benchmarks/results"  # only when passed explicitly
    assert calls[-1]["tasks"] == ["dark", "mmd"]


# --------------------------------------------------------------------------- generate


def test_generate_card_overrides_and_the_loaded_report(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from jetad.datasets import _generate

    monkeypatch.chdir(tmp_path)
    argv = ["generate", "--kind", "qcd", "-n", "2", "--level", "particle", "--quiet",
            "--seed", "3", "--set", "pt_min=600", "--set", "eta_max=1.5"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("wrote 2 qcd jets to jetad-data")
    (path,) = (os.path.join("jetad-data", p) for p in os.listdir("jetad-data"))
    assert os.path.basename(path).startswith("qcd_2_seed3_particle_") and path in out
    X, info = load_jets(path)
    assert info["card"]["pt_min"] == 600 and info["card"]["eta_max"] == 1.5
    pt = np.hypot(*X.astype(np.float64).sum(axis=1)[:, 1:3].T)
    assert np.all(pt >= 600 * (1 - 1e-5))
    monkeypatch.setattr(_generate, "_generate_chunk", None)  # must load, not regenerate
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith(
        f"loaded 2 qcd jets from existing file {path}")
    for override, match in (["pt_min=\"high\"", "pt_min must be a number"],
                            ["n_jetz=3", "Unknown generation parameter"]):
        assert main([*argv[:-4], "--set", override]) == 1
        assert match in _error_line(capsys)
