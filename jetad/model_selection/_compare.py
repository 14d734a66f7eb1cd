"""``compare_detectors``: repeated stratified train/test comparison of detectors."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import numbers
import warnings
from collections import Counter

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils import _safe_indexing, check_consistent_length, check_random_state, column_or_1d
from sklearn.utils.parallel import Parallel, delayed

from ..metrics import mean_std
from ..metrics._validation import _check_efficiency
from ._background_only import BackgroundOnly
from ._evaluate import evaluate_detector, summarize_scores

__all__ = ["compare_detectors", "format_comparison"]


def _named_detectors(detectors):
    if isinstance(detectors, dict):
        items = list(detectors.items())
    else:
        try:
            detectors = list(detectors)
        except TypeError:
            raise TypeError(
                "detectors must be a dict name -> estimator or a list of estimators, "
                f"got {type(detectors).__name__}."
            ) from None
        names = [type(d).__name__ for d in detectors]
        counts, seen = Counter(names), Counter()
        unique = []
        for name in names:
            if counts[name] > 1:
                seen[name] += 1
                name = f"{name}-{seen[name]}"
            unique.append(name)
        items = list(zip(unique, detectors, strict=True))
    if not items:
        raise ValueError("detectors is empty.")
    for name, det in items:
        if not hasattr(det, "fit"):
            raise TypeError(f"detector {name!r} has no fit method: {det!r}.")
    return [(str(name), det) for name, det in items]


def _seed_estimator(estimator, seed):
    """Set every ``random_state`` parameter (nested ones too) from ``seed``."""
    keys = sorted(
        key for key in estimator.get_params(deep=True)
        if key == "random_state" or key.endswith("__random_state")
    )
    if keys:
        rng = np.random.RandomState(seed)
        estimator.set_params(**{key: int(rng.randint(2**31 - 1)) for key in keys})
    return estimator


def _rejection(summary, zero_background):
    """1/ε_B of a :func:`summarize_scores` row under the ``zero_background`` policy."""
    if not summary["rejection_bounded"]:
        return float(summary["rejection"])
    if zero_background == "bound":
        return float(summary["n_background"])
    if zero_background == "limit":
        return float(summary["rejection"])
    if zero_background == "warn":
        warnings.warn(
            "No background passes the cut at signal efficiency "
            f"{summary['signal_efficiency']:g}: ε_B = 0 and the background rejection is "
            f"unbounded (returned as inf; with N_B = {summary['n_background']} background "
            f"jets its 68.27 % CL lower limit is {summary['rejection']:.4g}). Use more "
            "background, a lower signal efficiency, or zero_background='limit'.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    return np.inf


def _fit_and_score(
    name, detector, X, y_signal, train, test, repeat, seed, efficiencies, zero_background
):
    if isinstance(detector, BackgroundOnly):  # we filter here already
        detector = detector.detector
    detector = _seed_estimator(clone(detector), seed)
    y_test = y_signal[test].astype(int)
    result = evaluate_detector(
        detector, _safe_indexing(X, train[~y_signal[train]]), _safe_indexing(X, test), y_test,
        signal_efficiency=float(efficiencies[0]),
    )
    scores = result["anomaly_scores"]
    summaries = [result] + [summarize_scores(y_test, scores, float(eff))
                            for eff in efficiencies[1:]]
    return {
        "name": name,
        "repeat": repeat,
        "auc": result["auc"],
        "rejection": np.array([_rejection(s, zero_background) for s in summaries]),
        "fit_time": result["fit_seconds"],
        "score_time": result["score_seconds"],
        "test_index": test,
        "anomaly_score": scores,
    }


def _eff_label(eff):
    return f"{eff:g}"


def compare_detectors(
    detectors,
    X,
    y,
    *,
    n_repeats=5,
    test_size=0.5,
    signal_efficiency=0.2,
    background_label=0,
    zero_background="warn",
    random_state=None,
    n_jobs=None,
    as_frame="auto",
    return_scores=False,
):
    """Compare anomaly detectors on repeated stratified train/test splits.

    For each of ``n_repeats`` repeats, ``X, y`` is split once with
    :class:`~sklearn.model_selection.StratifiedShuffleSplit` (the same splits
    for every detector, so the comparison is paired). Each detector is cloned,
    its ``random_state`` parameters (also nested ones such as
    ``step__random_state`` in a pipeline) are set to a seed drawn for that
    repeat, it is fitted on the **background rows of the training part
    only**, and it scores the whole test part (signal and background). The
    AUC (:func:`~jetad.metrics.anomaly_auc`) and the background rejection
    1/ε_B at the working point(s) (:func:`~jetad.metrics.background_rejection`,
    linearly interpolated on the ROC) are recorded per fit; each fit goes
    through :func:`evaluate_detector`, the evaluation every jetad report uses.

    Parameters
    ----------
    detectors : dict of str -> estimator, or list of estimators
        The detectors to compare; list entries are named after their class
        (``"IsolationForest-1"``, ... for duplicates). They follow sklearn's
        outlier-detector API; anomaly scores are ``anomaly_score(X)``, else
        ``-score_samples(X)``, else ``-decision_function(X)``. A
        :class:`BackgroundOnly` is unwrapped (its detector is used).
    X : array-like of shape (n_samples, ...)
        Data with signal and background, in any form the detectors accept
        and that can be indexed by rows (e.g. constituent arrays for
        pipelines that start with :class:`~jetad.JetImager`).
    y : array-like of shape (n_samples,)
        Labels; ``background_label`` marks background, every other label is
        signal.
    n_repeats : int, default=5
        Number of random train/test splits (and seeds).
    test_size : float or int, default=0.5
        Test fraction (float) or number of test samples (int) of each split.
    signal_efficiency : float or array-like of float, default=0.2
        Working point(s) ε_S for 1/ε_B.
    background_label : int, float, bool or str, default=0
        Label of the background class.
    zero_background : {"warn", "inf", "bound", "limit"}, default="warn"
        Rejection where no test background passes the cut, see
        :func:`~jetad.metrics.background_rejection`: ``inf`` (with a warning
        for ``"warn"``), the bound N_B (``"bound"``) or the 68.27 % CL lower
        limit ≈ N_B/1.148 (``"limit"``, as in
        :func:`~jetad.metrics.tagging_summary`).
    random_state : int, RandomState instance or None, default=None
        Seeds the splits and the per-repeat detector seeds; an int makes the
        result reproducible (up to the timings), whatever ``n_jobs``. A
        detector's own ``random_state`` is overridden by the per-repeat seed,
        so that repeats also measure the spread from initialisation.
    n_jobs : int, default=None
        Number of (detector, repeat) fits run in parallel with joblib;
        ``None`` means 1 unless in a :func:`joblib.parallel_backend` context.
        Set the detectors' own thread counts so that the product does not
        oversubscribe the cores.
    as_frame : {"auto", True, False}, default="auto"
        Return a :class:`pandas.DataFrame` (``True``; requires pandas), a
        numpy structured array (``False``), or a DataFrame if pandas is
        importable (``"auto"``). pandas is optional for jetad.
    return_scores : bool, default=False
        Also return the test-set anomaly scores of every fit.

    Returns
    -------
    table : pandas.DataFrame or numpy structured array
        One row per detector (DataFrame index ``"detector"``; a
        ``"detector"`` field for the structured array), with columns:

        - ``auc_mean``, ``auc_std``, ``auc_per_fit`` (array of ``n_repeats``);
        - for each working point ε_S (formatted with ``%g``, e.g. ``0.2``):
          ``rejection_<ε_S>_mean``, ``rejection_<ε_S>_std``,
          ``rejection_<ε_S>_per_fit``; where no test background passed the
          cut see ``zero_background`` (with ``inf`` the mean is ``inf`` and the
          std ``nan``);
        - ``fit_time_mean``, ``fit_time_std``, ``fit_time_per_fit``,
          ``score_time_mean`` (seconds);
        - ``n_repeats``, ``n_train_background`` (mean number of background
          rows fitted), ``n_test_signal``, ``n_test_background``.

        Standard deviations use ``ddof=1`` (0 for a single repeat).
    scores : dict of str -> list of dict
        Only if ``return_scores=True``: for each detector and repeat a dict
        with ``"test_index"`` (row indices of the test part), ``"y_true"``
        (1 = signal, 0 = background) and ``"anomaly_score"``.

    See Also
    --------
    format_comparison : The table as Markdown.
    BackgroundOnly : For cross-validated hyper-parameter searches.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from jetad.model_selection import compare_detectors
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(size=(400, 2)), rng.normal(3, 1, size=(100, 2))]
    >>> y = np.r_[np.zeros(400), np.ones(100)]
    >>> table = compare_detectors(
    ...     {"iforest": IsolationForest(n_estimators=20)}, X, y,
    ...     n_repeats=2, random_state=0, as_frame=False)
    >>> table["auc_per_fit"].shape
    (1, 2)
    """
    named = _named_detectors(detectors)
    efficiencies = _check_compare_params(n_repeats, as_frame, signal_efficiency,
                                         zero_background)
    y = column_or_1d(y, warn=True)
    check_consistent_length(X, y)
    y_signal = np.asarray(y != background_label, dtype=bool).reshape(y.shape)
    if y_signal.all() or not y_signal.any():
        raise ValueError(
            "y must contain both background (background_label="
            f"{background_label!r}) and signal rows; labels are "
            f"{np.unique(y)[:10].tolist()}."
        )

    rng = check_random_state(random_state)
    split_seed = int(rng.randint(2**31 - 1))
    seeds = rng.randint(2**31 - 1, size=n_repeats)
    splitter = StratifiedShuffleSplit(
        n_splits=n_repeats, test_size=test_size, random_state=split_seed
    )
    splits = list(splitter.split(np.zeros((y.shape[0], 1)), y_signal))

    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_score)(
            name, det, X, y_signal, train, test, repeat, int(seeds[repeat]),
            efficiencies, zero_background,
        )
        for name, det in named
        for repeat, (train, test) in enumerate(splits)
    )
    by_name = {
        name: sorted((r for r in results if r["name"] == name), key=lambda r: r["repeat"])
        for name, _ in named
    }
    rows = [_table_row(name, fits, efficiencies, splits, y_signal)
            for name, fits in by_name.items()]
    table = _to_table(rows, n_repeats, as_frame)
    if not return_scores:
        return table
    scores = {
        name: [{"test_index": r["test_index"],
                "y_true": y_signal[r["test_index"]].astype(int),
                "anomaly_score": r["anomaly_score"]} for r in fits]
        for name, fits in by_name.items()
    }
    return table, scores


def _check_compare_params(n_repeats, as_frame, signal_efficiency, zero_background):
    """Validate the scalar options of :func:`compare_detectors`; the working points."""
    if (
        not isinstance(n_repeats, numbers.Integral)
        or isinstance(n_repeats, bool)
        or n_repeats < 1
    ):
        raise ValueError(f"n_repeats must be a positive integer, got {n_repeats!r}.")
    if as_frame not in ("auto", True, False):
        raise ValueError(f"as_frame must be 'auto', True or False, got {as_frame!r}.")
    efficiencies = np.atleast_1d(_check_efficiency(signal_efficiency)).ravel()
    if np.unique(efficiencies).size != efficiencies.size:
        raise ValueError(f"signal_efficiency has duplicates: {signal_efficiency!r}.")
    if zero_background not in ("warn", "inf", "bound", "limit"):
        raise ValueError(
            "zero_background must be 'warn', 'inf', 'bound' or 'limit', got "
            f"{zero_background!r}."
        )
    if as_frame is True:
        from ..utils import import_optional

        import_optional("pandas")
    return efficiencies


def _table_row(name, fits, efficiencies, splits, y_signal):
    """One detector's row of the comparison table from its per-repeat fits."""
    row = {"detector": name}
    _add_stats(row, "auc", np.array([r["auc"] for r in fits]))
    rejection = np.array([r["rejection"] for r in fits])  # (n_repeats, n_eff)
    for j, eff in enumerate(efficiencies):
        _add_stats(row, f"rejection_{_eff_label(eff)}", rejection[:, j])
    _add_stats(row, "fit_time", np.array([r["fit_time"] for r in fits]))
    row["score_time_mean"] = float(np.mean([r["score_time"] for r in fits]))
    row["n_repeats"] = len(fits)
    row["n_train_background"] = float(
        np.mean([np.count_nonzero(~y_signal[train]) for train, _ in splits])
    )
    row["n_test_signal"] = int(np.count_nonzero(y_signal[splits[0][1]]))
    row["n_test_background"] = int(np.count_nonzero(~y_signal[splits[0][1]]))
    return row


