"""Unit records aggregated over seeds: the numbers the report and the figures show."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import numpy as np

from ._config import DETECTORS, DETERMINISTIC

__all__ = ["aggregate", "format_rejection", "mean_std", "method_order", "mmd_table",
           "stored_rejection"]


def mean_std(values):
    """:func:`jetad.metrics.mean_std` (``ddof=1``), with a std of 0 for a single value.

    The report prints a single value without a spread; 0 keeps ``suite.json``
    strict JSON.
    """
    from jetad.metrics import mean_std as _mean_std

    mean, std = _mean_std(np.asarray(values, dtype=np.float64))
    return mean, (std if len(values) > 1 else 0.0)


def stored_rejection(rejection, n_background, *, bounded=False, n_background_pass=None):
    """The counts and 68 % CL interval of a 1/ε_B recorded without them.

    Rebuilds the keys of :func:`jetad.metrics.tagging_summary` for a result
    file written before the counts were kept: the effective number of passing
    background jets is ``k = N_B / rejection`` (``N_B / ε_B·N_B``; a whole
    number except on a tied ROC segment), its Clopper–Pearson interval gives
    the one on 1/ε_B, exactly as :func:`jetad.metrics.background_rejection_interval`
    computes it from the scores.

    Parameters
    ----------
    rejection : float
        The stored 1/ε_B. Old files stored ``N_B`` when no jet passed.
    n_background : int
        N_B, the number of test background jets.
    bounded : bool, default=False
        The stored flag that no background jet passed (k = 0).
    n_background_pass : int, optional
        k when it was stored; then nothing is reconstructed.

    Returns
    -------
    result : dict
        ``rejection`` (for k = 0 the 68 % CL lower limit, not ``N_B``),
        ``rejection_low``, ``rejection_high`` (None for k = 0),
        ``n_background``, ``n_background_pass`` (k rounded),
        ``n_background_pass_reconstructed``, ``rejection_bounded`` and
        ``low_count`` (k < 10).
    """
    from jetad.metrics import clopper_pearson_interval
    from jetad.metrics._roc import LOW_COUNT
    from jetad.metrics._uncertainty import ONE_SIGMA

    n = int(n_background)
    if n_background_pass is not None:
        k = float(n_background_pass)
    elif bounded:
        k = 0.0
    else:
        k = min(float(n), n / float(rejection))
        k = float(round(k)) if abs(k - round(k)) < 1e-6 else k
    if k <= 0:
        # one-sided 68 % upper limit on eps_B: the central interval at CL' = 2 CL - 1
        eps_high = clopper_pearson_interval(0, n, 2 * ONE_SIGMA - 1)[1]
        low, high, value = 1.0 / eps_high, None, 1.0 / eps_high
    else:
        eps_low, eps_high = clopper_pearson_interval(k, n)
        low, high, value = 1.0 / eps_high, 1.0 / eps_low, n / k
    return {"rejection": value, "rejection_low": low, "rejection_high": high,
            "n_background": n, "n_background_pass": int(round(k)),
            "n_background_pass_reconstructed": n_background_pass is None,
            "rejection_bounded": k <= 0, "low_count": k < LOW_COUNT}


def format_rejection(r, digits=None):
    """A 1/ε_B as ``"177 (+19/−16; k = 113/20000)"``, ``"≥ 17424 (k = 0/20000, 68% CL)"``.

    Parameters
    ----------
    r : dict
        The keys of :func:`stored_rejection` (or of
        :func:`jetad.metrics.tagging_summary`); the bracket is the 68 % CL
        Clopper–Pearson interval, ``⚠`` marks k < 10.
    digits : int, optional
        Decimals; by default 0 from 100 on, 1 from 10 on, else 2.

    Returns
    -------
    text : str
    """
    value = r["rejection"]
    if digits is None:
        digits = 0 if value >= 100 else 1 if value >= 10 else 2
    k = f"k = {r['n_background_pass']}/{r['n_background']}"
    flag = " ⚠" if r.get("low_count", r["n_background_pass"] < 10) else ""
    if r["rejection_bounded"] or r.get("rejection_high") is None:
        return f"≥ {value:.{digits}f} ({k}, 68% CL){flag}"
    up, down = r["rejection_high"] - value, value - r["rejection_low"]
    return f"{value:.{digits}f} (+{up:.{digits}f}/−{down:.{digits}f}; {k}){flag}"


def _new_group(unit, row):
    return {"task": unit["task"], "setting": unit["setting"], "signal": row["signal"],
            "label": row["label"], "method": unit["method"], "kind": unit["kind"],
            "auc": [], "rejection": [], "rejection_error": [], "fit_seconds": [],
            "seeds": [], "bound": [], "rejection_low": [], "rejection_high": [],
            "n_background_pass": [], "n_background": None,
            "n_background_pass_reconstructed": False}


def _row_rejection(unit, row):
    """The row's 1/ε_B with its counts and interval, reconstructed for old rows."""
    if row.get("n_background_pass") is not None:
        return row
    n_bkg = unit.get("n_test")
    if n_bkg is None:  # no N_B recorded: nothing to reconstruct
        return {"rejection": row["rejection"], "rejection_low": None, "rejection_high": None,
                "n_background_pass": None, "n_background": None,
                "rejection_bounded": bool(row.get("rejection_bounded", False))}
    # old rows: 1/eps_B is N_B (not a limit) when no background jet passes the cut
    bounded = row.get("rejection_bounded", row["rejection"] >= n_bkg - 1e-9)
    return stored_rejection(row["rejection"], n_bkg, bounded=bounded)


