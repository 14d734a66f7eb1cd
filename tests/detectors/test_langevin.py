"""Tests of the NAE's Langevin chains, the uniform sphere sampler and the replay buffer."""

import math

import pytest
import torch

from jetad.detectors._nae._langevin import (
    ReplayBuffer,
    clip_grad_per_sample,
    implied_temperature,
    langevin_chain,
    uniform_sphere,
)


@pytest.mark.parametrize("metropolis", [True, False])
def test_langevin_quadratic_gaussian(metropolis):
    # E = k/2 |x - mu|^2 sampled at T = sigma^2 / (2 lambda): N(mu, T/k).
    k, mu, temperature, step = 2.0, 0.5, 0.1, 0.01
    sigma = math.sqrt(2 * step * temperature)
    assert implied_temperature(step, sigma) == pytest.approx(temperature)
    gen = torch.Generator().manual_seed(0)
    res = langevin_chain(lambda x: 0.5 * k * ((x - mu) ** 2).sum(1), torch.zeros(4000, 2),
                         n_steps=300, step_size=step, noise_std=sigma, metropolis=metropolis,
                         generator=gen)
    assert res.x.mean().item() == pytest.approx(mu, abs=0.02)
    assert res.x.var(0).mean().item() == pytest.approx(temperature / k, rel=0.08)
    if metropolis:
        assert 0.9 < res.accept_rate <= 1.0
    assert res.temperatures[0] == pytest.approx(temperature)


def test_langevin_metropolis_rejects_too_large_steps():
    gen = torch.Generator().manual_seed(0)
    energy = lambda x: 50.0 * (x ** 2).sum(1)  # noqa: E731
    res = langevin_chain(energy, torch.ones(500, 3), n_steps=20, step_size=0.05,
                         noise_std=0.3, metropolis=True, generator=gen)
    assert res.accept_rate < 0.5
    assert torch.isfinite(res.x).all()


def test_projected_latent_steps_stay_on_sphere():
    seen = []

    def energy(z):
        seen.append(z.detach().norm(dim=1))
        return (z[:, 0] - 0.3 * z[:, 1] ** 2)

    gen = torch.Generator().manual_seed(1)
    z0 = 3.0 * torch.randn(256, 3, generator=gen)  # not on the sphere: projected first
    res = langevin_chain(energy, z0, n_steps=15, step_size=0.5, noise_std=0.2, sphere=True,
                         metropolis=True, clip_grad=0.5, generator=gen)
    norms = torch.cat(seen)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
    assert torch.allclose(res.x.norm(dim=1), torch.ones(256), atol=1e-5)
    # the chain drifts towards the minimum at z = (-1, 0, 0)
    assert res.x[:, 0].mean() < -0.5


def test_clip_and_bounds():
    g = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    out = clip_grad_per_sample(g, 1.0)
    assert torch.allclose(out.norm(dim=1), torch.tensor([1.0, 0.5]))
    gen = torch.Generator().manual_seed(0)
    res = langevin_chain(lambda x: -(x.flatten(1)).sum(1), torch.full((8, 1, 4, 4), 0.5),
                         n_steps=10, step_size=1.0, noise_std=0.5, bounds=(0.0, 1.0),
                         noise_anneal=True, generator=gen)
    assert res.x.min() >= 0 and res.x.max() <= 1
    assert res.temperatures[2] == pytest.approx(0.25 / 4 / 2)  # sigma / max(1, t)


def test_uniform_sphere_is_uniform():
    z = uniform_sphere(20000, 3, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(z.norm(dim=1), torch.ones(20000), atol=1e-5)
    assert z.mean(0).abs().max() < 0.02
    assert torch.allclose(z.var(0), torch.full((3,), 1 / 3), atol=0.01)


def test_replay_buffer_draw_probability_and_fifo():
    buf = ReplayBuffer(max_size=100, replay_ratio=0.95, dim=3)
    gen = torch.Generator().manual_seed(0)
    z, from_buffer = buf.draw(50, generator=gen)
    assert not from_buffer.any()  # empty buffer: all fresh
    stored = uniform_sphere(250, 3, generator=gen)
    buf.push(stored)
    assert len(buf) == 100
    z, from_buffer = buf.draw(20000, generator=gen)
    assert from_buffer.float().mean().item() == pytest.approx(0.95, abs=0.01)
    # buffered draws are among the 100 most recent states (FIFO)
    recent = stored[-100:]
    d = torch.cdist(z[from_buffer][:500], recent).min(dim=1).values
    assert d.max() < 1e-3  # cdist precision in float32
    assert torch.allclose(z.norm(dim=1), torch.ones(20000), atol=1e-5)
