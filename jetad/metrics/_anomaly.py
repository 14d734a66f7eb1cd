"""Metrics for anomaly detection on jets: AUC, ROC, background rejection, SIC.

Conventions used throughout this module (the HEP view):

* ``y_true`` labels the **signal / anomaly** class with ``pos_label`` (default
  ``1``); every other label is background. Both classes must be present.
* ``anomaly_scores`` are **higher = more anomalous**, e.g.
  ``detector.anomaly_score(X)`` or ``-detector.score_samples(X)``. No function
  here flips the sign of the scores depending on the labels: an AUC below 0.5
  means the detector ranks background as more anomalous than signal, and is
  reported as such.
* Signal efficiency ε_S is the true-positive rate, background efficiency ε_B
  the false-positive rate, background rejection is 1/ε_B.
"""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers
import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.utils import check_array, check_consistent_length, column_or_1d
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight

__all__ = [
    "anomaly_auc",
    "anomaly_auc_scorer",
    "background_rejection",
    "background_rejection_scorer",
    "make_anomaly_scorer",
    "max_significance_improvement",
    "max_sic_scorer",
    "roc_curve_anomaly",
    "significance_improvement",
]

_ZERO_BACKGROUND = ("warn", "inf", "bound")


# --------------------------------------------------------------------------- #
# validation
# --------------------------------------------------------------------------- #
def _check_targets_scores(y_true, anomaly_scores, sample_weight=None, pos_label=1):
    """Validate labels and scores; return ``(y_signal, scores, sample_weight)``.

    ``y_signal`` is a boolean array, True for the signal (``pos_label``) class.
    """
    y_true = column_or_1d(y_true, warn=True)
    anomaly_scores = column_or_1d(anomaly_scores, warn=True)
    check_consistent_length(y_true, anomaly_scores, sample_weight)
    if y_true.shape[0] == 0:
        raise ValueError("y_true and anomaly_scores are empty.")
    y_type = type_of_target(y_true, input_name="y_true")
    if y_type != "binary":
        raise ValueError(
            f"y_true must contain exactly two classes, signal (pos_label={pos_label!r}) "
            f"and background; got a target of type {y_type!r} with labels "
            f"{np.unique(y_true)[:10].tolist()}."
        )
    labels = np.unique(y_true)
    if labels.shape[0] < 2:
        raise ValueError(
            f"y_true has only one class ({labels.tolist()}); both signal "
            f"(pos_label={pos_label!r}) and background are needed."
        )
    if pos_label not in labels.tolist():
        raise ValueError(
            f"pos_label={pos_label!r} (the signal label) is not among the labels of "
            f"y_true {labels.tolist()}."
        )
    try:
        anomaly_scores = check_array(
            anomaly_scores, ensure_2d=False, dtype=np.float64, input_name="anomaly_scores"
        )
    except ValueError as exc:
        raise ValueError(
            f"anomaly_scores must be finite real numbers: {exc}"
        ) from exc
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, anomaly_scores)
    return y_true == pos_label, anomaly_scores, sample_weight


def _check_efficiency(signal_efficiency):
    eff = np.asarray(signal_efficiency, dtype=np.float64)
    if not np.all(np.isfinite(eff)) or np.any(eff <= 0) or np.any(eff > 1):
        raise ValueError(
            "signal_efficiency must be in (0, 1]; got "
            f"{signal_efficiency!r}."
        )
    return eff


