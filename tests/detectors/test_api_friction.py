"""sample_weight, optimiser choice, devices, contamination="auto" and the pipeline helpers."""

import re
import zipfile

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import jetad
from jetad.detectors import (
    AEDetector,
    DVAEDetector,
    GMVAEDetector,
    LangevinSampler,
    NAEDetector,
    VAEDetector,
)
from jetad.detectors._nae._settings import resolve_settings
from jetad.detectors._nae._trainer import nae_loss
from jetad.metrics import anomaly_score_sign, make_anomaly_scorer
from jetad.model_selection import BackgroundOnly

DETECTORS = [AEDetector, VAEDetector, GMVAEDetector, DVAEDetector, NAEDetector]
# one full batch: per-batch weighted means then equal the mean over repeated rows exactly
FULL_BATCH = {"max_epochs": 3, "batch_size": 4096, "random_state": 0, "device": "cpu"}
NAE_FAST = {"nae_iterations": 2, "sampler": LangevinSampler(n_z_steps=2, n_x_steps=2)}


def _make(cls, **params):
    extra = NAE_FAST if cls is NAEDetector else {}
    return cls(**{**FULL_BATCH, **extra, **params})


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    X = rng.random((24, 64)).astype(np.float32)
    return X / X.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def weights():
    return np.array([0, 1, 2, 3] * 6)


# ------------------------------------------------------------------ sample_weight
def _module_state(det):
    return {k: v.detach().clone() for k, v in det.net_.module_.state_dict().items()}


def _assert_same_state(a, b, *, rtol=1e-5, atol=1e-7):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=rtol, atol=atol, msg=key)


def test_ae_integer_weights_equal_repetition(images, weights):
    weighted = _make(AEDetector).fit(images, sample_weight=weights)
    repeated = _make(AEDetector).fit(np.repeat(images, weights, axis=0))
    _assert_same_state(_module_state(weighted), _module_state(repeated))
    np.testing.assert_allclose(weighted.score_samples(images), repeated.score_samples(images),
                               rtol=1e-6)
    # offset_ is the weighted quantile: that of the repeated rows
    assert weighted.offset_ == pytest.approx(repeated.offset_, rel=1e-6)


@pytest.mark.parametrize("cls", [VAEDetector, GMVAEDetector, DVAEDetector])
def test_stochastic_loss_weighted_mean_equals_repetition(cls, images, weights):
    """The per-jet loss times the weight, normalised by the summed weight (np.average).

    The VAE-type losses draw one posterior sample per row, so the fitted networks of
    weighted and repeated rows differ in their noise; the batch loss itself is
    compared, with the noise fixed by the seed per row.
    """
    det = _make(cls, max_epochs=1).fit(images)
    net, module = det.net_, det.net_.module_
    x = torch.as_tensor(images.reshape(-1, 1, 8, 8))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        per_jet = module(x).detach()
    net.weighted = True
    loss = net.get_loss(per_jet, torch.as_tensor(weights, dtype=torch.float32))
    expected = np.average(per_jet.numpy(), weights=weights)
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    repeated = torch.repeat_interleave(per_jet, torch.as_tensor(weights))
    assert float(loss) == pytest.approx(float(repeated.mean()), rel=1e-6)


def test_unit_weights_change_nothing(images):
    plain = _make(AEDetector).fit(images)
    unit = _make(AEDetector).fit(images, sample_weight=np.ones(len(images)))
    _assert_same_state(_module_state(plain), _module_state(unit), rtol=1e-6, atol=1e-8)
    assert unit.offset_ == pytest.approx(plain.offset_)


@pytest.mark.parametrize("cls", DETECTORS)
def test_every_detector_takes_sample_weight(cls, images, weights):
    det = _make(cls, max_epochs=1).fit(images, sample_weight=weights)
    assert np.all(np.isfinite(det.score_samples(images)))


@pytest.mark.parametrize("bad, match", [
    (-np.ones(24), "[Nn]egative"),
    (np.zeros(24), "zero"),
    (np.ones(5), "sample_weight"),
    (np.full(24, np.nan), "NaN|infinity"),
])
def test_bad_sample_weight_is_refused(images, bad, match):
    with pytest.raises(ValueError, match=match):
        _make(AEDetector, max_epochs=1).fit(images, sample_weight=bad)


