"""The Wasserstein NAE: the Sinkhorn divergence and ``NAEDetector(loss="wasserstein")``."""

import math
import pickle

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone

from jetad.detectors import LangevinSampler, NAEDetector
from jetad.detectors._nae._settings import resolve_settings
from jetad.detectors._nae._trainer import NAETrainer, torch_generator
from jetad.detectors._nae._wasserstein import (
    entropic_ot,
    sinkhorn_divergence,
    squared_euclidean_cost,
    wasserstein_loss,
)


def _tiny_images(n=64, side=8, seed=0):
    """Unit-sum random images (Dirichlet pixel fractions, peaked toward the centre)."""
    yy, xx = np.mgrid[:side, :side]
    weight = np.exp(-((yy - side / 2) ** 2 + (xx - side / 2) ** 2) / 8.0).ravel() + 0.05
    images = np.random.default_rng(seed).dirichlet(4.0 * weight, size=n)
    return images.astype(np.float32)


def _fast(**kw):
    params = dict(max_epochs=2, batch_size=32, nae_iterations=3, nae_batch_size=16,
                  random_state=0, device="cpu",
                  sampler=LangevinSampler(n_z_steps=2, n_x_steps=3))
    params.update(kw)
    return NAEDetector(**params)


def _cloud(n, dim, seed):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------- Sinkhorn
def test_shifted_cloud_gives_squared_shift():
    x = _cloud(40, 5, 0)
    d = torch.tensor([0.3, -0.2, 0.1, 0.0, 0.5], dtype=torch.float64)
    shift2 = float((d ** 2).sum())
    # the plan of x -> x + d is that of x -> x, so the debiased divergence is |d|^2 at any eps
    for eps in (1.0, 0.1):
        assert float(sinkhorn_divergence(x, x + d, eps)) == pytest.approx(shift2, rel=1e-2)
    # the transport cost of the entropic plan itself tends to |d|^2 for small eps
    _, cost_small = entropic_ot(x, x + d, 0.01, n_iterations=300)
    _, cost_large = entropic_ot(x, x + d, 1.0)
    assert float(cost_small) == pytest.approx(shift2, rel=1e-3)
    assert abs(float(cost_large) - shift2) > 10 * abs(float(cost_small) - shift2)
    assert float(sinkhorn_divergence(x, x.clone(), 0.1)) == pytest.approx(0.0, abs=1e-12)


def test_divergence_matches_exact_assignment_and_is_symmetric():
    x, y = _cloud(32, 20, 1), 0.8 * _cloud(32, 20, 2) + 0.3
    cost = squared_euclidean_cost(x, y)
    rows, cols = linear_sum_assignment(cost.numpy())
    exact = float(cost[rows, cols].mean())  # W_2^2 of two uniform clouds of equal size
    assert float(wasserstein_loss(x, y, epsilon=0.03, n_iterations=300)) == pytest.approx(
        exact, rel=5e-3)
    z = _cloud(20, 20, 3)
    assert float(sinkhorn_divergence(x, z, 0.5, 300)) == pytest.approx(
        float(sinkhorn_divergence(z, x, 0.5, 300)), rel=1e-6)


