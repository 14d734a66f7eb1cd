"""Metrics and scorers for anomaly detection on jets.

Signal (anomaly) is labelled 1, background 0; anomaly scores are higher = more
anomalous (``detector.anomaly_score(X)`` = ``-detector.score_samples(X)``).
"""

from ._roc import anomaly_auc, background_rejection, roc_curve_anomaly
from ._scorer import (
    anomaly_auc_scorer,
    background_rejection_scorer,
    make_anomaly_scorer,
    max_sic_scorer,
)
from ._sic import max_significance_improvement, significance_improvement
from ._summary import image_concentration, tagging_summary

__all__ = [
    "anomaly_auc",
    "anomaly_auc_scorer",
    "background_rejection",
    "background_rejection_scorer",
    "image_concentration",
    "make_anomaly_scorer",
    "max_significance_improvement",
    "max_sic_scorer",
    "roc_curve_anomaly",
    "significance_improvement",
    "tagging_summary",
]
