"""Unit records aggregated over seeds: the numbers the report and the figures show."""

# Authors: The jetad developers
# SPDX-License-Identifier: BSD-3-Clause

import math

import numpy as np

from ._config import DETECTORS, DETERMINISTIC

__all__ = ["aggregate", "mean_std", "method_order", "mmd_table"]


def mean_std(values):
    """:func:`jetad.metrics.mean_std` (``ddof=1``), with a std of 0 for a single value.

    The report prints a single value without a spread; 0 keeps ``suite.json``
    strict JSON.
    """
    from jetad.metrics import mean_std as _mean_std

    mean, std = _mean_std(np.asarray(values, dtype=np.float64))
    return mean, (std if len(values) > 1 else 0.0)


def _new_group(unit, row):
    return {"task": unit["task"], "setting": unit["setting"], "signal": row["signal"],
            "label": row["label"], "method": unit["method"], "kind": unit["kind"],
            "auc": [], "rejection": [], "rejection_error": [], "fit_seconds": [],
            "seeds": [], "bound": []}


def aggregate(units):
    """Metric rows averaged over seeds, one per (task, setting, signal, row label)."""
    groups = {}
    for u in units:
        if u.get("fingerprint") is None or "rows" not in u:
            continue
        for r in u["rows"]:
            key = (u["task"], u["setting"], r["signal"], r["label"])
            g = groups.setdefault(key, _new_group(u, r))
            g["auc"].append(r["auc"])
            g["rejection"].append(r["rejection"])
            g["rejection_error"].append(r["rejection_error"])
            g["fit_seconds"].append(r.get("fit_seconds", u["fit_seconds"]))
            # 1/eps_B is the bound N_B when no background jet passes the cut
            g["bound"].append(bool(r.get("rejection_bounded",
                                         r["rejection"] >= u.get("n_test", math.inf) - 1e-9)))
            g["seeds"].append(u["seed"])
    out = []
    for g in groups.values():
        g["auc_mean"], g["auc_std"] = mean_std(g["auc"])
        g["rejection_mean"], g["rejection_std"] = mean_std(g["rejection"])
        g["fit_seconds_mean"] = float(np.mean(g["fit_seconds"]))
        g["n_seeds"] = len(g["seeds"])
        g["deterministic"] = g["method"] in DETERMINISTIC
        g["rejection_at_bound"] = all(g["bound"])
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
