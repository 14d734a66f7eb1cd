"""Re-rendering stored benchmark results with honest uncertainties, without training.

Each ``--rerender`` path is fed a small synthetic stored file: std over seeds
with ddof=1, the passing count k reconstructed as N_B / rejection, the 68 % CL
interval around the value, the lower limit below N_B when nothing passes and
the flag below 10 counts.
"""

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from jetad._benchmark._report import rerender_report
from jetad._benchmark._results import aggregate, format_rejection, stored_rejection
from jetad.metrics import background_rejection_interval

ROOT = Path(__file__).resolve().parents[1]
N_B = 20000


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(path, obj):
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


# ------------------------------------------------------------------ the shared helper
def test_stored_rejection_reconstructs_k_and_its_interval():
    r = stored_rejection(N_B / 6, N_B)
    assert r["n_background_pass"] == 6 and r["n_background_pass_reconstructed"]
    assert r["low_count"] and not r["rejection_bounded"]
    assert r["rejection_low"] < r["rejection"] < r["rejection_high"]
    assert "⚠" in format_rejection(r) and "k = 6/20000" in format_rejection(r)
    many = stored_rejection(N_B / 150, N_B)
    assert many["n_background_pass"] == 150 and not many["low_count"]
    assert "⚠" not in format_rejection(many)


def test_stored_rejection_matches_the_interval_from_the_scores():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(2000), np.ones(2000)]
    scores = np.r_[rng.normal(size=2000), rng.normal(2.0, 1.0, size=2000)]
    exact = background_rejection_interval(y, scores)
    rebuilt = stored_rejection(exact["rejection"], 2000)
    assert rebuilt["n_background_pass"] == exact["n_background_pass"]
    for key in ("rejection", "rejection_low", "rejection_high"):
        assert rebuilt[key] == pytest.approx(exact[key], rel=1e-9)


def test_zero_pass_is_a_lower_limit_below_n_background():
    # old files stored N_B itself when no background jet passed
    r = stored_rejection(N_B, N_B, bounded=True)
    assert r["n_background_pass"] == 0 and r["rejection_bounded"] and r["low_count"]
    assert r["rejection_high"] is None
    assert r["rejection"] == r["rejection_low"] < N_B
    assert r["rejection"] == pytest.approx(N_B / 1.148, rel=2e-3)
    y = np.r_[np.zeros(N_B), np.ones(10)]
    scores = np.r_[np.zeros(N_B), np.ones(10)]
    assert r["rejection"] == pytest.approx(background_rejection_interval(y, scores)["rejection"])
    assert format_rejection(r).startswith("≥ ")


# ------------------------------------------------------------------------ bench_nae
def _model(auc, rejection, bounded=False):
    return {"auc": auc, "rejection": rejection, "rejection_bounded": bounded}


def _nae_run(seed, rejections):
    return {"signal": "top", "background": "qcd", "seed": seed, "threads": 1,
            "pretrain_time_s": 10.0, "nae_time_s": 20.0, "score_time_s": 1.0,
            "n_nae_iterations": 100, "best_iteration": 100, "collapsed": False,
            "AE": _model(0.90 + seed / 100, rejections[0]),
            "NAE": _model(0.93 + seed / 100, rejections[1]),
            "mean_x2": _model(0.85, N_B / 6),
            "minus_mean_x2": _model(0.15, N_B, bounded=True),
            "auc_vs_time": [{"iteration": 100, "time_s": 30.0, "auc": 0.93}]}


def test_bench_nae_rerender(tmp_path):
    bench_nae = _script("bench_nae")
    rejections = [(N_B / 100, N_B / 200), (N_B / 120, N_B / 180), (N_B / 110, N_B / 250)]
    runs = [_nae_run(seed, rej) for seed, rej in enumerate(rejections)]
    out = _write(tmp_path / "nae.json", {
        "meta": {"reduced": True, "config": {"n_train": 100, "n_test": N_B, "curve_n_test": 10,
                                             "params": {"preset": "cpu"}}},
        "paper": bench_nae.PAPER, "summary": {}, "runs": runs})
    bench_nae.main(["--rerender", "--out", str(out)])
    data = json.loads(out.read_text())
    s = data["summary"]["top"]
    nae_rej = [r[1] for r in rejections]
    assert s["NAE"]["rejection_std"] == pytest.approx(np.std(nae_rej, ddof=1))
    assert s["NAE"]["auc_std"] == pytest.approx(np.std([0.93, 0.94, 0.95], ddof=1))
    assert s["NAE"]["n_background_pass_per_seed"] == [200, 180, 250]
    assert s["NAE"]["n_background"] == N_B
    for lo, rej, hi in zip(s["NAE"]["rejection_low_per_seed"], s["NAE"]["rejection_per_seed"],
                           s["NAE"]["rejection_high_per_seed"], strict=True):
        assert lo <= rej <= hi
    assert s["mean_x2"]["n_background_pass_per_seed"] == [6, 6, 6]
    bound = s["minus_mean_x2"]
    assert bound["rejection_bounded"] and bound["n_background_pass_per_seed"] == [0, 0, 0]
    assert max(bound["rejection_per_seed"]) < N_B
    assert all(r["NAE"]["n_background_pass_reconstructed"] for r in data["runs"])
    md = (tmp_path / "nae.md").read_text()
    assert "ddof=1" in md and "reconstructed" in md
    assert "k = 6/20000) ⚠" in md and "≥ " in md and "k = 200/20000" in md