def aggregate(units):
    """Metric rows averaged over seeds, one per (task, setting, signal, row label).

    Besides mean and sample std (``ddof=1``) of AUC and 1/ε_B, each group keeps
    per seed the 68 % CL interval on 1/ε_B and the number of test background
    jets passing the cut (reconstructed as ``N_B / rejection`` for rows recorded
    without it, with ``n_background_pass_reconstructed`` set).
    """
    groups = {}
    for u in units:
        if u.get("fingerprint") is None or "rows" not in u:
            continue
        for r in u["rows"]:
            key = (u["task"], u["setting"], r["signal"], r["label"])
            g = groups.setdefault(key, _new_group(u, r))
            rej = _row_rejection(u, r)
            g["auc"].append(r["auc"])
            g["rejection"].append(rej["rejection"])
            g["rejection_error"].append(r["rejection_error"])
            g["fit_seconds"].append(r.get("fit_seconds", u["fit_seconds"]))
            g["bound"].append(bool(rej["rejection_bounded"]))
            for name in ("rejection_low", "rejection_high", "n_background_pass"):
                g[name].append(rej[name])
            g["n_background"] = rej["n_background"]
            g["n_background_pass_reconstructed"] |= rej is not r
            g["seeds"].append(u["seed"])
    out = []
    for g in groups.values():
        g["auc_mean"], g["auc_std"] = mean_std(g["auc"])
        g["rejection_mean"], g["rejection_std"] = mean_std(g["rejection"])
        g["fit_seconds_mean"] = float(np.mean(g["fit_seconds"]))
        g["n_seeds"] = len(g["seeds"])
        g["deterministic"] = g["method"] in DETERMINISTIC
        g["rejection_at_bound"] = all(g["bound"])
        g["low_count"] = any(k is not None and k < 10 for k in g["n_background_pass"])
        out.append(g)
    return out


def method_order(label):
    """Sort key of a row label: the detectors in their order, then the baselines."""
    names = list(DETECTORS) + ["NAE pre-trained AE"]
    if label in names:
        return (0, names.index(label), "")
    return (1, label.lstrip("−"), label)


def mmd_table(units):
    """Image and latent MMD² (mean, std, number of seeds) by pT power and signal."""
    image, latent = {}, {}
    for u in units:
        if u["task"] == "mmd":
            for sig, v in u["image_mmd2"].items():
                image.setdefault((u["pt_power"], sig), []).append(v)
        elif u["task"] == "dark" and "latent_mmd2" in u.get("extra", {}):
            for sig, v in u["extra"]["latent_mmd2"].items():
                latent.setdefault((u["pt_power"], sig, u["method"]), []).append(v)
    image = {k: mean_std(v) + (len(v),) for k, v in image.items()}
    latent = {k: mean_std(v) + (len(v),) for k, v in latent.items()}
    powers = sorted({k[0] for k in image} | {k[0] for k in latent})
    signals = sorted({k[1] for k in image if k[1] != "QCD vs QCD"} | {k[1] for k in latent})
    detectors = sorted({k[2] for k in latent})
    return {"image": image, "latent": latent, "powers": powers, "signals": signals,
            "detectors": detectors}
