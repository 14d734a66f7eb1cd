"""ROC-curve metrics of anomaly scores: AUC, ROC curve, background rejection 1/ε_B.

Conventions as in ``_validation.py`` (signal = ``pos_label``,
higher score = more anomalous, ε_S = TPR, ε_B = FPR).
"""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_auc_score, roc_curve

from ._uncertainty import (
    ONE_SIGMA,
    _check_confidence_level,
    _zero_count_upper_limit,
    clopper_pearson_interval,
)
from ._validation import _check_efficiency, _check_targets_scores

__all__ = [
    "anomaly_auc",
    "background_rejection",
    "background_rejection_interval",
    "roc_curve_anomaly",
]

#: Fewer background jets than this passing the cut flag a number as low-count.
LOW_COUNT = 10


_ZERO_BACKGROUND = ("warn", "inf", "bound", "limit")


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
    >>> eps_s, eps_b, thresholds = roc_curve_anomaly([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
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
    # first ROC point with tpr >= eff; tpr[0] == 0 < eff so its index is >= 1
    upper = np.clip(np.searchsorted(tpr, eff, side="left"), 1, len(tpr) - 1)
    t0, t1, f0, f1 = tpr[upper - 1], tpr[upper], fpr[upper - 1], fpr[upper]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(t1 > t0, (eff - t0) / (t1 - t0), 1.0)
    return f0 + frac * (f1 - f0)


def _working_point(y_true, anomaly_scores, signal_efficiency, interpolation, pos_label):
    """Validated ``(eff, eps_b, n_background)`` at the working point(s)."""
    eff = _check_efficiency(signal_efficiency)
    y_signal, scores, _ = _check_targets_scores(y_true, anomaly_scores, None, pos_label)
    n_bkg = int(np.count_nonzero(~y_signal))
    fpr, tpr, _ = roc_curve(y_signal, scores, drop_intermediate=False)
    eps_b = np.asarray(_background_efficiency_at(tpr, fpr, eff, interpolation), dtype=float)
    return eff, eps_b, n_bkg


def background_rejection(
    y_true,
    anomaly_scores,
    signal_efficiency=0.2,
    *,
    return_uncertainty=False,
    interpolation="linear",
    zero_background="warn",
    pos_label=1,
    confidence_level=ONE_SIGMA,
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
    zero_background : {"warn", "inf", "bound", "limit"}, default="warn"
        What to return where ε_B = 0 at the working point (no background jet
        passes the cut, typical for small test sets and strong detectors):

        - ``"warn"``: ``inf``, with an
          :class:`~sklearn.exceptions.UndefinedMetricWarning`;
        - ``"inf"``: ``inf``, silently;
        - ``"limit"``: the lower limit on 1/ε_B at ``confidence_level``, i.e.
          ε_B replaced by its one-sided upper limit for zero passing jets,
          ``1 - (1 - CL)^(1/N_B)`` (N_B = number of background samples;
          ≈ 1.148/N_B at CL = 68.27 %, so the limit is ≈ N_B/1.148) — the
          number to quote, as :func:`tagging_summary` does;
        - ``"bound"``: N_B, i.e. ε_B replaced by ``1 / N_B`` — finite and
          monotone in N_B, kept as a model-selection score and for
          compatibility, but **not a confidence limit**: it overstates the
          68 % CL limit by ≈ 15 %. Quote ``"limit"`` instead.

        Where ε_B = 0 the uncertainty is returned as ``nan`` (``"warn"`` and
        ``"inf"``) or computed with the substituted ε_B (``"bound"``,
        ``"limit"``).

        .. versionadded:: 0.1.0
           ``"limit"``.
    pos_label : int, float, bool or str, default=1
        Label of the signal class.
    confidence_level : float, default=0.6827
        Confidence level of the ``"limit"`` (ignored otherwise); the default
        is the ±1σ Gaussian content.

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
    weights are not supported here for that reason. For an asymmetric
    (Clopper–Pearson) interval, the number of background jets that pass and a
    low-count flag, use :func:`background_rejection_interval`.

    Examples
    --------
    >>> from jetad.metrics import background_rejection
    >>> y = [0, 0, 0, 0, 1, 1]
    >>> scores = [0.1, 0.2, 0.3, 0.9, 0.5, 0.8]
    >>> background_rejection(y, scores, 0.5)  # ROC point (ε_S, ε_B) = (0.5, 0.25)
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
    eff, eps_b, n_bkg = _working_point(
        y_true, anomaly_scores, signal_efficiency, interpolation, pos_label
    )

    zero = eps_b <= 0
    if np.any(zero):
        if zero_background == "limit":
            cl = _check_confidence_level(confidence_level)
            eps_b = np.where(zero, _zero_count_upper_limit(n_bkg, cl), eps_b)
        elif zero_background == "bound":
            eps_b = np.where(zero, 1.0 / n_bkg, eps_b)
        elif zero_background == "warn":
            warnings.warn(
                "No background passes the cut at signal efficiency "
                f"{eff[zero].tolist()}: ε_B = 0 and the background rejection is "
                f"unbounded (returned as inf; with N_B = {n_bkg} background jets its "
                "68.27 % CL lower limit is "
                f"{1 / _zero_count_upper_limit(n_bkg, ONE_SIGMA):.4g}). Use more "
                "background, a lower signal efficiency, or zero_background='limit'.",
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


def background_rejection_interval(
    y_true,
    anomaly_scores,
    signal_efficiency=0.2,
    *,
    confidence_level=ONE_SIGMA,
    interpolation="linear",
    pos_label=1,
):
    """1/ε_B at a signal efficiency with its counts and Clopper–Pearson interval.

    Everything needed to quote a background rejection honestly: how many
    background jets pass the cut, out of how many, the exact binomial
    (Clopper–Pearson) interval on ε_B and hence on 1/ε_B, a flag when the
    count is low, and a correct limit when no background jet passes.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels; ``pos_label`` marks signal, any other label background.
    anomaly_scores : array-like of shape (n_samples,)
        Anomaly scores, higher = more anomalous.
    signal_efficiency : float or array-like of float, default=0.2
        Working point(s) ε_S, each in (0, 1].
    confidence_level : float, default=0.6827
        Probability content of the intervals (±1σ of a Gaussian by default).
    interpolation : {"linear", "nearest"}, default="linear"
        How ε_B is read off the ROC curve, as in :func:`background_rejection`.
    pos_label : int, float, bool or str, default=1
        Label of the signal class.

    Returns
    -------
    result : dict
        Floats (ints, bools) for a scalar ``signal_efficiency``, else arrays
        of its shape:

        ``signal_efficiency``
            ε_S, the working point.
        ``n_background``
            N_B, the number of background jets (int).
        ``n_background_pass``
            k, the number of background jets that pass the cut (int): ε_B·N_B
            rounded. It is a whole number except where the working point
            falls on a diagonal ROC segment (tied scores); the interval uses
            the unrounded effective count ε_B·N_B.
        ``background_efficiency``
            ε_B = k/N_B at the working point.
        ``background_efficiency_low``, ``background_efficiency_high``
            The Clopper–Pearson central interval on ε_B at
            ``confidence_level`` (:func:`clopper_pearson_interval`). When
            k = 0: ``[0, 1 - (1 - CL)^(1/N_B)]``, the **one-sided** upper
            limit (≈ 1.148/N_B at 68.27 %).
        ``rejection``
            1/ε_B; when k = 0, the lower limit ``rejection_low`` (≈
            N_B/1.148), not ``inf`` and not N_B.
        ``rejection_low``, ``rejection_high``
            The interval on 1/ε_B, ``1/background_efficiency_high`` and
            ``1/background_efficiency_low``; ``rejection_high`` is ``inf``
            when k = 0 (no upper limit).
        ``rejection_error``
            The symmetric binomial σ(1/ε_B) of :func:`background_rejection`;
            NaN when k = 0.
        ``bounded``
            True when k = 0: ``rejection`` is a lower limit.
        ``low_count``
            True when k < 10 (``LOW_COUNT``): the symmetric error is
            unreliable there, quote the interval.
        ``confidence_level``
            The confidence level used.

    Raises
    ------
    ValueError
        For invalid labels/scores, working points or options (see
        :func:`background_rejection`).

    See Also
    --------
    background_rejection : The point value (and symmetric error) alone.
    clopper_pearson_interval : The interval on a binomial rate.
    tagging_summary : AUC and these numbers at one working point.

    Notes
    -----
    The interval treats the number of passing background jets as binomial
    with N_B trials at a fixed threshold; the fluctuation of the threshold
    (set on the finite signal sample) is not included.

    Examples
    --------
    >>> import numpy as np
    >>> from jetad.metrics import background_rejection_interval
    >>> y = np.r_[np.zeros(100), np.ones(20)]
    >>> s = np.r_[np.arange(100.0), np.full(10, 94.5), np.full(10, -1.0)]
    >>> r = background_rejection_interval(y, s, 0.5)
    >>> r["n_background_pass"], r["n_background"], r["rejection"], r["low_count"]
    (5, 100, 20.0, True)
    >>> round(r["rejection_low"], 1), round(r["rejection_high"], 1)
    (12.1, 35.0)
    """
    if interpolation not in ("linear", "nearest"):
        raise ValueError(
            f"interpolation must be 'linear' or 'nearest', got {interpolation!r}."
        )
    cl = _check_confidence_level(confidence_level)
    eff, eps_b, n_bkg = _working_point(
        y_true, anomaly_scores, signal_efficiency, interpolation, pos_label
    )
    k_eff = eps_b * n_bkg
    k_round = np.rint(k_eff)
    k_eff = np.where(np.isclose(k_eff, k_round, rtol=0, atol=1e-9), k_round, k_eff)
    k_eff = np.clip(k_eff, 0.0, n_bkg)
    eps_b = k_eff / n_bkg
    zero = k_eff <= 0
    low, high = clopper_pearson_interval(k_eff, np.full(k_eff.shape, n_bkg), cl)
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    high = np.where(zero, _zero_count_upper_limit(n_bkg, cl), high)
    low = np.where(zero, 0.0, low)
    with np.errstate(divide="ignore", invalid="ignore"):
        rejection_low = 1.0 / high
        rejection_high = np.where(low > 0, 1.0 / np.where(low > 0, low, 1.0), np.inf)
        rejection = np.where(zero, rejection_low, 1.0 / np.where(zero, 1.0, eps_b))
        sigma_eps = np.sqrt(eps_b * (1.0 - eps_b) / n_bkg)
        error = np.where(zero, np.nan, sigma_eps / np.where(zero, 1.0, eps_b) ** 2)
    out = {
        "signal_efficiency": eff,
        "n_background": n_bkg,
        "n_background_pass": np.rint(k_eff).astype(np.int64),
        "background_efficiency": eps_b,
        "background_efficiency_low": low,
        "background_efficiency_high": high,
        "rejection": rejection,
        "rejection_low": rejection_low,
        "rejection_high": rejection_high,
        "rejection_error": error,
        "bounded": zero,
        "low_count": k_eff < LOW_COUNT,
        "confidence_level": cl,
    }
    if np.ndim(signal_efficiency) == 0:
        casts = {"n_background_pass": int, "bounded": bool, "low_count": bool}
        out = {key: value if key in ("n_background", "confidence_level")
               else casts.get(key, float)(np.asarray(value).item())
               for key, value in out.items()}
    return out
