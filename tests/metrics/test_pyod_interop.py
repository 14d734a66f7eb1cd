"""Anomaly-score orientation of PyOD models and declared estimators (issue 15).

PyOD's ``decision_function`` is the outlier score (higher = more anomalous),
the opposite of scikit-learn's; the scorers and ``BackgroundOnly`` must not
negate it.
"""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from jetad.metrics import (
    anomaly_auc,
    anomaly_auc_scorer,
    anomaly_score_sign,
    make_anomaly_scorer,
)
from jetad.model_selection import BackgroundOnly


def _toy(n_background=300, n_signal=60, shift=3.0, seed=0):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(size=(n_background, 4)), rng.normal(shift, 1.0, size=(n_signal, 4))]
    y = np.r_[np.zeros(n_background, dtype=int), np.ones(n_signal, dtype=int)]
    return X, y


class _Centre(BaseEstimator):
    """Distance to the training mean; ``decision_function`` higher = more anomalous."""

    def fit(self, X, y=None):
        self.mean_ = np.asarray(X).mean(axis=0)
        return self

    def decision_function(self, X):
        return np.sum((np.asarray(X) - self.mean_) ** 2, axis=1)


class Declared(_Centre):
    _anomaly_score_sign = +1


class DeclaredSklearn(OutlierMixin, _Centre):
    _anomaly_score_sign = -1

    def score_samples(self, X):
        return -self.decision_function(X)


class DuckPyOD(_Centre):
    """Fitted attributes of a PyOD detector, but no pyod class."""

    def fit(self, X, y=None):
        super().fit(X)
        self.decision_scores_ = self.decision_function(X)
        self.threshold_ = np.quantile(self.decision_scores_, 0.9)
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self


FakePyOD = type("FakePyOD", (_Centre,), {"__module__": "pyod.models.fake"})


class BadSign(_Centre):
    _anomaly_score_sign = 2


class PrefersAnomalyScore(Declared):
    def anomaly_score(self, X):
        return -self.decision_function(X)  # deliberately the other way round


# ---------------------------------------------------- without pyod installed
@pytest.mark.parametrize("model", [Declared(), DuckPyOD(), FakePyOD()])
def test_higher_is_more_anomalous_is_not_negated(model):
    X, y = _toy()
    model.fit(X[y == 0])
    auc = anomaly_auc_scorer(model, X, y)
    assert auc > 0.95
    assert auc == pytest.approx(anomaly_auc(y, model.decision_function(X)))
    assert anomaly_score_sign(model) == 1
    assert anomaly_score_sign(make_pipeline(StandardScaler(), model)) == 1


def test_sklearn_convention_and_declared_minus_one():
    X, y = _toy()
    assert anomaly_score_sign(IsolationForest()) == -1
    assert anomaly_score_sign(make_pipeline(StandardScaler(), IsolationForest())) == -1
    det = DeclaredSklearn().fit(X[y == 0])
    assert anomaly_score_sign(det) == -1
    assert anomaly_auc_scorer(det, X, y) > 0.95
    # DuckPyOD unfitted has no PyOD attributes yet: sklearn's sign
    assert anomaly_score_sign(DuckPyOD()) == -1


def test_anomaly_score_method_wins_and_bad_sign_is_refused():
    X, y = _toy()
    det = PrefersAnomalyScore().fit(X[y == 0])
    assert anomaly_auc_scorer(det, X, y) < 0.05  # its anomaly_score, as declared
    with pytest.raises(ValueError, match="_anomaly_score_sign"):
        anomaly_auc_scorer(BadSign().fit(X), X, y)


def test_background_only_orients_declared_detectors():
    X, y = _toy()
    for model in (Declared(), DuckPyOD(), FakePyOD()):
        wrapped = BackgroundOnly(model).fit(X, y)
        assert wrapped.n_background_ == 300
        np.testing.assert_allclose(wrapped.anomaly_score(X),
                                   wrapped.detector_.decision_function(X))
        assert wrapped.score(X, y) > 0.95


# ------------------------------------------------------------ real PyOD models
def _pyod_models():
    pytest.importorskip("pyod")
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN

    return {"IForest": IForest(n_estimators=50, random_state=0), "KNN": KNN(n_neighbors=5)}


@pytest.mark.parametrize("name", ["IForest", "KNN"])
def test_pyod_models_through_make_anomaly_scorer(name):
    model = _pyod_models()[name]
    X, y = _toy()
    assert anomaly_score_sign(model) == 1  # recognised before fitting, by its class
    model.fit(X[y == 0])
    auc = make_anomaly_scorer("auc")(model, X, y)
    assert auc > 0.8
    assert auc == pytest.approx(anomaly_auc(y, model.decision_function(X)))
    pipe = make_pipeline(StandardScaler(), _pyod_models()[name]).fit(X[y == 0])
    assert anomaly_auc_scorer(pipe, X, y) > 0.8
    rej = make_anomaly_scorer("background_rejection", signal_efficiency=0.5,
                              zero_background="bound")(model, X, y)
    assert rej > 5


@pytest.mark.parametrize("name", ["IForest", "KNN"])
def test_pyod_models_in_cross_validation_with_background_only(name):
    model = _pyod_models()[name]
    X, y = _toy()
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # PyOD's own deprecations
        scores = cross_val_score(BackgroundOnly(model), X, y, scoring=anomaly_auc_scorer,
                                 cv=cv, error_score="raise")
        default = cross_val_score(BackgroundOnly(model), X, y, cv=cv, error_score="raise")
    assert not np.any(np.isnan(scores)) and np.all(scores > 0.8)
    np.testing.assert_allclose(default, scores)  # BackgroundOnly.score is the same AUC
    fitted = BackgroundOnly(model).fit(X, y)
    np.testing.assert_allclose(fitted.anomaly_score(X), fitted.detector_.decision_function(X))