def test_nae_weights_pretraining_equal_repetition(images, weights):
    """The pre-training loss is weighted: the pre-trained AE equals that of repeated rows."""
    params = dict(nae_iterations=0, input_scale="auto", validation_fraction=None)
    weighted = _make(NAEDetector, **params).fit(images, sample_weight=weights)
    repeated = _make(NAEDetector, **params).fit(np.repeat(images, weights, axis=0))
    assert weighted.input_scale_ == pytest.approx(repeated.input_scale_, rel=1e-6)
    _assert_same_state(weighted.pretrained_state_, repeated.pretrained_state_)


def test_nae_loss_weights_the_positive_energy_terms():
    rng = np.random.default_rng(1)
    e_pos = torch.as_tensor(rng.random(6))
    e_neg = torch.as_tensor(rng.random(4))
    w = torch.as_tensor([0.0, 1.0, 2.0, 3.0, 1.0, 2.0], dtype=torch.float64)
    module = torch.nn.Linear(1, 1).double()
    settings = resolve_settings(NAEDetector(gamma_pos=0.5, l2_norm_reg=0.0))
    weighted, _ = nae_loss(e_pos, e_neg, module, settings, w)
    repeated, _ = nae_loss(torch.repeat_interleave(e_pos, w.long()), e_neg, module, settings)
    assert float(weighted) == pytest.approx(float(repeated), rel=1e-12)
    unweighted, _ = nae_loss(e_pos, e_neg, module, settings)
    ones, _ = nae_loss(e_pos, e_neg, module, settings, torch.ones(6, dtype=torch.float64))
    assert float(ones) == pytest.approx(float(unweighted), rel=1e-12)


def test_nae_fit_nae_takes_sample_weight(images, weights):
    det = _make(NAEDetector).fit(images, sample_weight=weights)
    det.fit_nae(images, sample_weight=weights)
    assert np.isfinite(det.offset_)


def test_pipeline_routes_sample_weight(images, weights):
    pipe = make_pipeline(FunctionTransformer(), _make(AEDetector))
    pipe.fit(images, aedetector__sample_weight=weights)
    direct = _make(AEDetector).fit(images, sample_weight=weights)
    np.testing.assert_allclose(jetad.anomaly_score(pipe, images), direct.anomaly_score(images),
                               rtol=1e-6)


def test_background_only_forwards_background_weights(images, weights):
    y = np.array([0, 0, 1] * 8)
    meta = BackgroundOnly(_make(AEDetector)).fit(images, y, sample_weight=weights)
    direct = _make(AEDetector).fit(images[y == 0], sample_weight=weights[y == 0])
    np.testing.assert_allclose(meta.anomaly_score(images), direct.anomaly_score(images),
                               rtol=1e-6)


# ------------------------------------------------------------------- optimiser
def test_default_optimizer_is_adam(images):
    det = _make(AEDetector, max_epochs=1).fit(images)
    assert det.optimizer is None
    assert type(det.net_.optimizer_) is torch.optim.Adam


def test_optimizer_and_keyword_params_reach_torch(images):
    det = _make(AEDetector, max_epochs=1, optimizer=torch.optim.AdamW,
                optimizer__betas=(0.8, 0.95), optimizer__amsgrad=True, lr=2e-3)
    params = det.get_params()
    assert params["optimizer"] is torch.optim.AdamW
    assert params["optimizer__betas"] == (0.8, 0.95)
    assert "optimizer__betas" in repr(det)
    det.fit(images)
    opt = det.net_.optimizer_
    assert type(opt) is torch.optim.AdamW
    group = opt.param_groups[0]
    assert group["betas"] == (0.8, 0.95) and group["amsgrad"] and group["lr"] == 2e-3
    assert group["weight_decay"] == 0.0  # the detector's weight_decay, for any optimiser
    twin = clone(det)
    assert twin.get_params(deep=False) == det.get_params(deep=False)


@pytest.mark.parametrize("cls", DETECTORS)
def test_every_detector_takes_an_optimizer(cls, images):
    det = _make(cls, max_epochs=1, optimizer=torch.optim.SGD, optimizer__momentum=0.5)
    det.fit(images)
    assert type(det.net_.optimizer_) is torch.optim.SGD
    assert det.net_.optimizer_.param_groups[0]["momentum"] == 0.5


