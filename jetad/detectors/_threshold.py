"""The detectors' threshold ``offset_`` and PyOD's view of it."""

import math

import numpy as np

__all__ = []


def _weighted_percentile(values, q, weights):
    """``np.percentile(values, q)`` (linear) of the rows repeated ``weights`` times.

    Exact for integer weights; real weights interpolate the same way along the
    cumulative weight.
    """
    order = np.argsort(values, kind="stable")
    sorted_values, cumulative = values[order], np.cumsum(weights[order])
    h = (q / 100.0) * max(cumulative[-1] - 1.0, 0.0)
    low = math.floor(h)
    index = np.minimum(np.searchsorted(cumulative, [low, low + 1], side="right"),
                       len(values) - 1)
    a, b = sorted_values[index]
    t = h - low
    return float(b - (b - a) * (1.0 - t) if t >= 0.5 else a + (b - a) * t)


def _percentile(values, q, weights=None):
    if weights is None:
        return float(np.percentile(values, q))
    return _weighted_percentile(values, q, np.asarray(weights, dtype=np.float64))


class _ThresholdMixin:
    """``offset_`` from ``train_scores_``, and PyOD's ``decision_scores_``, ``threshold_``, ``labels_``.

    The PyOD attributes are derived from ``train_scores_`` and ``offset_`` (so they
    follow a threshold set by hand): ``decision_scores_ = -train_scores_``,
    ``threshold_ = -offset_``, ``labels_ = decision_scores_ > threshold_``,
    which is 1 exactly where ``predict`` gives -1.
    """

    def _set_offset(self, sample_weight=None):
        """``offset_`` from ``train_scores_`` and ``contamination`` (see the class docstring).

        With weights the quantiles are those of the rows repeated by weight.
        """
        scores = self.train_scores_
        if isinstance(self.contamination, str):  # "auto": Tukey's fence
            q1, q3 = (_percentile(scores, q, sample_weight) for q in (25.0, 75.0))
            self.offset_ = float(q1 - 1.5 * (q3 - q1))
        else:
            self.offset_ = _percentile(scores, 100.0 * self.contamination, sample_weight)

    @property
    def decision_scores_(self):
        """Anomaly scores of the training jets, higher = more anomalous (PyOD).

        ``-train_scores_``: :meth:`anomaly_score` of the training data.
        """
        return -self.train_scores_

    @property
    def threshold_(self):
        """Anomaly-score cut ``-offset_`` (PyOD): jets above it are outliers."""
        return -self.offset_

    @property
    def labels_(self):
        """PyOD labels of the training jets: 1 outlier (``predict`` -1), 0 inlier (+1)."""
        return (self.decision_scores_ > self.threshold_).astype(int)
