"""Tests of VAEDetector: the paper's loss convention and the latent-coordinate score."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from jetad.detectors import VAEDetector
from jetad.detectors._gmvae import GMVAEModule
from jetad.detectors._vae import VAEModule, half_squared_error


class _Constant(nn.Module):
    def __init__(self, image):
        super().__init__()
        self.image = image

    def forward(self, z):
        return self.image.expand(z.shape[0], *self.image.shape[1:])


def _fixed_posterior(module, mu, logvar):
    module.posterior = lambda x: (mu.expand(x.shape[0], -1), logvar.expand(x.shape[0], -1))


def test_loss_is_half_squared_error_plus_beta_kl():
    # Analytic case: a constant decoder c and a fixed posterior N(mu, sigma^2) give the
    # paper's Eq. (2) exactly: 1/2 ||x - c||^2 + beta_kl * 1/2 (sigma^2 + mu^2 - 1 - ln sigma^2).
    x = torch.arange(16, dtype=torch.float64).reshape(1, 1, 4, 4) / 100.0
    x = torch.cat([x, 2 * x])
    c = torch.full((1, 1, 4, 4), 0.05, dtype=torch.float64)
    mu, logvar = torch.tensor([[0.7]], dtype=torch.float64), torch.tensor([[-0.4]],
                                                                          dtype=torch.float64)
    module = VAEModule((4, 4), latent_dim=1, beta_kl=1e-4).double()
    module.decoder = _Constant(c)
    _fixed_posterior(module, mu, logvar)
    sq = ((x - c) ** 2).sum(dim=(1, 2, 3)).numpy()
    kl = 0.5 * (math.exp(-0.4) + 0.7**2 - 1.0 + 0.4)
    np.testing.assert_allclose(module(x).detach().numpy(), 0.5 * sq + 1e-4 * kl, rtol=1e-12)
    np.testing.assert_allclose(half_squared_error(x, c).numpy(), 0.5 * sq, rtol=1e-12)


def test_gmvae_shares_the_half_convention():
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    module = GMVAEModule((4, 4), latent_dim=1, n_components=2, beta_kl=0.0,
                         ashman_weight=0.0).double()
    module.decoder = _Constant(c)
    _fixed_posterior(module, torch.zeros(1, 1, dtype=torch.float64),
                     torch.zeros(1, 1, dtype=torch.float64))
    np.testing.assert_allclose(module(x).detach().numpy(),
                               0.5 * (x**2).sum(dim=(1, 2, 3)).numpy(), rtol=1e-12)


def _two_populations(n_major=240, n_minor=60, side=8, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    narrow = np.exp(-((yy - 3) ** 2 + (xx - 3) ** 2) / 2.0)
    wide = np.exp(-((yy - 4) ** 2 + (xx - 4) ** 2) / 18.0)
    X = np.concatenate([narrow.ravel() * rng.uniform(0.8, 1.2, (n_major, 1)),
                        wide.ravel() * rng.uniform(0.8, 1.2, (n_minor, 1))])
    X = X + rng.uniform(0, 0.02, X.shape)
    return (X / X.sum(axis=1, keepdims=True)).astype(np.float32), \
        np.r_[np.zeros(n_major), np.ones(n_minor)]


def test_latent_coordinate_is_oriented_posterior_mean():
    X, _ = _two_populations()
    det = VAEDetector(latent_dim=1, score_type="latent_coordinate", max_epochs=3,
                      batch_size=64, random_state=0, device="cpu").fit(X)
    mu = det.encode(X)[:, 0]
    sign = det.coordinate_sign()
    assert sign in (1.0, -1.0)
    # the sign makes the training coordinate positively skewed
    d = sign * mu.astype(np.float64) - np.mean(sign * mu)
    assert (d**3).mean() >= 0
    np.testing.assert_allclose(det.anomaly_score(X), sign * mu, rtol=1e-6)
    det.set_params(score_type="latent")
    assert np.all(det.anomaly_score(X) >= 0)


def test_latent_coordinate_needs_a_one_dimensional_latent():
    X = np.random.default_rng(0).random((20, 16)).astype(np.float32)
    with pytest.raises(ValueError, match="latent_dim=1"):
        VAEDetector(latent_dim=2, score_type="latent_coordinate", max_epochs=1,
                    device="cpu").fit(X)
    det = VAEDetector(latent_dim=2, max_epochs=1, random_state=0, device="cpu").fit(X)
    det.set_params(score_type="latent_coordinate")
    with pytest.raises(ValueError, match="latent_dim=1"):
        det.score_samples(X)