# --------------------------------------------------------------------------- #
# ROC and AUC
# --------------------------------------------------------------------------- #
def anomaly_auc(y_true, anomaly_scores, *, sample_weight=None, pos_label=1):
    """Area under the ROC curve of anomaly scores (signal = anomaly).

    Thin, validated wrapper of :func:`sklearn.metrics.roc_auc_score` with the
    HEP orientation: the signal class (``pos_label``, default 1) is the
    positive class and higher scores are more anomalous. The sign of the
    scores is never flipped: a detector that prefers background gets an AUC
    below 0.5.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; ``pos_label`` marks signal (anomalies), any other label
        background. Both classes must be present.
    anomaly_scores : array-like of shape (n_samples,)
        Anomaly scores, higher = more anomalous, e.g.
        ``detector.anomaly_score(X)`` or ``-detector.score_samples(X)``.
        Must be finite.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    pos_label : int, float, bool or str, default=1
        Label of the signal class.

    Returns
    -------
    auc : float
        Area under the ROC curve, in [0, 1]; 0.5 for a random ranking.

    Raises
    ------
    ValueError
        If the lengths differ, only one class is present, the target is not
        binary, ``pos_label`` is absent or scores are not finite.

    See Also
    --------
    roc_curve_anomaly : The ROC curve itself.
    background_rejection : 1/ε_B at a fixed signal efficiency.

    Examples
    --------
    >>> from jetad.metrics import anomaly_auc
    >>> anomaly_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y_signal, scores, sample_weight = _check_targets_scores(
        y_true, anomaly_scores, sample_weight, pos_label
    )
    return float(roc_auc_score(y_signal, scores, sample_weight=sample_weight))


def roc_curve_anomaly(
    y_true, anomaly_scores, *, sample_weight=None, pos_label=1, drop_intermediate=False
):
    """ROC curve in HEP form: signal efficiency and background efficiency.

    A cut ``anomaly_score >= threshold`` selects jets as anomalous; ε_S is the
    fraction of signal selected (true-positive rate), ε_B the fraction of
    background selected (false-positive rate, the mistag rate).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; ``pos_label`` marks signal, any other label background.
    anomaly_scores : array-like of shape (n_samples,)
        Anomaly scores, higher = more anomalous.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    pos_label : int, float, bool or str, default=1
        Label of the signal class.
    drop_intermediate : bool, default=False
        Drop thresholds on straight segments of the curve (as in
        :func:`sklearn.metrics.roc_curve`). Linear interpolation on the curve is
        unchanged by this.

    Returns
    -------
    signal_efficiency : ndarray of shape (n_thresholds,)
        ε_S at each threshold, non-decreasing, starting at 0 and ending at 1.
    background_efficiency : ndarray of shape (n_thresholds,)
        ε_B at each threshold, non-decreasing, starting at 0 and ending at 1.
    thresholds : ndarray of shape (n_thresholds,)
        Decreasing score thresholds; ``thresholds[0]`` is ``inf`` (nothing
        selected).

    Notes
    -----
    The order of the outputs (ε_S first) differs from
    :func:`sklearn.metrics.roc_curve`, which returns ``fpr, tpr, thresholds``.
    Plot HEP-style with ``plt.semilogy(eps_s, 1 / eps_b)``.

    Examples
    --------
    >>> from jetad.metrics import roc_curve_anomaly
    >>> eps_s, eps_b, thr = roc_curve_anomaly([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> eps_s
    array([0. , 0.5, 0.5, 1. , 1. ])
    >>> eps_b
    array([0. , 0. , 0.5, 0.5, 1. ])
    """
    y_signal, scores, sample_weight = _check_targets_scores(
        y_true, anomaly_scores, sample_weight, pos_label
    )
    fpr, tpr, thresholds = roc_curve(
        y_signal, scores, sample_weight=sample_weight, drop_intermediate=drop_intermediate
    )
    return tpr, fpr, thresholds


def _background_efficiency_at(tpr, fpr, eff, interpolation):
    """ε_B on the ROC polyline at signal efficiencies ``eff`` (array)."""
    if interpolation == "nearest":
        idx = np.argmin(np.abs(tpr[:, None] - eff.ravel()[None, :]), axis=0)
        return fpr[idx].reshape(eff.shape)
    # first ROC point with tpr >= eff; tpr[0] == 0 < eff so i >= 1
    i = np.searchsorted(tpr, eff, side="left")
    i = np.clip(i, 1, len(tpr) - 1)
    t0, t1, f0, f1 = tpr[i - 1], tpr[i], fpr[i - 1], fpr[i]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(t1 > t0, (eff - t0) / (t1 - t0), 1.0)
    return f0 + frac * (f1 - f0)


def background_rejection(
    y_true,
    anomaly_scores,
    signal_efficiency=0.2,
    *,
    return_uncertainty=False,
    interpolation="linear",
    zero_background="warn",
    pos_label=1,
):
    """Background rejection 1/ε_B at a fixed signal efficiency ε_S.

    ε_B is read off the ROC curve (:func:`roc_curve_anomaly`) at the requested
    ε_S. With ``interpolation="linear"`` (the default) the ROC points are
    joined by straight lines and ε_B is **linearly interpolated** in ε_S
    between the two neighbouring points; where the curve has a horizontal run
    exactly at ε_S (several thresholds with the same ε_S) the smallest ε_B,
    i.e. the tightest cut that reaches ε_S, is used. Then
    ``rejection = 1 / ε_B``. Without tied scores the ROC is a staircase and
    this is exactly ε_B of the tightest cut with at least the requested ε_S;
    interpolation matters where signal and background scores tie (diagonal
    segments).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; ``pos_label`` marks signal, any other label background.
    anomaly_scores : array-like of shape (n_samples,)
        Anomaly scores, higher = more anomalous.
    signal_efficiency : float or array-like of float, default=0.2
        Working point(s) ε_S, each in (0, 1]. The jet-anomaly papers quote
        ε_B⁻¹ at ε_S = 0.2 (and sometimes 0.3 or 0.5).
    return_uncertainty : bool, default=False
        Also return the statistical uncertainty of the rejection (see Notes).
    interpolation : {"linear", "nearest"}, default="linear"
        ``"linear"``: interpolate on the ROC polyline, as described above.
        ``"nearest"``: take ε_B at the ROC point whose ε_S is closest to the
        working point (ties: the first, i.e. tightest, one); this is what the
        heidelberg-hepml NAE code does (``1/fpr[argmin |tpr - 0.3|]``).
    zero_background : {"warn", "inf", "bound"}, default="warn"
        What to return where ε_B = 0 at the working point (no background jet
        passes the cut, typical for small test sets and strong detectors):

        - ``"warn"``: ``inf``, with an
          :class:`~sklearn.exceptions.UndefinedMetricWarning`;
        - ``"inf"``: ``inf``, silently;
        - ``"bound"``: the lower bound ``N_B`` (number of background samples),
          i.e. ε_B replaced by ``1 / N_B`` — finite, useful as a model-selection
          score.

        Where ε_B = 0 the uncertainty is returned as ``nan`` (``"warn"`` and
        ``"inf"``) or computed with ε_B = 1/N_B (``"bound"``).
    pos_label : int, float, bool or str, default=1
        Label of the signal class.

    Returns
    -------
    rejection : float or ndarray
        1/ε_B at each working point; a float for a scalar
        ``signal_efficiency``, else an array of its shape.
    uncertainty : float or ndarray
        Only if ``return_uncertainty=True``: the binomial statistical
        uncertainty σ(1/ε_B), same shape as ``rejection``.

    Raises
    ------
    ValueError
        For invalid labels/scores (see :func:`anomaly_auc`), a
        ``signal_efficiency`` outside (0, 1] or an unknown option.

    Notes
    -----
    The uncertainty treats the number of background jets passing the cut as
    binomial with N_B trials (N_B = number of background samples) at a *fixed*
    threshold:

    .. math::

        \\sigma(\\varepsilon_B) = \\sqrt{\\varepsilon_B (1 - \\varepsilon_B) / N_B},
        \\qquad
        \\sigma(1/\\varepsilon_B) = \\sigma(\\varepsilon_B) / \\varepsilon_B^2 .

    It ignores the fluctuation of the threshold itself (set on the finite
    signal sample) and is meaningless when few background jets pass:
    ε_B⁻¹ = R needs about 100·R background jets for a ~10 % error. Sample
    weights are not supported here for that reason.

    Examples
    --------
    >>> from jetad.metrics import background_rejection
    >>> y = [0, 0, 0, 0, 1, 1]
    >>> s = [0.1, 0.2, 0.3, 0.9, 0.5, 0.8]
    >>> background_rejection(y, s, 0.5)  # ROC point (ε_S, ε_B) = (0.5, 0.25)
    4.0
    """
    if interpolation not in ("linear", "nearest"):
        raise ValueError(
            f"interpolation must be 'linear' or 'nearest', got {interpolation!r}."
        )
    if zero_background not in _ZERO_BACKGROUND:
        raise ValueError(
            f"zero_background must be one of {_ZERO_BACKGROUND}, got {zero_background!r}."
        )
    eff = _check_efficiency(signal_efficiency)
    y_signal, scores, _ = _check_targets_scores(y_true, anomaly_scores, None, pos_label)
    n_bkg = int(np.count_nonzero(~y_signal))
    fpr, tpr, _ = roc_curve(y_signal, scores, drop_intermediate=False)
    eps_b = np.asarray(_background_efficiency_at(tpr, fpr, eff, interpolation), dtype=float)

    zero = eps_b <= 0
    if np.any(zero):
        if zero_background == "bound":
            eps_b = np.where(zero, 1.0 / n_bkg, eps_b)
        elif zero_background == "warn":
            warnings.warn(
                "No background passes the cut at signal efficiency "
                f"{eff[zero].tolist()}: ε_B = 0 and the background rejection is "
                f"unbounded (returned as inf; it is at least N_B = {n_bkg}). Use "
                "more background, a lower signal efficiency, or "
                "zero_background='bound'.",
                UndefinedMetricWarning,
                stacklevel=2,
            )
    with np.errstate(divide="ignore", invalid="ignore"):
        rejection = np.where(eps_b > 0, 1.0 / eps_b, np.inf)
        sigma_eps = np.sqrt(eps_b * (1.0 - eps_b) / n_bkg)
        uncertainty = np.where(eps_b > 0, sigma_eps / eps_b**2, np.nan)

    if np.ndim(signal_efficiency) == 0:
        rejection, uncertainty = float(rejection), float(uncertainty)
    if return_uncertainty:
        return rejection, uncertainty
    return rejection


# --------------------------------------------------------------------------- #
# significance improvement
# --------------------------------------------------------------------------- #
def significance_improvement(y_true, anomaly_scores, *, pos_label=1):
    """Significance improvement characteristic (SIC) curve, ε_S / sqrt(ε_B).

    The SIC is the factor by which a cut on the anomaly score improves the
    naive significance S/sqrt(B) of a signal in the background.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; ``pos_label`` marks signal, any other label background.
    anomaly_scores : array-like of shape (n_samples,)
        Anomaly scores, higher = more anomalous.
    pos_label : int, float, bool or str, default=1
        Label of the signal class.

    Returns
    -------
    signal_efficiency : ndarray of shape (n_thresholds,)
        ε_S at each threshold of :func:`roc_curve_anomaly`.
    sic : ndarray of shape (n_thresholds,)
        ε_S / sqrt(ε_B); ``nan`` where ε_B = 0 (undefined; matplotlib skips
        these points).
    thresholds : ndarray of shape (n_thresholds,)
        Decreasing score thresholds.

    See Also
    --------
    max_significance_improvement : Its maximum, with a low-statistics cut.

    Notes
    -----
    At tight cuts only a handful of background jets pass and the SIC is
    dominated by their Poisson fluctuation; do not read a maximum off that
    tail (see :func:`max_significance_improvement`).
    """
    eps_s, eps_b, thresholds = roc_curve_anomaly(y_true, anomaly_scores, pos_label=pos_label)
    with np.errstate(divide="ignore", invalid="ignore"):
        sic = np.where(eps_b > 0, eps_s / np.sqrt(eps_b), np.nan)
    return eps_s, sic, thresholds


def max_significance_improvement(
    y_true, anomaly_scores, *, min_background_count=10, min_background_efficiency=0.0,
    pos_label=1,
):
    """Maximum of the SIC curve, ignoring the low-statistics tail.

    Only thresholds where at least ``min_background_count`` background samples
    pass the cut **and** ε_B >= ``min_background_efficiency`` are considered;
    at tighter cuts ε_B (and hence ε_S/sqrt(ε_B)) is dominated by the
    fluctuation of a few background jets and the maximum would be biased
    upwards.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; ``pos_label`` marks signal, any other label background.
    anomaly_scores : array-like of shape (n_samples,)
        Anomaly scores, higher = more anomalous.
    min_background_count : int, default=10
        Minimum number of background samples passing the cut (10 counts:
        about 30 % relative Poisson uncertainty on ε_B, 15 % on the SIC).
    min_background_efficiency : float, default=0.0
        Minimum ε_B, in [0, 1]. Use it to fix the low-statistics cut
        independently of the test-set size (e.g. ``1e-4``).
    pos_label : int, float, bool or str, default=1
        Label of the signal class.

    Returns
    -------
    max_sic : float
        max ε_S/sqrt(ε_B) over the allowed thresholds.

    Raises
    ------
    ValueError
        If there are fewer than ``min_background_count`` background samples
        (no threshold qualifies), or for invalid inputs.
    """
    if (
        not isinstance(min_background_count, numbers.Integral)
        or isinstance(min_background_count, bool)
        or min_background_count < 1
    ):
        raise ValueError(
            f"min_background_count must be a positive integer, got {min_background_count!r}."
        )
    if not 0.0 <= float(min_background_efficiency) <= 1.0:
        raise ValueError(
            "min_background_efficiency must be in [0, 1], got "
            f"{min_background_efficiency!r}."
        )
    y_signal, scores, _ = _check_targets_scores(y_true, anomaly_scores, None, pos_label)
    n_bkg = int(np.count_nonzero(~y_signal))
    if n_bkg < min_background_count:
        raise ValueError(
            f"Only {n_bkg} background samples, fewer than min_background_count="
            f"{min_background_count}; the SIC cannot be evaluated."
        )
    fpr, tpr, _ = roc_curve(y_signal, scores, drop_intermediate=False)
    count = np.rint(fpr * n_bkg)
    ok = (count >= min_background_count) & (fpr >= min_background_efficiency) & (fpr > 0)
    return float(np.max(tpr[ok] / np.sqrt(fpr[ok])))


# --------------------------------------------------------------------------- #
# scorers
# --------------------------------------------------------------------------- #
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
