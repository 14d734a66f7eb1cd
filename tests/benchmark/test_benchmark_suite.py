"""Tests of ``jetad benchmark`` (jetad._benchmark): config, a tiny resumable run.

The suite's MMD is :func:`jetad.metrics.maximum_mean_discrepancy` (tests/metrics/test_mmd.py).
"""

import json
import os

import numpy as np
import pytest

from jetad._benchmark import PRESETS, resolve_config, run_benchmark


# ------------------------------------------------------------------------------ config
def test_presets_resolve():
    for name in PRESETS:
        cfg = resolve_config(None, name)
        assert cfg["preset"] == name
        assert cfg["dark"]["pt_powers"] == [0.01, 0.1, 0.2, 0.3, 0.5]
    paper = resolve_config(None, "paper")
    assert paper["top_qcd"]["n_train"] == 100000 and len(paper["seeds"]) >= 3


@pytest.mark.parametrize("config, key", [
    ({"n_epochs": 3}, "n_epochs"),
    ({"top_qcd": {"n_trian": 10}}, "top_qcd.n_trian"),
    ({"detectors": {"AE": {"max_epoch": 1}}}, "detectors.AE.max_epoch"),
    ({"detectors": {"XAE": {}}}, "XAE"),
    ({"baselines": {"isolation_forest": {"n_trees": 3}}}, "baselines.isolation_forest.n_trees"),
    ({"baselines": {"knn": {}}}, "knn"),
    ({"imager": {"pt_power": 0.5}}, "imager.pt_power"),
    ({"tasks": ["top_qcd", "dijet"]}, "tasks"),
    ({"dark": {"n_test": 1}}, "dark.n_test"),
    ({"dark": {"pt_powers": [0.1, -1]}}, "dark.pt_powers"),
    ({"plots": {"dpl": 3}}, "plots.dpl"),
])
def test_bad_config_keys_name_the_key(config, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        resolve_config(config)


def test_config_file_and_merging(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"preset": "medium", "detectors": {"AE": {"max_epochs": 2}}}))
    cfg = resolve_config(str(path), "small")
    assert cfg["preset"] == "medium"
    assert list(cfg["detectors"]) == ["AE"]  # the names given replace the set ...
    assert cfg["detectors"]["AE"] == {**PRESETS["medium"]["detectors"]["AE"], "max_epochs": 2}


# ------------------------------------------------------------------- a tiny real run
@pytest.fixture
def tiny_files(qcd_jets, top_jets, tmp_path):
    """300 QCD / top jets from the session's cached samples, as HDF5 files."""
    from jetad.datasets import save_jets

    files = {}
    for name, X in (("qcd", qcd_jets), ("top", top_jets)):
        files[name] = str(tmp_path / f"{name}.h5")
        save_jets(files[name], X[:300])
    return files


def _tiny_config(files):
    return {
        "seeds": [0],
        # the dark kinds take the top-tagging files: this checks the plumbing only
        "data_files": {"qcd": files["qcd"], "top": files["top"], "qcd_lowpt": files["qcd"],
                       "aachen": files["top"]},
        "detectors": {"AE": {"max_epochs": 1, "batch_size": 64}},
        "baselines": {"mean_x2": {}, "isolation_forest": {"n_estimators": 10}, "jet_mass": {},
                      "supervised_cnn": {"max_epochs": 1}},
        "top_qcd": {"n_train": 150, "n_test": 150},
        "dark": {"n_train": 150, "n_test": 150, "pt_powers": [0.5], "signals": ["aachen"],
                 "detectors": None},
        "mmd": {"n_subsample": 60, "latent_detectors": ["AE"]},
        "plots": {"detectors": ["AE"], "n_worst": 2},
    }


