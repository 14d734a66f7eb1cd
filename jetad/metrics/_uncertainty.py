"""Statistical uncertainties of the reported numbers.

Clopper–Pearson (exact binomial) intervals on efficiencies, the one-sided limit
when nothing passes a cut, and the mean ± sample standard deviation over seeds.
"""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers
import warnings

import numpy as np
from scipy import stats

__all__ = ["ONE_SIGMA", "clopper_pearson_interval", "mean_std"]

#: Probability content of ±1σ of a Gaussian, erf(1/√2) ≈ 0.6827: the default
#: confidence level of every interval in :mod:`jetad.metrics`.
ONE_SIGMA = float(stats.norm.cdf(1.0) - stats.norm.cdf(-1.0))


def _check_confidence_level(confidence_level):
    if (
        isinstance(confidence_level, (bool, np.bool_))
        or not isinstance(confidence_level, numbers.Real)
        or not 0.0 < float(confidence_level) < 1.0
    ):
        raise ValueError(
            f"confidence_level must be a real number in (0, 1), got {confidence_level!r}."
        )
    return float(confidence_level)


def _zero_count_upper_limit(n, confidence_level):
    """One-sided upper limit on a binomial p when 0 of ``n`` pass: 1 - (1 - CL)^(1/n)."""
    n = np.asarray(n, dtype=np.float64)
    return -np.expm1(np.log1p(-confidence_level) / n)


def clopper_pearson_interval(k, n, confidence_level=ONE_SIGMA):
    """Clopper–Pearson (exact) central confidence interval on a binomial rate k/n.

    The interval ``[low, high]`` on the true rate p after ``k`` of ``n``
    trials passed, from the quantiles of the beta distribution:
    ``low = Beta⁻¹((1 - CL)/2; k, n - k + 1)`` (0 for k = 0) and
    ``high = Beta⁻¹((1 + CL)/2; k + 1, n - k)`` (1 for k = n). This is
    ``scipy.stats.binomtest(k, n).proportion_ci(CL, method="exact")``,
    vectorised and also defined for non-integer ``k`` (the effective counts of
    interpolated ROC points).

    Parameters
    ----------
    k : float or array-like of float
        Number of passing trials, ``0 <= k <= n``.
    n : int or array-like of int
        Number of trials, ``n >= 1``.
    confidence_level : float, default=0.6827
        Probability content of the interval, in (0, 1); the default,
        ``erf(1/√2)`` = 0.682689..., is the ±1σ content of a Gaussian.

    Returns
    -------
    low, high : float or ndarray
        Interval bounds on the rate (floats for scalar input).

    Raises
    ------
    ValueError
        If ``n < 1``, ``k`` is outside ``[0, n]``, either is not finite, or
        ``confidence_level`` is not in (0, 1).

    See Also
    --------
    background_rejection_interval : The interval on 1/ε_B at a working point.

    Notes
    -----
    The interval is central: each side excludes (1 - CL)/2. For k = 0 it is
    ``[0, 1 - ((1 - CL)/2)^(1/n)]``; the *one-sided* upper limit
    ``1 - (1 - CL)^(1/n)`` (≈ 1.15/n at 68.27 %), which
    :func:`background_rejection_interval` quotes when no background passes,
    is the ``high`` of ``clopper_pearson_interval(0, n, 2 * CL - 1)``.

    Examples
    --------
    >>> from jetad.metrics import clopper_pearson_interval
    >>> low, high = clopper_pearson_interval(5, 100)
    >>> round(low, 4), round(high, 4)
    (0.0286, 0.0824)
    """
    cl = _check_confidence_level(confidence_level)
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    if not (np.all(np.isfinite(k_arr)) and np.all(np.isfinite(n_arr))):
        raise ValueError(f"k and n must be finite, got k={k!r}, n={n!r}.")
    if np.any(n_arr < 1) or np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise ValueError(f"Need n >= 1 and 0 <= k <= n, got k={k!r}, n={n!r}.")
    alpha = 1.0 - cl
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(k_arr > 0,
                       stats.beta.ppf(alpha / 2, np.maximum(k_arr, 1e-300),
                                      n_arr - k_arr + 1), 0.0)
        high = np.where(k_arr < n_arr,
                        stats.beta.ppf(1 - alpha / 2, k_arr + 1,
                                       np.maximum(n_arr - k_arr, 1e-300)), 1.0)
    if np.ndim(k) == 0 and np.ndim(n) == 0:
        return float(low), float(high)
    return low, high


def mean_std(values):
    """Mean and sample standard deviation (``ddof=1``) of per-seed results.

    The aggregate every jetad report quotes as "mean ± std" over seeds (or
    other repetitions). The sample standard deviation estimates the spread of
    one run; the population one (``ddof=0``) is too small by √(n / (n - 1)),
    1.22× for three seeds.

    Parameters
    ----------
    values : array-like of shape (n_values,)
        One number per repetition. ``None`` is read as NaN.

    Returns
    -------
    mean : float
        Arithmetic mean.
    std : float
        Sample standard deviation ``sqrt(sum((x - mean)²) / (n - 1))``.
        **NaN for a single value** (the spread of one run is unknown, it is
        not 0), without a warning.

    Raises
    ------
    ValueError
        If ``values`` is empty or not one-dimensional.

    Notes
    -----
    NaN values are not dropped: a failed repetition makes both numbers NaN
    instead of silently leaving the average. With an infinite value (e.g. an
    unbounded 1/ε_B) the mean is ±inf and the std NaN. No warning is raised
    in either case.

    Examples
    --------
    >>> from jetad.metrics import mean_std
    >>> mean_std([1.0, 2.0, 3.0])
    (2.0, 1.0)
    >>> mean_std([4.0])
    (4.0, nan)
    """
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {a.shape}.")
    if a.size == 0:
        raise ValueError("values is empty: no mean and standard deviation.")
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore",
                                                over="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = float(np.mean(a))
        std = float(np.std(a, ddof=1)) if a.size > 1 else float("nan")
    return mean, std
