import pickle

import numpy as np
import pytest
from sklearn import config_context
from sklearn.base import BaseEstimator, OutlierMixin, clone, is_outlier_detector
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.validation import validate_data

from jetad.metrics import (
    anomaly_auc,
    anomaly_auc_scorer,
    background_rejection,
    make_anomaly_scorer,
    tagging_summary,
)
from jetad.model_selection import BackgroundOnly, compare_detectors, format_comparison

N_BKG, N_SIG = 240, 60
SEEN = []  # row ids seen by RecordingDetector.fit (n_jobs=1 only)


class RecordingDetector(OutlierMixin, BaseEstimator):
    """-||x - mean||^2 on all but the last column; the last column is a row id."""

    def __init__(self, shift=0.0, random_state=None):
        self.shift = shift
        self.random_state = random_state

    def fit(self, X, y=None, sample_weight=None):
        X = validate_data(self, X)
        self.seen_ = X[:, -1].astype(int)
        self.sample_weight_ = sample_weight
        SEEN.append(self.seen_)
        self.mean_ = X[:, :-1].mean(axis=0) + self.shift
        self.offset_ = float(np.percentile(self.score_samples(X), 10))
        return self

    def score_samples(self, X):
        X = validate_data(self, X, reset=False)
        return -((X[:, :-1] - self.mean_) ** 2).sum(axis=1)

    def decision_function(self, X):
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        return np.where(self.decision_function(X) >= 0, 1, -1)

    def encode(self, X):
        return X[:, :-1] - self.mean_


class SeededDetector(RecordingDetector):
    """Adds noise from random_state to the score, so seeds matter."""

    def score_samples(self, X):
        noise = np.random.RandomState(self.random_state).normal(size=len(X))
        return super().score_samples(X) + 0.5 * noise


def _make_toy(shift):
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(N_BKG, 2)), rng.normal(shift, 1.0, size=(N_SIG, 2))]
    ids = np.arange(N_BKG + N_SIG)[:, None].astype(float)
    y = np.r_[np.zeros(N_BKG, dtype=int), np.ones(N_SIG, dtype=int)]
    perm = rng.permutation(len(y))
    return np.c_[X, ids][perm], y[perm]


@pytest.fixture
def toy():
    return _make_toy(3.0)


@pytest.fixture
def hard_toy():
    """Overlapping classes, so that 1/eps_B is finite at the working points."""
    return _make_toy(1.0)


def _is_bkg_id(ids):
    return np.all(np.asarray(ids) < N_BKG)


# ------------------------------------------------------------- BackgroundOnly
def test_background_only_fits_background_and_delegates(toy):
    X, y = toy
    est = BackgroundOnly(RecordingDetector()).fit(X, y)
    assert is_outlier_detector(est)
    assert _is_bkg_id(est.detector_.seen_) and len(est.detector_.seen_) == N_BKG
    assert est.n_background_ == N_BKG
    det = RecordingDetector().fit(X[y == 0])
    np.testing.assert_allclose(est.score_samples(X), det.score_samples(X))
    np.testing.assert_allclose(est.decision_function(X), det.decision_function(X))
    np.testing.assert_array_equal(est.predict(X), det.predict(X))
    np.testing.assert_allclose(est.anomaly_score(X), -det.score_samples(X))
    np.testing.assert_allclose(est.encode(X), det.encode(X))
    assert est.offset_ == det.offset_
    assert est.n_features_in_ == 3
    assert est.score(X, y) == pytest.approx(anomaly_auc(y, -det.score_samples(X)))
    np.testing.assert_array_equal(
        BackgroundOnly(RecordingDetector()).fit_predict(X, y), det.predict(X)
    )


def test_background_only_available_if():
    est = BackgroundOnly(IsolationForest(n_estimators=5))
    assert not hasattr(est, "encode") and not hasattr(est, "reconstruct")
    assert hasattr(BackgroundOnly(RecordingDetector()), "encode")
    assert not hasattr(est, "offset_")  # not fitted yet


