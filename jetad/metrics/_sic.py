"""Significance improvement characteristic (SIC) of anomaly scores.

Conventions as in ``_validation.py``.
"""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers

import numpy as np
from sklearn.metrics import roc_curve

from ._roc import roc_curve_anomaly
from ._validation import _check_targets_scores

__all__ = ["max_significance_improvement", "significance_improvement"]


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