def test_weights_equal_repeated_points_and_gradient_of_shift():
    x, y = _cloud(10, 3, 4), _cloud(12, 3, 5)
    w = torch.tensor([1.0, 2.0, 3.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 4.0], dtype=torch.float64)
    weighted = sinkhorn_divergence(x, y, 0.5, x_weights=w)
    repeated = sinkhorn_divergence(torch.repeat_interleave(x, w.long(), dim=0), y, 0.5)
    assert float(weighted) == pytest.approx(float(repeated), rel=1e-6)
    d = torch.tensor([0.2, -0.4, 0.1], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(sinkhorn_divergence(x, x + d, 0.1), d)
    assert torch.allclose(grad, 2 * d.detach(), rtol=1e-2, atol=1e-4)  # d|d|^2/dd


# ------------------------------------------------------------- detector
def _trainer(det, X):
    """An NAE trainer on a fitted detector's pre-trained module, with the detector's settings."""
    det._check_params()
    module = det.net_.module_
    generator = torch_generator(0, torch.device("cpu"))
    return NAETrainer(module, det.settings_, buffer=det.settings_.sampler.make_buffer(3),
                      generator=generator, latent_dim=det.latent_dim, score_batch_size=64)


def test_gradient_reaches_encoder_and_decoder_through_the_chain():
    X = _tiny_images(16)
    det = _fast(nae_iterations=0, l2_norm_reg=0.0).fit(X)
    det.set_params(loss="wasserstein", sampler__x_metropolis=False, sampler__n_x_steps=2)
    trainer = _trainer(det, X)
    before = {k: v.detach().clone() for k, v in trainer.module.named_parameters()}
    row = trainer.step(torch.as_tensor(X.reshape(16, 1, 8, 8)))
    assert all(math.isfinite(v) for v in row.values())
    for part in ("encoder", "decoder"):
        grads = [p.grad for n, p in trainer.module.named_parameters() if n.startswith(part)]
        assert any(g is not None and float(g.abs().sum()) > 0 for g in grads), part
        assert all(g is None or bool(torch.isfinite(g).all()) for g in grads)
    changed = [n for n, p in trainer.module.named_parameters()
               if not torch.equal(p.detach(), before[n])]
    assert any(n.startswith("encoder") for n in changed)
    assert any(n.startswith("decoder") for n in changed)


def test_differentiable_chain_draws_the_same_samples():
    X = _tiny_images(16)
    det = _fast(nae_iterations=0, sampler=LangevinSampler(
        n_z_steps=2, n_x_steps=3, x_metropolis=False)).fit(X)
    module, sampler = det.net_.module_, resolve_settings(det).sampler
    draws = []
    for differentiable in (False, True):
        generator = torch_generator(7, torch.device("cpu"))
        _, x_result, _ = sampler.draw(module, 8, latent_dim=3, generator=generator,
                                      differentiable=differentiable)
        draws.append((x_result.x, generator.get_state()))
    assert draws[1][0].grad_fn is not None and draws[0][0].grad_fn is None
    assert torch.allclose(draws[0][0], draws[1][0].detach(), rtol=1e-5, atol=1e-7)
    assert torch.equal(draws[0][1], draws[1][1])  # no extra random draws


def test_tiny_wasserstein_fit_is_finite_and_default_is_unchanged():
    X = _tiny_images()
    weights = np.random.default_rng(1).integers(1, 3, X.shape[0])
    det = _fast(loss="wasserstein").fit(X, sample_weight=weights)
    rows = det.history_[1:]
    assert len(rows) == 3 and all(r["healthy"] for r in rows)
    for r in rows:
        assert all(math.isfinite(r[k]) for k in ("loss", "pos_energy", "neg_energy"))
    assert np.isfinite(det.score_samples(X)).all()
    assert det.settings_.loss == "wasserstein"
    default, explicit = _fast().fit(X), _fast(loss="contrastive").fit(X)
    assert [r["loss"] for r in default.history_[1:]] == [r["loss"] for r in explicit.history_[1:]]
    np.testing.assert_array_equal(default.score_samples(X), explicit.score_samples(X))


@pytest.mark.parametrize("params, match", [
    ({"loss": "wnae"}, "loss must be one of 'contrastive', 'wasserstein'"),
    ({"loss": "wasserstein", "sinkhorn_epsilon": 0.0}, "sinkhorn_epsilon"),
    ({"loss": "wasserstein", "sinkhorn_iterations": 0}, "sinkhorn_iterations"),
])
def test_bad_values_raise(params, match):
    with pytest.raises(ValueError, match=match):
        _fast(**params).fit(_tiny_images(8))


def test_params_clone_and_old_pickles():
    det = NAEDetector(loss="wasserstein", sinkhorn_epsilon=0.05, sinkhorn_iterations=50)
    params = clone(det).get_params()
    assert (params["loss"], params["sinkhorn_epsilon"], params["sinkhorn_iterations"]) == (
        "wasserstein", 0.05, 50)
    assert NAEDetector().get_params()["loss"] == "contrastive"
    assert clone(det.set_params(loss="contrastive")).loss == "contrastive"
    old = pickle.loads(pickle.dumps(NAEDetector()))
    for name in ("loss", "sinkhorn_epsilon", "sinkhorn_iterations"):
        del old.__dict__[name]  # a detector pickled before the WNAE existed
    restored = pickle.loads(pickle.dumps(old))
    assert restored.get_params()["loss"] == "contrastive"
