"""The benchmarks page generator (docs/_ext/jetad_benchmark_page.py), without a Sphinx build."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))

import jetad_docs_helpers as helpers  # noqa: E402

MACHINE_FOLDERS = ("/work/", "/root/", "/tmp/", "/home/")


def _write(folder, name, data):
    (folder / name).write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture
def results(tmp_path):
    """A small fake ``benchmarks/results`` (outside any git checkout: every file counts)."""
    folder = tmp_path / "results"
    folder.mkdir()
    versions = {"jetad": "9.9.9", "torch": "2.0.0"}
    _write(folder, "detectors.json", {
        "command": "python benchmarks/bench_detectors.py --qcd /work/data/qcd_60k.h5 "
                   "--top /home/someone/top_60k.h5 --output /tmp/x/detectors.json",
        "versions": versions,
        "tagging": {"top_as_anomaly": {"auc": 0.8087, "rejection_at_0.2": 20.7468,
                                       "rejection_at_0.2_stat_err": 0.92,
                                       "baseline_minus_mean_x2_auc": 0.7608,
                                       "baseline_minus_mean_x2_rejection": 11.73}},
        "paper_ae": {"top": {"auc": 0.875, "rejection": 68}},
    })
    _write(folder, "detector_throughput.json", {
        "command": "python benchmarks/bench_detectors.py --threads 1 2", "versions": versions,
        "throughput_cpu_1_threads": {"AEDetector": {"train_jets_per_s": 449.39,
                                                    "score_jets_per_s": 876.71}},
        "throughput_cpu_2_threads": {"AEDetector": {"train_jets_per_s": 766.39,
                                                    "score_jets_per_s": 1356.49}},
    })
    _write(folder, "nae.json", {
        "meta": {"jetad": "9.9.9", "torch": "2.0.0", "machine": "Linux",
                 "sources": {"qcd": [{"path": "/root/jets/qcd_a.h5"}]},
                 "config": {"params": {"preset": "cpu"}}},
        "paper": {"top": {"NAE": {"auc": 0.91, "rejection": 80}}},
        "summary": {"top": {"n_seeds": 3,
                            "NAE": {"auc_mean": 0.93494, "auc_std": 0.005054,
                                    "rejection_mean": 133.17, "rejection_std": 43.08}}},
    })
    _write(folder, "dask.json", {"command": "python benchmarks/bench_dask.py",
                                 "versions": {"dask": "2026.8.0"},
                                 "jets_per_s": {"in_memory": {"median_jets_per_s": 451.7}}})
    _write(folder, "export.json", {"command": "python benchmarks/bench_export.py",
                                   "versions": versions, "detectors": "not a mapping"})
    _write(folder, "nae_fixture_study.json", [
        {"setting": "base", "seed": s, "auc_ae": 0.4 + s / 100, "auc_nae": 0.6,
         "auc_x2": 0.85, "gain": 0.2 - s / 100, "healthy": True,
         "command": f"python /root/jetad/benchmarks/nae_fixture_study.py --seeds {s}",
         "versions": {"numpy": "2.4.6"}, "date": f"2026-12-0{s + 1}"} for s in range(3)])
    return folder


def _page(results):
    return helpers.benchmark_results_rst(results, results.parent / "docs")


def test_tables_quote_the_figures_with_their_errors(results):
    page = _page(results)
    assert "0.809" in page and "20.7 ± 0.92" in page and "0.875 / 68" in page
    assert "0.935 ± 0.0051" in page and "133 ± 43" in page and "0.91 / 80" in page
    assert "449" in page and "1,356" in page  # detector throughput, 1 and 2 threads
    assert "452" in page  # dask jets/s
    # three fixture-study seeds: mean ± standard deviation of each column
    assert "``base``" in page and "0.41 ± 0.01" in page and "0.19 ± 0.01" in page


def test_each_file_shows_its_command_and_versions(results):
    page = _page(results)
    assert "command: ``python benchmarks/bench_dask.py``" in page
    assert "versions: dask 2026.8.0" in page
    assert "jetad 9.9.9, torch 2.0.0" in page
    assert "``preset=cpu``" in page  # nae.json keeps its provenance under "meta"
    assert "dates: 2026-12-01 to 2026-12-03" in page and "versions: numpy 2.4.6" in page


def test_no_machine_paths_reach_the_page(results):
    page = _page(results)
    for folder in MACHINE_FOLDERS:
        assert folder not in page
    assert "--qcd qcd_60k.h5 --top top_60k.h5 --output detectors.json" in page
    assert "python nae_fixture_study.py --seeds 0" in page


def test_missing_files_and_unknown_layouts_are_noted(results):
    page = _page(results)
    assert "Not committed yet, so not shown:" in page
    for name in ("generation.json", "preprocessing.json", "latent_vae.json"):
        assert f"``{name}``" in page.split("\n\n", 1)[0]
    # export.json has a "detectors" entry the renderer cannot read: a note, no exception
    assert "layout is not the one the documentation knows" in page
    (results / "broken.json").write_text("{not json", encoding="utf-8")
    assert "not readable as JSON" in _page(results)


def test_empty_folder(tmp_path):
    assert "No benchmark results" in helpers.benchmark_results_rst(tmp_path, tmp_path)


@pytest.mark.parametrize("text, expected", [
    ("--qcd /work/data/q.h5 --out /tmp/out/ done", "--qcd q.h5 --out out done"),
    ("(/root/a.h5) ~/x/y.h5 C:\\Users\\me\\f.h5", "(a.h5) y.h5 f.h5"),
    # relative paths, URLs, environment variables and ratios are kept
    ("../benchmarks/results/x.png https://a.org/b/c $JETAD_TEST_CACHE/q.h5 jets/s 1/ε_B a / b",
     "../benchmarks/results/x.png https://a.org/b/c $JETAD_TEST_CACHE/q.h5 jets/s 1/ε_B a / b"),
])
def test_strip_machine_paths(text, expected):
    assert helpers.strip_machine_paths(text) == expected


def test_committed_results_page_has_the_readme_figures_and_no_machine_paths():
    page = helpers.benchmark_results_rst(ROOT / "benchmarks" / "results", ROOT / "docs")
    for folder in MACHINE_FOLDERS:
        assert folder not in page
    for figure in ("0.809", "20.7 [19.8, 21.7], k = 482 of 10,000", "130 ± 31", "150 ± 13",
                   "0.724 ± 0.076",
                   "117,130", "449", "1,356"):
        assert figure in page, figure