def test_tiny_suite_writes_results_and_resumes(tiny_files, tmp_path, monkeypatch):
    import jetad.detectors as detectors

    calls = []
    fail_at = {"n": 2}  # simulate an interruption during the second detector fit

    class CountingAE(detectors.AEDetector):
        def fit(self, X, y=None):
            calls.append(1)
            if len(calls) == fail_at["n"]:
                raise KeyboardInterrupt("simulated interruption")
            return super().fit(X, y)

    monkeypatch.setattr(detectors, "AEDetector", CountingAE)
    out = str(tmp_path / "suite")
    cfg = _tiny_config(tiny_files)

    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg, output_dir=out)
    units = os.path.join(out, "units")
    assert os.path.exists(os.path.join(units, "top_qcd", "top__AE__seed0.json"))
    assert not os.path.exists(os.path.join(units, "top_qcd", "qcd__AE__seed0.json"))
    # no temporary files are left behind by the atomic writes
    assert not [f for _, _, fs in os.walk(out) for f in fs if f.endswith(".tmp")]

    fail_at["n"] = -1
    calls.clear()
    assert run_benchmark(cfg, output_dir=out) == 0
    # resumed: only the QCD-as-anomaly AE and the dark AE (n=0.5) were trained
    assert len(calls) == 2
    suite = json.load(open(os.path.join(out, "suite.json")))
    assert suite["units_reused"] >= 1
    labels = {(r["task"], r["setting"], r["label"]) for r in suite["results"]}
    for direction in ("top", "qcd"):
        for label in ("AE", "mean(x²)", "−mean(x²)", "IsolationForest", "jet mass",
                      "−jet mass", "supervised CNN"):
            assert ("top_qcd", direction, label) in labels
    assert ("dark", "n=0.5", "AE") in labels
    for r in suite["results"]:
        assert 0.0 <= r["auc_mean"] <= 1.0 and r["rejection_mean"] >= 1.0
    # both signs of the trivial score add up to 1 in AUC
    auc = {(r["setting"], r["label"]): r["auc_mean"] for r in suite["results"]
           if r["task"] == "top_qcd"}
    assert auc[("top", "mean(x²)")] + auc[("top", "−mean(x²)")] == pytest.approx(1.0)
    assert {m["signal"] for m in suite["mmd"]["image"]} == {"aachen", "QCD vs QCD"}
    assert suite["mmd"]["latent"][0]["detector"] == "AE"
    report = open(os.path.join(out, "report.md")).read()
    assert "| paper AUC |" in report and "0.875" in report and "MMD" in report
    for fig in ("roc_top_qcd_top_top.png", "roc_top_qcd_qcd_qcd.png", "mmd_vs_n.png",
                "roc_dark_sweep_AE.png", "model_top_qcd_top_AE.png"):
        path = os.path.join(out, "figures", fig)
        assert os.path.getsize(path) > 1000, fig
        assert fig in report

    # a rerun does nothing but rebuild the report
    calls.clear()
    run_benchmark(cfg, output_dir=out)
    assert calls == []
    assert json.load(open(os.path.join(out, "suite.json")))["units_run"] == 0

    # a changed detector setting reruns only that detector's units
    cfg["detectors"]["AE"]["lr"] = 5e-3
    run_benchmark(cfg, output_dir=out)
    assert len(calls) == 3  # two directions + one dark setting
    suite = json.load(open(os.path.join(out, "suite.json")))
    assert suite["config"]["detectors"]["AE"]["lr"] == 5e-3
    assert suite["units_run"] == 3


def test_unimportable_detector_is_skipped_with_a_note(tiny_files, tmp_path, monkeypatch):
    import jetad.detectors as detectors

    monkeypatch.delattr(detectors, "NAEDetector")
    cfg = _tiny_config(tiny_files)
    cfg.update(tasks=["top_qcd"], detectors={"NAE": {}},
               baselines={"mean_x2": {}}, plots={"enabled": False})
    cfg["top_qcd"]["directions"] = ["top"]
    out = str(tmp_path / "suite")
    run_benchmark(cfg, output_dir=out)
    suite = json.load(open(os.path.join(out, "suite.json")))
    assert any("NAE skipped" in n for n in suite["notes"])
    assert {r["label"] for r in suite["results"]} == {"mean(x²)", "−mean(x²)"}


