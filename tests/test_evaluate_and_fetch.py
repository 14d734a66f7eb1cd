"""The evaluation seam (jetad.model_selection.evaluate_detector) and the cached loader."""

import json

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from jetad.metrics import anomaly_auc, tagging_summary
from jetad.model_selection import evaluate_detector, summarize_scores, trivial_baseline_scores


def _toy(rng):
    X_bkg, X_sig = rng.normal(size=(400, 3)), rng.normal(3.0, 1.0, size=(100, 3))
    X_test = np.r_[X_bkg[300:], X_sig]
    y_test = np.r_[np.zeros(100), np.ones(100)]
    return X_bkg[:300], X_test, y_test


def test_evaluate_detector_fits_on_background_and_matches_the_metrics(rng):
    X_train, X_test, y_test = _toy(rng)
    det = IsolationForest(random_state=0)
    result = evaluate_detector(det, X_train, X_test, y_test)
    # sklearn sign: higher score_samples = more normal, so the seam negates it
    np.testing.assert_allclose(result["anomaly_scores"], -det.score_samples(X_test))
    assert result["auc"] == pytest.approx(anomaly_auc(y_test, result["anomaly_scores"]))
    reference = tagging_summary(y_test, result["anomaly_scores"], 0.2)
    assert result["n_background_pass"] == reference["n_background_pass"]
    assert result["rejection"] == pytest.approx(reference["rejection"])
    assert result["auc"] > 0.9 and result["fit_seconds"] >= 0 and result["score_seconds"] >= 0


def test_evaluate_detector_without_fit_uses_the_fitted_model(rng):
    X_train, X_test, y_test = _toy(rng)
    det = IsolationForest(random_state=0).fit(X_train)
    result = evaluate_detector(det, None, X_test, y_test, fit=False)
    assert result["fit_seconds"] is None
    np.testing.assert_allclose(result["anomaly_scores"], -det.score_samples(X_test))


def test_summarize_scores_is_strict_json_when_no_background_passes():
    y = np.r_[np.zeros(50), np.ones(50)]
    scores = np.r_[np.zeros(50), np.ones(50)]  # perfect separation
    summary = summarize_scores(y, scores)
    assert summary["rejection_bounded"] is True
    assert summary["rejection_error"] is None and summary["rejection_high"] is None
    assert summary["n_background_pass"] == 0
    json.dumps(summary, allow_nan=False)


def test_trivial_baselines_have_both_signs(rng):
    images = rng.random((20, 16))
    X = np.zeros((20, 3, 4))
    X[:, :, 1:] = rng.normal(size=(20, 3, 3))
    X[:, :, 0] = np.linalg.norm(X[:, :, 1:], axis=2) + rng.random((20, 3))
    scores = trivial_baseline_scores(images, X)
    np.testing.assert_allclose(scores["mean(x²)"], (images ** 2).mean(axis=1))
    np.testing.assert_array_equal(scores["−mean(x²)"], -scores["mean(x²)"])
    np.testing.assert_array_equal(scores["−jet mass"], -scores["jet mass"])
    assert np.all(scores["jet mass"] > 0)


def test_fetch_generated_caches_and_keys(tmp_path, monkeypatch):
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from jetad.datasets import _generate, fetch_generated

    X, info = fetch_generated("qcd", 12, random_state=3, cache_dir=tmp_path)
    assert X.shape[0] == 12 and info["path"].startswith(str(tmp_path))
    calls = []
    original = _generate.generate_jets

    def counting(*args, **kwargs):
        calls.append(kwargs.get("output"))
        return original(*args, **kwargs)

    monkeypatch.setattr(_generate, "generate_jets", counting)
    X_again, info_again = fetch_generated("qcd", 12, random_state=3, cache_dir=tmp_path)
    np.testing.assert_array_equal(X, X_again)
    assert info_again["path"] == info["path"]
    assert calls == []  # read from the cache, not generated again
    # a smaller request may reuse the larger file only when asked to
    X_small, info_small = fetch_generated("qcd", 5, random_state=3, cache_dir=tmp_path,
                                          reuse_larger=True)
    np.testing.assert_array_equal(X_small, X[:5])
    assert info_small["path"] == info["path"]
    # other seeds and card overrides are other files
    _, info_seed = fetch_generated("qcd", 5, random_state=4, cache_dir=tmp_path)
    _, info_card = fetch_generated("qcd", 5, random_state=3, cache_dir=tmp_path, jet_r=0.6)
    assert len({info["path"], info_seed["path"], info_card["path"]}) == 3
    assert len(calls) == 2


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_fetch_generated_refuses_bad_sizes(bad, tmp_path):
    from jetad.datasets import fetch_generated

    with pytest.raises(ValueError, match="n_jets"):
        fetch_generated("qcd", bad, cache_dir=tmp_path)


def test_fetch_generated_refuses_a_cached_file_of_another_card(tmp_path):
    # a kind whose card changed between releases must not silently reuse the old jets
    from jetad.datasets import fetch_generated, load_jets, save_jets

    rng = np.random.default_rng(0)
    p = rng.normal(size=(4, 3, 3)).astype(np.float32)
    X = np.concatenate([np.linalg.norm(p, axis=2, keepdims=True) + 1.0, p], axis=2)
    path = tmp_path / "aachen_4_seed0_detector.h5"
    save_jets(path, X, info={"card": {"kind": "aachen", "mzprime": 1.0}})
    assert load_jets(path)[0].shape == (4, 3, 4)
    with pytest.raises(ValueError, match="another 'aachen' card.*mzprime"):
        fetch_generated("aachen", 4, random_state=0, cache_dir=tmp_path)