def test_optimizer_params_in_grid_search(images):
    search = GridSearchCV(
        _make(AEDetector, max_epochs=1, optimizer=torch.optim.AdamW),
        {"optimizer": [torch.optim.Adam, torch.optim.AdamW],
         "optimizer__betas": [(0.9, 0.999), (0.5, 0.9)]},
        scoring=lambda est, X, y=None: float(np.mean(est.score_samples(X))),
        cv=KFold(2), refit=True,
    ).fit(images)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    assert best.net_.optimizer_.param_groups[0]["betas"] == search.best_params_[
        "optimizer__betas"]


def test_set_params_optimizer_keyword(images):
    det = _make(AEDetector, max_epochs=1).set_params(optimizer__betas=(0.6, 0.7))
    assert det.get_params()["optimizer__betas"] == (0.6, 0.7)
    assert det.fit(images).net_.optimizer_.param_groups[0]["betas"] == (0.6, 0.7)


@pytest.mark.parametrize("params, match", [
    ({"optimizer": "adam"}, "optimizer must be None or a torch.optim.Optimizer subclass"),
    ({"optimizer": torch.nn.Linear}, "torch.optim.Optimizer subclass"),
    ({"optimizer__lr": 0.1}, "use lr="),
    ({"optimizer__weight_decay": 0.1}, "use weight_decay="),
])
def test_bad_optimizer_settings_are_refused(images, params, match):
    with pytest.raises(ValueError, match=re.escape(match) if "=" in match else match):
        _make(AEDetector, max_epochs=1, **params).fit(images)


def test_dvae_betas_conflict(images):
    with pytest.raises(ValueError, match="optimizer__betas"):
        _make(DVAEDetector, max_epochs=1, optimizer__betas=(0.9, 0.9)).fit(images)


def test_unknown_keyword_is_still_refused():
    with pytest.raises(TypeError):
        AEDetector(optimiser=torch.optim.SGD)


def test_optimizer_round_trip_in_model_file(images, tmp_path):
    det = _make(AEDetector, max_epochs=1, optimizer=torch.optim.AdamW,
                optimizer__betas=(0.8, 0.9), device=torch.device("cpu")).fit(images)
    path = jetad.save_model(det, tmp_path / "model.jetad")
    loaded = jetad.load_model(path)
    assert loaded.optimizer is torch.optim.AdamW
    assert loaded.optimizer__betas == (0.8, 0.9)
    assert loaded.device == torch.device("cpu")
    np.testing.assert_array_equal(loaded.score_samples(images), det.score_samples(images))
    assert type(loaded.net_.optimizer_) is torch.optim.AdamW


def test_model_file_refuses_optimizers_outside_the_allowlist(images, tmp_path):
    det = _make(AEDetector, max_epochs=1, optimizer=torch.optim.SGD).fit(images)
    path = jetad.save_model(det, tmp_path / "model.jetad")
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    text = members["model.json"].decode()
    assert '"v": "SGD"' in text
    members["model.json"] = text.replace('"v": "SGD"', '"v": "LBFGS"').encode()
    tampered = tmp_path / "tampered.jetad"
    with zipfile.ZipFile(tampered, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match="LBFGS.*not allowed"):
        jetad.load_model(tampered)


def test_non_torch_optimizer_cannot_be_saved(images, tmp_path):
    class MyAdam(torch.optim.Adam):
        pass

    det = _make(AEDetector, max_epochs=1, optimizer=MyAdam).fit(images)
    with pytest.raises(TypeError, match="MyAdam.*torch.optim"):
        jetad.save_model(det, tmp_path / "model.jetad")


# --------------------------------------------------------------------- devices
@pytest.mark.parametrize("device", [torch.device("cpu"), "cpu", "auto"])
def test_device_accepts_torch_device(images, device):
    det = _make(AEDetector, max_epochs=1, device=device)
    assert clone(det).get_params()["device"] == device
    det.fit(images)
    assert next(det.net_.module_.parameters()).device.type in ("cpu", "cuda")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
@pytest.mark.parametrize("device", ["mps", torch.device("mps")])
def test_unavailable_mps_is_refused_at_fit(images, device):
    det = _make(AEDetector, max_epochs=1, device=device)  # construction accepts it
    assert clone(det).device == device
    with pytest.raises(ValueError, match="mps.*not available"):
        det.fit(images)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("device", ["cuda", "cuda:1", torch.device("cuda", 0)])
