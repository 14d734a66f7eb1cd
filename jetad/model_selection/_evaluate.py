"""The evaluation seam: fit on background, score, AUC and 1/ε_B with uncertainties.

Every comparison in jetad (:func:`compare_detectors`, the benchmark suite,
``jetad demo`` and the scripts in ``benchmarks/``) goes through
:func:`evaluate_detector` and :func:`summarize_scores`, so that a number means
the same thing wherever it is printed.
"""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import math
import time

import numpy as np

from ..metrics import image_concentration, tagging_summary
from ..metrics._scorer import _anomaly_scores

__all__ = ["evaluate_detector", "summarize_scores", "trivial_baseline_scores"]


def _json_safe(value):
    """``None`` for a non-finite float (strict JSON has no NaN or Infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summarize_scores(y_true, anomaly_scores, signal_efficiency=0.2, *, pos_label=1):
    """:func:`jetad.metrics.tagging_summary` with strict-JSON values.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        1 (``pos_label``) for the anomaly, anything else for background.
    anomaly_scores : array-like of shape (n_samples,)
        Higher = more anomalous.
    signal_efficiency : float, default=0.2
        Working point ε_S of the background rejection 1/ε_B.
    pos_label : int, default=1

    Returns
    -------
    summary : dict
        The keys of :func:`~jetad.metrics.tagging_summary`; a non-finite
        ``rejection_error`` or ``rejection_high`` (no background jet passes)
        is ``None``, and ``rejection`` is then the lower limit on 1/ε_B
        (``rejection_bounded`` is True).
    """
    summary = tagging_summary(y_true, anomaly_scores, signal_efficiency, pos_label=pos_label)
    if summary["rejection_bounded"]:
        summary["rejection_error"] = None
        summary["rejection_high"] = None
    return {key: _json_safe(value) for key, value in summary.items()}


def evaluate_detector(detector, X_train, X_test, y_test, *, signal_efficiency=0.2, fit=True,
                      pos_label=1):
    """Fit a detector on background jets, score test jets and summarise the tagging.

    Parameters
    ----------
    detector : estimator
        A jetad detector, a :class:`~sklearn.pipeline.Pipeline` ending in one,
        or any outlier detector (sklearn or PyOD sign conventions are
        recognised, see :func:`jetad.metrics.anomaly_score_sign`).
    X_train : array-like
        Background-only training sample; ignored when ``fit=False``.
    X_test : array-like
        Test sample, background and anomaly.
    y_test : array-like of shape (n_test,)
        ``pos_label`` for the anomaly.
    signal_efficiency : float, default=0.2
    fit : bool, default=True
        Fit ``detector`` on ``X_train`` first (in place); with False it must
        already be fitted.
    pos_label : int, default=1

    Returns
    -------
    result : dict
        The keys of :func:`summarize_scores` plus ``anomaly_scores`` (the
        float64 test scores, higher = more anomalous), ``fit_seconds`` (None
        when ``fit=False``) and ``score_seconds`` (wall clock).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from jetad.model_selection import evaluate_detector
    >>> rng = np.random.default_rng(0)
    >>> X_bkg, X_sig = rng.normal(size=(300, 2)), rng.normal(4, 1, size=(50, 2))
    >>> result = evaluate_detector(IsolationForest(random_state=0), X_bkg[:200],
    ...                            np.r_[X_bkg[200:], X_sig], np.r_[np.zeros(100), np.ones(50)])
    >>> result["auc"] > 0.9, result["n_background"]
    (True, 100)
    """
    fit_seconds = None
    if fit:
        start = time.perf_counter()
        detector.fit(X_train)
        fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    scores = _anomaly_scores(detector, X_test)
    score_seconds = time.perf_counter() - start
    result = summarize_scores(y_test, scores, signal_efficiency, pos_label=pos_label)
    result.update(anomaly_scores=scores, fit_seconds=fit_seconds, score_seconds=score_seconds)
    return result


def trivial_baseline_scores(images, constituents=None):
    """The trivial observables every tagging row is compared with, both signs.

    Parameters
    ----------
    images : array-like of shape (n_jets, n_pixels)
        Jet images (the same the detectors see).
    constituents : array-like of shape (n_jets, n_constituents, 4), optional
        ``(E, px, py, pz)`` constituents of the same jets, for the jet mass.

    Returns
    -------
    scores : dict
        ``"mean(x²)"`` (:func:`jetad.metrics.image_concentration`) and
        ``"−mean(x²)"``, and with constituents ``"jet mass"`` and
        ``"−jet mass"``; each higher = more anomalous.
    """
    concentration = image_concentration(images)
    scores = {"mean(x²)": concentration, "−mean(x²)": -concentration}
    if constituents is not None:
        from ..jets import jet_mass

        mass = np.asarray(jet_mass(constituents), dtype=np.float64)
        scores.update({"jet mass": mass, "−jet mass": -mass})
    return scores