def _add_stats(row, key, values):
    values = np.asarray(values, dtype=np.float64)
    mean, std = mean_std(values)
    row[f"{key}_mean"] = mean
    row[f"{key}_std"] = std if values.size > 1 else 0.0
    row[f"{key}_per_fit"] = values


def _to_table(rows, n_repeats, as_frame):
    if as_frame == "auto":
        as_frame = _has_pandas()
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame(rows).set_index("detector")
        return frame
    dtype = []
    for key, value in rows[0].items():
        if key == "detector":
            dtype.append((key, f"U{max(len(r['detector']) for r in rows)}"))
        elif key.endswith("_per_fit"):
            dtype.append((key, np.float64, (n_repeats,)))
        elif isinstance(value, (int, np.integer)):
            dtype.append((key, np.int64))
        else:
            dtype.append((key, np.float64))
    return np.array([tuple(r[k] for k, *_ in dtype) for r in rows], dtype=dtype)


def _has_pandas():
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def _records(table):
    """Rows of a comparison table as a list of dicts."""
    if hasattr(table, "reset_index") and hasattr(table, "to_dict"):  # DataFrame
        frame = table.reset_index() if table.index.name == "detector" else table
        return frame.to_dict("records")
    if isinstance(table, np.ndarray) and table.dtype.names:
        return [{name: row[name] for name in table.dtype.names} for row in table]
    if isinstance(table, list):
        return [dict(r) for r in table]
    raise TypeError(
        "table must be the output of compare_detectors (DataFrame, structured array "
        f"or list of dicts), got {type(table).__name__}."
    )