def test_background_only_labels_and_errors(toy):
    X, y = toy
    # without labels every row is background (what sklearn's estimator checks need)
    est = BackgroundOnly(RecordingDetector()).fit(X, None)
    assert est.n_background_ == len(X)
    np.testing.assert_array_equal(est.detector_.seen_, X[:, -1].astype(int))
    np.testing.assert_allclose(est.score_samples(X), RecordingDetector().fit(X).score_samples(X))
    with pytest.raises(ValueError, match="No background rows"):
        BackgroundOnly(RecordingDetector(), background_label=7).fit(X, y)
    with pytest.raises(ValueError, match="inconsistent"):
        BackgroundOnly(RecordingDetector()).fit(X, y[:-1])
    with pytest.raises(TypeError, match="fit method"):
        BackgroundOnly("not an estimator").fit(X, y)
    labels = np.where(y == 1, "top", "qcd")
    est = BackgroundOnly(RecordingDetector(), background_label="qcd").fit(X, labels)
    assert _is_bkg_id(est.detector_.seen_)
    with pytest.raises(ValueError, match="No background rows"):
        BackgroundOnly(RecordingDetector()).fit(X, labels)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        BackgroundOnly(RecordingDetector()).score_samples(X)


def test_background_only_filters_sample_aligned_fit_params(toy):
    X, y = toy
    w = np.arange(len(y), dtype=float)
    est = BackgroundOnly(RecordingDetector()).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(est.detector_.sample_weight_, w[y == 0])


def test_background_only_metadata_routing(toy):
    X, y = toy
    w = np.arange(len(y), dtype=float)
    with config_context(enable_metadata_routing=True):
        det = RecordingDetector().set_fit_request(sample_weight=True)
        est = BackgroundOnly(det).fit(X, y, sample_weight=w)
        np.testing.assert_array_equal(est.detector_.sample_weight_, w[y == 0])
        with pytest.raises(Exception, match="sample_weight"):
            BackgroundOnly(RecordingDetector()).fit(X, y, sample_weight=w)


def test_background_only_clone_pickle_params(toy):
    X, y = toy
    est = BackgroundOnly(RecordingDetector(shift=0.5), background_label=0)
    params = est.get_params()
    assert params["background_label"] == 0
    assert params["detector__shift"] == 0.5
    est.set_params(detector__shift=0.25, background_label=1)
    assert est.detector.shift == 0.25 and est.background_label == 1
    est.set_params(background_label=0)
    c = clone(est)
    assert c is not est and c.detector is not est.detector
    assert c.get_params()["detector__shift"] == 0.25
    est.fit(X, y)
    est2 = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(est2.score_samples(X), est.score_samples(X))
    assert not hasattr(clone(est), "detector_")


def test_background_only_tags():
    tags = get_tags(BackgroundOnly(IsolationForest()))
    assert not tags.target_tags.required  # y=None fits on all rows
    assert tags.estimator_type == "outlier_detector"
    assert tags.input_tags.allow_nan == get_tags(IsolationForest()).input_tags.allow_nan


