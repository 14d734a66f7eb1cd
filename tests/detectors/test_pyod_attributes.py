"""PyOD's fitted attributes on jetad detectors: decision_scores_, threshold_, labels_."""

import numpy as np
import pytest

import jetad
from jetad.detectors import (
    AEDetector,
    DVAEDetector,
    GMVAEDetector,
    LangevinSampler,
    NAEDetector,
    VAEDetector,
)
from jetad.metrics import anomaly_score_sign

DETECTORS = [AEDetector, VAEDetector, GMVAEDetector, DVAEDetector, NAEDetector]
FAST = {"max_epochs": 2, "batch_size": 64, "random_state": 0, "device": "cpu"}


def _make(cls, **params):
    extra = ({"nae_iterations": 2, "sampler": LangevinSampler(n_z_steps=2, n_x_steps=2)}
             if cls is NAEDetector else {})
    return cls(**{**FAST, **extra, **params})


@pytest.fixture(scope="module")
def images():
    X = np.random.default_rng(0).random((60, 64)).astype(np.float32)
    return X / X.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("cls", DETECTORS)
def test_pyod_attributes_after_fit(cls, images):
    det = _make(cls).fit(images)
    # decision_scores_: anomaly scores of the training data, higher = more anomalous
    np.testing.assert_array_equal(det.decision_scores_, det.anomaly_score(images))
    np.testing.assert_array_equal(det.decision_scores_, -det.train_scores_)
    # threshold_: the anomaly-score cut equivalent to offset_
    assert det.threshold_ == -det.offset_
    # labels_: PyOD's 0 inlier / 1 outlier, where predict gives +1 / -1
    assert det.labels_.dtype.kind == "i" and set(np.unique(det.labels_)) <= {0, 1}
    np.testing.assert_array_equal(det.labels_, (det.predict(images) == -1).astype(int))
    np.testing.assert_array_equal(det.labels_, (det.decision_scores_ > det.threshold_))
    # PyOD's threshold: the (1 - contamination) percentile of decision_scores_
    assert det.threshold_ == pytest.approx(
        np.percentile(det.decision_scores_, 100 * (1 - det.contamination)), rel=1e-9, abs=1e-12)
    assert det.labels_.mean() == pytest.approx(det.contamination, abs=1.5 / len(images))


def test_pyod_attributes_follow_the_threshold(images):
    det = _make(AEDetector, contamination=0.25).fit(images)
    assert det.labels_.sum() == pytest.approx(15, abs=1)
    det.offset_ = float(np.min(det.train_scores_)) - 1.0  # re-threshold by hand
    assert det.labels_.sum() == 0 and det.threshold_ == -det.offset_


def test_pyod_attributes_absent_before_fit():
    det = AEDetector()
    for name in ("decision_scores_", "threshold_", "labels_"):
        assert not hasattr(det, name)


def test_pyod_attributes_do_not_flip_the_sign(images):
    """jetad detectors declare sklearn's sign, though they carry PyOD's attributes."""
    det = _make(AEDetector).fit(images)
    assert anomaly_score_sign(det) == -1
    np.testing.assert_array_equal(jetad.anomaly_score(det, images), det.decision_scores_)


def test_pyod_attributes_survive_the_model_file(images, tmp_path):
    det = _make(AEDetector).fit(images)
    loaded = jetad.load_model(jetad.save_model(det, tmp_path / "ae.jetad"))
    np.testing.assert_array_equal(loaded.decision_scores_, det.decision_scores_)
    np.testing.assert_array_equal(loaded.labels_, det.labels_)
    assert loaded.threshold_ == det.threshold_


def test_same_meaning_as_a_pyod_model(images):
    """A PyOD model's attributes and ours are read the same way."""
    pyod_iforest = pytest.importorskip("pyod.models.iforest")
    pyod_model = pyod_iforest.IForest(random_state=0, contamination=0.1).fit(images)
    det = _make(AEDetector, contamination=0.1).fit(images)
    for model in (pyod_model, det):
        np.testing.assert_array_equal(model.labels_,
                                      (model.decision_scores_ > model.threshold_).astype(int))
        assert model.labels_.mean() == pytest.approx(0.1, abs=1.5 / len(images))
