"""Tests of the Normalized Autoencoder (NAEDetector); its chains are in test_langevin.py."""

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from jetad.detectors import NAE_PRESETS, LangevinSampler, NAECollapseWarning, NAEDetector
from jetad.detectors._nae._monitor import TrainingMonitor
from jetad.detectors._nae._sampler import SAMPLER_PARAMS
from jetad.detectors._nae._settings import resolve_settings
from jetad.detectors._nae._trainer import torch_generator
from jetad.plotting import latent_energy_map


def _tiny_images(n=64, side=12, seed=0):
    """Small unit-sum 'jet-like' images: a blob plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    cy = rng.normal(side / 2, 1.0, n)[:, None, None]
    cx = rng.normal(side / 2, 1.0, n)[:, None, None]
    img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 4.0) + 0.05 * rng.random((n, side, side))
    img /= img.sum(axis=(1, 2), keepdims=True)
    return img.reshape(n, -1).astype(np.float32)


def _fast(**kw):
    """A fast NAE; chain settings (``n_z_steps``, ...) go into its ``LangevinSampler``."""
    chain = {"n_z_steps": 3, "n_x_steps": 3}
    chain.update({k: kw.pop(k) for k in list(kw) if k in SAMPLER_PARAMS})
    params = dict(max_epochs=2, batch_size=32, nae_iterations=4, nae_batch_size=16,
                  random_state=0, device="cpu", sampler=LangevinSampler(**chain))
    params.update(kw)
    return NAEDetector(**params)


# ---------------------------------------------------------------- detector
def test_presets_and_params():
    assert NAE_PRESETS["paper"]["z_step_size"] == 100.0
    assert NAE_PRESETS["paper"]["x_noise_std"] == 1e-4
    assert NAE_PRESETS["paper"]["n_z_steps"] == NAE_PRESETS["paper"]["n_x_steps"] == 30
    det = NAEDetector(preset="paper")
    settings = resolve_settings(det)
    assert settings.nae_lr == 1e-5 and settings.nae_batch_size == 128
    assert settings.batch_size == 2048 and settings.sampler.n_z_steps == 30
    assert resolve_settings(NAEDetector(preset="paper", nae_lr=3e-4)).nae_lr == 3e-4
    cpu = resolve_settings(NAEDetector())
    assert (cpu.nae_iterations, cpu.input_scale, cpu.nae_lr) == (1000, "auto", 1e-4)
    assert settings.nae_iterations is None and settings.nae_epochs == 50
    by_epochs = resolve_settings(NAEDetector(nae_epochs=3))
    assert (by_epochs.nae_epochs, by_epochs.nae_iterations) == (3, None)
    both = resolve_settings(NAEDetector(nae_epochs=3, nae_iterations=7))
    assert both.nae_iterations == 7
    assert resolve_settings(NAEDetector(input_scale=1.0)).input_scale == 1.0
    with pytest.raises(ValueError, match="preset"):
        NAEDetector(preset="nope").fit(_tiny_images(8))
    with pytest.raises(ValueError, match="energy_scale"):
        _fast(energy_scale=-1.0).fit(_tiny_images(8))


def test_fit_diagnostics_sample_and_map():
    X = _tiny_images()
    det = _fast(nae_iterations=6, check_interval=2, keep_checkpoints=True).fit(X)
    rows = [r for r in det.history_ if r["iteration"] > 0]
    assert len(rows) == det.n_nae_iterations_ == 6
    keys = {"loss", "pos_energy", "neg_energy", "neg_energy_z0", "neg_energy_z",
            "neg_energy_x", "accept_z", "accept_x", "weight_norm", "sample_spread",
            "buffer_fraction", "healthy", "pos_x2", "neg_x2", "pos_sum", "neg_sum"}
    assert keys <= set(rows[0])
    assert all(0 <= r["accept_x"] <= 1 and 0 <= r["accept_z"] <= 1 for r in rows)
    # the warm-up sampler pass of iteration 0 already filled the replay buffer
    assert rows[0]["buffer_fraction"] > 0.5
    assert rows[0]["pos_sum"] == pytest.approx(1.0, rel=1e-4)
    checks = [r for r in det.history_ if "val_energy" in r]
    assert [r["iteration"] for r in checks] == [0, 2, 4, 6]
    for r in checks:
        assert 0 <= r["latent_spread"] <= 1 and -1 <= r["val_x2_corr"] <= 1
        assert r["selection_score"] >= 0
    assert det.energy_scale_ > 0 and det.best_iteration_ in {0, 2, 4, 6}
    assert [c["iteration"] for c in det.checkpoints_] == [0, 2, 4, 6]
    assert det.chain_temperatures_["x"] == pytest.approx(1e-4 ** 2 / 100)
    samples = det.sample(5, random_state=1)
    assert samples.shape == (5, X.shape[1]) and samples.dtype == np.float64
    assert samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, det.sample(5, random_state=1))
    emap = latent_energy_map(det, n_theta=6, n_phi=12, center=X[:10])
    with pytest.warns(FutureWarning, match="jetad.plotting.latent_energy_map"):
        old = det.latent_energy_map(n_theta=6, n_phi=12, center=X[:10])
    np.testing.assert_array_equal(emap.energy, old.energy)
    assert emap.energy.shape == (6, 12) and np.isfinite(emap.energy).all()
    lat, lon = emap.project(det.encode(X[:10]))
    assert np.abs(lat).max() <= np.pi / 2 and np.abs(lon).max() <= np.pi
    # the mean latent direction of the centring jets maps to (0, 0)
    lat0, lon0 = emap.project(det.encode(X[:10]).mean(0, keepdims=True))
    assert abs(lat0[0]) < 1e-6 and abs(lon0[0]) < 1e-6
    assert det.score_samples_pretrained(X).shape == (X.shape[0],)


def test_selection_can_keep_the_pretrained_ae(monkeypatch):
    # Iteration 0 gets a contrastive gap from a warm-up sampler pass, so the
    # label-free selection can keep the pre-trained AE when no NAE state beats it.
    X = _tiny_images()
    det = _fast(nae_iterations=6, check_interval=2).fit(X)
    scored = {r["iteration"]: r["selection_score"] for r in det.history_
              if "selection_score" in r}
    assert sorted(scored) == [0, 2, 4, 6]
    assert math.isfinite(scored[0])
    assert det.best_iteration_ == min(scored, key=scored.get)
    # with every later checkpoint scored worse, the pre-trained AE is kept
    original = TrainingMonitor.validation_diagnostics
    calls = []

    def shifted(self):
        e, spread, corr = original(self)
        calls.append(1)
        return (e if len(calls) == 1 else e + 1e6), spread, corr

    monkeypatch.setattr(TrainingMonitor, "validation_diagnostics", shifted)
    det2 = _fast(nae_iterations=6, check_interval=2).fit(X)
    monkeypatch.undo()
    assert len(calls) == 4 and det2.best_iteration_ == 0
    np.testing.assert_array_equal(det2.score_samples(X), det2.score_samples_pretrained(X))


def test_input_scale():
    X = _tiny_images()
    det = _fast(input_scale="auto").fit(X)
    norm = np.linalg.norm(X, axis=1).mean()
    assert det.input_scale_ == pytest.approx(1.0 / norm, rel=1e-6)
    module = det.net_.module_
    assert float(module.input_scale) == pytest.approx(det.input_scale_, rel=1e-6)
    # the encoder sees the scaled images: encode(x) == sphere(encoder(scale * x))
    xt = torch.as_tensor(X[:5]).reshape(5, 1, 12, 12)
    with torch.no_grad():
        h = module.encoder(xt * det.input_scale_)
    z = (h / h.norm(dim=1, keepdim=True)).numpy()
    np.testing.assert_allclose(det.encode(X[:5]), z, rtol=1e-5, atol=1e-6)
    assert _fast(preset="paper").fit(X).input_scale_ == 1.0  # the paper preset: no scaling
    assert _fast(input_scale=1.0).fit(X).input_scale_ == 1.0
    import pickle

    clone = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(det.score_samples(X), clone.score_samples(X))
    with pytest.raises(ValueError, match="input_scale"):
        _fast(input_scale=-1.0).fit(X)


def _raw_parameter_trajectory(monkeypatch, det, X):
    """Fit ``det`` and return the raw (trained) parameters after every NAE step."""
    from jetad.detectors._nae._trainer import NAETrainer

    original, trajectory = NAETrainer.step, []

    def recording_step(self, x_pos, w_pos=None):
        row = original(self, x_pos, w_pos)
        trajectory.append({name: p.detach().clone() for name, p in
                           self.module.named_parameters()})
        return row

    monkeypatch.setattr(NAETrainer, "step", recording_step)
    det.fit(X)
    monkeypatch.undo()
    return trajectory


def test_ema_checkpoints_hold_the_average_of_the_raw_weights(monkeypatch):
    X = _tiny_images()
    params = dict(nae_iterations=6, check_interval=2, keep_checkpoints=True)
    plain = _fast(**params)
    raw_plain = _raw_parameter_trajectory(monkeypatch, plain, X)
    decay = 0.7
    averaged = _fast(ema_decay=decay, **params)
    raw = _raw_parameter_trajectory(monkeypatch, averaged, X)
    # averaging never changes the training itself: the chains sample the raw weights
    assert len(raw) == len(raw_plain) == 6
    for a, b in zip(raw, raw_plain, strict=True):
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    assert [r.get("loss") for r in averaged.history_] == [r.get("loss") for r in plain.history_]
    # every checkpoint after iteration 0 stores the EMA of the raw trajectory
    ema = {name: value.clone() for name, value in raw[0].items()}
    expected = {}
    for iteration, state in enumerate(raw[1:], start=2):
        for name in ema:
            ema[name] = decay * ema[name] + (1 - decay) * state[name]
        expected[iteration] = {name: value.clone() for name, value in ema.items()}
    stored = {c["iteration"]: c["state"] for c in averaged.checkpoints_}
    assert sorted(stored) == [0, 2, 4, 6]
    plain_stored = {c["iteration"]: c["state"] for c in plain.checkpoints_}
    for iteration in (2, 4, 6):
        for name, value in expected[iteration].items():
            torch.testing.assert_close(stored[iteration][name], value, rtol=1e-5, atol=1e-7)
        differs = [not torch.equal(stored[iteration][n], plain_stored[iteration][n])
                   for n in expected[iteration]]
        assert any(differs)
    # the kept state is the selected averaged checkpoint, and scores follow it
    kept = averaged.best_iteration_
    averaged_again = _fast(ema_decay=decay, **params).fit(X)
    np.testing.assert_array_equal(averaged.score_samples(X), averaged_again.score_samples(X))
    averaged_again.load_checkpoint(kept)
    np.testing.assert_array_equal(averaged.score_samples(X), averaged_again.score_samples(X))


def test_ema_decay_near_zero_is_no_averaging_and_bad_values_raise():
    X = _tiny_images()
    params = dict(nae_iterations=5, check_interval=2, selection="last")
    plain, averaged = _fast(**params).fit(X), _fast(ema_decay=1e-12, **params).fit(X)
    np.testing.assert_allclose(averaged.score_samples(X), plain.score_samples(X), rtol=1e-5)
    assert resolve_settings(_fast()).ema_decay is None
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="ema_decay"):
            _fast(ema_decay=bad).fit(X)
    import pickle

    state = pickle.loads(pickle.dumps(averaged)).__dict__
    assert state["ema_decay"] == 1e-12
    old = dict(plain.__getstate__())
    old.pop("ema_decay")
    restored = NAEDetector.__new__(NAEDetector)
    restored.__setstate__(old)
    assert restored.ema_decay is None


def test_determinism_and_no_global_rng_side_effects():
    X = _tiny_images()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 (checks the legacy global state)
    a = _fast(random_state=7).fit(X)
    assert torch.equal(state, torch.get_rng_state())
    assert np.array_equal(np_state, np.random.get_state()[1])  # noqa: NPY002
    a.sample(3, random_state=0)
    assert torch.equal(state, torch.get_rng_state())
    b = _fast(random_state=7).fit(X)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    assert [r.get("loss") for r in a.history_] == [r.get("loss") for r in b.history_]
    c = _fast(random_state=8).fit(X)
    assert not np.array_equal(a.score_samples(X), c.score_samples(X))


def test_sampling_and_scoring_leave_weights_and_grads_alone():
    X = _tiny_images()
    det = _fast().fit(X)
    module = det.net_.module_
    before = {k: v.clone() for k, v in module.state_dict().items()}
    scores = det.score_samples(X)
    det.sample(8, random_state=0)
    module.zero_grad(set_to_none=True)
    det.settings_.sampler.draw(module, 8, latent_dim=det.latent_dim,
                               generator=torch_generator(0, "cpu"))
    assert all(p.grad is None for p in module.parameters())
    after = module.state_dict()
    # spectral-norm power-iteration vectors (u, v) do not move outside training steps
    assert all(torch.equal(before[k], after[k]) for k in before)
    np.testing.assert_array_equal(scores, det.score_samples(X))


def test_collapse_rollback_restores_last_healthy_state(monkeypatch):
    X = _tiny_images()
    kw = dict(check_interval=2, selection="last", nae_iterations=8)
    original = TrainingMonitor.is_healthy

    def fake_healthy(self, row):
        return row["iteration"] < 5 and original(self, row)

    monkeypatch.setattr(TrainingMonitor, "is_healthy", fake_healthy)
    with pytest.warns(NAECollapseWarning, match="rolled back"):
        collapsed = _fast(**kw).fit(X)
    monkeypatch.undo()
    assert collapsed.collapsed_ and collapsed.rollback_iteration_ == 4
    assert collapsed.best_iteration_ == 4 and collapsed.history_[-1]["healthy"] is False
    # the same run stopped cleanly at iteration 4 has exactly the restored weights
    with warnings.catch_warnings():
        warnings.simplefilter("error", NAECollapseWarning)
        reference = _fast(**dict(kw, nae_iterations=4)).fit(X)
    sa, sb = collapsed.net_.module_.state_dict(), reference.net_.module_.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_real_collapse_is_detected():
    # A huge learning rate with no gamma lets the negative energy run away.
    X = _tiny_images()
    with pytest.warns(NAECollapseWarning):
        det = _fast(nae_iterations=40, nae_lr=0.5, gamma=0.0, collapse_threshold=3.0,
                    check_interval=1, x_noise_std=0.05, x_metropolis=False).fit(X)
    assert det.collapsed_
    assert det.history_[-1]["healthy"] is False


def test_nae_zero_iterations_is_pretrained_ae():
    X = _tiny_images()
    det = _fast(nae_iterations=0).fit(X)
    np.testing.assert_array_equal(det.score_samples(X), det.score_samples_pretrained(X))
    assert det.best_iteration_ == 0



def test_nan_validation_energy_is_never_stored_as_healthy():
    # issue 14 #3: with a huge learning rate the first checkpoint's validation energy is
    # NaN; it must be refused (rollback to the pre-trained AE), never kept by "last".
    X = (np.random.default_rng(0).random((64, 1600)) / 800).astype(np.float32)
    with pytest.warns(NAECollapseWarning, match="rolled back to the healthy state of it"):
        det = _fast(nae_lr=1e6, selection="last").fit(X)
    assert det.collapsed_ and det.rollback_iteration_ == 0 and det.best_iteration_ == 0
    assert np.isfinite(det.score_samples(X)).all() and np.isfinite(det.offset_)
    np.testing.assert_array_equal(det.score_samples(X), det.score_samples_pretrained(X))
    module_state = det.net_.module_.state_dict()
    assert all(torch.isfinite(v).all() for v in module_state.values())
    kept = [r for r in det.history_ if r["healthy"] and "val_energy" in r]
    assert kept and all(math.isfinite(r["val_energy"]) for r in kept)


# ----------------------------------------------------------------- sampler
def test_sampler_is_a_nested_parameter():
    sampler = LangevinSampler(n_z_steps=3, n_x_steps=3, x_step_size=20.0)
    det = _fast(sampler=sampler)
    params = det.get_params(deep=True)
    assert params["sampler"] is sampler and params["sampler__x_step_size"] == 20.0
    assert {"sampler__" + name for name in SAMPLER_PARAMS} <= set(params)
    # the default (sampler=None) exposes LangevinSampler()'s fields too
    default = NAEDetector()
    assert default.get_params(deep=True)["sampler__buffer_size"] == 10000
    assert default.set_params(sampler__n_z_steps=2).sampler.n_z_steps == 2
    before = sampler.get_params()
    X = _tiny_images()
    det.fit(X)
    # fit fills the preset into a copy: the passed sampler is left alone
    assert sampler.get_params() == before and sampler.z_step_size is None
    assert det.settings_.sampler is not sampler
    assert det.settings_.sampler.z_step_size == NAE_PRESETS["cpu"]["z_step_size"]
    assert det.settings_.sampler.x_step_size == 20.0
    assert det.chain_temperatures_["x"] == pytest.approx(1e-4 ** 2 / 40)
    twin = clone(det)
    assert twin.sampler is not sampler and twin.sampler.get_params() == before
    np.testing.assert_array_equal(twin.fit(X).score_samples(X), det.score_samples(X))
    with pytest.raises(ValueError, match=r"^n_x_steps must be None or an int in \[0, inf\)"):
        _fast(n_x_steps=-1).fit(X)
    with pytest.raises(ValueError, match="^x_bounds must be None or a pair"):
        _fast(x_bounds=(1.0, 0.0)).fit(X)
    with pytest.raises(ValueError, match="^sampler must be None or an instance of "):
        _fast(sampler={"n_z_steps": 2}).fit(X)


def test_flat_chain_keywords_are_deprecated_aliases():
    X = _tiny_images()
    with pytest.warns(FutureWarning) as record:
        old = NAEDetector(max_epochs=2, batch_size=32, nae_iterations=4, nae_batch_size=16,
                          n_z_steps=3, n_x_steps=3, random_state=0, device="cpu").fit(X)
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2 and "'sampler__n_x_steps'" in messages[0]
    assert "LangevinSampler(n_z_steps=...)" in messages[1]
    assert {w.filename for w in record} == {__file__}  # points at the caller
    assert old.settings_.sampler.n_x_steps == 3
    np.testing.assert_array_equal(old.score_samples(X), _fast().fit(X).score_samples(X))
    # an alias overrides the field of the sampler passed with it
    with pytest.warns(FutureWarning, match="x_noise_std"):
        det = NAEDetector(max_epochs=2, nae_iterations=2, device="cpu", random_state=0,
                          sampler=LangevinSampler(x_noise_std=1e-3, n_z_steps=2, n_x_steps=2),
                          x_noise_std=1e-2).fit(X)
    assert det.settings_.sampler.x_noise_std == 1e-2 and det.sampler.x_noise_std == 1e-3


def test_detector_pickled_with_flat_chain_settings_loads():
    # the state of a detector pickled before the sampler existed: flat chain parameters
    X = _tiny_images()
    det = _fast(x_noise_std=1e-3).fit(X)
    state = det.__getstate__()
    del state["settings_"]
    sampler = state.pop("sampler")
    state.update(sampler.get_params())
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        old = NAEDetector.__new__(NAEDetector)
        old.__setstate__(state)
    assert old.sampler.get_params() == sampler.get_params() and old.n_z_steps == "deprecated"
    assert old.settings_.sampler.x_noise_std == 1e-3
    np.testing.assert_array_equal(old.score_samples(X), det.score_samples(X))
    np.testing.assert_array_equal(old.sample(3, random_state=0), det.sample(3, random_state=0))

def test_grid_search_over_a_sampler_parameter():
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from jetad.metrics import make_anomaly_scorer
    from jetad.model_selection import BackgroundOnly

    X = _tiny_images(48)
    grid = {"sampler__x_step_size": [20.0, 50.0]}

    def mean_score(estimator, X_test, y=None):  # label-free: mean log-likelihood proxy
        return float(np.mean(estimator.score_samples(X_test)))

    search = GridSearchCV(_fast(), grid, scoring=mean_score, cv=2).fit(X)
    assert search.best_params_["sampler__x_step_size"] in (20.0, 50.0)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.settings_.sampler.x_step_size == (
        search.best_params_["sampler__x_step_size"])
    # with labels: background-only fits, AUC against broad "signal" images
    signal = _tiny_images(24, seed=1) * 0 + 1.0 / X.shape[1]
    images = np.concatenate([X, signal.astype(np.float32)])
    y = np.r_[np.zeros(len(X), dtype=int), np.ones(len(signal), dtype=int)]
    labelled = GridSearchCV(BackgroundOnly(_fast()),
                            {"detector__sampler__x_step_size": [20.0, 50.0]},
                            scoring=make_anomaly_scorer("auc"),
                            cv=StratifiedKFold(2, shuffle=True, random_state=0)).fit(images, y)
    assert 0.0 <= labelled.best_score_ <= 1.0


def test_fit_nae_continues_from_the_pretrained_ae():
    X = _tiny_images()
    pretrained = _fast(nae_iterations=0).fit(X)
    reference = _fast(nae_iterations=5, check_interval=2, n_x_steps=2).fit(X)
    pretrained.set_params(nae_iterations=5, check_interval=2, sampler__n_x_steps=2)
    assert pretrained.fit_nae(X) is pretrained
    np.testing.assert_array_equal(pretrained.score_samples(X), reference.score_samples(X))
    assert pretrained.offset_ == reference.offset_
    assert pretrained.best_iteration_ == reference.best_iteration_
    assert len(pretrained.history_) == len(reference.history_) == 6
    # a second call starts again from the same pre-trained AE
    np.testing.assert_array_equal(pretrained.fit_nae(X).score_samples(X),
                                  reference.score_samples(X))
    with pytest.raises(NotFittedError):
        _fast().fit_nae(X)

# ---------------------------------------------------------------- real jets
@pytest.fixture(scope="module")
def nae_on_top_jets(qcd_jets, top_jets):
    """NAE trained on 1500 top jets, scored on held-out tops and QCD jets (QCD = anomaly).

    ``input_scale="auto"`` lets the spectrally normalised encoder see unit-norm images:
    at scale 1 (L2 norm ~0.05) the latent point barely depends on the jet, the AE
    reconstructs an average image and its energy tracks mean(x^2) for a seed-dependent
    number of updates (all 60 epochs in 2 of 3 seeds). With it the AE of every seed
    tried (0, 1, 2) learns to reconstruct the simpler QCD jets by epoch ~25: the AE
    failure of the paper, the state the NAE phase is meant to repair
    (benchmarks/results/nae_tuning.md, "A reliable CI-sized gain?").
    """
    from jetad import JetImager
    from jetad.metrics import anomaly_auc, image_concentration

    imager = JetImager(gaussian_sigma=1.0)
    top, qcd = imager.transform(top_jets), imager.transform(qcd_jets)
    X_train, X_bkg, X_sig = top[:1500], top[1500:], qcd[-1000:]
    det = NAEDetector(preset="cpu", max_epochs=60, batch_size=128, lr=1e-3, nae_iterations=100,
                      input_scale="auto", random_state=0, device="cpu")
    det.fit(X_train)
    y = np.r_[np.zeros(len(X_bkg)), np.ones(len(X_sig))]
    auc_ae = anomaly_auc(y, -np.r_[det.score_samples_pretrained(X_bkg),
                                   det.score_samples_pretrained(X_sig)])
    auc_nae = anomaly_auc(y, det.anomaly_score(np.r_[X_bkg, X_sig]))
    auc_x2 = anomaly_auc(y, image_concentration(np.r_[X_bkg, X_sig]))
    return det, X_bkg, auc_ae, auc_nae, auc_x2


def test_nae_on_top_jets_trains_healthy_and_uncollapsed(nae_on_top_jets):
    """Train on top jets; QCD jets are the anomaly (the paper's hard direction)."""
    det, X_bkg, auc_ae, auc_nae, auc_x2 = nae_on_top_jets
    assert not det.collapsed_
    assert all(row["healthy"] for row in det.history_)
    # the encoder must not map every jet to one point of the sphere (the spectral-norm
    # bias collapse: spread 1.7e-8 in the NAE tuning study before the zero-bias
    # initialisation)
    z = det.encode(X_bkg)
    assert 1.0 - np.linalg.norm(z.mean(axis=0)) > 0.05


def test_nae_on_top_jets_reaches_the_ae_failure_and_does_not_lose_to_it(nae_on_top_jets):
    """The pre-trained AE reconstructs QCD jets (its AUC falls below mean(x^2)), and the
    label-free kept NAE state is never worse than that AE.

    Measured, AE -> NAE (mean(x^2) 0.855): seed 0 0.586 -> 0.875, seed 1 0.620 -> 0.631,
    seed 2 0.602 -> 0.614 (benchmarks/results/nae_fixture_study.json). The NAE's gain of
    more than +0.05 over its AE holds in 1 of these 3 seeds only, so it is not asserted
    here: a CI test must not depend on which seed or CPU the chaotic training lands on.
    At 100k training jets it holds in 3 of 3 seeds (0.608 -> 0.791,
    benchmarks/results/nae.md).
    """
    _, _, auc_ae, auc_nae, auc_x2 = nae_on_top_jets
    assert auc_ae < auc_x2 - 0.1, (auc_ae, auc_x2)
    assert auc_nae > auc_ae - 0.03, (auc_ae, auc_nae)


def test_pickle_roundtrip():
    import pickle

    X = _tiny_images()
    det = _fast().fit(X)
    clone = pickle.loads(pickle.dumps(det))
    np.testing.assert_array_equal(det.score_samples(X), clone.score_samples(X))
    assert clone.history_ == det.history_