def test_grid_search_fits_only_background(toy):
    X, y = toy
    SEEN.clear()
    search = GridSearchCV(
        BackgroundOnly(RecordingDetector()),
        {"detector__shift": [3.0, 0.0]},
        scoring={"auc": anomaly_auc_scorer,
                 "rej": make_anomaly_scorer("background_rejection",
                                            zero_background="bound")},
        refit="auc",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    assert len(SEEN) == 2 * 3 + 1
    assert all(_is_bkg_id(ids) for ids in SEEN)
    refit = search.best_estimator_.detector_
    assert _is_bkg_id(refit.seen_) and len(refit.seen_) == N_BKG
    assert search.best_params_ == {"detector__shift": 0.0}
    assert search.best_score_ > 0.9
    assert np.all(np.isfinite(search.cv_results_["mean_test_rej"]))
    # scoring=None uses BackgroundOnly.score, the AUC
    search2 = GridSearchCV(
        BackgroundOnly(RecordingDetector()), {"detector__shift": [3.0, 0.0]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    np.testing.assert_allclose(
        search2.cv_results_["mean_test_score"], search.cv_results_["mean_test_auc"]
    )


def test_grid_search_with_metadata_routing_enabled(toy):
    X, y = toy
    w = np.ones(len(y))
    with config_context(enable_metadata_routing=True):
        det = RecordingDetector().set_fit_request(sample_weight=True)
        search = GridSearchCV(
            BackgroundOnly(det), {"detector__shift": [3.0, 0.0]},
            scoring={"auc": anomaly_auc_scorer,
                     "rej": make_anomaly_scorer("background_rejection",
                                                zero_background="bound")},
            refit="auc", cv=StratifiedKFold(3, shuffle=True, random_state=0),
        ).fit(X, y, sample_weight=w)
    assert search.best_params_ == {"detector__shift": 0.0}
    np.testing.assert_array_equal(search.best_estimator_.detector_.sample_weight_,
                                  np.ones(N_BKG))


def test_grid_search_pipeline_inside(toy):
    X, y = toy
    pipe = Pipeline([("scale", StandardScaler()),
                     ("det", IsolationForest(n_estimators=20, random_state=0))])
    search = GridSearchCV(
        BackgroundOnly(pipe),
        {"detector__det__max_samples": [32, 64]},
        scoring=anomaly_auc_scorer,
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X[:, :2], y)
    assert search.best_score_ > 0.9
    best = search.best_estimator_
    scaler = best.detector_.named_steps["scale"]
    np.testing.assert_allclose(scaler.mean_, X[y == 0, :2].mean(axis=0))
    np.testing.assert_allclose(
        best.anomaly_score(X[:, :2]), -best.detector_.score_samples(X[:, :2])
    )


def test_cross_validate_background_only(toy):
    X, y = toy
    res = cross_validate(
        BackgroundOnly(IsolationForest(n_estimators=20, random_state=0)),
        X[:, :2], y,
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        scoring={"auc": anomaly_auc_scorer},
        return_estimator=True,
    )
    assert np.all(res["test_auc"] > 0.9)
    for est in res["estimator"]:
        assert est.n_background_ == N_BKG * 2 // 3


# ------------------------------------------------------------ compare_detectors
def _drop_times(table):
    return table[[c for c in table.columns if "time" not in c]]


def test_compare_detectors_shapes_and_background_only(hard_toy):
    pd = pytest.importorskip("pandas")
    X, y = hard_toy
    table, scores = compare_detectors(
        {"rec": RecordingDetector(), "seeded": SeededDetector()},
        X, y, n_repeats=3, test_size=0.5, signal_efficiency=[0.2, 0.5],
        random_state=0, return_scores=True,
    )
    assert isinstance(table, pd.DataFrame)
    assert list(table.index) == ["rec", "seeded"]
    for col in ["auc_mean", "auc_std", "rejection_0.2_mean", "rejection_0.5_std",
                "fit_time_mean", "n_repeats"]:
        assert col in table.columns
    assert len(table.loc["rec", "auc_per_fit"]) == 3
    assert table.loc["rec", "n_test_signal"] == N_SIG // 2
    assert table.loc["rec", "n_test_background"] == N_BKG // 2
    assert table.loc["rec", "auc_mean"] == pytest.approx(
        np.mean(table.loc["rec", "auc_per_fit"])
    )
    assert set(scores) == {"rec", "seeded"} and len(scores["rec"]) == 3
    for rep in scores["rec"]:
        ids = X[rep["test_index"], -1]
        np.testing.assert_array_equal(rep["y_true"], (ids >= N_BKG).astype(int))
        assert rep["anomaly_score"].shape == rep["test_index"].shape
    # paired splits: the same test rows for every detector
    for a, b in zip(scores["rec"], scores["seeded"], strict=True):
        np.testing.assert_array_equal(a["test_index"], b["test_index"])
    # per-fit metrics agree with the returned scores
    rep = scores["rec"][1]
    assert table.loc["rec", "auc_per_fit"][1] == pytest.approx(
        anomaly_auc(rep["y_true"], rep["anomaly_score"])
    )
    rej = background_rejection(rep["y_true"], rep["anomaly_score"], 0.5)
    assert np.isfinite(rej)
    assert table.loc["rec", "rejection_0.5_per_fit"][1] == pytest.approx(rej)
    assert table.loc["rec", "rejection_0.5_std"] == pytest.approx(
        np.std(table.loc["rec", "rejection_0.5_per_fit"], ddof=1)
    )
    md = format_comparison(table)
    assert md.count("\n") >= 4 and "| rec |" in md and "ε_S=0.5" in md


def test_compare_detectors_fits_training_background_only(hard_toy):
    X, y = hard_toy
    SEEN.clear()
    _, scores = compare_detectors(
        [RecordingDetector()], X, y, n_repeats=2, random_state=1, return_scores=True,
        as_frame=False,
    )
    assert len(SEEN) == 2
    for seen, rep in zip(SEEN, scores["RecordingDetector"], strict=True):
        assert _is_bkg_id(seen)
        assert set(seen).isdisjoint(set(X[rep["test_index"], -1].astype(int)))


def test_compare_detectors_reproducible_and_parallel(hard_toy):
    pytest.importorskip("pandas")
    X, y = hard_toy
    dets = {"seeded": SeededDetector(), "iforest": IsolationForest(n_estimators=10)}
    kw = dict(n_repeats=3, random_state=0, signal_efficiency=0.3, zero_background="inf")
    t1 = compare_detectors(dets, X, y, n_jobs=1, **kw)
    t2 = compare_detectors(dets, X, y, n_jobs=1, **kw)
    t3 = compare_detectors(dets, X, y, n_jobs=2, **kw)
    for other in (t2, t3):
        a, b = _drop_times(t1), _drop_times(other)
        np.testing.assert_allclose(
            np.stack(a["auc_per_fit"].to_numpy()), np.stack(b["auc_per_fit"].to_numpy())
        )
        np.testing.assert_allclose(
            np.stack(a["rejection_0.3_per_fit"].to_numpy()),
            np.stack(b["rejection_0.3_per_fit"].to_numpy()),
        )
    # repeats get different seeds (the noise differs), so the AUCs are not all equal
    assert np.unique(t1.loc["seeded", "auc_per_fit"]).size > 1
    t4 = compare_detectors(dets, X, y, n_jobs=1, n_repeats=3, random_state=1,
                           signal_efficiency=0.3, zero_background="inf")
    assert not np.allclose(t4.loc["seeded", "auc_per_fit"], t1.loc["seeded", "auc_per_fit"])


def test_compare_detectors_structured_array_and_nested_seeds(hard_toy):
    X, y = hard_toy
    pipe = Pipeline([("scale", StandardScaler()), ("det", SeededDetector())])
    table = compare_detectors(
        [pipe, BackgroundOnly(SeededDetector()), SeededDetector()], X, y,
        n_repeats=2, random_state=0, as_frame=False,
    )
    assert isinstance(table, np.ndarray) and table.dtype.names[0] == "detector"
    assert list(table["detector"]) == ["Pipeline", "BackgroundOnly", "SeededDetector"]
    assert table["auc_per_fit"].shape == (3, 2)
    assert np.all(table["auc_mean"] > 0.6)
    md = format_comparison(table)
    assert "| Pipeline |" in md and "2 repeats" in md
    # list-of-dicts form is accepted as well
    rows = [{name: r[name] for name in table.dtype.names} for r in table]
    assert format_comparison(rows) == md


def test_compare_detectors_errors(toy):
    X, y = toy
    with pytest.raises(ValueError, match="n_repeats"):
        compare_detectors([RecordingDetector()], X, y, n_repeats=0)
    with pytest.raises(ValueError, match="both background"):
        compare_detectors([RecordingDetector()], X, np.zeros_like(y))
    with pytest.raises(ValueError, match="empty"):
        compare_detectors({}, X, y)
    with pytest.raises(TypeError, match="fit"):
        compare_detectors({"x": object()}, X, y)
    with pytest.raises(ValueError, match="signal_efficiency"):
        compare_detectors([RecordingDetector()], X, y, signal_efficiency=0)
    with pytest.raises(ValueError, match="as_frame"):
        compare_detectors([RecordingDetector()], X, y, as_frame="yes")
    with pytest.raises(ValueError, match="zero_background"):
        compare_detectors([RecordingDetector()], X, y, zero_background="nan")
    with pytest.raises(TypeError, match="compare_detectors"):
        format_comparison("table")


def test_compare_detectors_zero_background(toy):
    X, y = toy  # well separated: no test background passes at eps_s = 0.2
    with pytest.warns(Warning, match="No background passes"):
        t = compare_detectors([RecordingDetector()], X, y, n_repeats=2,
                              random_state=0, as_frame=False)
    assert np.all(np.isinf(t["rejection_0.2_per_fit"]))
    assert "inf" in format_comparison(t)
    t = compare_detectors([RecordingDetector()], X, y, n_repeats=2, random_state=0,
                          as_frame=False, zero_background="bound")
    np.testing.assert_array_equal(t["rejection_0.2_per_fit"], [[N_BKG // 2] * 2])
    t = compare_detectors([RecordingDetector()], X, y, n_repeats=2, random_state=0,
                          as_frame=False, zero_background="limit")
    limit = tagging_summary(np.r_[np.zeros(N_BKG // 2), np.ones(N_SIG // 2)],
                            np.r_[np.zeros(N_BKG // 2), np.ones(N_SIG // 2)])["rejection"]
    np.testing.assert_allclose(t["rejection_0.2_per_fit"], [[limit] * 2])
    assert limit < N_BKG // 2


def test_compare_detectors_goes_through_the_evaluation_seam(hard_toy, monkeypatch):
    from jetad.model_selection import _compare

    X, y = hard_toy
    calls = []
    original = _compare.evaluate_detector

    def recording(*args, **kwargs):
        calls.append(kwargs["signal_efficiency"])
        return original(*args, **kwargs)

    monkeypatch.setattr(_compare, "evaluate_detector", recording)
    table, scores = compare_detectors([RecordingDetector()], X, y, n_repeats=2,
                                      signal_efficiency=[0.3, 0.5], random_state=0,
                                      as_frame=False, return_scores=True)
    assert calls == [0.3, 0.3]  # one evaluation per fit
    rep = scores["RecordingDetector"][0]
    summary = tagging_summary(rep["y_true"], rep["anomaly_score"], 0.5)
    assert table["rejection_0.5_per_fit"][0, 0] == pytest.approx(summary["rejection"])
    assert table["auc_per_fit"][0, 0] == pytest.approx(summary["auc"])


def test_compare_detectors_without_pandas(hard_toy, monkeypatch):
    from jetad.model_selection import _compare

    X, y = hard_toy
    monkeypatch.setattr(_compare, "_has_pandas", lambda: False)
    t = compare_detectors([RecordingDetector()], X, y, n_repeats=2, random_state=0,
                          zero_background="bound")
    assert isinstance(t, np.ndarray) and t.dtype.names
    assert "pandas" not in _compare.__dict__  # not imported at module level


@pytest.mark.parametrize(
    "module",
    ["jetad.metrics._roc", "jetad.model_selection._background_only",
     "jetad.model_selection._compare"],
)
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
