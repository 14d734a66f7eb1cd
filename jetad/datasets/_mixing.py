"""Mix background and signal jets at a chosen signal-to-background ratio."""

import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_contaminated_sample"]


def make_contaminated_sample(X_background, X_signal, signal_fraction, n_samples=None,
                             random_state=None):
    """Draw a shuffled sample with a given signal-to-background ratio ``S/B``.

    The anomaly-detection scenarios of arXiv:2104.08291 train on a mixed sample
    in which one class is rare: ``t/Q = S/B = 1, 0.25, 0.05, 0.01`` with top jets
    as the signal, and the same ratios "in the other direction" (``Q/t``) with
    QCD jets as the signal -- swap the two arrays for that.

    Parameters
    ----------
    X_background : array-like of shape (n_background, ...)
        Background jets (images, constituents, any per-jet array).
    X_signal : array-like of shape (n_signal, ...)
        Signal jets, with the same per-jet shape as ``X_background``.
    signal_fraction : float >= 0
        The ratio ``S/B`` of signal to background jets in the output (not
        ``S/(S+B)``). ``0`` gives a pure background sample.
    n_samples : int or None, default=None
        Total number of jets ``S + B``. None uses as many jets as possible:
        all background jets if there is enough signal, otherwise as many as the
        signal supports, as in the paper ("we use the maximum number of jets
        possible").
    random_state : int, RandomState instance or None, default=None
        Chooses which jets are drawn (without replacement) and the order.

    Returns
    -------
    X : ndarray of shape (S + B, ...)
        The mixed, shuffled jets.
    y : ndarray of shape (S + B,), int
        1 for signal jets, 0 for background jets.

    Raises
    ------
    ValueError
        If the inputs do not have matching per-jet shapes, the ratio is
        negative or not finite, there are not enough jets for the requested
        sample, or the rounded number of signal jets would be zero for a
        positive ratio.

    Notes
    -----
    With ``n_samples`` given, ``B = round(n_samples / (1 + S/B))`` and
    ``S = n_samples - B``; otherwise ``B = min(n_background,
    floor(n_signal / (S/B)))`` and ``S = round(B * S/B)``. The achieved ratio is
    therefore exact up to the rounding of one jet.

    Examples
    --------
    >>> import numpy as np
    >>> from jetad.datasets import make_contaminated_sample
    >>> bkg, sig = np.zeros((1000, 4)), np.ones((500, 4))
    >>> X, y = make_contaminated_sample(bkg, sig, 0.05, random_state=0)
    >>> int(y.sum()), int((y == 0).sum())
    (50, 1000)
    """
    X_background = np.asarray(X_background)
    X_signal = np.asarray(X_signal)
    if X_background.ndim < 1 or X_signal.ndim < 1:
        raise ValueError("X_background and X_signal must be arrays with one row per jet")
    if X_background.shape[1:] != X_signal.shape[1:]:
        raise ValueError(
            f"X_background and X_signal must have the same per-jet shape, got "
            f"{X_background.shape[1:]} and {X_signal.shape[1:]}"
        )
    ratio = signal_fraction
    if (not isinstance(ratio, numbers.Real) or isinstance(ratio, bool)
            or not np.isfinite(ratio) or ratio < 0):
        raise ValueError(f"signal_fraction (S/B) must be a finite float >= 0, got {ratio!r}")
    n_bkg_avail, n_sig_avail = X_background.shape[0], X_signal.shape[0]

    if n_samples is None:
        n_bkg = n_bkg_avail if ratio == 0 else min(n_bkg_avail,
                                                  int(np.floor(n_sig_avail / ratio + 1e-9)))
        n_sig = int(round(n_bkg * ratio))
    else:
        if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be None or a positive integer, got {n_samples!r}")
        n_bkg = int(round(n_samples / (1.0 + ratio)))
        n_sig = int(n_samples) - n_bkg
    if n_bkg < 1:
        raise ValueError(
            f"S/B={ratio} leaves no background jets (n_samples={n_samples}, "
            f"{n_bkg_avail} background and {n_sig_avail} signal jets available)"
        )
    if ratio > 0 and n_sig < 1:
        raise ValueError(
            f"S/B={ratio} with {n_bkg} background jets rounds to zero signal jets; "
            f"use more jets or a larger ratio"
        )
    if n_bkg > n_bkg_avail or n_sig > n_sig_avail:
        raise ValueError(
            f"S/B={ratio} with n_samples={n_samples} needs {n_bkg} background and {n_sig} "
            f"signal jets, only {n_bkg_avail} and {n_sig_avail} are available"
        )

    rng = check_random_state(random_state)
    bkg_idx = rng.choice(n_bkg_avail, n_bkg, replace=False)
    sig_idx = rng.choice(n_sig_avail, n_sig, replace=False)
    X = np.concatenate([X_background[bkg_idx], X_signal[sig_idx]], axis=0)
    y = np.concatenate([np.zeros(n_bkg, dtype=int), np.ones(n_sig, dtype=int)])
    order = rng.permutation(X.shape[0])
    return X[order], y[order]
