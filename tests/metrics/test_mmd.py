"""Tests of jetad.metrics.maximum_mean_discrepancy."""

import math

import numpy as np
import pytest

from jetad.metrics import maximum_mean_discrepancy


def _gaussian_mmd2(delta2, s, sigma, d):
    """Exact MMD² of N(mu1, s² I) and N(mu2, s² I), |mu1 - mu2|² = delta2, Gaussian kernel."""
    c = sigma ** 2 + 2 * s ** 2
    return 2 * (sigma ** 2 / c) ** (d / 2) * (1 - math.exp(-delta2 / (2 * c)))


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0, 2.0])
def test_mmd_matches_gaussian_formula(shift):
    d, n, s, sigma, k = 3, 1000, 1.0, 1.5, 8
    values = []
    for seed in range(k):
        rng = np.random.default_rng(seed)
        X = rng.normal(0, s, (n, d))
        Y = rng.normal(0, s, (n, d))
        Y[:, 0] += shift
        values.append(maximum_mean_discrepancy(X, Y, bandwidth=sigma))
    want = _gaussian_mmd2(shift ** 2, s, sigma, d)
    # unbiased: the mean of k independent estimates is within a few standard errors
    stderr = np.std(values, ddof=1) / math.sqrt(k)
    assert abs(np.mean(values) - want) < 4 * stderr + 1e-4
    if shift:
        assert np.mean(values) > 10 * stderr  # clearly above zero


def test_mmd_same_and_different_samples():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 5))
    same = maximum_mean_discrepancy(X[:200], X[200:])  # median bandwidth
    assert abs(same) < 0.01
    # a sample against itself: the unbiased estimate is ~0 (slightly negative)
    assert abs(maximum_mean_discrepancy(X, X)) < 0.01
    far = maximum_mean_discrepancy(X, X + 1.0)
    assert far > 0.05
    sub = maximum_mean_discrepancy(X, X + 1.0, n_subsample=100, random_state=0)
    assert sub > 0.05
    with pytest.raises(ValueError, match="features"):
        maximum_mean_discrepancy(X, X[:, :2])


def test_mmd_subsampling_is_seeded_and_images_are_flattened():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(300, 2, 2)), rng.normal(0.5, 1.0, size=(300, 4))
    a = maximum_mean_discrepancy(X, Y, n_subsample=50, random_state=3)
    b = maximum_mean_discrepancy(X, Y, n_subsample=50, random_state=3)
    assert a == b
    assert a == pytest.approx(maximum_mean_discrepancy(X.reshape(300, 4), Y, n_subsample=50,
                                                       random_state=3))


@pytest.mark.parametrize("kwargs, match", [
    ({"bandwidth": 0.0}, "bandwidth"),
    ({"bandwidth": "mean"}, "bandwidth"),
    ({"n_subsample": 1}, "n_subsample"),
    ({"n_subsample": 2.5}, "n_subsample"),
])
def test_mmd_bad_parameters_name_the_parameter(kwargs, match):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match=match):
        maximum_mean_discrepancy(X, X + 1, **kwargs)


def test_mmd_needs_two_points():
    with pytest.raises(ValueError, match="at least 2 points"):
        maximum_mean_discrepancy(np.zeros((1, 3)), np.zeros((5, 3)))
