"""Scorers ``scorer(estimator, X, y)`` for anomaly detectors (higher score = better)."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from ._roc import anomaly_auc, background_rejection
from ._sic import max_significance_improvement
from ._validation import _check_efficiency

__all__ = ["anomaly_auc_scorer", "background_rejection_scorer", "make_anomaly_scorer", "max_sic_scorer"]


def _anomaly_scores(estimator, X):
    """Anomaly scores (higher = more anomalous) from a fitted detector."""
    if hasattr(estimator, "anomaly_score"):
        return np.asarray(estimator.anomaly_score(X), dtype=np.float64)
    if hasattr(estimator, "score_samples"):
        return -np.asarray(estimator.score_samples(X), dtype=np.float64)
    if hasattr(estimator, "decision_function"):
        return -np.asarray(estimator.decision_function(X), dtype=np.float64)
    raise TypeError(
        f"{type(estimator).__name__} has none of anomaly_score, score_samples or "
        "decision_function; it cannot be scored as an anomaly detector."
    )


_METRICS = {
    "auc": anomaly_auc,
    "background_rejection": background_rejection,
    "max_sic": max_significance_improvement,
}


class _AnomalyScorer:
    """Scorer ``scorer(estimator, X, y)`` for anomaly detectors.

    Made by :func:`make_anomaly_scorer`; see there.
    """

    def __init__(self, metric, kwargs, repr_):
        self._metric = metric
        self._kwargs = kwargs
        self._repr = repr_

    def __call__(self, estimator, X, y_true, sample_weight=None):
        if y_true is None:
            raise ValueError(
                "Anomaly scorers need labels (signal = 1, background = 0); y is None."
            )
        scores = _anomaly_scores(estimator, X)
        kwargs = dict(self._kwargs)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return self._metric(y_true, scores, **kwargs)

    def __repr__(self):
        return self._repr


def make_anomaly_scorer(metric="auc", *, signal_efficiency=0.2, pos_label=1, **kwargs):
    """Make a scorer for anomaly detectors, usable as ``scoring=`` in searches.

    The scorer is a plain callable ``scorer(estimator, X, y)`` (the form
    documented for ``scoring`` in :class:`~sklearn.model_selection.GridSearchCV`
    and :func:`~sklearn.model_selection.cross_validate`). It computes anomaly
    scores, higher = more anomalous, from the fitted ``estimator``:

    1. ``estimator.anomaly_score(X)`` if the estimator has it (jetad
       detectors, :class:`~jetad.model_selection.BackgroundOnly`);
    2. else ``-estimator.score_samples(X)`` (sklearn outlier detectors,
       pipelines ending in one);
    3. else ``-estimator.decision_function(X)``;

    and evaluates ``metric`` against ``y`` with signal = ``pos_label``. This
    avoids the sign trap of ``scoring="roc_auc"``, which feeds
    ``decision_function`` (higher = more *normal*) to ``roc_auc_score`` and
    returns 1 - AUC when anomalies are labelled 1. All metrics are
    greater-is-better.

    Parameters
    ----------
    metric : {"auc", "background_rejection", "max_sic"} or callable, default="auc"
        ``"auc"``: :func:`anomaly_auc`; ``"background_rejection"``:
        :func:`background_rejection` (1/ε_B) at ``signal_efficiency``;
        ``"max_sic"``: :func:`max_significance_improvement`. A callable is
        called as ``metric(y_true, anomaly_scores, **kwargs)``.
    signal_efficiency : float, default=0.2
        Working point for ``"background_rejection"``; ignored otherwise.
    pos_label : int, float, bool or str, default=1
        Label of the signal class in ``y``.
    **kwargs : dict
        Further keyword arguments of the metric, e.g.
        ``zero_background="bound"`` or ``min_background_count=20``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, sample_weight=None) -> float``.

    See Also
    --------
    anomaly_auc_scorer, background_rejection_scorer, max_sic_scorer :
        Ready-made scorers.
    jetad.model_selection.BackgroundOnly : Fit on the background of each fold.

    Notes
    -----
    Every test fold must contain signal and background, otherwise the metric
    raises and the search records ``nan``. Outlier detectors are not
    classifiers, so ``cv=5`` means an unshuffled ``KFold``; pass
    ``cv=StratifiedKFold(5, shuffle=True, random_state=0)``.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV, StratifiedKFold
    >>> from sklearn.ensemble import IsolationForest
    >>> from jetad.metrics import make_anomaly_scorer
    >>> from jetad.model_selection import BackgroundOnly
    >>> search = GridSearchCV(
    ...     BackgroundOnly(IsolationForest(random_state=0)),
    ...     {"detector__n_estimators": [50, 100]},
    ...     scoring={"auc": make_anomaly_scorer("auc"),
    ...              "rej": make_anomaly_scorer("background_rejection",
    ...                                         zero_background="bound")},
    ...     refit="auc",
    ...     cv=StratifiedKFold(5, shuffle=True, random_state=0),
    ... )
    """
    if callable(metric):
        func, name = metric, getattr(metric, "__name__", repr(metric))
    elif metric in _METRICS:
        func, name = _METRICS[metric], metric
    else:
        raise ValueError(
            f"metric must be one of {sorted(_METRICS)} or a callable, got {metric!r}."
        )
    kw = {"pos_label": pos_label, **kwargs}
    shown = dict(kwargs)
    if metric == "background_rejection":
        _check_efficiency(signal_efficiency)
        if np.ndim(signal_efficiency) != 0:
            raise ValueError("A scorer needs a scalar signal_efficiency.")
        kw["signal_efficiency"] = float(signal_efficiency)
        shown = {"signal_efficiency": float(signal_efficiency), **shown}
    if pos_label != 1:
        shown["pos_label"] = pos_label
    args = "".join(f", {k}={v!r}" for k, v in shown.items())
    return _AnomalyScorer(func, kw, f"make_anomaly_scorer({name!r}{args})")


anomaly_auc_scorer = make_anomaly_scorer("auc")
"""Scorer: :func:`anomaly_auc` of the detector's anomaly scores (signal = 1)."""

background_rejection_scorer = make_anomaly_scorer(
    "background_rejection", signal_efficiency=0.2
)
"""Scorer: 1/ε_B at ε_S = 0.2 (inf with a warning where ε_B = 0)."""

max_sic_scorer = make_anomaly_scorer("max_sic")
"""Scorer: :func:`max_significance_improvement` with its defaults."""
