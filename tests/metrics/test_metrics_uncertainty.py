"""Honest uncertainties (issue 16): counts, Clopper–Pearson intervals, the
zero-count limit, the low-count flag and the mean ± sample std over seeds."""

import json
import warnings

import numpy as np
import pytest
from scipy import stats

from jetad.metrics import (
    background_rejection,
    background_rejection_interval,
    clopper_pearson_interval,
    image_concentration,
    mean_std,
    tagging_summary,
)

CL = 0.6826894921370859  # erf(1 / sqrt(2))


def _passing(n_background, k, n_signal=20):
    """Labels and scores where exactly ``k`` background jets pass the eps_S = 0.5 cut."""
    bkg = np.arange(n_background, dtype=float)
    cut = n_background - k - 0.5  # k background scores above it
    sig = np.r_[np.full(n_signal // 2, cut), np.full(n_signal - n_signal // 2, -1.0)]
    y = np.r_[np.zeros(n_background), np.ones(n_signal)]
    return y, np.r_[bkg, sig]


# ------------------------------------------------------------ Clopper–Pearson
@pytest.mark.parametrize("k, n", [(0, 10), (1, 10), (5, 100), (7, 20000), (50, 50), (3, 3)])
def test_clopper_pearson_matches_scipy_binomtest(k, n):
    low, high = clopper_pearson_interval(k, n)
    ref = stats.binomtest(k, n).proportion_ci(CL, method="exact")
    assert low == pytest.approx(ref.low, rel=1e-9, abs=1e-15)
    assert high == pytest.approx(ref.high, rel=1e-9, abs=1e-15)
    assert isinstance(low, float) and isinstance(high, float)


def test_clopper_pearson_known_values_and_vectorised():
    # analytic endpoints: k = 0 -> [0, 1 - (alpha/2)^(1/n)]; k = n -> [(alpha/2)^(1/n), 1]
    alpha = 1 - CL
    assert clopper_pearson_interval(0, 10) == pytest.approx((0.0, 1 - (alpha / 2) ** 0.1))
    assert clopper_pearson_interval(10, 10) == pytest.approx(((alpha / 2) ** 0.1, 1.0))
    # 95 % interval of 5 / 100: the textbook value [0.0164, 0.1128]
    low, high = clopper_pearson_interval(5, 100, 0.95)
    assert (round(low, 4), round(high, 4)) == (0.0164, 0.1128)
    low, high = clopper_pearson_interval([0, 5, 100], [100, 100, 100])
    assert low.shape == high.shape == (3,)
    assert high[1] == pytest.approx(clopper_pearson_interval(5, 100)[1])


@pytest.mark.parametrize("k, n, cl", [(-1, 10, CL), (11, 10, CL), (0, 0, CL), (np.nan, 5, CL),
                                      (1, 10, 0.0), (1, 10, 1.0), (1, 10, True), (1, 10, "0.68")])
def test_clopper_pearson_refuses_bad_input(k, n, cl):
    with pytest.raises(ValueError):
        clopper_pearson_interval(k, n, cl)


# ----------------------------------------------------------- zero-count bound
@pytest.mark.parametrize("n_background", [4, 100, 20000])
def test_zero_passing_gives_the_one_sided_limit_not_n_background(n_background):
    y, s = _passing(n_background, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = tagging_summary(y, s, 0.5)
    limit = 1 - (1 - CL) ** (1 / n_background)  # one-sided 68.27 % CL upper limit on eps_B
    assert summary["n_background_pass"] == 0 and summary["n_background"] == n_background
    assert summary["rejection_bounded"] is True and summary["low_count"] is True
    assert summary["background_efficiency"] == 0.0
    assert summary["background_efficiency_low"] == 0.0
    assert summary["background_efficiency_high"] == pytest.approx(limit)
    assert summary["rejection"] == pytest.approx(1 / limit)
    assert summary["rejection_low"] == summary["rejection"]
    assert summary["rejection_high"] == np.inf
    assert np.isnan(summary["rejection_error"])
    if n_background >= 100:  # the large-N form: N_B / -ln(1 - CL) = N_B / 1.148
        assert summary["rejection"] < n_background
        assert summary["rejection"] == pytest.approx(n_background / -np.log(1 - CL), rel=0.01)
    # the same number from background_rejection(zero_background="limit") ...
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rej, err = background_rejection(y, s, 0.5, zero_background="limit",
                                        return_uncertainty=True)
    assert rej == pytest.approx(summary["rejection"])
    assert err == pytest.approx(np.sqrt(limit * (1 - limit) / n_background) / limit**2)
    assert background_rejection(y, s, [0.5, 0.5], zero_background="limit") == pytest.approx(
        [summary["rejection"]] * 2)
    # ... while "bound" keeps its old meaning, N_B (not a confidence limit)
    assert background_rejection(y, s, 0.5, zero_background="bound") == n_background


def test_zero_passing_limit_at_another_confidence_level():
    y, s = _passing(1000, 0)
    summary = tagging_summary(y, s, 0.5, confidence_level=0.68)
    assert summary["rejection"] == pytest.approx(1 / (1 - 0.32 ** (1 / 1000)))
    assert summary["rejection"] == pytest.approx(1000 / 1.139, rel=1e-3)
    assert summary["confidence_level"] == 0.68
    with pytest.raises(ValueError, match="confidence_level"):
        tagging_summary(y, s, 0.5, confidence_level=68)
    with pytest.raises(ValueError, match="confidence_level"):
        background_rejection(y, s, 0.5, zero_background="limit", confidence_level=0)
    assert background_rejection(y, s, 0.5, zero_background="limit",
                                confidence_level=0.68) == pytest.approx(summary["rejection"])


# --------------------------------------------------------- counts and flags
@pytest.mark.parametrize("k, low", [(1, True), (9, True), (10, False), (70, False)])
def test_counts_and_low_count_flag(k, low):
    y, s = _passing(20000, k)
    summary = tagging_summary(y, s, 0.5)
    assert summary["n_background_pass"] == k and isinstance(summary["n_background_pass"], int)
    assert summary["n_background"] == 20000
    assert summary["low_count"] is low
    assert summary["rejection_bounded"] is False
    assert summary["rejection"] == pytest.approx(20000 / k)
    ref = stats.binomtest(k, 20000).proportion_ci(CL, method="exact")
    assert summary["background_efficiency_low"] == pytest.approx(ref.low)
    assert summary["background_efficiency_high"] == pytest.approx(ref.high)
    assert summary["rejection_low"] == pytest.approx(1 / ref.high)
    assert summary["rejection_high"] == pytest.approx(1 / ref.low)


def test_issue_16_example_six_of_twenty_thousand():
    # "3333 ± 0.0 hides a ±1361 binomial error (6 of 20 000 background jets pass)"
    y, s = _passing(20000, 6)
    summary = tagging_summary(y, s, 0.5)
    assert summary["rejection"] == pytest.approx(3333.33, abs=0.01)
    assert summary["rejection_error"] == pytest.approx(1361, abs=1)
    assert summary["low_count"] is True
    assert summary["rejection_low"] < 2500 and summary["rejection_high"] > 5000


@pytest.mark.parametrize("seed", range(5))
def test_interval_contains_the_point_estimate(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 2000))
    y = np.r_[np.zeros(n), np.ones(n // 3)]
    # rounded scores: ties between signal and background -> fractional effective counts
    s = np.round(rng.normal(size=y.size) + 1.5 * y, int(rng.integers(0, 3)))
    eff = [0.05, 0.2, 0.5, 0.9, 1.0]
    r = background_rejection_interval(y, s, eff)
    eps = r["background_efficiency"]
    assert np.all(r["background_efficiency_low"] <= eps)
    assert np.all(eps <= r["background_efficiency_high"])
    assert np.all(r["rejection_low"] <= r["rejection"])
    assert np.all(r["rejection"] <= r["rejection_high"])
    assert r["n_background"] == n and r["n_background_pass"].dtype.kind == "i"
    ok = ~r["bounded"]
    np.testing.assert_allclose(r["rejection"][ok], background_rejection(
        y, s, np.asarray(eff)[ok]))
    np.testing.assert_allclose(r["rejection_error"][ok], background_rejection(
        y, s, np.asarray(eff)[ok], return_uncertainty=True)[1])
    np.testing.assert_array_equal(r["low_count"], eps * n < 10 - 1e-9)


def test_tagging_summary_keeps_the_old_keys_and_is_json_ready():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(400), np.ones(400)]
    s = rng.normal(size=800) + y
    summary = tagging_summary(y, s)
    for key in ("auc", "rejection", "rejection_error", "rejection_bounded"):
        assert key in summary
    assert isinstance(summary["rejection_bounded"], bool)
    assert isinstance(summary["low_count"], bool)
    assert all(isinstance(v, (bool, int, float)) for v in summary.values())
    json.dumps(summary, allow_nan=False)
    with pytest.raises(ValueError, match="scalar"):
        tagging_summary(y, s, [0.2, 0.3])


# ------------------------------------------------------------------ mean_std
def test_mean_std_uses_the_sample_std():
    values = [25.5, 290.0, 48.0]
    mean, std = mean_std(values)
    assert mean == pytest.approx(np.mean(values))
    assert std == pytest.approx(np.std(values, ddof=1))
    assert std == pytest.approx(np.std(values) * np.sqrt(3 / 2))  # 1.22x the ddof=0 one
    assert isinstance(mean, float) and isinstance(std, float)
    assert mean_std(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx((2.5, np.std([1, 2, 3, 4],
                                                                                 ddof=1)))


def test_mean_std_edge_cases_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, std = mean_std([0.9])
        assert mean == 0.9 and np.isnan(std)
        mean, std = mean_std([0.9, np.nan])
        assert np.isnan(mean) and np.isnan(std)
        mean, std = mean_std([1.0, None])
        assert np.isnan(mean)
        mean, std = mean_std([1.0, np.inf])
        assert mean == np.inf and np.isnan(std)
    with pytest.raises(ValueError, match="empty"):
        mean_std([])
    with pytest.raises(ValueError, match="one-dimensional"):
        mean_std([[1.0, 2.0]])


# ------------------------------------------------- image_concentration range
def test_image_concentration_does_not_overflow():
    image = np.zeros((1, 100))
    image[0, 0] = 1e155  # x² = 1e310 overflows float64, mean(x²) = 1e308 does not
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = image_concentration(image)
    assert np.isfinite(c[0]) and c[0] == pytest.approx(1e308)
    # the ordinary range is unchanged
    rng = np.random.default_rng(0)
    X = rng.random((5, 16))
    np.testing.assert_allclose(image_concentration(X), np.mean(X**2, axis=1), rtol=1e-14)
    np.testing.assert_array_equal(image_concentration(np.zeros((2, 4))), [0.0, 0.0])


def test_image_concentration_refuses_what_it_cannot_represent():
    with pytest.raises(ValueError, match="overflows"):
        image_concentration(np.full((1, 4), 1e200))
    with pytest.raises(ValueError, match="infinity|inf"):
        image_concentration(np.array([[np.inf, 1.0]]))
    with pytest.raises(ValueError, match="NaN"):
        image_concentration(np.array([[np.nan, 1.0]]).reshape(1, 1, 1, 2))