def test_unavailable_cuda_is_refused_at_fit(images, device):
    det = _make(AEDetector, max_epochs=1, device=device)
    with pytest.raises(ValueError, match="CUDA is not available"):
        det.fit(images)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls", [AEDetector, NAEDetector])
def test_weighted_fit_on_a_torch_cuda_device(cls, images, weights, tmp_path):
    det = _make(cls, max_epochs=1, device=torch.device("cuda", 0))
    det.fit(images, sample_weight=weights)
    assert next(det.net_.module_.parameters()).device.type == "cuda"
    loaded = jetad.load_model(jetad.save_model(det, tmp_path / "model.jetad"))
    assert loaded.device == torch.device("cuda", 0)
    np.testing.assert_allclose(loaded.score_samples(images), det.score_samples(images),
                               rtol=1e-6)


@pytest.mark.parametrize("device", ["tpu", "cuda:x", torch.device("meta"), 0])
def test_bad_device_is_refused(images, device):
    with pytest.raises(ValueError, match="device must be"):
        _make(AEDetector, max_epochs=1, device=device).fit(images)


# ------------------------------------------------------------ contamination
def test_contamination_auto_is_tukeys_fence(images):
    det = _make(AEDetector, max_epochs=1, contamination="auto").fit(images)
    q1, q3 = np.percentile(det.train_scores_, [25, 75])
    assert det.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))
    energy = det.anomaly_score(images)
    e1, e3 = np.percentile(energy, [25, 75])
    outliers = det.predict(images) == -1
    np.testing.assert_array_equal(outliers, energy > e3 + 1.5 * (e3 - e1))


def test_contamination_auto_with_weights_equals_repetition(images, weights):
    weighted = _make(AEDetector, contamination="auto").fit(images, sample_weight=weights)
    repeated = _make(AEDetector, contamination="auto").fit(np.repeat(images, weights, axis=0))
    assert weighted.offset_ == pytest.approx(repeated.offset_, rel=1e-6)


def test_bad_contamination_string_is_refused(images):
    with pytest.raises(ValueError, match="contamination must be"):
        _make(AEDetector, max_epochs=1, contamination="automatic").fit(images)


# ----------------------------------------------------- anomaly_score / encode
def test_anomaly_score_of_detector_and_pipeline(images):
    det = _make(AEDetector, max_epochs=1).fit(images)
    np.testing.assert_array_equal(jetad.anomaly_score(det, images), det.anomaly_score(images))
    pipe = make_pipeline(FunctionTransformer(lambda X: 2 * X), _make(AEDetector, max_epochs=1))
    pipe.fit(images)
    expected = pipe[-1].anomaly_score(2 * images)
    np.testing.assert_array_equal(jetad.anomaly_score(pipe, images), expected)
    np.testing.assert_array_equal(jetad.encode(pipe, images), pipe[-1].encode(2 * images))
    np.testing.assert_array_equal(jetad.encode(det, images), det.encode(images))


def test_anomaly_score_of_sklearn_estimators(images):
    forest = make_pipeline(StandardScaler(), IsolationForest(random_state=0)).fit(images)
    np.testing.assert_allclose(jetad.anomaly_score(forest, images), -forest.score_samples(images))
    meta = BackgroundOnly(IsolationForest(random_state=0)).fit(images)
    np.testing.assert_allclose(jetad.anomaly_score(meta, images), meta.anomaly_score(images))


def test_anomaly_score_agrees_with_the_scorer(images):
    det = _make(AEDetector, max_epochs=1).fit(images)
    assert anomaly_score_sign(det) == -1  # the PyOD attributes do not make it PyOD
    y = np.array([0, 1] * 12)
    scorer = make_anomaly_scorer("auc")
    from jetad.metrics import anomaly_auc

    assert scorer(det, images, y) == pytest.approx(anomaly_auc(y, jetad.anomaly_score(det,
                                                                                         images)))


def test_encode_and_anomaly_score_refusals(images):
    forest = IsolationForest(random_state=0).fit(images)
    with pytest.raises(TypeError, match="no encode method"):
        jetad.encode(forest, images)
    with pytest.raises(TypeError, match="anomaly"):
        jetad.anomaly_score(StandardScaler().fit(images), images)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        jetad.anomaly_score(_make(AEDetector), images)
