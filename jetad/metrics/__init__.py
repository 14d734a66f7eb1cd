"""Metrics and scorers for anomaly detection on jets.

Signal (anomaly) is labelled 1, background 0; anomaly scores are higher = more
anomalous (``detector.anomaly_score(X)`` = ``-detector.score_samples(X)``).
Intervals are Clopper–Pearson at 68.27 % (±1σ); aggregates over seeds are the
mean and the sample standard deviation (:func:`mean_std`, ``ddof=1``).
"""

from ._mmd import maximum_mean_discrepancy
from ._roc import (
    anomaly_auc,
    background_rejection,
    background_rejection_interval,
    roc_curve_anomaly,
)
from ._scorer import (
    anomaly_auc_scorer,
    anomaly_score_sign,
    background_rejection_scorer,
    make_anomaly_scorer,
    max_sic_scorer,
)
from ._sic import max_significance_improvement, significance_improvement
from ._summary import image_concentration, tagging_summary
from ._uncertainty import clopper_pearson_interval, mean_std

__all__ = [
    "anomaly_auc",
    "anomaly_auc_scorer",
    "anomaly_score_sign",
    "background_rejection",
    "background_rejection_interval",
    "background_rejection_scorer",
    "clopper_pearson_interval",
    "image_concentration",
    "make_anomaly_scorer",
    "max_significance_improvement",
    "maximum_mean_discrepancy",
    "mean_std",
    "max_sic_scorer",
    "roc_curve_anomaly",
    "significance_improvement",
    "tagging_summary",
]