# -------------------------------------------------------------------- bench_detectors
def test_bench_detectors_rerender(tmp_path):
    bench_detectors = _script("bench_detectors")
    tagging = {"rejection_at_0.2": 10000 / 482, "rejection_at_0.2_stat_err": 0.9, "auc": 0.81,
               "baseline_mean_x2_auc": 0.24, "baseline_minus_mean_x2_auc": 0.76,
               "baseline_mean_x2_rejection": 10000 / 6260,
               "baseline_minus_mean_x2_rejection": 10000 / 7}
    out = _write(tmp_path / "detectors.json",
                 {"settings": {"n_test": 10000}, "tagging": {"top_as_anomaly": tagging}})
    bench_detectors.main(["--rerender", "--output", str(out)])
    r = json.loads(out.read_text())["tagging"]["top_as_anomaly"]
    assert r["rejection_at_0.2"] == tagging["rejection_at_0.2"]  # old keys kept
    assert r["n_background_pass"] == 482 and r["n_background"] == 10000
    assert r["rejection_low"] <= r["rejection"] <= r["rejection_high"]
    low = r["baselines"]["−mean(x²)"]
    assert low["n_background_pass"] == 7 and low["low_count"]
    assert "rerender_note" in json.loads(out.read_text())


# ------------------------------------------------------------------------------ suite
def _suite_unit(folder, seed, bkg_scores, sig_scores):
    y = np.r_[np.zeros(len(bkg_scores)), np.ones(len(sig_scores))]
    scores = np.r_[bkg_scores, sig_scores]
    name = f"top__AE__seed{seed}"
    np.savez(folder / f"{name}.npz", **{"top|AE": scores.astype(np.float32),
                                         "top|y": y.astype(np.int8)})
    # an old row: no counts, 1/eps_B = N_B where nothing passes
    row = {"label": "AE", "signal": "top", "auc": 0.9, "rejection": 1.0,
           "rejection_error": 0.1}
    unit = {"task": "top_qcd", "setting": "top", "method": "AE", "seed": seed,
            "fingerprint": "f", "scores_file": f"{name}.npz", "kind": "detector",
            "rows": [row], "fit_seconds": 1.0, "n_test": len(bkg_scores), "figures": []}
    _write(folder / f"{name}.json", unit)
    return unit


def test_suite_rerender_recomputes_counts_from_the_stored_scores(tmp_path):
    from jetad._benchmark import resolve_config

    units = tmp_path / "units" / "top_qcd"
    units.mkdir(parents=True)
    n = 400
    bkg = np.linspace(0.0, 1.0, n)
    # seed 0: 5 background jets above every signal jet's 20 % quantile; seed 1: none
    sig0 = np.r_[np.full(20, 2.0), np.full(80, -1.0)]
    bkg0 = np.r_[bkg[:-5], np.full(5, 3.0)]
    _suite_unit(units, 0, bkg0, sig0)
    _suite_unit(units, 1, bkg, sig0)
    cfg = resolve_config({"tasks": ["top_qcd"]}, "small")
    _write(tmp_path / "suite.json", {
        "config": cfg, "units_run": 2, "units_reused": 0, "notes": ["a note"],
        "invocations": [{"finished_utc": "x", "wall_seconds": 1.0, "units_run": 2}],
        "unit_fit_seconds_total": 2.0, "data_files": {}, "wall_seconds": 1.0,
        "machine": {"platform": "Linux", "cpu_count": 2}, "figures": [],
        "finished_utc": "2026-01-01T00:00:00Z"})
    report = rerender_report(str(tmp_path))
    suite = json.loads((tmp_path / "suite.json").read_text())
    g = next(r for r in suite["results"] if r["label"] == "AE")
    assert g["n_background_pass"] == [5, 0] and g["n_background"] == n
    assert g["bound"] == [False, True] and g["low_count"]
    assert g["rejection"][0] == pytest.approx(n / 5) and g["rejection"][1] < n
    assert g["rejection_std"] == pytest.approx(np.std(g["rejection"], ddof=1))
    assert g["rejection_low"][0] <= g["rejection"][0] <= g["rejection_high"][0]
    assert "(k = 5, 0/400; k = 0 enters as its lower limit) ⚠" in report and suite["finished_utc"] == "2026-01-01T00:00:00Z"
    assert report.count("a note") == 1
    # the unit files are left as they were; aggregate reconstructs their counts
    old = aggregate([json.loads((units / "top__AE__seed0.json").read_text())])
    assert old[0]["n_background_pass"] == [n] and old[0]["n_background_pass_reconstructed"]


# ------------------------------------------------------------------------ docs page
def test_docs_page_quotes_interval_and_count():
    sys.path.insert(0, os.fspath(ROOT / "docs" / "_ext"))
    import jetad_benchmark_page as page

    r = {"rejection": 20.7, "rejection_low": 19.8, "rejection_high": 21.7,
         "n_background_pass": 482, "n_background": 10000, "rejection_bounded": False}
    assert page._rejection(r) == "20.7 [19.8, 21.7], k = 482 of 10,000"
    zero = stored_rejection(N_B, N_B, bounded=True)
    assert page._rejection(zero).startswith("≥ 17,424 (k = 0 of 20,000) ⚠")
    assert page._rejection({"rejection_at_0.2": 20.7, "err": 0.92},
                           "rejection_at_0.2", "err") == "20.7 ± 0.92"
