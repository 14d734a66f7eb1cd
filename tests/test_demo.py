"""``jetad demo``, the README's main job, end to end on a tiny sample."""

import json
import math

import pytest

from jetad import _demo
from jetad.cli import main

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")


def test_demo_writes_report_with_both_directions_and_baselines(tmp_path, monkeypatch, capsys):
    # the full preset takes ~7 minutes; the code path is the same with a short NAE phase
    nae = dict(_demo.DEMO_PRESET["nae"], max_epochs=2, nae_iterations=3)
    monkeypatch.setitem(_demo.DEMO_PRESET, "nae", nae)
    out = tmp_path / "report"
    rc = main(["demo", "--n-jets", "60", "--n-jobs", "1", "--output-dir", str(out),
               "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert rc == 0
    for name in ("report.md", "results.json", "average_images.png", "roc_top_anomaly.png",
                 "roc_qcd_anomaly.png"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())  # strict JSON: no NaN
    rows = {(r["direction"], r["method"]): r for r in results["rows"]}
    assert set(rows) == {(d, m) for d in ("top", "QCD")
                         for m in ("mean(x²)", "−mean(x²)", "jet mass", "−jet mass", "AE", "NAE")}
    for direction in ("top", "QCD"):
        # the two signs of a score rank the jets in opposite orders
        assert math.isclose(rows[direction, "mean(x²)"]["auc"] + rows[direction, "−mean(x²)"]["auc"],
                            1.0, abs_tol=1e-9)
        assert math.isclose(rows[direction, "jet mass"]["auc"] + rows[direction, "−jet mass"]["auc"],
                            1.0, abs_tol=1e-9)
        for r in rows.values():  # every 1/eps_B with its interval and passing count
            assert {"rejection_low", "n_background_pass", "n_background"} <= set(r)
        for r in (rows[direction, "AE"], rows[direction, "NAE"]):
            assert 0.0 <= r["auc"] <= 1.0 and r["fit_seconds"] > 0
    # the image-concentration score is the same score in both directions with the classes swapped
    assert math.isclose(rows["top", "mean(x²)"]["auc"], rows["QCD", "−mean(x²)"]["auc"],
                        abs_tol=1e-9)
    assert math.isclose(rows["top", "jet mass"]["auc"], rows["QCD", "−jet mass"]["auc"],
                        abs_tol=1e-9)
    report = (out / "report.md").read_text()
    assert "| top | NAE |" in report and "| QCD | AE |" in report
    assert "| top | NAE |" in capsys.readouterr().out
    # the samples are cached under --cache-dir for the next run (fetch_generated's names)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.suffix == ".h5") == [
        "demo_qcd_60_seed0_detector.h5", "demo_top_60_seed1_detector.h5"]


def test_demo_loads_through_fetch_generated(tmp_path, monkeypatch):
    from jetad import datasets

    calls = []

    def fake_fetch(kind, n_jets, **kwargs):
        calls.append((kind, n_jets, kwargs["random_state"], kwargs["prefix"]))
        raise RuntimeError("stop after loading")

    monkeypatch.setattr(datasets, "fetch_generated", fake_fetch)
    with pytest.raises(RuntimeError, match="stop after loading"):
        _demo.run_demo(output_dir=tmp_path / "out", n_jets=30, cache_dir=tmp_path, progress=False)
    assert calls == [("qcd", 30, 0, "demo_")]


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_demo_refuses_bad_n_jets(bad, tmp_path):
    with pytest.raises(ValueError, match="n_jets"):
        _demo.run_demo(output_dir=tmp_path / "out", n_jets=bad, cache_dir=tmp_path)
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_demo_cli_refuses_zero_jets(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--n-jets", "0", "--output-dir", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert "--n-jets" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
