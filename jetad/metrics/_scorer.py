"""Scorers ``scorer(estimator, X, y)`` for anomaly detectors (higher score = better)."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from ._roc import anomaly_auc, background_rejection
from ._sic import max_significance_improvement
from ._validation import _check_efficiency

__all__ = [
    "anomaly_auc_scorer",
    "anomaly_score_sign",
    "background_rejection_scorer",
    "make_anomaly_scorer",
    "max_sic_scorer",
]


def _final_step(estimator):
    """The last step of a :class:`~sklearn.pipeline.Pipeline`, else ``estimator``."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps and isinstance(steps[-1], tuple):
        last = steps[-1][-1]
        if last is not None and not (isinstance(last, str) and last == "passthrough"):
            return _final_step(last)
    return estimator


def _is_pyod(estimator):
    """True for a PyOD detector, recognised without importing pyod.

    A class of ``pyod.*`` in the MRO (every PyOD model derives from
    ``pyod.models.base.BaseDetector``), or the fitted attributes PyOD
    documents for every detector (``decision_scores_``, ``threshold_``,
    ``labels_``).
    """
    for cls in type(estimator).__mro__:
        if (getattr(cls, "__module__", None) or "").split(".")[0] == "pyod":
            return True
    return all(hasattr(estimator, attr) for attr in ("decision_scores_", "threshold_", "labels_"))


def anomaly_score_sign(estimator):
    """Sign that turns an estimator's raw scores into higher = more anomalous.

    Resolved on ``estimator`` (the last step of a
    :class:`~sklearn.pipeline.Pipeline`):

    1. a declared class or instance attribute ``_anomaly_score_sign``:
       ``+1`` when the estimator's ``decision_function`` / ``score_samples``
       are already higher = more anomalous, ``-1`` for sklearn's convention
       (higher = more normal);
    2. else ``+1`` for a PyOD model (``pyod.models.base.BaseDetector``:
       ``decision_function`` is the outlier score, higher = more anomalous);
    3. else ``-1`` (scikit-learn's outlier detectors).

    Estimators with an ``anomaly_score`` method (jetad detectors,
    :class:`~jetad.model_selection.BackgroundOnly`) are scored with it and
    need no sign.

    Parameters
    ----------
    estimator : estimator object
        An outlier detector or a pipeline ending in one.

    Returns
    -------
    sign : {1, -1}
        ``+1``: use ``decision_function`` (or ``score_samples``) as it is;
        ``-1``: negate ``score_samples`` (or ``decision_function``).

    Raises
    ------
    ValueError
        If ``_anomaly_score_sign`` is declared with a value other than ±1.

    Examples
    --------
    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn.base import BaseEstimator
    >>> from jetad.metrics import anomaly_score_sign
    >>> anomaly_score_sign(IsolationForest())
    -1
    >>> class Distance(BaseEstimator):
    ...     _anomaly_score_sign = +1  # decision_function: higher = more anomalous
    >>> anomaly_score_sign(Distance())
    1
    """
    final = _final_step(estimator)
    declared = getattr(final, "_anomaly_score_sign", None)
    if declared is not None:
        if isinstance(declared, bool) or declared not in (1, -1):
            raise ValueError(
                f"{type(final).__name__}._anomaly_score_sign must be +1 (higher = more "
                f"anomalous) or -1 (higher = more normal), got {declared!r}."
            )
        return int(declared)
    return 1 if _is_pyod(final) else -1


def _anomaly_scores(estimator, X):
    """Anomaly scores (higher = more anomalous) from a fitted detector.

    ``anomaly_score(X)`` if the estimator has it; else its
    ``score_samples`` / ``decision_function`` oriented by
    :func:`anomaly_score_sign`: with sign -1 (sklearn) ``-score_samples``,
    falling back to ``-decision_function``; with sign +1 (PyOD or declared)
    ``decision_function``, falling back to ``score_samples``.
    """
    if hasattr(estimator, "anomaly_score"):
        return np.asarray(estimator.anomaly_score(X), dtype=np.float64)
    sign = anomaly_score_sign(estimator)
    order = ("score_samples", "decision_function") if sign < 0 else (
        "decision_function", "score_samples")
    for method in order:
        if hasattr(estimator, method):
            return sign * np.asarray(getattr(estimator, method)(X), dtype=np.float64)
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
    2. else, for estimators whose scores are already higher = more
       anomalous — PyOD models (``pyod.models.base.BaseDetector``) and any
       estimator declaring ``_anomaly_score_sign = +1`` (see
       :func:`anomaly_score_sign`) — ``estimator.decision_function(X)``
       (or ``score_samples``);
    3. else ``-estimator.score_samples(X)`` (sklearn outlier detectors,
       pipelines ending in one), or ``-estimator.decision_function(X)``;

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
        ``zero_background="limit"`` or ``min_background_count=20``.

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