# ------------------------------------------------------------- runner parts, no training
def test_task_specs_are_data_run_by_one_loop():
    from jetad._benchmark._tasks import IMAGE_MMD, task_specs

    cfg = resolve_config({"mmd": {"signals": ["aachen"], "pt_powers": [0.5]}}, "small")
    specs = task_specs(cfg)
    assert [(s.task, s.methods[:1]) for s in specs] == [
        ("top_qcd", ("AE",)), ("dark", ("NAE",)), ("mmd", (IMAGE_MMD,)), ("dark", ("NAE",))]
    top, dark, image, latent = specs
    assert [(s.name, s.background, s.signals) for s in top.settings] == [
        ("top", "qcd", ("top",)), ("qcd", "top", ("qcd",))]
    assert "mean_x2" in top.methods and top.seeds(cfg, "mean_x2") == cfg["seeds"][:1]
    assert [s.pt_power for s in dark.settings] == cfg["dark"]["pt_powers"]
    assert dark.latent_mmd and dark.settings[0].test_signals == ("aachen", "heidelberg")
    assert dark.settings[0].fingerprint["pt_power"] == 0.01
    # the latent detectors' units at the MMD powers are the dark units (same fingerprint)
    assert latent.methods == ("NAE",) and latent.settings[0] == dark.settings[-1]
    assert image.settings[0].signals == ("aachen",) and image.n_subsample == 600
    cfg = resolve_config({"tasks": ["mmd"], "mmd": {"latent_detectors": ["VAE"]},
                          "detectors": {"AE": {}}}, "small")
    image, latent = task_specs(cfg)
    assert latent.methods == () and "VAE is not in the configured detectors" in latent.notes[0]


def test_sample_cache_fetches_each_kind_once_with_the_suite_seed(tmp_path, monkeypatch):
    import jetad.datasets as datasets
    from jetad._benchmark._samples import SampleCache

    calls = []

    def fake_fetch(kind, n_jets, *, random_state, cache_dir, n_jobs, prefix):
        calls.append((kind, n_jets, random_state, cache_dir, prefix))
        X = np.zeros((n_jets, 3, 4), np.float32)
        X[:, 0] = [100.0, 60.0, 0.0, 0.0]  # one massless constituent along x
        X[:, 1] = [50.0, 30.0, 10.0, 0.0]
        return X, {"path": os.path.join(cache_dir, f"{prefix}{kind}.h5")}

    monkeypatch.setattr(datasets, "fetch_generated", fake_fetch)
    cfg = resolve_config({"data_seed": 2, "data_dir": str(tmp_path)}, "small")
    cache = SampleCache(cfg)
    assert cache.jets("aachen", 10).shape == (10, 3, 4)
    first = cache.images("aachen", 10, 0.5)
    assert cache.images("aachen", 10, 0.5) is first  # memoised
    cache.images("aachen", 10, 0.2)
    assert calls == [("aachen", 10, 203, str(tmp_path), "suite_")]  # 100 * data_seed + 3
    assert cache.provenance(["aachen", "qcd"]) == {
        "aachen": {"path": "$JETAD_CACHE/suite_aachen.h5", "generation_seed": 203,
                   "n_jets_used": 10}}


def test_run_state_reuses_only_units_with_the_same_fingerprint(tmp_path):
    from jetad._benchmark._store import RunState, Unit, fingerprint

    fp = fingerprint({"params": {"lr": 1e-3}, "sizes": [1, 2]})
    assert fp == fingerprint({"sizes": [1, 2], "params": {"lr": 1e-3}})  # order-free
    unit = Unit(str(tmp_path), "dark", "n=0.5", "AE", 0, fp)
    assert unit.path.endswith(os.path.join("units", "dark", "n_0.5__AE__seed0.json"))
    state = RunState()
    assert not state.reuse(unit)
    state.finish(unit, {"kind": "detector", "data": {"qcd": {"path": "a"}}},
                 {"aachen|y": np.ones(2, np.int8)})
    assert (state.ran, state.reused) == (1, 0)
    assert os.path.exists(unit.scores_path)
    again = RunState()
    assert again.reuse(unit) and again.reuse(unit)
    assert (again.ran, again.reused) == (0, 1)  # a unit is counted once
    assert again.units()[0]["method"] == "AE" and again.data_files() == {"qcd": {"path": "a"}}
    changed = Unit(str(tmp_path), "dark", "n=0.5", "AE", 0, fingerprint({"lr": 2e-3}))
    assert not RunState().reuse(changed)
    again.note("x")
    again.note("x")
    assert again.notes == ["x"]


