"""Behaviour of the AE and VAE detectors and of the shared detector base."""

import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from jetad import AEDetector, VAEDetector

FAST = dict(max_epochs=2, batch_size=64, device="cpu")


def _blob_images(n, rng, side=12, width=1.5, offset=0.0):
    """Unit-sum images of one Gaussian blob: a stand-in for jet images."""
    yy, xx = np.mgrid[:side, :side]
    centre = side / 2 - 0.5 + offset + rng.normal(0, 0.3, size=(n, 2))
    img = np.exp(-((yy[None] - centre[:, :1, None]) ** 2 + (xx[None] - centre[:, 1:, None]) ** 2)
                 / (2 * width**2))
    img /= img.sum(axis=(1, 2), keepdims=True)
    return img.reshape(n, -1).astype(np.float32)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    return _blob_images(256, rng)


@pytest.mark.parametrize("cls", [AEDetector, VAEDetector])
def test_signs_follow_sklearn(cls, blobs):
    det = cls(random_state=0, contamination=0.1, **FAST).fit(blobs)
    scores = det.score_samples(blobs)
    assert scores.dtype == np.float64
    np.testing.assert_allclose(det.decision_function(blobs), scores - det.offset_)
    np.testing.assert_allclose(det.anomaly_score(blobs), -scores)
    np.testing.assert_array_equal(det.train_scores_, scores)
    pred = det.predict(blobs)
    assert set(np.unique(pred)) <= {-1, 1}
    # contamination is the fraction of training jets flagged as outliers
    assert abs(np.mean(pred == -1) - 0.1) < 0.02


def test_ae_energy_is_per_jet_mse(blobs):
    det = AEDetector(random_state=0, **FAST).fit(blobs)
    rec = det.reconstruct(blobs)
    np.testing.assert_allclose(det.anomaly_score(blobs), ((blobs - rec) ** 2).mean(axis=1),
                               rtol=1e-5)


def test_image_layouts_are_equivalent(blobs):
    det = AEDetector(random_state=0, **FAST).fit(blobs)
    images = blobs.reshape(-1, 1, 12, 12)
    np.testing.assert_allclose(det.score_samples(images), det.score_samples(blobs), rtol=1e-6)
    assert det.reconstruct(images).shape == images.shape
    assert det.reconstruct(blobs).shape == blobs.shape
    det4 = AEDetector(random_state=0, **FAST).fit(images)
    assert det4.image_shape_ == (12, 12)
    np.testing.assert_allclose(det4.score_samples(blobs), det.score_samples(blobs), rtol=1e-6)


def test_latent_sphere(blobs):
    det = AEDetector(latent_dim=3, latent_sphere=True, spectral_norm=True, random_state=0,
                     **FAST).fit(blobs)
    z = det.encode(blobs)
    assert z.shape == (len(blobs), 3)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)


def test_vae_scoring_is_deterministic_and_switchable(blobs):
    det = VAEDetector(random_state=0, **FAST).fit(blobs)
    np.testing.assert_array_equal(det.score_samples(blobs), det.score_samples(blobs))
    rec = det.score_samples(blobs)
    det.set_params(score_type="latent")
    lat = det.score_samples(blobs)
    assert not np.allclose(rec, lat)
    mu = det.encode(blobs)
    assert mu.shape == (len(blobs), 3)
    assert np.all(lat <= 1e-6)  # -KL is never positive


@pytest.mark.parametrize("cls", [AEDetector, VAEDetector])
def test_random_state_reproducible_and_global_rng_untouched(cls, blobs):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = cls(random_state=7, **FAST).fit(blobs).score_samples(blobs)
    assert torch.equal(torch.get_rng_state(), before)
    b = cls(random_state=7, **FAST).fit(blobs).score_samples(blobs)
    c = cls(random_state=8, **FAST).fit(blobs).score_samples(blobs)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("cls, params", [(AEDetector, {}), (VAEDetector, {}),
                                         (AEDetector, {"spectral_norm": True})])
def test_clone_pickle_joblib_round_trips(cls, params, blobs, tmp_path):
    det = cls(random_state=0, **params, **FAST).fit(blobs)
    expected = det.score_samples(blobs)
    fresh = clone(det)
    assert not hasattr(fresh, "net_")
    assert fresh.get_params() == det.get_params()
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(det)).score_samples(blobs), expected)
    joblib.dump(det, tmp_path / "det.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "det.joblib").score_samples(blobs),
                                  expected)


def test_warm_start_continues_training(blobs):
    det = AEDetector(random_state=0, warm_start=True, **FAST).fit(blobs)
    net = det.net_
    det.fit(blobs)
    assert det.net_ is net
    assert len(det.net_.history) == 2 * FAST["max_epochs"]
    cold = AEDetector(random_state=0, **FAST).fit(blobs)
    cold.fit(blobs)
    assert len(cold.net_.history) == FAST["max_epochs"]


