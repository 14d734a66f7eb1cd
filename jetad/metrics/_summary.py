"""Summaries of a tagging result and the trivial image-concentration baseline."""

import numpy as np
from sklearn.utils import check_array

from ..jets import _check_real_input
from ._roc import anomaly_auc, background_rejection_interval
from ._uncertainty import ONE_SIGMA


def image_concentration(X):
    """Image-concentration score ``mean(x²)`` of each jet image.

    The trivial baseline every image-based anomaly score has to beat: with
    images normalised to unit total pT, ``mean(x²)`` is large for jets whose pT
    sits in few pixels (one-prong QCD jets) and small for spread-out jets
    (three-prong tops). On simulated jets it alone reaches AUC ≈ 0.9 in one
    tagging direction, with one sign or the other.

    Parameters
    ----------
    X : array-like of shape (n_jets, n_pixels) or (n_jets, 1, H, W)
        Jet images, e.g. from :class:`~jetad.JetImager`.

    Returns
    -------
    concentration : ndarray of shape (n_jets,), float64
        ``mean(x²)`` over the pixels of each image. Use it (or its negative)
        as an anomaly score.

    Raises
    ------
    TypeError
        If ``X`` is a masked array or holds booleans, strings or complex numbers.
    ValueError
        If ``X`` holds NaN or infinite values, or values so large that
        ``mean(x²)`` exceeds the float64 range (``|x|`` ≳ 1.3e154).

    Notes
    -----
    Each image is scaled by its largest ``|x|`` before squaring,
    ``mean(x²) = m² · mean((x/m)²)``, so no intermediate overflows or
    underflows; only a result that is itself beyond float64 is refused.

    Examples
    --------
    >>> import numpy as np
    >>> from jetad.metrics import image_concentration
    >>> image_concentration(np.array([[1.0, 0.0], [0.5, 0.5]]))
    array([0.5 , 0.25])
    """
    X = _check_real_input(X)
    if X.ndim == 4:
        X = X.reshape(len(X), -1)
    X = check_array(X, dtype=np.float64, input_name="X")  # refuses NaN and inf
    scale = np.max(np.abs(X), axis=1)
    safe = np.where(scale > 0, scale, 1.0)
    with np.errstate(over="ignore"):
        # (m · mean((x/m)²)) · m: mean((x/m)²) is in [1/n, 1], so only the last
        # product can overflow, and only when the result itself is out of range
        concentration = (safe * np.mean((X / safe[:, None]) ** 2, axis=1)) * safe
    if not np.all(np.isfinite(concentration)):
        bad = np.flatnonzero(~np.isfinite(concentration))
        raise ValueError(
            f"mean(x²) overflows float64 for {bad.size} image(s) (first: row {bad[0]}, "
            f"max |x| = {scale[bad[0]]:.3g}); rescale the images (e.g. normalise "
            "each to unit total pT)."
        )
    return concentration


def tagging_summary(y_true, anomaly_scores, signal_efficiency=0.2, *, pos_label=1,
                    confidence_level=ONE_SIGMA):
    """AUC and background rejection at one working point, with uncertainties, as a dict.

    The row every jetad report and benchmark prints: the AUC, 1/ε_B at ε_S,
    the number of background jets behind it and its Clopper–Pearson
    interval (see :func:`background_rejection_interval`).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, signal = ``pos_label``.
    anomaly_scores : array-like of shape (n_samples,)
        Higher = more anomalous.
    signal_efficiency : float, default=0.2
        Working point ε_S of the background rejection.
    pos_label : int, default=1
        Label of the signal (anomaly) class.
    confidence_level : float, default=0.6827
        Probability content of the intervals and of the limit when no
        background passes (±1σ of a Gaussian by default).

    Returns
    -------
    summary : dict
        ``auc``
            :func:`anomaly_auc`.
        ``rejection``
            1/ε_B at ε_S, linearly interpolated on the ROC. When no
            background jet passes the cut (``rejection_bounded``), the lower
            limit on 1/ε_B at ``confidence_level``: ``1 / (1 - (1 -
            CL)^(1/N_B))`` ≈ N_B/1.148.
        ``rejection_error``
            Symmetric binomial σ(1/ε_B) (:func:`background_rejection`); NaN
            when bounded. Unreliable when ``low_count``: quote
            ``rejection_low`` / ``rejection_high`` there.
        ``rejection_bounded``
            True when no background jet passes the cut.
        ``rejection_low``, ``rejection_high``
            Clopper–Pearson central interval on 1/ε_B at ``confidence_level``;
            when bounded, ``rejection_low == rejection`` and
            ``rejection_high`` is ``inf``.
        ``n_background``, ``n_background_pass``
            N_B and the number of background jets that pass the cut (ints).
        ``background_efficiency``, ``background_efficiency_low``, ``background_efficiency_high``
            ε_B and its interval (one-sided ``[0, limit]`` when bounded).
        ``low_count``
            True when fewer than 10 background jets pass.
        ``signal_efficiency``, ``confidence_level``
            The working point and the confidence level used.

        .. versionchanged:: 0.1.0
           When bounded, ``rejection`` is the 68.27 % CL lower limit
           ≈ N_B/1.148; it used to be N_B itself, which overstates the
           rejection. All keys but the first four are new.

    See Also
    --------
    anomaly_auc, background_rejection, background_rejection_interval, mean_std

    Examples
    --------
    >>> from jetad.metrics import tagging_summary
    >>> y = [0, 0, 0, 0, 1, 1]
    >>> summary = tagging_summary(y, [0.1, 0.2, 0.3, 0.9, 0.5, 0.8], signal_efficiency=0.5)
    >>> round(summary["auc"], 2), summary["rejection"]
    (0.75, 4.0)
    >>> summary["n_background_pass"], summary["n_background"], summary["low_count"]
    (1, 4, True)
    >>> perfect = tagging_summary(y, [0, 0, 0, 0, 1, 1])  # no background passes
    >>> perfect["rejection_bounded"], round(perfect["rejection"], 2)  # 1 / (1 - 0.3173**(1/4))
    (True, 4.01)
    """
    details = background_rejection_interval(
        y_true, anomaly_scores, signal_efficiency, confidence_level=confidence_level,
        pos_label=pos_label)
    if np.ndim(details["rejection"]) != 0:
        raise ValueError("tagging_summary needs a scalar signal_efficiency.")
    return {
        "auc": float(anomaly_auc(y_true, anomaly_scores, pos_label=pos_label)),
        "rejection": details["rejection"],
        "rejection_error": details["rejection_error"],
        "rejection_bounded": details["bounded"],
        "rejection_low": details["rejection_low"],
        "rejection_high": details["rejection_high"],
        "n_background": details["n_background"],
        "n_background_pass": details["n_background_pass"],
        "background_efficiency": details["background_efficiency"],
        "background_efficiency_low": details["background_efficiency_low"],
        "background_efficiency_high": details["background_efficiency_high"],
        "low_count": details["low_count"],
        "signal_efficiency": details["signal_efficiency"],
        "confidence_level": details["confidence_level"],
    }