# ----------------------------------------------------------------- readable figures
def test_setting_titles_are_display_text():
    from jetad._benchmark._figures import setting_title

    assert setting_title("top_qcd", "top") == "top as anomaly, QCD background"
    assert setting_title("top_qcd", "qcd", "qcd") == "QCD as anomaly, top background"
    assert setting_title("dark", "n=0.5", "aachen") == \
        "Aachen as anomaly, QCD background, $p_T^{0.5}$ images"
    assert "_" not in setting_title("other", "top_signal_t_over_Q")


def test_suite_roc_figure_is_readable():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties

    from jetad._benchmark._figures import _roc_figure

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 200)
    curves = {f"method {i}": (y, rng.normal(size=400) + y * i / 6) for i in range(12)}
    # energies that differ in the fifth decimal: a plain axis would print a "+1.167" offset
    energies = {"AE": (y, 1.167 + 1e-5 * (rng.normal(size=400) + y))}
    fig = _roc_figure("top_qcd", "top", "top", curves, energies)
    try:
        fig.canvas.draw()
        roc, hist = fig.axes[:2]
        for ax in (roc, hist):
            assert ax.xaxis.get_offset_text().get_text() == ""
            assert ax.yaxis.get_offset_text().get_text() == ""
        assert hist.get_ylabel() == "density"
        assert roc.get_title() == "top as anomaly, QCD background"
        assert not roc.collections  # no binomial bands in the crowded suite plot
        legend = roc.get_legend()
        small = FontProperties(size="small").get_size_in_points()
        assert all(t.get_fontsize() <= small for t in legend.get_texts())
        assert legend._ncols == 2
        # the legend lies below the axes, not over the curves
        assert legend.get_window_extent().y1 <= roc.get_window_extent().y0
    finally:
        plt.close(fig)


def test_model_figure_has_one_colour_scale_per_row(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jetad._benchmark import _figures

    class Det:
        def anomaly_score(self, X):
            return X.sum(1)

        def reconstruct(self, X):
            return 0.5 * X

    figs = []
    monkeypatch.setattr(_figures, "save_figure", lambda fig, path, dpi: figs.append(fig))
    rng = np.random.default_rng(0)
    X_bkg, X_sig = rng.random((20, 16)), 3 * rng.random((20, 16))
    cfg = {"plots": {"n_worst": 3, "dpi": 50}}
    _figures._model_figure(cfg, Det(), "AE", X_bkg, X_sig, "QCD", "top", "t",
                           str(tmp_path / "m.png"))
    (fig,) = figs
    try:
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert len(bars) == 3 and all(b.get_ylabel() for b in bars)
        panels = [ax for ax in fig.axes if ax.images]
        for row in range(3):
            norms = {(im.norm.vmin, im.norm.vmax) for ax in panels
                     if ax.get_subplotspec().rowspan.start == row for im in ax.images}
            assert len(norms) == 1, row
    finally:
        plt.close(fig)


def test_portable_path_hides_the_machine_s_absolute_paths(tmp_path, monkeypatch):
    from jetad._benchmark._samples import portable_path

    cache = tmp_path / "cache"
    assert portable_path(cache / "sub" / "qcd.h5", cache) == "$JETAD_CACHE/sub/qcd.h5"
    monkeypatch.chdir(tmp_path)
    assert portable_path(tmp_path / "runs" / "a.h5", cache) == "runs/a.h5"
    outside = tmp_path.parent / "elsewhere" / "b.h5"
    assert portable_path(outside, cache) == "b.h5"
