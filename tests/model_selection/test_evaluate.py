"""The evaluation seam: jetad.model_selection.evaluate_detector, summarize_scores, baselines."""

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
