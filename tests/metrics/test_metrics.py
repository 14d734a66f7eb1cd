import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import validate_data

from jetad.metrics import (
    anomaly_auc,
    anomaly_auc_scorer,
    background_rejection,
    background_rejection_scorer,
    make_anomaly_scorer,
    max_sic_scorer,
    max_significance_improvement,
    roc_curve_anomaly,
    significance_improvement,
)


class DistanceDetector(OutlierMixin, BaseEstimator):
    """score_samples = -||x - mean||^2 (higher = more normal)."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None):
        X = validate_data(self, X)
        self.mean_ = X.mean(axis=0)
        self.offset_ = np.percentile(self.score_samples(X), 10)
        return self

    def score_samples(self, X):
        X = validate_data(self, X, reset=False)
        return -((X - self.mean_) ** 2).sum(axis=1)

    def decision_function(self, X):
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        return np.where(self.decision_function(X) >= 0, 1, -1)


def _toy(n_bkg=300, n_sig=60, shift=5.0, seed=0):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(size=(n_bkg, 2)), rng.normal(shift, 1.0, size=(n_sig, 2))]
    y = np.r_[np.zeros(n_bkg, dtype=int), np.ones(n_sig, dtype=int)]
    return X, y


# --------------------------------------------------------------------------- AUC
def test_auc_perfect_reversed_random():
    y = np.r_[np.zeros(50), np.ones(50)]
    s = np.arange(100.0)
    assert anomaly_auc(y, s) == 1.0
    assert anomaly_auc(y, -s) == 0.0  # no sign flipping by label
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 20000)
    assert abs(anomaly_auc(y, rng.normal(size=20000)) - 0.5) < 0.02


def test_auc_matches_sklearn_and_weights_and_pos_label():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + y
    w = rng.uniform(0.5, 2.0, 200)
    assert anomaly_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert anomaly_auc(y, s, sample_weight=w) == pytest.approx(
        roc_auc_score(y, s, sample_weight=w)
    )
    labels = np.where(y == 1, "top", "qcd")
    assert anomaly_auc(labels, s, pos_label="top") == pytest.approx(roc_auc_score(y, s))
    assert anomaly_auc(y.astype(bool), s) == pytest.approx(roc_auc_score(y, s))


@pytest.mark.parametrize(
    "y, s, match",
    [
        ([0, 0, 0], [1, 2, 3], "one class"),
        ([1, 1, 1], [1, 2, 3], "one class"),
        ([0, 1, 1], [1, 2], "inconsistent"),
        ([0, 1, 2], [1, 2, 3], "two classes"),
        ([0, 1, 0.5], [1, 2, 3], "two classes"),
        ([0, 1], [1.0, np.nan], "finite"),
        ([0, 1], [1.0, np.inf], "finite"),
        (["a", "b"], [1.0, 2.0], "pos_label"),
        ([], [], "empty"),
    ],
)
def test_bad_inputs_raise(y, s, match):
    for func in (anomaly_auc, roc_curve_anomaly, background_rejection,
                 significance_improvement):
        with pytest.raises(ValueError, match=match):
            func(y, s)


def test_roc_curve_orientation():
    eps_s, eps_b, thr = roc_curve_anomaly([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    np.testing.assert_allclose(eps_s, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(eps_b, [0, 0, 0.5, 0.5, 1])
    assert thr[0] == np.inf
    assert np.all(np.diff(thr) < 0)


# ------------------------------------------------------------------ rejection
def test_background_rejection_interpolates_on_roc():
    # signal scores 3, 2; background 2, 2, 1. ROC points (eps_s, eps_b):
    # (0, 0), (0.5, 0) at thr 3, (1, 2/3) at thr 2 (a tie), (1, 1).
    y = [1, 0, 1, 0, 0]
    s = [3.0, 2.0, 2.0, 2.0, 1.0]
    # eps_s = 0.75 lies half way on the diagonal segment: eps_b = 1/3
    assert background_rejection(y, s, 0.75) == pytest.approx(3.0)
    # 0.6: eps_b = (0.1 / 0.5) * 2/3 = 2/15
    assert background_rejection(y, s, 0.6) == pytest.approx(7.5)
    # exactly at a ROC point
    assert background_rejection(y, s, 1.0) == pytest.approx(1.5)
    # array input -> array output
    out = background_rejection(y, s, [0.75, 1.0])
    assert isinstance(out, np.ndarray) and out.shape == (2,)
    np.testing.assert_allclose(out, [3.0, 1.5])
    # "nearest": the ROC point with eps_s closest to 0.75 is (1, 2/3) (first of ties
    # with |diff| 0.25 is (0.5, 0) -> inf)
    with pytest.warns(UndefinedMetricWarning):
        assert background_rejection(y, s, 0.75, interpolation="nearest") == np.inf
    assert background_rejection(y, s, 0.9, interpolation="nearest") == pytest.approx(1.5)


def test_background_rejection_staircase_takes_tightest_cut():
    # no ties: sig 4, 2; bkg 3, 1 -> ROC (0,0), (.5,0), (.5,.5), (1,.5), (1,1)
    y, s = [1, 0, 1, 0], [4.0, 3.0, 2.0, 1.0]
    assert background_rejection(y, s, 0.75) == pytest.approx(2.0)
    assert background_rejection(y, s, 1.0) == pytest.approx(2.0)  # min eps_b at eps_s=1


def test_background_rejection_zero_background():
    y, s = [0, 0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.8, 0.9]
    with pytest.warns(UndefinedMetricWarning, match="N_B = 4"):
        assert background_rejection(y, s, 0.2) == np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert background_rejection(y, s, 0.2, zero_background="inf") == np.inf
        rej, err = background_rejection(
            y, s, 0.2, zero_background="bound", return_uncertainty=True
        )
    assert rej == 4.0
    assert err == pytest.approx(np.sqrt(0.25 * 0.75 / 4) / 0.25**2)
    with pytest.warns(UndefinedMetricWarning):
        rej, err = background_rejection(y, s, 0.2, return_uncertainty=True)
    assert rej == np.inf and np.isnan(err)


def test_background_rejection_uncertainty_known_case():
    # 100 background jets with scores 0..99; half the signal at 94.5, half at -1:
    # at eps_s = 0.5 exactly 5 background jets pass, eps_b = 0.05 (N_B = 100)
    bkg = np.arange(100.0)
    sig = np.r_[np.full(10, 94.5), np.full(10, -1.0)]
    y = np.r_[np.zeros(100), np.ones(20)]
    s = np.r_[bkg, sig]
    rej, err = background_rejection(y, s, 0.5, return_uncertainty=True)
    eps_b = 0.05
    assert rej == pytest.approx(1 / eps_b)
    assert err == pytest.approx(np.sqrt(eps_b * (1 - eps_b) / 100) / eps_b**2)
    assert err == pytest.approx(8.717797887)  # sqrt(.05*.95/100)/.05**2


@pytest.mark.parametrize("eff", [0.0, -0.1, 1.1, np.nan, [0.2, 2.0]])
def test_background_rejection_bad_efficiency(eff):
    with pytest.raises(ValueError, match="signal_efficiency"):
        background_rejection([0, 1], [0.0, 1.0], eff)


def test_background_rejection_bad_options():
    with pytest.raises(ValueError, match="interpolation"):
        background_rejection([0, 1], [0.0, 1.0], interpolation="cubic")
    with pytest.raises(ValueError, match="zero_background"):
        background_rejection([0, 1], [0.0, 1.0], zero_background="zero")


# ----------------------------------------------------------------------- SIC
def test_sic_curve_and_max():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(2000), np.ones(500)]
    s = np.r_[rng.normal(size=2000), rng.normal(2.0, 1.0, size=500)]
    eps_s, sic, thr = significance_improvement(y, s)
    eps_s2, eps_b, thr2 = roc_curve_anomaly(y, s)
    np.testing.assert_array_equal(thr, thr2)
    ok = eps_b > 0
    np.testing.assert_allclose(sic[ok], eps_s[ok] / np.sqrt(eps_b[ok]))
    assert np.all(np.isnan(sic[~ok]))
    count = np.rint(eps_b * 2000)
    sel = count >= 10
    assert max_significance_improvement(y, s) == pytest.approx(
        np.max(eps_s[sel] / np.sqrt(eps_b[sel]))
    )
    # the low-statistics tail is excluded: a stricter cut never increases the max
    assert max_significance_improvement(y, s, min_background_count=100) <= (
        max_significance_improvement(y, s)
    )
    m = max_significance_improvement(y, s, min_background_efficiency=0.1)
    sel = eps_b >= 0.1
    assert m == pytest.approx(np.max(eps_s[sel] / np.sqrt(eps_b[sel])))


def test_max_sic_low_statistics_tail_is_cut():
    # one signal jet above all background would give an infinite/huge SIC
    y = np.r_[np.zeros(100), np.ones(1)]
    s = np.r_[np.arange(100.0), 1000.0]
    assert max_significance_improvement(y, s) == pytest.approx(1 / np.sqrt(0.1))
    with pytest.raises(ValueError, match="fewer than min_background_count"):
        max_significance_improvement(y, s, min_background_count=101)
    with pytest.raises(ValueError, match="min_background_count"):
        max_significance_improvement(y, s, min_background_count=0)
    with pytest.raises(ValueError, match="min_background_efficiency"):
        max_significance_improvement(y, s, min_background_efficiency=2)


# -------------------------------------------------------------------- scorers
def test_scorer_signs_isolation_forest():
    X, y = _toy()
    det = IsolationForest(random_state=0).fit(X[y == 0])
    auc = anomaly_auc_scorer(det, X, y)
    assert auc > 0.9
    assert auc == pytest.approx(anomaly_auc(y, -det.score_samples(X)))
    # the sign trap this avoids: sklearn's "roc_auc" uses decision_function
    from sklearn.metrics import get_scorer

    assert get_scorer("roc_auc")(det, X, y) == pytest.approx(1 - auc)


def test_scorer_response_method_order():
    X, y = _toy()

    class WithAnomalyScore(DistanceDetector):
        def anomaly_score(self, X):
            return 2.0 * -self.score_samples(X)  # differs, but same ranking

    class DecisionOnly:
        def __init__(self, det):
            self.det = det

        def decision_function(self, X):
            return self.det.decision_function(X)

    det = DistanceDetector().fit(X[y == 0])
    ref = anomaly_auc(y, -det.score_samples(X))
    assert anomaly_auc_scorer(det, X, y) == pytest.approx(ref)
    assert anomaly_auc_scorer(WithAnomalyScore().fit(X[y == 0]), X, y) == pytest.approx(ref)
    assert anomaly_auc_scorer(DecisionOnly(det), X, y) == pytest.approx(ref)
    with pytest.raises(TypeError, match="anomaly_score"):
        anomaly_auc_scorer(object(), X, y)
    with pytest.raises(ValueError, match="labels"):
        anomaly_auc_scorer(det, X, None)


def test_make_anomaly_scorer_metrics():
    X, y = _toy(shift=1.5)
    det = DistanceDetector().fit(X[y == 0])
    a = -det.score_samples(X)
    rej = make_anomaly_scorer("background_rejection", signal_efficiency=0.3)
    assert rej(det, X, y) == pytest.approx(background_rejection(y, a, 0.3))
    assert background_rejection_scorer(det, X, y) == pytest.approx(
        background_rejection(y, a, 0.2)
    )
    assert max_sic_scorer(det, X, y) == pytest.approx(max_significance_improvement(y, a))
    sic20 = make_anomaly_scorer("max_sic", min_background_count=20)
    assert sic20(det, X, y) == pytest.approx(
        max_significance_improvement(y, a, min_background_count=20)
    )
    custom = make_anomaly_scorer(lambda y, s, pos_label: float(np.mean(s[y == pos_label])))
    assert custom(det, X, y) == pytest.approx(a[y == 1].mean())
    s2 = make_anomaly_scorer("auc", pos_label="top")
    assert s2(det, X, np.where(y == 1, "top", "qcd")) == pytest.approx(anomaly_auc(y, a))
    assert "background_rejection" in repr(rej) and "0.3" in repr(rej)
    with pytest.raises(ValueError, match="metric"):
        make_anomaly_scorer("accuracy")
    with pytest.raises(ValueError, match="signal_efficiency"):
        make_anomaly_scorer("background_rejection", signal_efficiency=1.5)
    with pytest.raises(ValueError, match="scalar"):
        make_anomaly_scorer("background_rejection", signal_efficiency=[0.2, 0.3])
    pickle.loads(pickle.dumps(rej))(det, X, y)


def test_scorers_in_cross_validate():
    X, y = _toy()
    res = cross_validate(
        make_pipeline(StandardScaler(), IsolationForest(n_estimators=20, random_state=0)),
        X,
        y,
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        scoring={
            "auc": anomaly_auc_scorer,
            "rej": make_anomaly_scorer("background_rejection", zero_background="bound"),
        },
    )
    # trained on signal too here (no BackgroundOnly), still well separated
    assert np.all(res["test_auc"] > 0.9)
    assert np.all(np.isfinite(res["test_rej"]))


def test_image_concentration_known_cases_and_shapes():
    from jetad.metrics import image_concentration

    # all pT in one of n pixels: mean(x^2) = 1/n; spread evenly over n pixels: 1/n^2
    n = 16
    peaked = np.zeros(n)
    peaked[3] = 1.0
    flat = np.full(n, 1.0 / n)
    c = image_concentration(np.stack([peaked, flat]))
    np.testing.assert_allclose(c, [1.0 / n, 1.0 / n**2])
    assert c.dtype == np.float64
    # (n, 1, H, W) images give the same numbers as flattened ones
    np.testing.assert_allclose(image_concentration(np.stack([peaked, flat]).reshape(2, 1, 4, 4)), c)
    with pytest.raises(ValueError, match="NaN"):
        image_concentration(np.array([[np.nan, 1.0]]))


def test_tagging_summary_matches_the_metrics():
    from jetad.metrics import tagging_summary

    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(500), np.ones(500)]
    s = rng.normal(size=1000) + y
    summary = tagging_summary(y, s, 0.3)
    assert summary["auc"] == pytest.approx(anomaly_auc(y, s))
    rej, err = background_rejection(y, s, 0.3, return_uncertainty=True)
    assert summary["rejection"] == pytest.approx(rej)
    assert summary["rejection_error"] == pytest.approx(err)
    assert summary["rejection_bounded"] is False
    # no background passes the cut: bounded by the number of background jets, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        perfect = tagging_summary(y, y.astype(float))
    # ... bounded by the 68.27 % CL limit, about N_B / 1.148, not N_B itself
    assert perfect["auc"] == 1.0
    assert perfect["rejection"] == pytest.approx(1 / (1 - (1 - 0.6826894921370859) ** (1 / 500)))
    assert 500 / 1.16 < perfect["rejection"] < 500 / 1.14
    assert perfect["rejection_bounded"] is True and np.isnan(perfect["rejection_error"])


@pytest.mark.parametrize("module", ["_roc", "_scorer", "_summary", "_uncertainty"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"jetad.metrics.{module}"),
                             optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_public_names_unchanged_by_the_module_split():
    import jetad.metrics

    assert sorted(jetad.metrics.__all__) == sorted([
        "anomaly_auc", "anomaly_auc_scorer", "background_rejection",
        "background_rejection_scorer", "image_concentration", "make_anomaly_scorer",
        "max_significance_improvement", "max_sic_scorer", "roc_curve_anomaly",
        "significance_improvement", "tagging_summary",
        # added with the uncertainties (issue 16) and the PyOD sign (issue 15)
        "anomaly_score_sign", "background_rejection_interval",
        "clopper_pearson_interval", "mean_std",
        # moved from the benchmark suite (issue 10)
        "maximum_mean_discrepancy",
    ])
    for name in jetad.metrics.__all__:
        assert getattr(jetad.metrics, name) is not None