def _fmt(mean, std, digits):
    if not np.isfinite(mean):
        return "inf" if mean == np.inf else "nan"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_comparison(table, *, digits=3):
    """Format a :func:`compare_detectors` table as a Markdown table.

    Parameters
    ----------
    table : pandas.DataFrame, numpy structured array or list of dict
        Output of :func:`compare_detectors`.
    digits : int, default=3
        Decimals of the AUC; rejections get one decimal, times two.

    Returns
    -------
    markdown : str
        A Markdown table: detector, AUC mean ± std, 1/ε_B mean ± std at each
        working point, mean fit time, and a note on the number of repeats.

    Examples
    --------
    >>> print(format_comparison([{  # doctest: +NORMALIZE_WHITESPACE
    ...     "detector": "ae", "auc_mean": 0.9, "auc_std": 0.01,
    ...     "rejection_0.2_mean": 80.0, "rejection_0.2_std": 3.0,
    ...     "fit_time_mean": 12.0, "n_repeats": 5}]))
    | detector | AUC | 1/ε_B (ε_S=0.2) | fit time [s] |
    |---|---|---|---|
    | ae | 0.900 ± 0.010 | 80.0 ± 3.0 | 12.00 |
    <BLANKLINE>
    mean ± std over 5 repeats.
    """
    records = _records(table)
    if not records:
        raise ValueError("table is empty.")
    first = records[0]
    effs = [
        key[len("rejection_"):-len("_mean")]
        for key in first
        if key.startswith("rejection_") and key.endswith("_mean")
    ]
    header = ["detector", "AUC"] + [f"1/ε_B (ε_S={e})" for e in effs]
    if "fit_time_mean" in first:
        header.append("fit time [s]")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for rec in records:
        cells = [str(rec["detector"]), _fmt(rec["auc_mean"], rec["auc_std"], digits)]
        cells += [
            _fmt(rec[f"rejection_{e}_mean"], rec[f"rejection_{e}_std"], 1) for e in effs
        ]
        if "fit_time_mean" in first:
            cells.append(f"{rec['fit_time_mean']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    if "n_repeats" in first:
        lines += ["", f"mean ± std over {int(first['n_repeats'])} repeats."]
    return "\n".join(lines)