def test_early_stopping_and_validation_split(blobs):
    det = AEDetector(random_state=0, max_epochs=30, batch_size=64, device="cpu",
                     validation_fraction=0.25, early_stopping=2, lr=1e-2).fit(blobs)
    history = det.net_.history
    assert "valid_loss" in history[-1]
    assert len(history) <= 30


def test_bad_input(blobs):
    det = AEDetector(**FAST)
    with pytest.raises(NotFittedError):
        det.score_samples(blobs)
    with pytest.raises(ValueError, match="n_samples=1"):
        det.fit(blobs[:1])
    bad = blobs.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        det.fit(bad)
    with pytest.raises(ValueError, match="image_shape"):
        AEDetector(image_shape=(10, 10), **FAST).fit(blobs)
    with pytest.raises(ValueError, match="single-channel"):
        det.fit(np.zeros((4, 2, 12, 12)))
    with pytest.raises(ValueError, match="contamination"):
        AEDetector(contamination=0.9, **FAST).fit(blobs)
    with pytest.raises(ValueError, match="device"):
        AEDetector(device="tpu", max_epochs=1).fit(blobs)
    with pytest.raises(ValueError, match="score_type"):
        VAEDetector(score_type="bogus", **FAST).fit(blobs)
    fitted = AEDetector(random_state=0, **FAST).fit(blobs)
    with pytest.raises(ValueError, match="features"):
        fitted.score_samples(blobs[:, :100])
    with pytest.raises(ValueError, match="fitted on images"):
        fitted.score_samples(np.zeros((3, 1, 10, 10), dtype=np.float32))


def test_pipeline_on_generated_jets_tags_tops(qcd_jets, top_jets):
    """An AE trained for a few epochs on generated QCD jets tags generated top jets."""
    from jetad import JetImager
    from jetad.metrics import anomaly_auc

    n_train = 3000
    # gaussian_sigma=1 is the papers' preprocessing; the reconstruction error must beat the
    # trivial concentration score mean(x^2) (AUC 0.84 with its sign flipped on this sample).
    pipe = Pipeline([
        ("image", JetImager(gaussian_sigma=1.0)),
        ("ae", AEDetector(latent_dim=3, max_epochs=8, batch_size=64, lr=3e-3, random_state=0,
                          device="cpu")),
    ])
    pipe.fit(qcd_jets[:n_train])
    X_test = np.concatenate([qcd_jets[n_train:], top_jets[:1000]])
    y_test = np.r_[np.zeros(len(qcd_jets) - n_train), np.ones(1000)]
    auc = anomaly_auc(y_test, -pipe.score_samples(X_test))
    assert auc > 0.75, auc


def test_grid_search_with_background_only(qcd_jets, top_jets):
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from jetad import JetImager
    from jetad.metrics import make_anomaly_scorer
    from jetad.model_selection import BackgroundOnly

    images = JetImager().transform(np.concatenate([qcd_jets[:600], top_jets[:200]]))
    y = np.r_[np.zeros(600, dtype=int), np.ones(200, dtype=int)]
    search = GridSearchCV(
        BackgroundOnly(AEDetector(max_epochs=2, batch_size=128, random_state=0, device="cpu")),
        {"detector__latent_dim": [2, 4]},
        scoring={"auc": make_anomaly_scorer("auc"),
                 "rejection": make_anomaly_scorer("background_rejection",
                                                  signal_efficiency=0.2)},
        refit="auc",
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
    )
    search.fit(images, y)
    assert search.best_params_["detector__latent_dim"] in (2, 4)
    assert np.all(np.isfinite(search.cv_results_["mean_test_auc"]))
    assert 0.0 <= search.best_score_ <= 1.0
    # the refit detector saw background only
    assert search.best_estimator_.detector_.train_scores_.shape == (600,)


def test_spectral_norm_encoder_separates_unit_sum_images_on_the_sphere():
    # Unit-sum jet images have pixels ~1e-3. Under spectral norm no layer can amplify
    # them, so nonzero initial biases would send every image to one latent point (the
    # collapse seen in NAE pre-training); with zero biases the encoder is positively
    # homogeneous and the latent direction does not depend on the image scale.
    from jetad.detectors._modules import ConvEncoder, project_to_sphere

    torch.manual_seed(0)
    enc = ConvEncoder((40, 40), 3, spectral_norm=True).eval()
    rng = np.random.default_rng(0)
    x = rng.exponential(size=(64, 1, 40, 40)) * (rng.random((64, 1, 40, 40)) < 0.03)
    x = torch.as_tensor(x / x.sum(axis=(2, 3), keepdims=True), dtype=torch.float32)
    with torch.no_grad():
        z = project_to_sphere(enc(x))
        z_scaled = project_to_sphere(enc(1000.0 * x))
    spread = 1.0 - float(z.mean(0).norm())  # 0: every image on one point of the sphere
    assert spread > 0.01
    torch.testing.assert_close(z, z_scaled, rtol=1e-4, atol=1e-5)
